"""A loaded data set: typed features, encoded target, provenance and a content fingerprint."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from adapters.contract import TaskType


@dataclass(frozen=True)
class OpenMLOrigin:
    """Where an OpenML table came from; for a task, also its official splits."""

    dataset_id: int
    version: int
    task_id: int | None = None
    n_repeats: int = 0
    n_folds: int = 0
    task: Any = field(default=None, repr=False, compare=False)

    def split(self, repeat: int, fold: int) -> tuple[np.ndarray, np.ndarray]:
        """The task's (train, test) row positions in fold `fold` of repeat `repeat`."""
        train, test = self.task.get_train_test_split_indices(fold=fold, repeat=repeat)
        return np.asarray(train, dtype=np.int64), np.asarray(test, dtype=np.int64)


@dataclass
class Dataset:
    """Features, encoded target and provenance of one data set."""

    name: str
    source: str
    target: str
    X: pd.DataFrame
    y: np.ndarray
    task_type: TaskType
    classes: list[str]
    dropped_missing_target: int = 0
    openml: OpenMLOrigin | None = None
    # which of the source's rows were kept (those with a target); None when all were
    kept_rows: np.ndarray | None = None

    @property
    def feature_types(self) -> dict[str, str]:
        return {
            c: "categorical" if isinstance(t, pd.CategoricalDtype) else "numeric"
            for c, t in self.X.dtypes.items()
        }

    @cached_property
    def row_keys(self) -> np.ndarray:
        """A 64-bit hash of each row's features, value for value (equal rows, equal keys; -0.0
        as 0.0, every NaN as one, a category by its code), column by column without copying the
        frame; computed once for all the dataset's splits."""
        keys = np.zeros(len(self.X), dtype=np.uint64)
        for _, col in self.X.items():
            if isinstance(col.dtype, pd.CategoricalDtype):
                values = col.cat.codes.to_numpy().astype(np.int64)
            else:
                values = col.to_numpy(dtype="float64") + 0.0
                values[np.isnan(values)] = np.nan
            with np.errstate(over="ignore"):
                keys = keys * np.uint64(0x100000001B3) ^ pd.util.hash_array(values)
        return keys

    @property
    def n_missing(self) -> int:
        return int(self.X.isna().sum().sum())

    def fingerprint(self) -> str:
        """SHA-256 of column names, kinds and values of X, plus y and the class labels (worked
        out once: a data set is not changed once loaded)."""
        return self._fingerprint

    @cached_property
    def _fingerprint(self) -> str:
        h = hashlib.sha256()
        _hash_text(h, f"rows={len(self.X)}")
        for name, col in self.X.items():
            _hash_text(h, str(name))
            if isinstance(col.dtype, pd.CategoricalDtype):
                _hash_text(h, "categorical")
                _hash_text(h, json.dumps([str(c) for c in col.cat.categories]))
                h.update(col.cat.codes.to_numpy().astype("<i8").tobytes())
            else:
                _hash_text(h, "numeric")
                h.update(_canonical_floats(col.to_numpy(dtype="float64")).tobytes())
        _hash_text(h, f"y:{self.y.dtype.kind}")
        if self.y.dtype.kind == "f":
            h.update(_canonical_floats(self.y).tobytes())
        else:
            h.update(self.y.astype("<i8").tobytes())
        _hash_text(h, json.dumps(self.classes))
        return h.hexdigest()

    def summary(self) -> dict[str, Any]:
        types = self.feature_types
        counts: np.ndarray | list[int] = (
            np.bincount(self.y, minlength=len(self.classes)) if self.classes else [])
        return {
            "name": self.name,
            "source": self.source,
            "target": self.target,
            "task_type": self.task_type,
            "rows": len(self.X),
            "features": len(types),
            "categorical": sum(t == "categorical" for t in types.values()),
            "missing_cells": self.n_missing,
            "dropped_missing_target": self.dropped_missing_target,
            "classes": {c: int(n) for c, n in zip(self.classes, counts, strict=True)},
        }


@dataclass
class RawTable:
    """What a loader returns: the untyped frame, its canonical source, default target and task."""

    frame: pd.DataFrame
    source: str
    default_target: str | None = None
    default_task: TaskType | None = None
    openml: OpenMLOrigin | None = None


def _canonical_floats(values: np.ndarray) -> np.ndarray:
    """Little-endian float64 with one NaN bit pattern and -0.0 folded into 0.0."""
    out = values.astype("<f8") + 0.0
    out[np.isnan(out)] = np.nan
    return out


def _hash_text(h: Any, text: str) -> None:
    data = text.encode()
    h.update(len(data).to_bytes(8, "little"))
    h.update(data)
