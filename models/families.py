"""The two model families a scan spec may choose (``model.family``): what turns encoded inputs into a margin.

Both families sit behind the same feature pipeline (:func:`features.pipeline.build_tree_pipeline`: one
column per register input, ordinal codes for categories, 0/1 for booleans, numbers as they are, missing
kept as NaN), the same Platt calibration and the same threshold rule (:mod:`models.scorer`). Both explain
every score exactly, in the same *margin-sum form*, in log-odds before calibration::

    base_value + sum_j contribution_j == margin            (j runs over the register inputs)

* ``lightgbm`` (:class:`TreeMargin`): gradient-boosted trees. Contributions are exact TreeSHAP values
  from LightGBM's ``pred_contrib``; ``base_value`` is the booster's expected margin.
* ``logistic`` (:class:`LinearMargin`): scikit-learn ``LogisticRegression`` on a *design* built from the
  encoded inputs: for a category or a boolean one 0/1 column per value except its most frequent value in
  training (the baseline, so each weight reads "this value against the usual one"; ``NaN`` is a value of
  its own where the register allows a missing one), and for a number its value with missing values imputed
  by the training median (plus a 0/1 "missing" column where training had missing values), standardised. With
  ``z`` a case's design row, ``w`` the coefficients, ``b`` the intercept and ``r`` the *reference* (the
  mean of each design column over the training rows, stored with the model)::

      margin          = b + sum_d w_d * z_d
      contribution_j  = sum over the design columns d of input j of  w_d * (z_d - r_d)
      base_value      = b + sum_d w_d * r_d

  so ``base_value + sum_j contribution_j == margin`` holds exactly, as an identity. The value ``z_d`` is the
  encoded input (the design value), the reference ``r_d`` is stated in ``model.json``; ``base_value`` is the
  margin of a case that sits at the training mean of every design column. A contribution says how far this
  case's value moves the margin away from that average case, which is what a TreeSHAP value says too: for
  a linear margin, ``w_d * (z_d - r_d)`` *is* the exact (interventional) SHAP value of design column ``d``
  with the training rows as background, and the sum over an input's columns is that input's SHAP value.

Each family saves itself without pickle: LightGBM's own text format, or skops (which refuses untrusted
types on load) for the scikit-learn pipeline, with the reference and the design's columns in ``model.json``.
"""

from __future__ import annotations

import ctypes
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal, Protocol

import lightgbm as lgb
import numpy as np
import skops.io as sio
from lightgbm.basic import _LIB, _safe_call
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from features.pipeline import FeatureSet
from features.register import Column
from models.specs import FAMILIES, Family
from riskscan.errors import InvalidInput

__all__ = ["FAMILIES", "Family", "LinearMargin", "MarginModel", "Term", "TreeMargin", "other_family"]
BOOSTER_FILE = "booster.txt"
LINEAR_HEAD_FILE = "linear_head.skops"
# Types skops does not trust by default but that hold no code: fitted encoders store their numpy dtype.
TRUSTED_TYPES = ["numpy.dtype"]


def other_family(family: Family) -> Family:
    """The family a run fits beside the spec's own, for the comparison the committee reads."""
    return "logistic" if family == "lightgbm" else "lightgbm"


def load_skops(path: Path) -> Any:
    """Load a skops file, refusing any type beyond scikit-learn's own and :data:`TRUSTED_TYPES`."""
    untrusted = set(sio.get_untrusted_types(file=path)) - set(TRUSTED_TYPES)
    if untrusted:
        raise InvalidInput(f"{path.name} contains untrusted types {sorted(untrusted)}; refusing to load it")
    return sio.load(path, trusted=TRUSTED_TYPES)


class MarginModel(Protocol):
    """What a family gives the scan model: margins, exact explanations, and its own files."""

    family: ClassVar[Family]
    margin_scale: ClassVar[str]
    explanation_method: ClassVar[str]

    def margin(self, encoded: np.ndarray, *, num_threads: int | None = None) -> np.ndarray: ...

    def explain(
        self, encoded: np.ndarray, *, num_threads: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]: ...

    def save(self, directory: Path) -> dict[str, Any]: ...


