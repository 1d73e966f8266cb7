"""H2O AutoML in its own environment (requirement file in this folder), on a private local H2O
cluster.

Budget mapping: the JVM gets `nthreads` = cores and a hard heap cap (`-Xmx`) of 2/3 of the memory
budget, as AMLB gives it (the other third is for XGBoost's native memory outside the heap), and at
most the budget less the harness's job process, this worker and the JVM's own overhead, since the
harness counts the whole process tree. The JVM starts before the budget does (`warm`);
`max_runtime_secs` = the time left, minus a reserve for H2O's overshoot, prediction and shutdown;
`max_models` = max_trials. A stop request cancels the AutoML job, which keeps the models built so
far. Reported score: the leader's leaderboard metric, from H2O's 5-fold CV on the search rows.
Trial times come from H2O's event log: models are built one at a time, so each trial runs from the
previous model's completion to its own.
"""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from adapters.contract import (
    Budget,
    BudgetFailure,
    Capabilities,
    RunContext,
    RunResult,
    SearchData,
    SetupFailure,
    Trial,
    place_probabilities,
)
from adapters.systems.environments import EnvSpec
from adapters.systems.external import CrossValidating

# harness metric -> (H2O sort_metric, leaderboard column, (column value, label variance) -> score)
METRICS = {
    "roc_auc": ("AUC", "auc", lambda v, var: v),
    "log_loss": ("logloss", "logloss", lambda v, var: v),
    "balanced_accuracy": ("mean_per_class_error", "mean_per_class_error", lambda v, var: 1 - v),
    "rmse": ("RMSE", "rmse", lambda v, var: v),
    "r2": ("MSE", "mse", lambda v, var: 1 - v / var),
}
LABEL = "__auditor_label__"
PROJECT = "auditor"  # the cluster is this run's own
# measured: the harness's job process ~150 MB, this worker with the H2O client ~150 MB, the JVM's
# memory beyond its heap (metaspace, code cache, threads) ~300 MB; each with headroom
HARNESS_MB, CLIENT_MB, JVM_OVERHEAD_MB = 300, 200, 400
MIN_HEAP_MB = 256
# after training: leaderboard, event log, holdout upload and prediction, shutdown (~3 s measured),
# plus H2O's overshoot of max_runtime_secs, which grows with the budget
RESERVE_S = 4.0
RESERVE_FRACTION = 0.1


class H2OAutoML(CrossValidating):
    """Options: `cv_folds` (the suite's: H2O's `nfolds`), `include_algos` (list of H2O algorithm
    names; default all)."""

    name = "h2o"
    env = EnvSpec("h2o", "", ("h2o/requirements.txt",), "import h2o; print(h2o.__version__)",
                  programs=(("java", "a Java runtime, e.g. Debian's openjdk-17-jre-headless"),))
    module = "adapters.systems.h2o"
    preload = ("h2o", "h2o.backend")
    own_server = "its own H2O JVM per job, started by the worker before the budget"
    # frame upload, the reserve, a few models: at 25 s on a busy machine, with the JVM's start
    # (4-10 s) then inside the budget, H2O built none. `nfolds` is always given, so H2O cannot
    # switch to blending on large data.
    capabilities = Capabilities(
        metrics=tuple(METRICS), search="own-strategy", min_wall_seconds=40.0, cv_folds=True,
        title="H2O AutoML")
    metric_map = METRICS


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _seconds_of_day(stamp: str) -> float:
    """H2O event times look like 03:19:12.10: hours, minutes, seconds and unpadded milliseconds."""
    hours, minutes, rest = stamp.split(":")
    seconds, _, millis = rest.partition(".")
    return int(hours) * 3600 + int(minutes) * 60 + int(seconds) + int(millis or 0) / 1000


def _trials(events: pd.DataFrame, board: pd.DataFrame, column: str, to_score: Any,
            started: float) -> list[Trial]:
    """One trial per leaderboard model, timed by the event that added it to the leaderboard."""
    t0 = _seconds_of_day(events["timestamp"].iloc[0])
    added = {}
    for stamp, message in zip(events["timestamp"], events["message"], strict=True):
        if message.startswith("Adding model "):
            added[message.split()[2]] = started + (_seconds_of_day(stamp) - t0) % 86400
    rows = board.assign(end=board["model_id"].map(added)).sort_values("end", kind="stable")
    trials, previous = [], started
    for number, row in enumerate(rows.itertuples(), start=1):
        end = row.end if np.isfinite(row.end) else previous
        trials.append(Trial(number=number, config={"model_id": row.model_id, "algo": row.algo},
                            score=to_score(getattr(row, column)), start=previous, end=end))
        previous = end
    return trials


def _cancel_on_stop(ctx: RunContext, done: threading.Event) -> None:
    """Cancels the AutoML job when the harness asks to stop; H2O keeps what it has built."""
    import h2o

    while not done.wait(0.1):
        if ctx.stop_requested:
            for job in h2o.api("GET /3/Jobs")["jobs"]:
                if job["dest"]["type"] == "Key<AutoML>" and job["status"] == "RUNNING":
                    h2o.api(f"POST /3/Jobs/{job['key']['name']}/cancel")
            return


