"""A split's data on its way to its jobs: written once per split as read-only files (Arrow IPC
for the features, .npy for the search labels), which each job memory-maps; nothing of it goes
through a job's start pipe, so memory and start-up do not grow with the number of jobs.

The files sit in a folder of `sandbox.jobs_root()` that only the harness's user may enter; a
sandboxed job sees its split's folder alone, bound read-only at `MOUNT` in its job folder
(`auditor.execution.entry`). The holdout labels are never written here.
"""

from __future__ import annotations

import mmap
import os
import secrets
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from auditor.execution import sandbox
from auditor.execution.executor import JobData

SEARCH_X, SEARCH_Y, HOLDOUT_X = "search_X.arrow", "search_y.npy", "holdout_X.arrow"
MOUNT = "data"  # where a sandboxed job sees its split's folder, in its job folder


def _table(frame: pd.DataFrame) -> pa.Table:
    """The frame as Arrow columns: numbers as they are (NaN stays a value, so a job's columns
    are views of the mapped file), categoricals as dictionaries with their categories."""
    columns = []
    for _, col in frame.items():
        if isinstance(col.dtype, pd.CategoricalDtype):
            codes = col.cat.codes.to_numpy()
            categories = pa.array(col.cat.categories.to_numpy(dtype=object), type=pa.string())
            columns.append(pa.DictionaryArray.from_arrays(
                pa.array(codes, mask=codes < 0), categories, ordered=col.cat.ordered))
        else:
            columns.append(pa.array(col.to_numpy(), from_pandas=False))
    return pa.Table.from_arrays(columns, names=[str(c) for c in frame.columns])


def _write_frame(frame: pd.DataFrame, path: Path) -> None:
    table = _table(frame)
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)


def read_frame(path: Path) -> pd.DataFrame:
    """A frame written by `write`. The file is mapped copy-on-write: its numeric columns are
    views of the page cache that every job of the split shares, and a job that writes into
    them gets private copies of the pages it writes; the file itself never changes."""
    with open(path, "rb") as f:
        mapped = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_COPY)
    buffer = pa.py_buffer(mapped)
    table = pa.ipc.open_file(pa.BufferReader(buffer)).read_all()
    columns: dict[str, Any] = {}
    for name, col in zip(table.column_names, table.columns, strict=True):
        chunk = col.combine_chunks() if col.num_chunks != 1 else col.chunk(0)
        if pa.types.is_floating(chunk.type) or pa.types.is_integer(chunk.type):
            dtype = np.dtype(chunk.type.to_pandas_dtype())
            values = chunk.buffers()[1]
            if chunk.null_count == 0 and values is not None and col.num_chunks == 1:
                offset = values.address - buffer.address + chunk.offset * dtype.itemsize
                columns[name] = np.frombuffer(mapped, dtype, len(chunk), offset)
                continue
        columns[name] = chunk.to_pandas()
    return pd.DataFrame(columns, copy=False)


def read(folder: Path) -> JobData:
    """A job's data from its split's folder: search rows, their labels, holdout features."""
    return (read_frame(folder / SEARCH_X), np.load(folder / SEARCH_Y),
            read_frame(folder / HOLDOUT_X))


@dataclass
class SplitFiles:
    """The data folders of one harness (or Ray worker), one per split, made on first use and
    removed with `remove`; `root` (mode 0700) keeps job users out of every split but their own."""

    root: Path = field(default_factory=lambda: sandbox.jobs_root() / (
        f"{os.getpid()}-data-{secrets.token_hex(4)}"))
    folders: dict[str, Path] = field(default_factory=dict)

    def folder(self, key: str, data: Callable[[], JobData]) -> Path:
        """The folder of split `key`, written from `data()` the first time."""
        if key not in self.folders:
            self.root.mkdir(mode=0o700, exist_ok=True)
            self.folders[key] = write(data(), self.root / f"split-{len(self.folders)}")
        return self.folders[key]

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
        self.folders.clear()


def write(data: JobData, folder: Path) -> Path:
    """Write a split's `data` into the new `folder`, every file read-only; returns `folder`."""
    X, y, X_holdout = data
    folder.mkdir(mode=0o755)
    _write_frame(X, folder / SEARCH_X)
    np.save(folder / SEARCH_Y, np.asarray(y), allow_pickle=False)
    _write_frame(X_holdout, folder / HOLDOUT_X)
    for name in (SEARCH_X, SEARCH_Y, HOLDOUT_X):
        (folder / name).chmod(0o444)
    return folder