def _threads(num_threads: int | None) -> dict[str, Any]:
    """LightGBM's ``num_threads`` when given; otherwise the booster's own setting from training."""
    return {} if num_threads is None else {"num_threads": num_threads}


#: LightGBM's C API codes (c_api.h): what to predict, and the element type of the rows.
_PREDICT_RAW_SCORE, _PREDICT_CONTRIB, _FLOAT64 = 1, 3, 1


class _SingleRow:
    """LightGBM's prediction of one row through its fast single-row C API
    (``LGBM_BoosterPredictForMatSingleRowFast``): the configuration is parsed once, here, instead of on
    every call. ``Booster.predict`` builds a predictor, copies its parameters and converts the row on each
    call, which cost 0.03 ms of CPU a request on top of the trees and TreeSHAP (benchmarks/bench_online_cpu.py).
    The same C predictor computes the same numbers (tests/models/test_families.py checks them bit for bit).
    LightGBM serialises the calls on the booster's own lock, so threads may share one.
    """

    def __init__(self, booster: lgb.Booster, predict_type: int, parameters: str, columns: int) -> None:
        self._booster = booster  # the configuration points into the booster: keep it alive as long
        self.columns = columns
        self.width = columns + 1 if predict_type == _PREDICT_CONTRIB else 1
        self._out = ctypes.c_double * self.width
        handle = ctypes.c_void_p()
        _safe_call(
            _LIB.LGBM_BoosterPredictForMatSingleRowFastInit(
                booster._handle,
                ctypes.c_int(predict_type),
                ctypes.c_int(0),  # start_iteration, as Booster.predict's default
                ctypes.c_int(booster.best_iteration),  # what Booster.predict uses when not told otherwise
                ctypes.c_int(_FLOAT64),
                ctypes.c_int32(columns),
                ctypes.c_char_p(parameters.encode()),
                ctypes.byref(handle),
            )
        )
        self._handle = handle

    def __call__(self, row: np.ndarray) -> np.ndarray:
        """The prediction of one C-contiguous float64 row of ``columns`` values: ``width`` numbers."""
        out = self._out()  # a ctypes array is passed as its pointer, without numpy's ctypes helpers
        length = ctypes.c_int64()
        _safe_call(
            _LIB.LGBM_BoosterPredictForMatSingleRowFast(
                self._handle, ctypes.c_void_p(row.ctypes.data), ctypes.byref(length), out
            )
        )
        return np.frombuffer(memoryview(out), dtype=np.float64)

    def __del__(self) -> None:
        if getattr(self, "_handle", None):
            _LIB.LGBM_FastConfigFree(self._handle)