def _shutdown(server: Any) -> None:
    """Stops the cluster through its API, then its JVM process whatever the API did."""
    import h2o

    try:
        if h2o.cluster() is not None:
            h2o.cluster().shutdown()
    finally:
        server.shutdown()


def _frame(path: Path, X: pd.DataFrame, types: dict[str, str]) -> Any:
    """An H2O frame parsed by the JVM from a CSV file: faster than uploading a pandas frame."""
    import h2o

    X.to_csv(path, index=False)
    return h2o.import_file(str(path), header=1, col_types=types)


# the JVM `warm` started in this process, for `work`
_SERVERS: list[Any] = []


def warm(options: dict[str, Any], budget: Budget, folder: Path) -> None:
    """Starts H2O's JVM (heap 2/3 of the memory budget, as in AMLB) and connects to it, before
    the budget starts: a server's start-up is not the search's."""
    os.environ["DO_NOT_TRACK"] = "1"  # no usage reports from the client or the JVM
    import h2o
    from h2o.backend import H2OLocalServer
    from h2o.exceptions import H2OStartupError

    heap_mb = max(MIN_HEAP_MB, min(budget.memory_mb * 2 // 3,
                                   budget.memory_mb - HARNESS_MB - CLIENT_MB - JVM_OVERHEAD_MB))
    ice = folder / "h2o"
    ice.mkdir()
    try:
        server = H2OLocalServer.start(
            nthreads=budget.cores, max_mem_size=heap_mb << 20, ice_root=str(ice),
            port=f"{_free_port()}+", bind_to_localhost=True, verbose=False,
        )
    except H2OStartupError as exc:
        raise SetupFailure(f"H2O could not start (it needs a Java runtime, e.g. Debian's "
                           f"openjdk-17-jre-headless): {exc}") from None
    _SERVERS.append(server)
    h2o.connect(server=server, verbose=False)
    h2o.no_progress()


def work(data: SearchData, ctx: RunContext, options: dict[str, Any], folder: Path) -> RunResult:
    import h2o
    from h2o.automl import H2OAutoML as AutoML
    from h2o.automl import get_automl, get_leaderboard
    from h2o.exceptions import H2OJobCancelled

    budget = ctx.budget
    try:
        if not _SERVERS:
            warm(options, budget, folder)
        sort_metric, column, to_score = METRICS[data.metric]
        regression = data.task_type == "regression"
        categorical = set(data.categorical_columns)
        types = {c: "enum" if c in categorical else "real" for c in data.X.columns}
        label = data.y if regression else data.y.astype(str)
        train = _frame(folder / "train.csv", data.X.assign(**{LABEL: label}),
                       {**types, LABEL: "real" if regression else "enum"})
        reserve = RESERVE_S + RESERVE_FRACTION * ctx.remaining()
        aml = AutoML(
            nfolds=options["cv_folds"], max_runtime_secs=max(1, int(ctx.remaining() - reserve)),
            max_models=budget.max_trials, seed=ctx.seed, sort_metric=sort_metric,
            include_algos=options.get("include_algos"), project_name=PROJECT, verbosity=None,
        )
        done = threading.Event()
        threading.Thread(target=_cancel_on_stop, args=(ctx, done), daemon=True).start()
        started = ctx.elapsed()
        out = aml
        try:
            aml.train(y=LABEL, training_frame=train)
        except H2OJobCancelled:
            out = get_automl(PROJECT)
        finally:
            done.set()
        if out.leader is None:
            raise BudgetFailure(f"H2O AutoML built no model in max_runtime_secs="
                                f"{aml.max_runtime_secs}")
        board = get_leaderboard(out, extra_columns="ALL").as_data_frame()
        events = out.event_log.as_data_frame()
        predicted = out.leader.predict(_frame(folder / "holdout.csv", data.X_holdout, types))
        predicted = predicted.as_data_frame()
        if regression:
            preds = predicted["predict"].to_numpy(dtype=float)
        else:  # probability columns follow the label's levels, which are the class codes
            preds = place_probabilities(predicted.iloc[:, 1:], train[LABEL].levels()[0],
                                        len(data.classes))
        version = h2o.__version__
    finally:
        while _SERVERS:
            _shutdown(_SERVERS.pop())
    variance = float(np.var(data.y))

    def score(value: float) -> float:
        return float(to_score(value, variance))

    trials = _trials(events, board, column, score, started)
    best = board.iloc[0]
    return RunResult(
        predictions=preds,
        reported_score=score(best[column]),
        reported_on=(f"H2O AutoML leaderboard {column}"
                     f"{' turned into R²' if data.metric == 'r2' else ''} of the leader, from "
                     f"{options['cv_folds']}-fold CV on the search rows, best of "
                     f"{len(trials)} models"),
        n_configs=len(trials),
        best_config={"model_id": str(best["model_id"]), "algo": str(best["algo"])},
        trials=trials,
        model_description=f"{best['algo']} {best['model_id']} (H2O {version})",
        search_space={
            "name": "h2o",
            "description": "H2O AutoML's modelling plan: default models, random grids and stacked "
                           "ensembles; the grids are defined inside H2O's Java code and not "
                           "exposed (only include_algos and max_models are)",
            "dimension": 0,
            "algorithms": sorted(set(board["algo"])),
        },
    )
