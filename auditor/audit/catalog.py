"""The audit's checks behind one small interface. A `Check` has a scope — a sealed split, a run,
or a dataset's runs — and is registered with `@register`; the audit pass runs every registered
check of a scope, in the order they were registered. A new check is a `Check` subclass in a module
listed in `CHECK_MODULES`."""

from __future__ import annotations

import functools
import importlib
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar, Generic, Literal, TypeVar

import numpy as np

from adapters.metrics import Metric
from auditor.audit.checks import Finding
from auditor.data.split import SealedSplit
from auditor.execution.recording import bootstrap_file
from auditor.stats.bootstrap import N_BOOTSTRAP, PairedScores
from auditor.store.records import StoredRun, StoredTrial

Scope = Literal["split", "run", "dataset"]
# modules whose checks the audit pass runs; importing one registers its checks
CHECK_MODULES = ("auditor.audit.registered", "auditor.audit.suspicion")


@dataclass(frozen=True)
class SplitSubject:
    """A sealed split of a dataset, before any run."""

    dataset: str
    split: SealedSplit


@dataclass
class SplitRuns:
    """What the runs on one split share across their checks, each read or computed once: their
    holdout predictions (by job id) and their paired bootstrap scores (by metric and seed),
    starting from the bootstrap scores result processing kept (`bootstrap_file`)."""

    out: Path
    predictions: dict[str, np.ndarray] = field(default_factory=dict)
    paired: dict[tuple[str, int], PairedScores] = field(default_factory=dict)

    def predictions_of(self, run: StoredRun) -> np.ndarray:
        if run.job_id not in self.predictions:
            self.predictions[run.job_id] = np.load(predictions_file(self.out, run))
        return self.predictions[run.job_id]

    def paired_on(self, metric: Metric, split: SealedSplit, seed: int, runs: list[StoredRun]
                  ) -> PairedScores:
        """The paired bootstrap scores by `metric` on `split`'s holdout resampled with `seed`,
        knowing those of `runs` that result processing kept: its resamples are these when the
        run has the same metric and seed."""
        key = (metric.name, seed)
        if key not in self.paired:
            self.paired[key] = PairedScores(metric, split.holdout_y,
                                            split.dataset.task_type != "regression", seed)
        paired = self.paired[key]
        for run in runs:
            if (run.metric, run.seed) == key and run.holdout_score is not None:
                paired.know(run.job_id, run.holdout_score, functools.partial(self._kept, run))
        return paired

    def _kept(self, run: StoredRun) -> np.ndarray | None:
        kept = bootstrap_file(predictions_file(self.out, run))
        boot = np.load(kept) if kept.is_file() else None
        return boot if boot is not None and boot.shape == (N_BOOTSTRAP,) else None


@dataclass(frozen=True)
class RunSubject:
    """A successful run, its trials, its split (None when it is not this suite's), the other
    successful runs on the same split (`peers`) and what the runs on that split share (`shared`;
    by default this run's own)."""

    run: StoredRun
    trials: list[StoredTrial]
    out: Path
    split: SealedSplit | None
    cores: int
    peers: list[StoredRun]
    shared: SplitRuns | None = None

    @cached_property
    def on_split(self) -> SplitRuns:
        return self.shared or SplitRuns(self.out)

    def predictions(self) -> np.ndarray:
        return self.on_split.predictions_of(self.run)

    def paired_gain(self, metric: Metric, peer: StoredRun) -> tuple[float, float, float]:
        """`paired_gain` of this run over `peer` on the split's holdout, seeded by the run."""
        assert self.split is not None, "a paired gain needs the split's holdout"
        shared = self.on_split
        paired = shared.paired_on(metric, self.split, self.run.seed, [self.run, peer])
        return paired.gain(self.run.job_id, self.predictions, peer.job_id,
                           lambda: shared.predictions_of(peer))


@dataclass(frozen=True)
class DatasetSubject:
    """Every successful run on one dataset."""

    dataset: str
    runs: list[StoredRun]


def predictions_file(out: Path, run: StoredRun) -> Path:
    """The holdout predictions of a successful run (every one saved them)."""
    assert run.predictions_path is not None, f"run {run.job_id} saved no predictions"
    return out / run.predictions_path


def holdout_of(run: StoredRun) -> tuple[float, float, float]:
    """A successful run's holdout score and the ends of its 95 % CI (every one has them)."""
    score, lo, hi = run.holdout_score, run.holdout_lo, run.holdout_hi
    assert score is not None and lo is not None and hi is not None, f"run {run.job_id} unscored"
    return score, lo, hi


SubjectT = TypeVar("SubjectT", SplitSubject, RunSubject, DatasetSubject)


class Check(ABC, Generic[SubjectT]):
    """One audit check: `findings` of a subject of its `scope` (none when it does not apply)."""

    name: ClassVar[str]
    scope: ClassVar[Scope]

    @abstractmethod
    def findings(self, subject: SubjectT) -> list[Finding]: ...


CHECKS: dict[str, Check[Any]] = {}


def register(cls: type[Check[Any]]) -> type[Check[Any]]:
    """Class decorator: add one instance of the check to `CHECKS`."""
    if cls.name in CHECKS:
        raise ValueError(f"a check named {cls.name!r} is registered already")
    CHECKS[cls.name] = cls()
    return cls


def registered(scope: Scope) -> list[Check[Any]]:
    """The registered checks of `scope`, after importing `CHECK_MODULES`."""
    for module in CHECK_MODULES:
        importlib.import_module(module)
    return [c for c in CHECKS.values() if c.scope == scope]