@dataclass
class TreeMargin:
    """LightGBM: the raw booster margin, explained by exact TreeSHAP."""

    booster: lgb.Booster
    family: ClassVar[Family] = "lightgbm"
    margin_scale: ClassVar[str] = "log-odds (raw LightGBM margin, before calibration)"
    explanation_method: ClassVar[str] = "exact TreeSHAP (LightGBM pred_contrib)"
    _single: dict[tuple[int, int, int], _SingleRow] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def _single_row(
        self, encoded: np.ndarray, predict_type: int, num_threads: int | None
    ) -> np.ndarray | None:
        """The prediction of a one-row request (the service's) through :class:`_SingleRow`; None for any
        other shape, or without an explicit thread count, which ``Booster.predict`` then handles."""
        if num_threads is None or encoded.shape[0] != 1 or encoded.dtype != np.float64:
            return None
        key = (predict_type, num_threads, self.booster.best_iteration)
        predictor = self._single.get(key)
        if predictor is None:
            parameters = f"num_threads={num_threads}"  # the parameters Booster.predict would pass
            predictor = _SingleRow(self.booster, predict_type, parameters, self.booster.num_feature())
            self._single[key] = predictor
        if encoded.shape[1] != predictor.columns:
            return None  # Booster.predict says what is wrong
        return predictor(np.ascontiguousarray(encoded))

    def margin(self, encoded: np.ndarray, *, num_threads: int | None = None) -> np.ndarray:
        single = self._single_row(encoded, _PREDICT_RAW_SCORE, num_threads)
        if single is not None:
            return single
        return np.asarray(self.booster.predict(encoded, raw_score=True, **_threads(num_threads)))

    def explain(
        self, encoded: np.ndarray, *, num_threads: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        single = self._single_row(encoded, _PREDICT_CONTRIB, num_threads)
        if single is not None:
            contributions = single.reshape(1, -1)
        else:
            contributions = np.asarray(
                self.booster.predict(encoded, pred_contrib=True, **_threads(num_threads))
            )
        return contributions[:, :-1], contributions[:, -1]

    def save(self, directory: Path) -> dict[str, Any]:
        self.booster.save_model(str(directory / BOOSTER_FILE))
        return {}

    @classmethod
    def load(cls, directory: Path, meta: dict[str, Any]) -> TreeMargin:
        return cls(lgb.Booster(model_file=str(directory / BOOSTER_FILE)))


# -- the logistic family ---------------------------------------------------------------------------------

TermKind = Literal["category", "value", "missing"]


@dataclass(frozen=True)
class Term:
    """One design column: which register input it belongs to, and what it measures.

    ``kind`` is ``category`` (1 when the input has the category or boolean value with code ``code``, 0 when
    it has another; ``versus`` is the baseline value, which has no column; ``None`` stands for a missing
    value), ``value`` (the standardised number) or ``missing`` (1 when the number was missing and imputed).
    """

    input: str
    kind: TermKind
    code: float | None = None
    versus: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"input": self.input, "kind": self.kind, "code": self.code, "versus": self.versus}


def _display(column: Column, code: float | None) -> str:
    if code is None:
        return "onbekend"
    if column.dtype == "bool":
        return column.display_value(bool(code))
    return column.display_value(list(column.allowed_categories)[int(code)])


def _term_label(column: Column, term: Term) -> str:
    """What a design column measures, in Dutch: a value against the baseline, "per <unit>", or missing."""
    if term.kind == "missing":
        return "waarde ontbreekt"
    if term.kind == "value":
        return f"per eenheid ({column.unit})" if column.unit else "per eenheid"
    return f"{_display(column, term.code)} (t.o.v. {_display(column, term.versus)})"


def _baselines(encoded: np.ndarray, n_discrete: int) -> list[float]:
    """The most frequent code of each discrete column in the training rows (ties: the lowest code)."""
    baselines = []
    for j in range(n_discrete):
        values = encoded[:, j][~np.isnan(encoded[:, j])]
        codes, counts = np.unique(values, return_counts=True)
        baselines.append(float(codes[np.argmax(counts)]) if len(codes) else 0.0)
    return baselines


def build_linear_head(features: FeatureSet, baselines: Sequence[float], c: float = 1.0) -> Pipeline:
    """The logistic family's design and model, fitted on the encoded inputs (columns in tree order);
    ``baselines`` holds the code of each discrete column that gets no 0/1 column of its own."""
    discrete = [*features.categorical, *features.boolean]
    n_discrete = len(discrete)
    transformers: list[tuple[str, object, list[int]]] = []
    if discrete:
        categories = []
        for column in discrete:
            codes = np.arange(
                len(column.allowed_categories) if column.dtype == "category" else 2, dtype=float
            )
            categories.append(np.append(codes, np.nan) if column.nullable else codes)
        encoder = OneHotEncoder(
            categories=categories, drop=list(baselines), handle_unknown="error", sparse_output=False
        )
        transformers.append(("discrete", encoder, list(range(n_discrete))))
    if features.numeric:
        numbers = Pipeline(
            [
                ("impute", SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True)),
                ("scale", StandardScaler()),
            ]
        )
        transformers.append(("numeric", numbers, list(range(n_discrete, n_discrete + len(features.numeric)))))
    design = ColumnTransformer(transformers, remainder="drop", sparse_threshold=0.0)
    return Pipeline([("design", design), ("logistic", LogisticRegression(C=c, max_iter=5000))])


