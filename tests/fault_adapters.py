"""Adapters that misbehave on purpose, for the runner's failure tests (named by import path)."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import ClassVar

import numpy as np

from adapters import protocol
from adapters.contract import (
    Adapter,
    Capabilities,
    RunContext,
    RunResult,
    SearchData,
    SearchSpace,
    Trial,
)
from adapters.systems.environments import EnvSpec
from adapters.systems.external import ExternalSystem


class _Base(Adapter):
    name = "fault"

    def __init__(self, **options: object) -> None:
        self.options = options

    def version(self) -> str:
        return "test"

    @staticmethod
    def prior(data: SearchData) -> np.ndarray:
        n = len(data.X_holdout)
        if data.task_type == "regression":
            return np.full(n, float(np.mean(data.y)))
        freq = np.bincount(data.y, minlength=len(data.classes)) / len(data.y)
        return np.tile(freq, (n, 1))

    def result(self, data: SearchData, preds: np.ndarray) -> RunResult:
        return RunResult(preds, 0.5, "nothing", 1)


class Sleeper(_Base):
    """Ignores SIGTERM's stop request and sleeps far past the budget."""

    def run(self, data: SearchData, ctx: RunContext) -> RunResult:
        time.sleep(3600)
        return self.result(data, self.prior(data))


class SlowStarter(_Base):
    """Takes `startup_s` seconds to start (as a fresh interpreter's imports would), then starts
    its budget, says how much of it was left, and searches through half of it."""

    begins_itself = True

    def run(self, data: SearchData, ctx: RunContext) -> RunResult:
        time.sleep(float(self.options["startup_s"]))
        ctx.begin()
        left = ctx.remaining()
        while ctx.remaining() > ctx.budget.wall_seconds / 2 and not ctx.stop_requested:
            time.sleep(0.05)
        return RunResult(self.prior(data), 0.5, f"budget left when it began: {left:.3f} s", 1)


class StartupLiar(_Base):
    """Tells the harness it spent a day starting, to be given a day more, and sleeps."""

    begins_itself = True

    def run(self, data: SearchData, ctx: RunContext) -> RunResult:
        assert ctx.on_begin is not None
        ctx.on_begin(86400.0)
        time.sleep(3600)
        return self.result(data, self.prior(data))


