"""Fit the LightGBM candidate on a Dask cluster: ``riskscan train --dask-scheduler ADDRESS``.

Only the booster fit moves to the cluster, through LightGBM's own distributed engine
(``lightgbm.dask.DaskLGBMClassifier``, data-parallel tree learner). Everything around it stays in the
local process and is the same code as the local path: the feature pipeline is fitted here, the rows are
encoded here, and calibration, threshold, metrics, MLflow logging and registration in
``training.train.train_scan`` are untouched. The fitted model comes back as a plain ``lgb.Booster``
(``to_local()``), so the registered version is an ordinary one for the audit, the gate and serving.

What differs from the local ``lgb.train`` path, found in lightgbm 4.7's ``lightgbm/dask.py`` and recorded
here so nobody has to rediscover it:

* **Bin boundaries and histograms.** In data-parallel training every LightGBM worker finds the bin
  boundaries of its share of the features from the rows it holds, the workers exchange them, and each
  round sums the workers' histograms. ``lgb.train`` bins every feature from all rows at once. The splits,
  and so the scores, can differ a little; they also depend on how the rows are spread over the workers,
  so a 2-worker and a 4-worker fit are not identical either. ``deterministic`` and ``seed`` are passed,
  which makes a fit repeatable for the same cluster shape and row blocks, not across shapes.
* **Early stopping.** ``lightgbm.dask`` hands each worker only the validation partitions it happens to
  hold (a worker may get none; LightGBM then warns that ``best_score_`` "may be unreliable"), and the
  early-stopping callback decides on each worker from its own share. Workers could stop at different
  rounds, which the collective training cannot survive. So the cluster trains all ``n_estimators``
  rounds without a callback, and this process applies the *same rule* as ``lgb.early_stopping`` (first
  metric, the weighted binary log-loss on the validation months, stop after ``early_stopping_rounds``
  rounds without a strict improvement, keep the best round) to the per-round validation loss, then
  truncates the booster to the best round. The best-iteration rule is the same; the cost is the rounds
  the local path would not have trained.
* **Threads.** ``lightgbm.dask`` ignores ``num_threads`` and gives each worker as many threads as the
  Dask worker has (``--nthreads``).
* **Categorical features and weights** work as locally: the category codes come from the pipeline fitted
  here, so every worker sees the same codes; ``categorical_feature`` and ``feature_name`` are passed to
  every worker's fit, and the inverse-probability weights travel with their rows as ``sample_weight``.
* **Network.** Besides Dask's own connections, LightGBM opens one listening port per worker (chosen by
  ``lightgbm.dask``) and the workers connect to each other directly: a firewall between workers must
  allow it. Workers need the same locked environment (``uv.lock``) as this process.

The rows sent to the cluster are the encoded training and validation months: personal data. The
scheduler and workers must run inside the same security zone as this process (use ``tls://`` addresses
and Dask's TLS settings between machines).
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import lightgbm as lgb
import numpy as np

from riskscan.cluster import dask_client
from riskscan.errors import Unavailable

LOGLOSS_EPSILON = 1e-15  # LightGBM's kEpsilon: probabilities are clipped to [eps, 1 - eps] in binary_logloss

# lgb.train parameter names (training.train._lgb_params) -> DaskLGBMClassifier (scikit-learn) names. An
# explicit map, so that a parameter added to the local path cannot silently go missing on the cluster.
_SKLEARN_NAMES = {
    "objective": "objective",
    "learning_rate": "learning_rate",
    "max_depth": "max_depth",
    "num_leaves": "num_leaves",
    "min_data_in_leaf": "min_child_samples",
    "feature_fraction": "colsample_bytree",
    "lambda_l2": "reg_lambda",
    "seed": "random_state",
    "cat_smooth": "cat_smooth",
    "deterministic": "deterministic",
    "verbosity": "verbosity",
}
_DROPPED = {"num_threads"}  # lightgbm.dask sets it from each worker's thread count


def sklearn_params(params: dict[str, Any], num_boost_round: int) -> dict[str, Any]:
    """The local ``lgb.train`` parameters as ``DaskLGBMClassifier`` keyword arguments."""
    unknown = sorted(set(params) - set(_SKLEARN_NAMES) - _DROPPED)
    if unknown:
        raise ValueError(
            f"LightGBM parameter(s) {unknown} have no mapping to the Dask trainer; "
            "add them to training.distributed._SKLEARN_NAMES"
        )
    mapped = {_SKLEARN_NAMES[k]: v for k, v in params.items() if k in _SKLEARN_NAMES}
    return {**mapped, "n_estimators": num_boost_round}


def best_iteration(
    booster: lgb.Booster, x_valid: np.ndarray, y_valid: np.ndarray, w_valid: np.ndarray, stopping_rounds: int
) -> int:
    """The round ``lgb.early_stopping(stopping_rounds)`` would keep, from the validation log-loss per round.

    Same rule as LightGBM's callback: a round is the new best only if its loss is strictly lower; stop
    once ``stopping_rounds`` rounds pass without a new best, or at the last round. Returns 1-based.
    """
    y = np.asarray(y_valid, dtype=float)
    w = np.asarray(w_valid, dtype=float)
    margin = np.zeros(len(y))
    best_loss, best_round = math.inf, 0
    for round_ in range(booster.num_trees()):  # binary: one tree per round
        # Add one tree's output at a time: the whole curve costs one pass over the trees, not n^2 / 2.
        margin += np.asarray(
            booster.predict(x_valid, raw_score=True, start_iteration=round_, num_iteration=1)
        )
        p = np.clip(1.0 / (1.0 + np.exp(-margin)), LOGLOSS_EPSILON, 1.0 - LOGLOSS_EPSILON)
        loss = float(-np.sum(w * (y * np.log(p) + (1.0 - y) * np.log(1.0 - p))) / np.sum(w))
        if round_ == 0 or loss < best_loss:
            best_loss, best_round = loss, round_
        elif round_ - best_round >= stopping_rounds:
            break
    return best_round + 1


def _row_blocks(n_rows: int, n_blocks: int) -> list[slice]:
    size = math.ceil(n_rows / n_blocks)
    return [slice(start, min(start + size, n_rows)) for start in range(0, n_rows, size)]


def fit_booster(
    params: dict[str, Any],
    x_train: np.ndarray,
    y_train: np.ndarray,
    w_train: np.ndarray,
    x_valid: np.ndarray,
    y_valid: np.ndarray,
    w_valid: np.ndarray,
    *,
    feature_names: list[str],
    categorical: list[int],
    num_boost_round: int,
    early_stopping_rounds: int,
    scheduler: str,
) -> lgb.Booster:
    """Train on the cluster at ``scheduler``; return a local booster cut at the early-stopping round."""
    import dask.array as da
    from lightgbm.dask import DaskLGBMClassifier

    with dask_client(scheduler, as_current=True) as client:
        workers = sorted(client.scheduler_info()["workers"])
        if not workers:
            raise Unavailable(
                f"the Dask scheduler at '{scheduler}' has no workers; start 'dask worker {scheduler}'"
            )
        # One contiguous block of rows per worker, placed there explicitly: every worker takes part, and
        # the same cluster shape always gets the same blocks (a repeatable fit). Rows, labels and weights
        # of a block stay together on one worker, as lightgbm.dask requires.
        blocks = _row_blocks(len(x_train), len(workers))
        arrays: dict[str, list[Any]] = {"x": [], "y": [], "w": []}
        for block, worker in zip(blocks, workers, strict=False):
            for name, values in (("x", x_train), ("y", y_train), ("w", w_train)):
                part = np.ascontiguousarray(values[block])
                future = client.scatter(part, workers=[worker])
                arrays[name].append(da.from_delayed(future, shape=part.shape, dtype=part.dtype))
        classifier = DaskLGBMClassifier(client=client, **sklearn_params(params, num_boost_round))
        with warnings.catch_warnings():
            # The scikit-learn wrapper always carries n_jobs (None); lightgbm.dask warns that it ignores
            # it in favour of the workers' thread counts, which is the documented behaviour, not a fault.
            warnings.filterwarnings(
                "ignore", message="Parameter n_jobs will be ignored", category=UserWarning
            )
            classifier.fit(
                da.concatenate(arrays["x"]),
                da.concatenate(arrays["y"]),
                sample_weight=da.concatenate(arrays["w"]),
                feature_name=feature_names,
                categorical_feature=categorical,
            )
        trained = classifier.to_local().booster_
    best = best_iteration(trained, x_valid, y_valid, w_valid, early_stopping_rounds)
    # Keep only the trees up to the best round, as lgb.train's saved model does after early stopping.
    booster = lgb.Booster(model_str=trained.model_to_string(num_iteration=best))
    booster.best_iteration = best
    return booster
