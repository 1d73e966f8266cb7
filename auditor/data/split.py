"""The sealed holdout: split once, before any system runs; holdout labels stay in this process.

`seal` makes the harness's own seeded split; `official` takes an OpenML task's split.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from auditor.config.errors import UsageError
from auditor.data.dataset import Dataset


@dataclass(frozen=True)
class SealedSplit:
    """Search rows (features and labels) and holdout rows (features only go out). For an OpenML
    task, `task_id`, `repeat` and `fold` name the official split; `seed` seeds the systems."""

    dataset: Dataset
    seed: int
    fraction: float
    search_idx: np.ndarray
    holdout_idx: np.ndarray
    task_id: int | None = None
    repeat: int | None = None
    fold: int | None = None

    @property
    def label(self) -> str:
        """The seed, and for a task split its repeat and fold."""
        if self.task_id is None:
            return f"seed {self.seed}"
        return f"repeat {self.repeat} fold {self.fold} seed {self.seed}"

    @property
    def search_X(self) -> pd.DataFrame:
        return self.dataset.X.iloc[self.search_idx].reset_index(drop=True)

    @property
    def search_y(self) -> np.ndarray:
        return self.dataset.y[self.search_idx]

    @property
    def holdout_X(self) -> pd.DataFrame:
        return self.dataset.X.iloc[self.holdout_idx].reset_index(drop=True)

    @cached_property
    def shared_holdout(self) -> np.ndarray:
        """Per holdout row: its features also appear, value for value, among the search rows."""
        keys = self.dataset.row_keys
        return np.isin(keys[self.holdout_idx], keys[self.search_idx])

    @property
    def holdout_y(self) -> np.ndarray:
        """The sealed labels. Used only by the audit, never handed to a system."""
        return self.dataset.y[self.holdout_idx]

    def fingerprint(self) -> str:
        return self._fingerprint

    @cached_property
    def _fingerprint(self) -> str:
        h = hashlib.sha256(self.dataset.fingerprint().encode())
        h.update(np.ascontiguousarray(self.search_idx, dtype=np.int64).tobytes())
        h.update(b"|")
        h.update(np.ascontiguousarray(self.holdout_idx, dtype=np.int64).tobytes())
        return h.hexdigest()


def seal(dataset: Dataset, seed: int, fraction: float = 0.2) -> SealedSplit:
    """Seeded split, stratified for classification."""
    if not 0.0 < fraction < 1.0:
        raise UsageError(f"holdout_fraction {fraction} is outside (0, 1); use e.g. 0.2")
    n = len(dataset.y)
    stratify = None
    if dataset.task_type != "regression":
        counts = np.bincount(dataset.y)
        if counts.min() < 2:
            rare = dataset.classes[int(counts.argmin())]
            raise UsageError(
                f"dataset {dataset.name!r}: class {rare!r} has {counts.min()} row(s); a stratified "
                "holdout needs at least 2 per class — merge or drop that class"
            )
        stratify = dataset.y
    n_holdout = round(n * fraction)
    n_classes = len(dataset.classes) if stratify is not None else 1
    if n_holdout < n_classes or n - n_holdout < max(n_classes, 2):
        raise UsageError(
            f"dataset {dataset.name!r} has {n} rows: too few for holdout_fraction {fraction}; "
            "use more rows or another fraction"
        )
    search_idx, holdout_idx = train_test_split(
        np.arange(n), test_size=n_holdout, random_state=seed, stratify=stratify
    )
    return SealedSplit(dataset, seed, fraction, np.sort(search_idx), np.sort(holdout_idx))


def official(dataset: Dataset, seed: int, repeat: int, fold: int) -> SealedSplit:
    """Fold `fold` of repeat `repeat` of the dataset's OpenML task: its train rows are the search
    rows, its test rows the holdout."""
    origin = dataset.openml
    assert origin is not None and origin.task_id is not None, "not an OpenML task"
    for what, value, count in (("repeat", repeat, origin.n_repeats),
                               ("fold", fold, origin.n_folds)):
        if value >= count:
            raise UsageError(f"dataset {dataset.name!r}: OpenML task {origin.task_id} has {count} "
                             f"{what}s (0 to {count - 1}), so no {what} {value} — fix `{what}s`")
    train, test = origin.split(repeat, fold)
    if dataset.kept_rows is not None:  # rows without a target were dropped: renumber the rest
        position = np.cumsum(dataset.kept_rows) - 1
        train, test = (position[rows[dataset.kept_rows[rows]]] for rows in (train, test))
    if len(train) == 0 or len(test) == 0:
        raise UsageError(f"dataset {dataset.name!r}: fold {fold} of repeat {repeat} of OpenML task "
                         f"{origin.task_id} leaves no labelled search or holdout rows — pick "
                         "another fold")
    return SealedSplit(dataset, seed, len(test) / len(dataset.y), np.sort(train), np.sort(test),
                       origin.task_id, repeat, fold)
