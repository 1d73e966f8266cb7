"""The sealed holdout: split once, before any system runs; holdout labels stay in this process."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from auditor.datasets import Dataset
from auditor.errors import UsageError


@dataclass(frozen=True)
class SealedSplit:
    """Search rows (features and labels) and holdout rows (features only go out)."""

    dataset: Dataset
    seed: int
    fraction: float
    search_idx: np.ndarray
    holdout_idx: np.ndarray

    @property
    def search_X(self) -> pd.DataFrame:
        return self.dataset.X.iloc[self.search_idx].reset_index(drop=True)

    @property
    def search_y(self) -> np.ndarray:
        return self.dataset.y[self.search_idx]

    @property
    def holdout_X(self) -> pd.DataFrame:
        return self.dataset.X.iloc[self.holdout_idx].reset_index(drop=True)

    @property
    def holdout_y(self) -> np.ndarray:
        """The sealed labels. Used only by the audit, never handed to a system."""
        return self.dataset.y[self.holdout_idx]

    def fingerprint(self) -> str:
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
