"""The job-folder protocol between the harness and a process that runs a system.

The harness writes `job.json` (system, options, seed, metric, budget, deadline) and, for a system
in its own environment, the search rows with labels and the holdout features as Parquet and .npy;
the system's process writes `predictions.npy` and `result.json`, or `error.json`. Holdout labels
never enter a job folder. Needs only the standard library, numpy and pandas (with pyarrow), and
runs on Python 3.9, so that every system's environment can speak it.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from adapters.contract import RunResult, Trial

JOB = "job.json"
SEARCH_X = "search_X.parquet"
SEARCH_Y = "search_y.npy"
HOLDOUT_X = "holdout_X.parquet"
RESULT = "result.json"
PREDICTIONS = "predictions.npy"
ERROR = "error.json"
# written when the system's budget starts (`RunContext.begin`): the seconds of its start-up, in
# the job folder (read by the harness) and in a system worker's folder (read by its adapter)
STARTUP = "startup.txt"
# bytes a predictions file may hold beyond its header and the array its shape needs
NPY_SLACK = 1 << 16


def write_atomic(path: Path, content: str | Callable[[Path], Any]) -> None:
    """Write `path` at once: a temporary file beside it, renamed over it, so no reader ever sees
    half a file. `content` is text (UTF-8) or a function that writes the path it is given."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            if isinstance(content, str):
                fh.write(content)
        if not isinstance(content, str):
            content(Path(tmp))
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_startup(folder: Path, seconds: float) -> None:
    """The `STARTUP` file: the seconds a system took to start (`RunContext.on_begin`, as a
    `functools.partial` on its folder, so that the context still pickles)."""
    write_atomic(folder / STARTUP, f"{seconds:.6f}")


def save_npy(path: Path, array: np.ndarray) -> None:
    with open(path, "wb") as f:
        np.save(f, array, allow_pickle=False)


def _plain(value: Any) -> Any:
    """A numpy scalar as the Python number it holds; anything else unknown to JSON as text."""
    return value.item() if isinstance(value, np.generic) else str(value)


def write_json(path: Path, payload: dict[str, Any]) -> None:
    write_atomic(path, lambda p: p.write_text(json.dumps(payload, default=_plain)))


def write_inputs(folder: Path, X: pd.DataFrame, y: np.ndarray, X_holdout: pd.DataFrame) -> None:
    """Search rows with labels and holdout features: everything a system may see."""
    write_atomic(folder / SEARCH_X, lambda p: X.to_parquet(p, index=False))
    write_atomic(folder / SEARCH_Y, lambda p: save_npy(p, y))
    write_atomic(folder / HOLDOUT_X, lambda p: X_holdout.to_parquet(p, index=False))


def read_inputs(folder: Path) -> tuple[pd.DataFrame, np.ndarray, pd.DataFrame]:
    return (
        pd.read_parquet(folder / SEARCH_X),
        np.load(folder / SEARCH_Y, allow_pickle=False),
        pd.read_parquet(folder / HOLDOUT_X),
    )


def write_result(folder: Path, result: RunResult, extra: dict[str, Any]) -> None:
    preds = np.asarray(result.predictions, dtype=np.float64)
    write_atomic(folder / PREDICTIONS, lambda p: save_npy(p, preds))
    payload = asdict(result)
    payload.pop("predictions")
    payload.update(extra)
    write_json(folder / RESULT, payload)


def read_predictions(path: Path, shape: tuple[int, ...] | None = None) -> np.ndarray:
    """A predictions file. With `shape`, its header is checked first: a file of another shape, of
    a dtype other than float, or far larger than its shape needs raises ValueError unloaded."""
    if shape is not None:
        with open(path, "rb") as f:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                got, _, dtype = np.lib.format.read_array_header_1_0(f)
            elif version == (2, 0):
                got, _, dtype = np.lib.format.read_array_header_2_0(f)
            else:
                raise ValueError(f"{PREDICTIONS}: .npy format {version} is not accepted")
            header = f.tell()
        if tuple(got) != tuple(shape):
            raise ValueError(f"predictions have shape {tuple(got)}, expected {tuple(shape)}")
        if dtype.kind != "f" or dtype.itemsize > 8:
            raise ValueError(f"predictions have dtype {dtype}, expected float")
        size, need = path.stat().st_size, header + int(np.prod(shape)) * dtype.itemsize
        if size > need + NPY_SLACK:
            raise ValueError(f"{PREDICTIONS} holds {size:,} bytes where its shape needs {need:,}")
    return np.load(path, allow_pickle=False)


def read_result(folder: Path, shape: tuple[int, ...] | None = None
                ) -> tuple[RunResult, dict[str, Any]]:
    """Result and the extra fields; raises ValueError on a malformed result file, or on a
    predictions file whose header does not match `shape` (see `read_predictions`)."""
    payload = json.loads((folder / RESULT).read_text())
    if not isinstance(payload, dict):
        raise ValueError(f"malformed {RESULT}: not an object")
    try:
        trials = [Trial(**t) for t in payload.pop("trials")]
        result = RunResult(
            predictions=read_predictions(folder / PREDICTIONS, shape),
            reported_score=payload.pop("reported_score"),
            reported_on=payload.pop("reported_on"),
            n_configs=payload.pop("n_configs"),
            best_config=payload.pop("best_config"),
            trials=trials,
            model_description=payload.pop("model_description"),
            search_space=payload.pop("search_space", None),
            environment=payload.pop("environment", {}),
            fold_scores=payload.pop("fold_scores", []),
            validation_rows=payload.pop("validation_rows", None),
        )
    except (KeyError, TypeError) as exc:
        raise ValueError(f"malformed {RESULT}: {exc}") from None
    return result, payload


def write_error(folder: Path, failure_class: str, message: str, detail: str = "") -> None:
    write_json(folder / ERROR, {"failure_class": failure_class, "message": message,
                                "detail": detail})


def read_error(folder: Path) -> dict[str, Any] | None:
    """The job's error file, as written (the harness checks its fields)."""
    path = folder / ERROR
    return json.loads(path.read_text()) if path.exists() else None