class Hog(_Base):
    """Allocates memory in 100 MB steps, touching every page, until stopped."""

    def run(self, data: SearchData, ctx: RunContext) -> RunResult:
        blocks = []
        while True:
            blocks.append(np.ones(100 * 2**20 // 8))
            time.sleep(0.02)


class Crasher(_Base):
    def run(self, data: SearchData, ctx: RunContext) -> RunResult:
        raise RuntimeError("deliberate failure inside the system")


class NaNPredictor(_Base):
    def run(self, data: SearchData, ctx: RunContext) -> RunResult:
        preds = self.prior(data).astype(float)
        preds[::7] = np.nan
        return self.result(data, preds)


class Spy(_Base):
    """Keeps what it was handed, and a copy of the harness's work folder, in `options['dump']`."""

    def run(self, data: SearchData, ctx: RunContext) -> RunResult:
        dump = Path(str(self.options["dump"])) / str(os.getpid())
        shutil.copytree(str(self.options["work"]), dump / "work")
        for job in (dump / "work").rglob(protocol.JOB):  # and its split's data folder
            shutil.copytree(json.loads(job.read_text())["data"], dump / "data")
        data.X.to_parquet(dump / "X.parquet")
        data.X_holdout.to_parquet(dump / "X_holdout.parquet")
        np.save(dump / "y.npy", data.y)
        (dump / "attributes.json").write_text(json.dumps(sorted(vars(data))))
        return self.result(data, self.prior(data))


class NeedsOld(ExternalSystem):
    """A system that needs an interpreter no machine has."""

    name = "needs-old"
    env = EnvSpec("needs-old", "2.5", (), "")
    module = "adapters.systems.flaml"


class BrokenInstall(ExternalSystem):
    """A system whose pinned requirements cannot be installed."""

    name = "broken-install"
    env = EnvSpec("broken-install", "", (str(Path(__file__).parent / "data" /
                                         "broken-requirements.txt"),), "import flaml")
    module = "adapters.systems.flaml"


class Overtuner(_Base):
    """Ends a 'search' over gbm11 on an incumbent that cannot split a tiny dataset (every leaf
    needs 100 rows): the kind of config that wins CV by chasing noise. The first configuration it
    evaluated is the library default."""

    def search_space(self) -> SearchSpace | None:
        from adapters.spaces import GBM11

        return GBM11

    def run(self, data: SearchData, ctx: RunContext) -> RunResult:
        from adapters.searchers.evaluation import align_categories, predict
        from adapters.searchers.families import FAMILIES

        lgbm = FAMILIES["lgbm"]
        incumbent = {"min_child_samples": 100, "n_estimators": 50}
        model = lgbm.fit(lgbm.model(data.task_type, incumbent, ctx, data.X), data.X, data.y, None)
        preds = predict(model, align_categories(data.X_holdout, data.X), data.task_type,
                        len(data.classes))
        trials = [Trial(0, {}, 0.80, 0.0, 0.1), Trial(1, incumbent, 0.83, 0.1, 0.2)]
        return RunResult(preds, 0.83, "3-fold CV on search rows (best of 2 trials)", 2,
                         incumbent, trials, "LGBMClassifier(min_child_samples=100)")


class Garbage(_Base):
    """Hands back text where numbers belong."""

    def run(self, data: SearchData, ctx: RunContext) -> RunResult:
        return self.result(data, np.array(["garbage"] * len(data.X_holdout)))


class WrongShape(_Base):
    """Hands back one value per holdout row for a classification task (or two for regression)."""

    def run(self, data: SearchData, ctx: RunContext) -> RunResult:
        return self.result(data, np.zeros((len(data.X_holdout), 2)) if data.task_type ==
                           "regression" else np.full(len(data.X_holdout), 0.5))


class Hanger(_Base):
    """Writes `attempt-K.pid` (K = attempts so far) into `options['marks']`; the first
    `options['hang']` attempts then sleep until killed, later ones answer at once."""

    def run(self, data: SearchData, ctx: RunContext) -> RunResult:
        marks = Path(str(self.options["marks"]))
        attempt = len(list(marks.glob("attempt-*.pid")))
        (marks / f"attempt-{attempt}.pid").write_text(str(os.getpid()))
        if attempt < int(str(self.options["hang"])):
            time.sleep(3600)
        return self.result(data, self.prior(data))


class Cheater(_Base):
    """Predicts the holdout labels it reads from the .npy file `options['labels']` (a test-only
    route) exactly, while reporting a modest CV score: the leak the suspicion check is for."""

    def run(self, data: SearchData, ctx: RunContext) -> RunResult:
        labels = np.load(str(self.options["labels"]))
        preds = (labels.astype(float) if data.task_type == "regression"
                 else np.eye(len(data.classes))[labels])
        return RunResult(preds, 0.6, "5-fold CV on search rows", 1,
                         fold_scores=[0.55, 0.6, 0.65, 0.6, 0.6])


class Unmapped(_Base):
    """Claims log_loss, which its metric map misses (a KeyError inside a worker, in a system)."""

    capabilities = Capabilities(tasks=("binary",), metrics=("roc_auc", "log_loss"),
                                search="fixed")
    metric_map: ClassVar[dict[str, str]] = {"roc_auc": "auc"}

    def run(self, data: SearchData, ctx: RunContext) -> RunResult:
        return self.result(data, self.prior(data))


class BackwardTrial(_Base):
    """Reports a trial that ends before it starts."""

    capabilities = Capabilities(tasks=("binary",), search="fixed")

    def run(self, data: SearchData, ctx: RunContext) -> RunResult:
        result = self.result(data, self.prior(data))
        result.trials = [Trial(0, {}, 0.5, start=0.2, end=0.1)]
        return result


class SeesEnvironments(_Base):
    """Says, in its model description, which environments folder it finds and what is in it."""

    def run(self, data: SearchData, ctx: RunContext) -> RunResult:
        from adapters.systems.environments import envs_root

        result = self.result(data, self.prior(data))
        root = envs_root()
        result.model_description = f"{root} {sorted(p.name for p in root.glob('*'))}"
        return result
