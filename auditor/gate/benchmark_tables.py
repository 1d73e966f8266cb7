"""Tabular benchmarks: a finite sample of a space's configurations, each evaluated once per data
set, read back as tasks a searcher can run against in microseconds per lookup.

A table folder (written by `auditor tabulate`, see `auditor.gate.build`) holds

- `manifest.json` — the space (as `SearchSpace.as_dict()`), the number of configurations, the
  seed, the fidelities, the CV folds, the holdout fraction, and per data set its source, target,
  task, metric, row counts and the sha256 fingerprints of the data and of its sealed split;
- `configs.parquet` — `config_id` and one column per hyperparameter (null where a conditional
  hyperparameter is inactive);
- `scores.parquet` — one row per (dataset, config_id, fidelity): `valid_score` (k-fold CV on the
  search rows at that fraction of each fold's training rows), `seconds` (wall time of those k fits
  and their validation predictions), `cpu_seconds`, and at fidelity 1 `holdout_score` (the config
  refit on all search rows, scored on the sealed holdout; null below full fidelity).

The table is the space: a task's objective at any configuration is the recorded score of the
*nearest tabulated configuration* (the surrogate). Distance is squared Euclidean in normalized
coordinates — each numeric hyperparameter mapped to [0, 1] over its range, on a log scale where
the space says `log` — plus a penalty larger than any numeric distance for each categorical value
(or conditional's activity) that differs, so categoricals match exactly whenever the table holds
a configuration with the same choices. A tabulated configuration maps to itself (exact lookup).
Under the surrogate a configuration is drawn with the prior mass of its Voronoi cell, which is
1/N on average over tables but not exactly for one table; the random-search test accounts for it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from adapters.contract import Hyperparameter, SearchSpace
from adapters.spaces import SPACES, bounds
from auditor.config.errors import UsageError

MANIFEST = "manifest.json"
CONFIGS = "configs.parquet"
SCORES = "scores.parquet"
FORMAT = "automl-auditor table"
FORMAT_VERSION = 1


def _active(hp: Hyperparameter, config: dict[str, Any]) -> bool:
    return hp.condition is None or config.get(hp.condition[0]) in hp.condition[1]


@dataclass(frozen=True)
class Encoding:
    """Configurations of a space as normalized numeric coordinates and one-hot choice blocks."""

    space: SearchSpace

    @property
    def numeric(self) -> list[Hyperparameter]:
        return [hp for hp in self.space.hyperparameters if hp.kind != "categorical"]

    @property
    def blocks(self) -> list[tuple[Hyperparameter, tuple[Any, ...], bool]]:
        """One-hot blocks (hyperparameter, values, whether the values are its activity): each
        categorical's choices, and each conditional's activity."""
        hps = self.space.hyperparameters
        return ([(hp, hp.choices, False) for hp in hps if hp.kind == "categorical"]
                + [(hp, (True, False), True) for hp in hps if hp.condition is not None])

    @property
    def penalty(self) -> float:
        """Cost of one mismatched block: more than any numeric distance."""
        return len(self.numeric) + 1.0

    def encode(self, configs: list[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
        """(numeric coordinates in [0, 1], one-hot blocks); inactive dimensions are 0."""
        blocks, dimensions = self.blocks, self.numeric
        numeric = np.zeros((len(configs), len(dimensions)))
        onehot = np.zeros((len(configs), sum(len(choices) for _, choices, _ in blocks)))
        for i, config in enumerate(configs):
            for j, hp in enumerate(dimensions):
                value = config.get(hp.name)
                if value is not None and _active(hp, config):
                    numeric[i, j] = _normalize(hp, float(value))
            offset = 0
            for hp, choices, activity in blocks:
                value = _active(hp, config) if activity else (
                    config.get(hp.name) if _active(hp, config) else None)
                for k, choice in enumerate(choices):
                    onehot[i, offset + k] = float(value is not None and value == choice)
                offset += len(choices)
        return numeric, onehot


def _normalize(hp: Hyperparameter, value: float) -> float:
    """Position in [0, 1] over the range (log scale where marked); outside values are clipped."""
    low, high = (float(v) for v in bounds(hp))
    value = min(max(value, low), high)
    if hp.log:
        return (np.log(value) - np.log(low)) / (np.log(high) - np.log(low))
    return (value - low) / (high - low)


@dataclass
class Table:
    """One table folder: its configurations, their encoding and the scores per data set."""

    path: Path
    manifest: dict[str, Any]
    space: SearchSpace
    configs: list[dict[str, Any]]
    scores: pd.DataFrame
    encoding: Encoding = field(init=False)
    _numeric: np.ndarray = field(init=False, repr=False)
    _onehot: np.ndarray = field(init=False, repr=False)
    _sq_norms: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.encoding = Encoding(self.space)
        self._numeric, self._onehot = self.encoding.encode(self.configs)
        self._sq_norms = (self._numeric ** 2).sum(axis=1)

    @property
    def fidelities(self) -> list[float]:
        return [float(f) for f in self.manifest["fidelities"]]

    def nearest(self, configs: list[dict[str, Any]]) -> np.ndarray:
        """Row index of the nearest tabulated configuration for each of `configs`."""
        numeric, onehot = self.encoding.encode(configs)
        n_blocks = len(self.encoding.blocks)
        distance = (self._sq_norms[None, :] - 2.0 * numeric @ self._numeric.T
                    + (numeric ** 2).sum(axis=1)[:, None]
                    + self.encoding.penalty * (n_blocks - onehot @ self._onehot.T))
        return distance.argmin(axis=1)

    def tasks(self) -> list[TableTask]:
        return [TableTask.from_table(self, entry) for entry in self.manifest["datasets"]]


@dataclass(frozen=True, eq=False)
class TableTask:
    """One (table, data set): what a searcher optimises, and the figures regret is measured by.

    Arrays are indexed by table row; `valid` and `seconds` have one column per fidelity (the last
    is full fidelity). Scores are in the data set's metric; `sign` is +1 when higher is better."""

    name: str
    table: Table
    metric: str
    sign: float
    valid: np.ndarray
    seconds: np.ndarray
    holdout: np.ndarray

    @classmethod
    def from_table(cls, table: Table, entry: dict[str, Any]) -> TableTask:
        rows = table.scores[table.scores["dataset"] == entry["name"]]
        shape = (len(table.configs), len(table.fidelities))
        valid, seconds = np.full(shape, np.nan), np.zeros(shape)
        holdout = np.full(shape[0], np.nan)
        column = np.searchsorted(table.fidelities, rows["fidelity"].to_numpy())
        ids = rows["config_id"].to_numpy()
        valid[ids, column] = rows["valid_score"].to_numpy(dtype=float)
        seconds[ids, column] = rows["seconds"].to_numpy(dtype=float)
        full = rows[rows["fidelity"] == table.fidelities[-1]]
        holdout[full["config_id"].to_numpy()] = full["holdout_score"].to_numpy(dtype=float)
        return cls(f"{table.space.name}/{entry['name']}", table, entry["metric"],
                   1.0 if entry["greater_is_better"] else -1.0, valid, seconds, holdout)

    @property
    def fingerprint(self) -> str:
        """sha256 of the configurations and every recorded figure of this task."""
        h = hashlib.sha256(json.dumps(self.table.configs, sort_keys=True).encode())
        for array in (self.valid, self.seconds, self.holdout):
            h.update(np.ascontiguousarray(array, dtype="<f8").tobytes())
        return h.hexdigest()

    def regret(self, scores: np.ndarray, holdout: bool = False) -> np.ndarray:
        """Normalized regret (best − found) / (best − median) over the table's configurations at
        full fidelity: 0 at the table's best, 1 at its median; NaN (nothing found) counts as the
        table's worst."""
        column = self.sign * (self.holdout if holdout else self.valid[:, -1])
        best, median, worst = np.nanmax(column), np.nanmedian(column), np.nanmin(column)
        found = np.where(np.isnan(scores), worst, self.sign * np.asarray(scores, dtype=float))
        spread = best - median
        return (best - found) / spread if spread > 0 else np.zeros_like(found)


