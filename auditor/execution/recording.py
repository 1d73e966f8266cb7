"""Saving a finished job's predictions beside the store, before its run is recorded.

The harness's own faults here (a full disk, any OSError while writing) are the machinery's:
the outcome becomes an `infrastructure` failure, retried, and never charged to the system.
"""

from __future__ import annotations

import traceback
from dataclasses import replace
from pathlib import Path

import numpy as np

from adapters.contract import FailureClass
from adapters.protocol import save_npy, write_atomic
from auditor.execution.executor import Outcome

PREDICTIONS_DIR = "predictions"


def predictions_path(job_id: str) -> Path:
    """Where a run's predictions go, relative to the output folder."""
    return Path(PREDICTIONS_DIR) / f"{job_id}.npy"


def bootstrap_file(predictions: Path) -> Path:
    """Beside a run's predictions file: its metric's scores on the holdout's bootstrap
    resamples, kept by result processing so that the audit need not draw them again."""
    return predictions.with_name(f"{predictions.stem}.boot.npy")


def write_npy(path: Path, array: np.ndarray) -> None:
    """Write `array` to `path` atomically."""
    write_atomic(path, lambda p: save_npy(p, array))


def save_predictions(o: Outcome, out: Path) -> Outcome:
    """The outcome once its predictions are saved under `out`; an infrastructure failure when
    the harness cannot save them."""
    if o.result is None:
        return o
    try:
        write_npy(out / predictions_path(o.job.job_id), o.result.predictions)
    except OSError as exc:
        return replace(o, status="failed", failure_class=FailureClass.INFRASTRUCTURE, result=None,
                       failure_message=f"the harness could not save the predictions: {exc}",
                       failure_detail=traceback.format_exc())
    return o