def _code(value: float) -> float | None:
    return None if np.isnan(value) else float(value)


def _terms(head: Pipeline, features: FeatureSet) -> list[Term]:
    """The design's columns in output order, each tied to its register input (read from the fitted head)."""
    design: ColumnTransformer = head.named_steps["design"]
    order = features.tree_order
    discrete = order[: len(features.categorical) + len(features.boolean)]
    numeric = order[len(discrete) :]
    terms: list[Term] = []
    for name, fitted, _ in design.transformers_:
        if name == "discrete":
            for j, (input_name, codes) in enumerate(zip(discrete, fitted.categories_, strict=True)):
                baseline = int(fitted.drop_idx_[j])
                versus = _code(codes[baseline])
                terms += [
                    Term(input_name, "category", _code(code), versus)
                    for i, code in enumerate(codes)
                    if i != baseline
                ]
        elif name == "numeric":
            imputer: SimpleImputer = fitted.named_steps["impute"]
            terms += [Term(input_name, "value") for input_name in numeric]
            if imputer.indicator_ is not None:
                terms += [Term(numeric[int(j)], "missing") for j in imputer.indicator_.features_]
    return terms


@dataclass
class LinearMargin:
    """Logistic regression: margin ``b + w . z``, explained exactly against the training-mean design row."""

    head: Pipeline
    terms: tuple[Term, ...]
    reference: np.ndarray
    inputs: tuple[str, ...]  # the register inputs in encoded (tree) order: the explanation's columns
    _membership: np.ndarray = field(init=False, repr=False)  # design column x input, 1 where it belongs
    family: ClassVar[Family] = "logistic"
    margin_scale: ClassVar[str] = "log-odds (logistic-regression margin, before calibration)"
    explanation_method: ClassVar[str] = (
        "exact: coefficient x (design value - training mean), summed per input"
    )

    def __post_init__(self) -> None:
        width = len(self.coefficients)
        if len(self.terms) != width or len(self.reference) != width:
            raise InvalidInput(
                f"logistic model has {width} coefficients but {len(self.terms)} design terms and "
                f"{len(self.reference)} reference values; the saved model is inconsistent"
            )
        position = {name: index for index, name in enumerate(self.inputs)}
        self._membership = np.zeros((width, len(self.inputs)))
        for d, term in enumerate(self.terms):
            self._membership[d, position[term.input]] = 1.0

    @classmethod
    def fit(
        cls,
        features: FeatureSet,
        encoded: np.ndarray,
        y: np.ndarray,
        weights: np.ndarray,
        *,
        c: float = 1.0,
    ) -> LinearMargin:
        """Fit the design and the logistic regression on encoded training rows; the reference is the
        unweighted mean of each design column over those rows."""
        n_discrete = len(features.categorical) + len(features.boolean)
        head = build_linear_head(features, _baselines(encoded, n_discrete), c)
        head.fit(encoded, y, logistic__sample_weight=weights)
        reference = np.asarray(head.named_steps["design"].transform(encoded), dtype=np.float64).mean(axis=0)
        return cls(head, tuple(_terms(head, features)), reference, tuple(features.tree_order))

    @property
    def coefficients(self) -> np.ndarray:
        return np.asarray(self.head.named_steps["logistic"].coef_[0], dtype=np.float64)

    @property
    def intercept(self) -> float:
        return float(self.head.named_steps["logistic"].intercept_[0])

    @property
    def iterations(self) -> int:
        return int(self.head.named_steps["logistic"].n_iter_[0])

    def design(self, encoded: np.ndarray) -> np.ndarray:
        return np.asarray(self.head.named_steps["design"].transform(encoded), dtype=np.float64)

    def margin(self, encoded: np.ndarray, *, num_threads: int | None = None) -> np.ndarray:
        return self.design(encoded) @ self.coefficients + self.intercept

    def explain(
        self, encoded: np.ndarray, *, num_threads: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        w = self.coefficients
        contributions = ((self.design(encoded) - self.reference) * w) @ self._membership
        base = self.intercept + float(w @ self.reference)
        return contributions, np.full(len(encoded), base)

    def scales(self) -> tuple[np.ndarray, np.ndarray]:
        """Per design column: the standardisation's mean and scale (0 and 1 for one-hot columns), so a
        coefficient can be read per unit of the input (``w / scale``) as well as per standard deviation."""
        means = np.zeros(len(self.terms))
        scales = np.ones(len(self.terms))
        design: ColumnTransformer = self.head.named_steps["design"]
        start = 0
        for name, fitted, _ in design.transformers_:
            if name == "discrete":
                start += sum(len(c) - 1 for c in fitted.categories_)
            elif name == "numeric":
                scaler: StandardScaler = fitted.named_steps["scale"]
                width = len(scaler.scale_)
                means[start : start + width] = scaler.mean_
                scales[start : start + width] = scaler.scale_
                start += width
        return means, scales

    def coefficient_table(self, columns: Sequence[Column]) -> dict[str, Any]:
        """The coefficients as a committee reads them, one row per design column, in Dutch.

        ``coefficient`` is the change in log-odds per unit of the term: for a category, having it rather than
        the baseline value (the most frequent one in training); for a number, one unit of the input
        (``w / scale``; ``per_standard_deviation`` gives ``w``, comparable across numbers); for ``missing``,
        the value being absent. ``odds_ratio`` is ``exp(coefficient)``. ``reference`` is the training mean
        the explanations are measured against, in the input's own units (for a category or ``missing``: the
        share of training cases that had it).
        """
        by_name = {c.name: c for c in columns}
        means, scales = self.scales()
        weights = self.coefficients
        rows = []
        for d, term in enumerate(self.terms):
            column = by_name[term.input]
            per_unit = float(weights[d] / scales[d])
            rows.append(
                {
                    "feature": term.input,
                    "label": column.label,
                    "kind": term.kind,
                    "term": _term_label(column, term),
                    "coefficient": per_unit,
                    "odds_ratio": math.exp(per_unit),
                    "per_standard_deviation": float(weights[d]) if term.kind == "value" else None,
                    "reference": float(self.reference[d] if term.kind == "category" else means[d]),
                }
            )
        return {
            "intercept": self.intercept,
            "base_value": self.intercept + float(weights @ self.reference),
            "scale": self.margin_scale,
            "rows": rows,
        }

    def save(self, directory: Path) -> dict[str, Any]:
        sio.dump(self.head, directory / LINEAR_HEAD_FILE)
        return {
            "linear": {
                "inputs": list(self.inputs),
                "terms": [t.as_dict() for t in self.terms],
                "reference": [float(v) for v in self.reference],
                "reference_rule": "unweighted mean of each design column over the training rows",
            }
        }

    @classmethod
    def load(cls, directory: Path, meta: dict[str, Any]) -> LinearMargin:
        linear = meta["linear"]
        head = load_skops(directory / LINEAR_HEAD_FILE)
        terms = tuple(Term(t["input"], t["kind"], t["code"], t.get("versus")) for t in linear["terms"])
        reference = np.asarray(linear["reference"], dtype=np.float64)
        return cls(head, terms, reference, tuple(linear["inputs"]))


def load_margin_model(directory: Path, meta: dict[str, Any]) -> MarginModel:
    """The saved family of a scan model folder (``model.json``'s ``family``; LightGBM before it existed)."""
    family = meta.get("family", "lightgbm")
    if family == "lightgbm":
        return TreeMargin.load(directory, meta)
    if family == "logistic":
        return LinearMargin.load(directory, meta)
    raise InvalidInput(f"model.json names family {family!r}; expected one of {', '.join(FAMILIES)}")
