"""Where the time of one ``ScanRuntime.score`` call goes, measured in this process on the home's stores.

One case per call, as the service scores it. In order: whole calls unwrapped, the same with LightGBM on
one thread (a what-if), whole calls again with a timer around each step (inclusive of nested steps; the
``rest of`` lines are a total minus its timed children), LightGBM's single-row predictions with default
and one thread, and cProfile of whole calls.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from _profile import callees_lines, print_lines, profiled, stats_lines, table
from _setup import timed

from _serving import SCAN

if TYPE_CHECKING:
    from models.scorer import ScanModel
    from serving.runtime import ScanRuntime, ScanState

# The steps timed inside score_records and store.append_request_ids; the rest of each total is printed apart.
SCORE_CHILDREN = (
    "  encode_records",
    "  lightgbm margin (raw score)",
    "  lightgbm explain (pred_contrib)",
    "  control_draw (HMAC)",
    "  explanation_entries",
)
APPEND_CHILDREN = ("  entry_columns (validate)", "  encode (canonical JSON)")
# The steps runtime.score calls directly; what they leave of the whole call is runtime.score's own time.
TOP_STEPS = (
    "state (refresh_if_changed)",
    "validate (pydantic strict model)",
    "route (wajong)",
    "score_records (total)",
    "log entry (LogEntry build)",
    "store.append_request_ids (total)",
    "result_json",
)
PRINT_ORDER = (
    "state (refresh_if_changed)",
    "validate (pydantic strict model)",
    "route (wajong)",
    "score_records (total)",
    "  encode_records",
    "  lightgbm margin (raw score)",
    "  lightgbm explain (pred_contrib)",
    "  explanation_entries",
    "  control_draw (HMAC)",
    "  rest of score_records (ScoredCase, calibration)",
    "log entry (LogEntry build)",
    "store.append_request_ids (total)",
    "  entry_columns (validate)",
    "  encode (canonical JSON)",
    "  rest of append_request_ids (lock, hash, INSERT, commit)",
    "result_json",
    "other (runtime.score itself)",
)
SINGLE_ROW_REPS = 2000
SINGLE_ROW_CALLS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("raw_score, default threads", {"raw_score": True}),
    ("raw_score, num_threads=1", {"raw_score": True, "num_threads": 1}),
    ("pred_contrib, default threads", {"pred_contrib": True}),
    ("pred_contrib, num_threads=1", {"pred_contrib": True, "num_threads": 1}),
)


@dataclass(frozen=True)
class InProcess:
    """What the HTTP runs are compared with: one whole call's CPU, and its CPU with LightGBM on one thread."""

    plain_cpu_ms: float
    one_thread_cpu_ms: float


class StepTimer:
    """Wraps callables so each call's time is added to a named step (inclusive of nested steps): wall time by
    default, or any other ``clock`` (``time.thread_time`` for the calling thread's CPU)."""

    def __init__(self, clock: Callable[[], float] = time.perf_counter) -> None:
        self.seconds: dict[str, list[float]] = defaultdict(list)
        self._restore: list[Callable[[], None]] = []
        self._clock = clock

    def wrap(self, owner: Any, attribute: str, step: str | Callable[..., str]) -> None:
        original = getattr(owner, attribute)
        had_own = attribute in getattr(owner, "__dict__", {})
        record, clock = self.seconds, self._clock

        def timed_call(*args: Any, **kwargs: Any) -> Any:
            start = clock()
            try:
                return original(*args, **kwargs)
            finally:
                name = step(*args, **kwargs) if callable(step) else step
                record[name].append(clock() - start)

        setattr(owner, attribute, timed_call)
        if had_own:
            self._restore.append(lambda: setattr(owner, attribute, original))
        else:
            self._restore.append(lambda: delattr(owner, attribute))

    def restore(self) -> None:
        for undo in reversed(self._restore):
            undo()
        self._restore.clear()


