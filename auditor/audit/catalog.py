"""The audit's checks behind one small interface. A `Check` has a scope — a sealed split, a run,
or a dataset's runs — and is registered with `@register`; the audit pass runs every registered
check of a scope, in the order they were registered. A new check is a `Check` subclass in a module
listed in `CHECK_MODULES`."""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar, Generic, Literal, TypeVar

import numpy as np

from auditor.audit.checks import Finding
from auditor.data.split import SealedSplit
from auditor.store.records import StoredRun, StoredTrial

Scope = Literal["split", "run", "dataset"]
# modules whose checks the audit pass runs; importing one registers its checks
CHECK_MODULES = ("auditor.audit.registered", "auditor.audit.suspicion")


@dataclass(frozen=True)
class SplitSubject:
    """A sealed split of a dataset, before any run."""

    dataset: str
    split: SealedSplit


@dataclass(frozen=True)
class RunSubject:
    """A successful run, its trials, its split (None when it is not this suite's) and the other
    successful runs on the same split (`peers`)."""

    run: StoredRun
    trials: list[StoredTrial]
    out: Path
    split: SealedSplit | None
    cores: int
    peers: list[StoredRun]

    def predictions(self) -> np.ndarray:
        """The run's holdout predictions, read once for all the checks."""
        return self._predictions

    @cached_property
    def _predictions(self) -> np.ndarray:
        return np.load(predictions_file(self.out, self.run))


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
