"""Seal a dataset for a vendor: hand them a package without holdout labels, keep the labels apart.

`auditor seal DATA --target COL --out DIR` writes
- `DIR/vendor/` — for the vendor: `search.csv` (row_id, features, target), `holdout_features.csv`
  (row_id, features; no labels) and `manifest.json` (task, metric, classes, hashes, and the format
  the predictions must come back in); row ids are random tokens and both files' rows are shuffled;
- `DIR/sealed/` — kept apart: `holdout_labels.csv` (row_id, label), `row_ids.csv` (where each id's
  row stood in the source) and `seal.json` (fingerprints, and the ids of holdout rows whose
  features also appear among the search rows).
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from adapters.contract import TaskType
from adapters.metrics import DEFAULT_METRIC, metric_problem
from auditor.config.errors import UsageError
from auditor.data.sources import load_dataset
from auditor.data.split import seal

ROW_ID = "row_id"


def file_sha256(path: Path) -> str:
    """sha256 of a file, read in blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _row_tokens(n: int) -> np.ndarray:
    """n distinct random row ids from the OS's CSPRNG: they say nothing of a row's position. The
    leading letter keeps spreadsheet and CSV tools from reading one as a number."""
    tokens: dict[str, None] = {}
    while len(tokens) < n:
        tokens["r" + secrets.token_hex(8)] = None
    return np.array(list(tokens), dtype=object)


def _shuffled(n: int) -> np.ndarray:
    """A permutation of range(n) drawn from the OS's CSPRNG (not from the split's seed)."""
    return np.random.default_rng(secrets.randbits(128)).permutation(n)


def _labels(values: np.ndarray, classes: list[str]) -> np.ndarray:
    return np.asarray(classes, dtype=object)[values] if classes else values


def seal_dataset(data: str, target: str, out: Path, fraction: float = 0.2, seed: int = 0,
                 task: TaskType | None = None, metric: str | None = None,
                 drop: list[str] | tuple[str, ...] = ()) -> dict[str, Any]:
    """Write the vendor package and the sealed labels; returns the manifest."""
    if out.exists() and any(out.iterdir()):
        raise UsageError(f"{out} already exists and is not empty; give a new folder with --out")
    source = data if ":" in data.split("/")[0] else f"file:{data}"
    dataset = load_dataset(Path(data).stem, source, target=target, task=task, drop=drop)
    metric = metric or DEFAULT_METRIC[dataset.task_type]
    if problem := metric_problem(metric, dataset.task_type):
        raise UsageError(problem)
    split = seal(dataset, seed, fraction)
    out.parent.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix=".seal-", dir=out.parent))
    try:
        (building / "vendor").mkdir()
        (building / "sealed").mkdir()
        # random ids and shuffled rows: neither an id nor a row's place in a file tells where it
        # stood in the source, which may have been sorted by the target or by time
        n_search = len(split.search_idx)
        ids = _row_tokens(n_search + len(split.holdout_idx))
        search_ids, holdout_ids = ids[:n_search], ids[n_search:]
        search = split.search_X.assign(**{target: _labels(split.search_y, dataset.classes)})
        search.insert(0, ROW_ID, search_ids)
        search.iloc[_shuffled(len(search))].to_csv(building / "vendor" / "search.csv",
                                                   index=False)
        order = _shuffled(len(holdout_ids))
        holdout = split.holdout_X.copy()
        holdout.insert(0, ROW_ID, holdout_ids)
        holdout.iloc[order].to_csv(building / "vendor" / "holdout_features.csv", index=False)
        pd.DataFrame({ROW_ID: holdout_ids,
                      target: _labels(split.holdout_y, dataset.classes)}).iloc[order].to_csv(
            building / "sealed" / "holdout_labels.csv", index=False)
        # kept apart with the labels: where each id's row stood in the source
        pd.DataFrame({ROW_ID: ids, "part": ["search"] * n_search + ["holdout"] * len(holdout_ids),
                      "source_row": np.concatenate([split.search_idx, split.holdout_idx])}).to_csv(
            building / "sealed" / "row_ids.csv", index=False)
        columns = (["prediction"] if dataset.task_type == "regression"
                   else [str(c) for c in dataset.classes])
        manifest = {
            "target": target, "task_type": dataset.task_type, "metric": metric,
            "classes": dataset.classes, "n_search": len(split.search_idx),
            "n_holdout": len(split.holdout_idx), "holdout_fraction": fraction, "seed": seed,
            "files": {name: file_sha256(building / "vendor" / name)
                      for name in ("search.csv", "holdout_features.csv")},
            "predictions_format": (
                f"CSV or Parquet with a '{ROW_ID}' column (every holdout row once) and "
                + ("a 'prediction' column" if dataset.task_type == "regression" else
                   "one probability column per class, named by the class label ("
                   + ", ".join(columns) + "); for two classes the positive class "
                   f"'{columns[-1]}' alone is enough")),
        }
        (building / "vendor" / "manifest.json").write_text(json.dumps(manifest, indent=1))
        (building / "sealed" / "seal.json").write_text(json.dumps({
            "source": dataset.source, "dataset_fingerprint": dataset.fingerprint(),
            "split_fingerprint": split.fingerprint(), "metric": metric,
            "labels_sha256": file_sha256(building / "sealed" / "holdout_labels.csv"),
            # holdout rows whose features also appear among the search rows
            "shared_row_ids": holdout_ids[split.shared_holdout].tolist(),
        }, indent=1))
        shutil.rmtree(out, ignore_errors=True)
        os.replace(building, out)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    return manifest


def read_table(path: Path, what: str) -> pd.DataFrame:
    if not path.is_file():
        raise UsageError(f"{what} file {path} not found; give the path to a CSV or Parquet file")
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            return pd.read_csv(path)
        if suffix == ".parquet":
            return pd.read_parquet(path)
    except (ValueError, OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read {what} file {path}: {str(exc).splitlines()[0]}") from None
    raise UsageError(f"{what} file {path} must be .csv or .parquet (pickles and other formats "
                     "are never loaded); convert it")


@dataclass
class Sealed:
    folder: Path
    manifest: dict[str, Any]
    ids: np.ndarray
    y: np.ndarray  # codes 0..K-1, or values
    shared: np.ndarray | None  # per holdout row: its features are also among the search rows


def open_seal(folder: Path) -> Sealed:
    manifest_path = folder / "vendor" / "manifest.json"
    labels_path = folder / "sealed" / "holdout_labels.csv"
    if not manifest_path.is_file() or not labels_path.is_file():
        raise UsageError(f"{folder} is not a sealed folder (no vendor/manifest.json or "
                         "sealed/holdout_labels.csv); create one with `auditor seal`")
    manifest = json.loads(manifest_path.read_text())
    labels = pd.read_csv(labels_path, dtype={ROW_ID: str})
    values = labels[manifest["target"]].to_numpy()
    if manifest["classes"]:
        index = {str(c): i for i, c in enumerate(manifest["classes"])}
        values = np.array([index[str(v)] for v in values])
    ids = labels[ROW_ID].to_numpy()
    seal_path = folder / "sealed" / "seal.json"
    info = json.loads(seal_path.read_text()) if seal_path.is_file() else {}
    shared_ids = info.get("shared_row_ids")  # absent from folders sealed before this check
    shared = None if shared_ids is None else np.isin(ids, [str(i) for i in shared_ids])
    return Sealed(folder, manifest, ids, values, shared)