@dataclass(frozen=True)
class Calls:
    """Scoring one case per call, cycling through ``cases``."""

    runtime: ScanRuntime
    cases: list[dict[str, Any]]
    top_n: int

    def one(self, i: int) -> float:
        """Score case ``i`` (modulo the cases); its wall time in seconds."""
        case = self.cases[i % len(self.cases)]
        start = time.perf_counter()
        self.runtime.score(SCAN, [case], self.top_n)
        return time.perf_counter() - start

    def whole(self, n: int) -> tuple[np.ndarray, float]:
        """``n`` calls: each one's wall time in ms, and the mean CPU ms per call (all threads)."""
        cpu = time.process_time()
        wall = [self.one(i) for i in range(n)]
        return np.asarray(wall) * 1000, (time.process_time() - cpu) / n * 1000


def breakdown(cases: list[dict[str, Any]], n: int, top_n: int, profile_cases: int) -> InProcess:
    """Time the steps of ScanRuntime.score for one case per call, in this process, on the home's stores."""
    runtime, state, model = warm_runtime(cases, n, top_n)
    calls = Calls(runtime, cases, top_n)
    plain_ms, plain_cpu_ms = calls.whole(n)
    with _one_thread(model):
        one_ms, one_cpu_ms = calls.whole(n)
    timer, total_ms = time_steps(calls, model, n)
    print_whole_calls(plain_ms, plain_cpu_ms, one_ms, one_cpu_ms, total_ms)
    print_steps(timer, n, total_ms)
    single_row_lightgbm(model, model.encode_records([runtime._validate(state, [cases[0]])[0]]))
    profile_whole_calls(calls, profile_cases)
    runtime.store.close()
    return InProcess(plain_cpu_ms, one_cpu_ms)


def warm_runtime(cases: list[dict[str, Any]], n: int, top_n: int) -> tuple[ScanRuntime, ScanState, ScanModel]:
    """A ScanRuntime on the home, its caches warmed by 50 calls on cases with other ids."""
    from serving.runtime import ScanRuntime

    runtime, load_seconds = timed(ScanRuntime)
    print(
        f"\nin-process ScanRuntime.score, one case per call ({n} calls; runtime loaded in {load_seconds:.2f} s)"
    )
    state = runtime.state(SCAN)
    if state.model is None:
        raise SystemExit(f"scan {SCAN} has no model in this home: {state.unavailable}")
    for case in cases[:50]:  # warm-up: caches (_lookups), SQLite pages, pydantic
        runtime.score(SCAN, [{**case, "case_id": f"warm-{case['case_id']}"}], top_n)
    return runtime, state, state.model


@contextmanager
def _one_thread(model: ScanModel) -> Iterator[None]:
    """The booster's predict told to use one thread (what-if), unless a call says otherwise."""
    predict = model.booster.predict
    model.booster.predict = lambda data, **kw: predict(data, **{"num_threads": 1, **kw})  # type: ignore[method-assign]
    try:
        yield
    finally:
        del model.booster.predict


def time_steps(calls: Calls, model: ScanModel, n: int) -> tuple[StepTimer, float]:
    """``n`` whole calls with a timer around each step; the timer and the mean whole call in ms."""
    timer = StepTimer()
    _wrap_steps(timer, calls.runtime, model)
    try:
        totals = [calls.one(i) for i in range(n)]
    finally:
        timer.restore()
    return timer, float(np.mean(totals) * 1000)


def _wrap_steps(timer: StepTimer, runtime: ScanRuntime, model: ScanModel) -> None:
    import serving.log._encode as encode_module
    import serving.runtime as runtime_module
    import serving.scoring as scoring_module

    timer.wrap(runtime, "state", "state (refresh_if_changed)")
    timer.wrap(runtime, "_validate", "validate (pydantic strict model)")
    timer.wrap(runtime, "_routed", "route (wajong)")
    timer.wrap(runtime_module, "score_records", "score_records (total)")
    timer.wrap(model, "encode_records", "  encode_records")
    timer.wrap(model.estimator, "margin", "  lightgbm margin (raw score)")
    timer.wrap(model.estimator, "explain", "  lightgbm explain (pred_contrib)")
    timer.wrap(scoring_module, "control_draw", "  control_draw (HMAC)")
    timer.wrap(scoring_module, "explanation_entries", "  explanation_entries")
    timer.wrap(runtime, "_log_entry", "log entry (LogEntry build)")
    timer.wrap(runtime.store, "append_request_ids", "store.append_request_ids (total)")
    timer.wrap(encode_module, "entry_columns", "  entry_columns (validate)")
    timer.wrap(encode_module, "encode", "  encode (canonical JSON)")
    timer.wrap(runtime_module, "result_json", "result_json")


