"""Typed records of the results store's rows: what the store takes and gives back.

The store encodes and decodes the columns: JSON text (`JSON`) as Python values, .npy bytes
(`ARRAYS`) as arrays, 0/1 integers (`FLAGS`) as bools. A JSON column that is NULL, or holds
`null`, is None. Tables and their meaning: `auditor.store.schema`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, Self

import numpy as np

from auditor.store.schema import npy_bytes, npy_load


class Stored:
    """A row of one table; subclasses are dataclasses named after their table."""

    JSON: ClassVar[frozenset[str]] = frozenset()
    FLAGS: ClassVar[frozenset[str]] = frozenset()
    ARRAYS: ClassVar[frozenset[str]] = frozenset()
    SORTED: ClassVar[frozenset[str]] = frozenset()  # JSON written with sorted keys
    ENCODE_DEFAULT: ClassVar[Any] = str  # `json.dumps(default=...)`

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> Self:
        """The record of a database row (columns it does not know, like `rowid`, are skipped)."""
        values = {}
        for f in fields(cls):  # type: ignore[arg-type]
            value = row[f.name]
            if value is not None and f.name in cls.JSON:
                value = json.loads(value)
            elif value is not None and f.name in cls.ARRAYS:
                value = npy_load(value)
            elif f.name in cls.FLAGS:
                value = bool(value)
            values[f.name] = value
        return cls(**values)

    def to_row(self) -> dict[str, Any]:
        """The database row of this record."""
        row = {}
        for f in fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            if value is not None and f.name in self.JSON:
                value = json.dumps(value, default=self.ENCODE_DEFAULT,
                                   sort_keys=f.name in self.SORTED)
            elif value is not None and f.name in self.ARRAYS:
                value = npy_bytes(value)
            elif f.name in self.FLAGS:
                value = int(value)
            row[f.name] = value
        return row


@dataclass(frozen=True)
class StoredDataset(Stored):
    JSON = frozenset({"classes"})

    name: str
    source: str
    target: str
    task_type: str
    classes: list[Any]
    n_rows: int
    n_features: int
    n_categorical: int
    n_missing: int
    fingerprint: str
    openml_dataset_id: int | None = None
    openml_dataset_version: int | None = None
    openml_task_id: int | None = None
    file_sha256: str | None = None  # of a local file's bytes (source file:PATH)


@dataclass(frozen=True)
class StoredSplit(Stored):
    ARRAYS = frozenset({"holdout_y"})

    dataset: str
    seed: int
    holdout_fraction: float
    fingerprint: str
    n_search: int
    n_holdout: int
    holdout_y: np.ndarray = field(repr=False, compare=False)  # sealed: never leaves the harness
    openml_task_id: int | None = None
    repeat: int | None = None
    fold: int | None = None


@dataclass(frozen=True)
class StoredRun(Stored):
    """A finished job: its outcome, audit figures, measurements and provenance."""

    JSON = frozenset({"options", "budget", "versions", "best_config", "search_space",
                      "environment", "trajectory", "extra_metrics"})
    FLAGS = frozenset({"overrun"})
    SORTED = frozenset({"options"})

    job_id: str
    suite: str
    dataset: str
    system: str
    system_ref: str
    options: dict[str, Any]
    seed: int
    metric: str
    status: str
    wall_s: float
    overrun: bool
    budget: dict[str, Any]
    versions: dict[str, str]
    dataset_fingerprint: str
    split_fingerprint: str
    started_at: str
    finished_at: str
    failure_class: str | None = None
    failure_message: str | None = None
    failure_detail: str | None = None
    notes: str | None = None
    reported_score: float | None = None
    reported_on: str | None = None
    holdout_score: float | None = None
    holdout_lo: float | None = None
    holdout_hi: float | None = None
    gap: float | None = None
    gap_lo: float | None = None
    gap_hi: float | None = None
    verdict: str | None = None
    n_configs: int | None = None
    best_config: dict[str, Any] | None = None
    model_description: str | None = None
    system_version: str | None = None
    search_space: dict[str, Any] | None = None
    environment: dict[str, Any] | None = None
    cpu_s: float | None = None
    peak_rss_mb: float | None = None
    search_s: float | None = None
    predictions_path: str | None = None
    openml_dataset_id: int | None = None
    openml_dataset_version: int | None = None
    openml_task_id: int | None = None
    repeat: int | None = None
    fold: int | None = None
    compute_cpu_s: float | None = None
    full_fidelity_evals: float | None = None
    trajectory: list[list[float]] | None = None  # [end s, cumulative CPU s, evals, incumbent]
    extra_metrics: dict[str, Any] | None = None
    isolation: str | None = None  # how the job was sandboxed; None for runs recorded before
    # seconds the job's threads were ready to run but waited for a CPU; None before revision 0003
    cpu_wait_s: float | None = None
    # seconds before the budget started (imports, data, servers); None before revision 0004
    startup_s: float | None = None


@dataclass(frozen=True)
class StoredTrial(Stored):
    """One evaluation of a run's search."""

    JSON = frozenset({"config"})

    job_id: str
    number: int
    config: dict[str, Any]
    score: float | None
    start_s: float
    end_s: float
    fidelity: float
    status: str
    cpu_s: float | None = None


@dataclass(frozen=True)
class StoredAudit(Stored):
    """One audit check of a scope: a run's job id, `split:FINGERPRINT` or `dataset:NAME`."""

    JSON = frozenset({"detail"})
    FLAGS = frozenset({"flag"})
    ENCODE_DEFAULT = float

    scope: str
    check_name: str
    job_id: str | None
    dataset: str
    system: str | None
    seed: int | None
    flag: bool
    summary: str
    detail: dict[str, Any]


@dataclass(frozen=True)
class StoredClaim(Stored):
    """A runner's lease on a job (`auditor.store.leases`)."""

    FLAGS = frozenset({"done"})

    job_id: str
    owner: str
    heartbeat: float
    done: bool
