"""Feature pipelines, built only from register entries that a scan may use.

A scan never names a column the register has not cleared for it: ``feature_set`` refuses nationality,
every other audit-only attribute, forbidden columns, identifiers, labels and selection flags, and names
the column and its role. The pipelines below are plain scikit-learn (ColumnTransformer and friends)
whose category lists come from the register, not from the data, so an unseen category is an error and
never a silent new code.

Two shapes are built from the same feature set:

* ``build_tree_pipeline``: one output column per input column (ordinal codes for categories, 0/1 for
  booleans, numbers as they are, missing kept as NaN). One-to-one columns are what make exact TreeSHAP
  contributions of a tree model readable per register column.
* ``build_linear_pipeline``: one-hot categories, imputed and standardised numbers, for the logistic
  baseline.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

from features.register import Column, FeatureRegister, default_register
from features.schemas import validate_frame
from riskscan.errors import ConfigError, InvalidInput

#: Where a routed case goes instead of being scored, by the routing column's scan.
ROUTING_DESTINATION = {
    "vw": "arbeidsdeskundige",
}


@dataclass(frozen=True)
class FeatureSet:
    """The model inputs of one scan, each cleared by the register, with the register's hash."""

    scan: str
    columns: tuple[Column, ...]
    register_hash: str

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def categorical(self) -> list[Column]:
        return [c for c in self.columns if c.dtype == "category"]

    @property
    def boolean(self) -> list[Column]:
        return [c for c in self.columns if c.dtype == "bool"]

    @property
    def numeric(self) -> list[Column]:
        return [c for c in self.columns if c.dtype in ("int", "float")]

    @property
    def tree_order(self) -> list[str]:
        """Column order of the tree pipeline's output (categorical, boolean, numeric)."""
        return [c.name for c in (*self.categorical, *self.boolean, *self.numeric)]

    @property
    def categorical_indices(self) -> list[int]:
        """Positions of categorical columns in the tree pipeline's output, for LightGBM."""
        return list(range(len(self.categorical)))

    def validate(self, frame: pd.DataFrame, *, key_column: str | None = None) -> None:
        """Check every input column by type, range, category and nulls; raise InvalidInput."""
        validate_frame(frame, self.columns, key_column=key_column)


def feature_set(scan: str, names: Iterable[str], register: FeatureRegister | None = None) -> FeatureSet:
    """The FeatureSet of ``names`` for ``scan``; refuses any column the register does not allow."""
    register = register or default_register()
    names = list(names)
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ConfigError(f"feature list for scan '{scan}' names {', '.join(duplicates)} more than once")
    if not names:
        raise ConfigError(f"feature list for scan '{scan}' is empty")
    register.check_model_inputs(scan, names)
    return FeatureSet(
        scan=scan, columns=tuple(register[n] for n in names), register_hash=register.content_hash
    )


def build_tree_pipeline(features: FeatureSet) -> ColumnTransformer:
    """Ordinal codes from the register's category order; numbers pass through; one column per input."""
    transformers: list[tuple[str, object, list[str]]] = []
    if features.categorical:
        transformers.append(
            (
                "categorical",
                OrdinalEncoder(
                    categories=[list(c.allowed_categories) for c in features.categorical],
                    handle_unknown="error",
                    dtype=np.float64,
                ),
                [c.name for c in features.categorical],
            )
        )
    if features.boolean:
        transformers.append(
            (
                "boolean",
                OrdinalEncoder(categories=[[False, True]] * len(features.boolean), dtype=np.float64),
                [c.name for c in features.boolean],
            )
        )
    if features.numeric:
        transformers.append(("numeric", "passthrough", [c.name for c in features.numeric]))
    return ColumnTransformer(transformers, remainder="drop", verbose_feature_names_out=False, n_jobs=None)


def build_linear_pipeline(features: FeatureSet) -> Pipeline:
    """One-hot categories and booleans; numbers imputed (with a missing-indicator) and standardised."""
    transformers: list[tuple[str, object, list[str]]] = []
    discrete = [*features.categorical, *features.boolean]
    if discrete:
        transformers.append(
            (
                "discrete",
                OneHotEncoder(
                    categories=[
                        list(c.allowed_categories) if c.dtype == "category" else [False, True]
                        for c in discrete
                    ],
                    handle_unknown="error",
                    sparse_output=False,
                ),
                [c.name for c in discrete],
            )
        )
    if features.numeric:
        transformers.append(
            (
                "numeric",
                Pipeline(
                    [
                        ("impute", SimpleImputer(strategy="median", add_indicator=True)),
                        ("scale", StandardScaler()),
                    ]
                ),
                [c.name for c in features.numeric],
            )
        )
    return Pipeline([("columns", ColumnTransformer(transformers, verbose_feature_names_out=False))])


@dataclass
class FeatureMatrix:
    """Encoded model inputs, with the keys of their rows and the hash of the register they came from."""

    values: np.ndarray
    feature_names: list[str]
    register_hash: str
    scan: str
    keys: pd.Index = field(default_factory=lambda: pd.Index([]))

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.values.shape)

    def to_frame(self) -> pd.DataFrame:
        frame = pd.DataFrame(self.values, columns=self.feature_names, index=self.keys)
        frame.attrs["register_hash"] = self.register_hash
        return frame


def build_feature_matrix(
    frame: pd.DataFrame,
    features: FeatureSet,
    pipeline: ColumnTransformer | Pipeline,
    *,
    key_column: str | None = None,
    fit: bool = False,
) -> FeatureMatrix:
    """Validate ``frame`` and encode it with ``pipeline`` (fitting it first when ``fit``)."""
    features.validate(frame, key_column=key_column)
    inputs = frame[features.names]
    values = pipeline.fit_transform(inputs) if fit else pipeline.transform(inputs)
    keys = pd.Index(frame[key_column]) if key_column is not None else pd.Index(frame.index)
    return FeatureMatrix(
        values=np.asarray(values, dtype=np.float64),
        feature_names=[str(n) for n in pipeline.get_feature_names_out()],
        register_hash=features.register_hash,
        scan=features.scan,
        keys=keys,
    )


@dataclass(frozen=True)
class Routing:
    """Which rows a scan scores, and which go elsewhere, with the reason in words."""

    scored: pd.DataFrame
    routed: pd.DataFrame
    destination: str | None
    reason: str | None


def route(frame: pd.DataFrame, scan: str, register: FeatureRegister | None = None) -> Routing:
    """Split off cases the scan must not score (Wajong applicants for VW go to a labour expert).

    The routing column is read for this decision only; it never becomes a model input.
    """
    register = register or default_register()
    rules = register.routing_columns(scan)
    if not rules:
        return Routing(scored=frame, routed=frame.iloc[0:0], destination=None, reason=None)
    mask = np.zeros(len(frame), dtype=bool)
    for column in rules:
        if column.name not in frame.columns:
            raise InvalidInput(
                f"scan '{scan}' routes on column '{column.name}' ({column.label}), which the input lacks; "
                f"expected {column.dtype} values"
            )
        values = frame[column.name]
        if values.isna().any():
            raise InvalidInput(f"routing column '{column.name}' has empty values; expected true or false")
        mask |= values.to_numpy(dtype=bool)
    reason = " ".join(c.routing_note or "" for c in rules).strip()
    return Routing(
        scored=frame.loc[~mask],
        routed=frame.loc[mask],
        destination=ROUTING_DESTINATION.get(scan, "handmatige beoordeling"),
        reason=reason,
    )