def read_table(path: Path) -> Table:
    """Load and check one table folder."""
    manifest_path = path / MANIFEST
    try:
        manifest = json.loads(manifest_path.read_text())
        if manifest.get("format") != FORMAT or manifest.get("version") != FORMAT_VERSION:
            raise UsageError(f"{manifest_path} is not a version-{FORMAT_VERSION} table manifest "
                             "— rebuild the table with `auditor tabulate`")
        name = manifest["space"]["name"]
        if name not in SPACES or SPACES[name].as_dict() != manifest["space"]:
            raise UsageError(f"table {path} was built for another definition of space {name!r} "
                             "— rebuild it with `auditor tabulate`")
        frame = pd.read_parquet(path / CONFIGS).sort_values("config_id")
        configs = [_config(SPACES[name], row) for row in frame.to_dict("records")]
        return Table(path, manifest, SPACES[name], configs, pd.read_parquet(path / SCORES))
    except (OSError, ValueError, KeyError, TypeError, AttributeError, pa.ArrowException) as err:
        raise UsageError(f"{path} is not a readable table ({type(err).__name__}: "
                         f"{' '.join(str(err).split())}) — rebuild it with `auditor tabulate`"
                         ) from None


def _config(space: SearchSpace, row: dict[str, Any]) -> dict[str, Any]:
    config: dict[str, Any] = {}
    for hp in space.hyperparameters:
        value = row.get(hp.name)
        if value is None or (isinstance(value, float) and np.isnan(value)):
            continue
        config[hp.name] = int(value) if hp.kind == "int" else (
            float(value) if hp.kind == "float" else _choice(hp, value))
    return config


def _choice(hp: Hyperparameter, value: Any) -> Any:
    """The space's own choice object for a stored value (which comes back as a numpy scalar)."""
    return next(c for c in hp.choices if str(c) == str(value))


def load_tasks(paths: list[Path]) -> list[TableTask]:
    """Tasks of every table in `paths`: each a table folder or a folder of table folders."""
    tables: list[Table] = []
    for path in paths:
        if (path / MANIFEST).exists():
            tables.append(read_table(path))
            continue
        found = sorted(p for p in path.glob(f"*/{MANIFEST}")) if path.is_dir() else []
        if not found:
            raise UsageError(f"{path} holds no table ({MANIFEST} missing) — give a folder "
                             "written by `auditor tabulate`, or a folder of such folders")
        tables += [read_table(p.parent) for p in found]
    tasks = [task for table in tables for task in table.tasks()]
    names = [t.name for t in tasks]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise UsageError(f"task {dupes[0]} appears in more than one table — give each table "
                         "folder once, with distinct data set names")
    return tasks