def step_means(timer: StepTimer, n: int, total_ms: float) -> dict[str, float]:
    """Mean ms per call of each timed step, with the untimed rest of each total as a step of its own."""
    steps = {name: float(np.sum(values) / n * 1000) for name, values in timer.seconds.items()}
    if "score_records (total)" in steps:
        steps["  rest of score_records (ScoredCase, calibration)"] = steps["score_records (total)"] - sum(
            steps.get(c, 0.0) for c in SCORE_CHILDREN
        )
    if "store.append_request_ids (total)" in steps:
        steps["  rest of append_request_ids (lock, hash, INSERT, commit)"] = steps[
            "store.append_request_ids (total)"
        ] - sum(steps.get(c, 0.0) for c in APPEND_CHILDREN)
    steps["other (runtime.score itself)"] = total_ms - sum(steps.get(t, 0.0) for t in TOP_STEPS)
    return steps


def print_whole_calls(
    plain_ms: np.ndarray, plain_cpu_ms: float, one_ms: np.ndarray, one_cpu_ms: float, total_ms: float
) -> None:
    print(
        f"  whole call, unwrapped: mean {plain_ms.mean():.3f} ms, p50 {np.percentile(plain_ms, 50):.3f} ms, "
        f"p99 {np.percentile(plain_ms, 99):.3f} ms"
    )
    print(f"    CPU (all threads of this process) per call: {plain_cpu_ms:.3f} ms")
    print(
        f"  what-if, booster.predict(..., num_threads=1): mean {one_ms.mean():.3f} ms, "
        f"p50 {np.percentile(one_ms, 50):.3f} ms, p99 {np.percentile(one_ms, 99):.3f} ms, "
        f"CPU per call {one_cpu_ms:.3f} ms"
    )
    print(f"  whole call, with step timers: mean {total_ms:.3f} ms")


def print_steps(timer: StepTimer, n: int, total_ms: float) -> None:
    steps = step_means(timer, n, total_ms)
    print(f"  {'step':<55} {'mean ms/call':>12} {'share':>7}")
    for name in PRINT_ORDER:
        if name in steps:
            print(f"  {name:<55} {steps[name]:>12.3f} {steps[name] / total_ms:>7.1%}")
    for name, values in timer.seconds.items():
        if name not in PRINT_ORDER:
            print(f"  {name:<55} {np.sum(values) / n * 1000:>12.3f}")


def _predict_ms(booster: Any, encoded: np.ndarray, kwargs: dict[str, Any], reps: int) -> float:
    booster.predict(encoded, **kwargs)
    _, seconds = timed(lambda: [booster.predict(encoded, **kwargs) for _ in range(reps)])
    return seconds / reps * 1000


def single_row_lightgbm(model: ScanModel, encoded: np.ndarray) -> None:
    """LightGBM single-row prediction: default threads (OpenMP, all cores) against one thread."""
    reps = SINGLE_ROW_REPS
    print(f"\n  LightGBM on one row, {reps} calls each (mean ms/call):")
    for label, kwargs in SINGLE_ROW_CALLS:
        print(f"    {label:<32} {_predict_ms(model.booster, encoded, kwargs, reps):.3f}")
    _, seconds = timed(lambda: [model.encoded_names for _ in range(reps)])
    print(
        f"  model.encoded_names (property: preprocessor.get_feature_names_out()): {seconds / reps * 1000:.3f} ms/call"
    )


def profile_whole_calls(calls: Calls, profile_cases: int) -> None:
    """cProfile of whole calls: the functions that cost the most time of their own."""
    runtime, cases, top_n = calls.runtime, calls.cases, calls.top_n
    profiler = profiled(
        lambda: [runtime.score(SCAN, [cases[i % len(cases)]], top_n) for i in range(profile_cases)]
    )
    print(f"\n  cProfile of {profile_cases} calls, top functions by own time (tottime):")
    print_lines(table(stats_lines(profiler, "tottime", 18)), "   ")
    print("\n  cProfile: what explanation_entries calls (cumulative):")
    print_lines(callees_lines(profiler, "explanation_entries")[-14:], "   ")
