"""The results store: one SQLite file in the output folder.

Schema (see also README, "Results store"):
- `datasets`: one row per dataset — source, task, shape, sha256 fingerprint; for OpenML data the
  data set id and version (`openml_dataset_id`, `openml_dataset_version`) and the task id
  (`openml_task_id`), NULL otherwise.
- `splits`: one row per (dataset, seed, split fingerprint) — holdout fraction, sizes, the sealed
  holdout labels (`holdout_y`, .npy bytes), which never leave the harness, and for an OpenML task's
  official split its `openml_task_id`, `repeat` and `fold` (NULL for the harness's own splits).
- `runs`: one row per finished job (`job_id` is a hash of dataset, split, system, options, seed,
  metric and budget, and of task, repeat and fold for a task's split) — status, failure class,
  audit figures, measured wall / CPU / peak RSS, overrun flag, budget, versions, the system's
  environment (python, sha256 of its `pip freeze`), fingerprints, the OpenML columns of `datasets`
  and `splits`, and `predictions_path`: the holdout predictions as an .npy file relative to the
  output folder.
  Also the run's compute (`compute_cpu_s` summed over evaluations, `full_fidelity_evals` = the
  sum of their fidelities), its anytime `trajectory` (JSON rows [end s, cumulative CPU s,
  evaluations, incumbent validation score]) and `extra_metrics` (JSON: for binary tasks the
  holdout precision in the top risk decile with its CI).
- `audits`: one row per audit check and scope (a run's `job_id`, a split's fingerprint, or a
  dataset for seed stability) — `flag` (1: something to look at), a plain-words `summary` and
  the figures as JSON `detail`; recomputed from the rows above by `auditor.audits`.
- `trials`: every evaluation of each run (config, score, start, end, fidelity, status, CPU s).

A run and its trials are written in one transaction; a job without a `runs` row is re-run.
Older stores (version 1: one split per dataset and seed; versions 1–2: fewer columns) are
upgraded in place when opened.
"""

from __future__ import annotations

import io
import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

SCHEMA_VERSION = "3"
SPLITS = """
CREATE TABLE IF NOT EXISTS splits (
    dataset TEXT NOT NULL REFERENCES datasets(name), seed INTEGER NOT NULL,
    holdout_fraction REAL NOT NULL, fingerprint TEXT NOT NULL, n_search INTEGER NOT NULL,
    n_holdout INTEGER NOT NULL, holdout_y BLOB NOT NULL, openml_task_id INTEGER, repeat INTEGER,
    fold INTEGER, PRIMARY KEY (dataset, seed, fingerprint));
"""
# Columns added since version 1 (2: OpenML; 3: compute, trajectories, extra metrics), and the
# version-1 columns of `splits`
ADDED_COLUMNS = {
    "datasets": ("openml_dataset_id INTEGER", "openml_dataset_version INTEGER",
                 "openml_task_id INTEGER"),
    "runs": ("openml_dataset_id INTEGER", "openml_dataset_version INTEGER",
             "openml_task_id INTEGER", "repeat INTEGER", "fold INTEGER", "compute_cpu_s REAL",
             "full_fidelity_evals REAL", "trajectory TEXT", "extra_metrics TEXT"),
    "trials": ("cpu_s REAL",),
}
V1_SPLIT_COLUMNS = "dataset, seed, holdout_fraction, fingerprint, n_search, n_holdout, holdout_y"
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS datasets (
    name TEXT PRIMARY KEY, source TEXT NOT NULL, target TEXT NOT NULL, task_type TEXT NOT NULL,
    classes TEXT NOT NULL, n_rows INTEGER NOT NULL, n_features INTEGER NOT NULL,
    n_categorical INTEGER NOT NULL, n_missing INTEGER NOT NULL, fingerprint TEXT NOT NULL,
    openml_dataset_id INTEGER, openml_dataset_version INTEGER, openml_task_id INTEGER);
""" + SPLITS + """
CREATE TABLE IF NOT EXISTS runs (
    job_id TEXT PRIMARY KEY, suite TEXT NOT NULL, dataset TEXT NOT NULL, system TEXT NOT NULL,
    system_ref TEXT NOT NULL, options TEXT NOT NULL, seed INTEGER NOT NULL, metric TEXT NOT NULL,
    status TEXT NOT NULL, failure_class TEXT, failure_message TEXT,
    reported_score REAL, reported_on TEXT, holdout_score REAL, holdout_lo REAL, holdout_hi REAL,
    gap REAL, gap_lo REAL, gap_hi REAL, verdict TEXT, n_configs INTEGER, best_config TEXT,
    model_description TEXT, system_version TEXT, search_space TEXT, environment TEXT,
    wall_s REAL NOT NULL, cpu_s REAL, peak_rss_mb REAL, search_s REAL, overrun INTEGER NOT NULL,
    budget TEXT NOT NULL, versions TEXT NOT NULL, dataset_fingerprint TEXT NOT NULL,
    split_fingerprint TEXT NOT NULL, predictions_path TEXT,
    started_at TEXT NOT NULL, finished_at TEXT NOT NULL, openml_dataset_id INTEGER,
    openml_dataset_version INTEGER, openml_task_id INTEGER, repeat INTEGER, fold INTEGER,
    compute_cpu_s REAL, full_fidelity_evals REAL, trajectory TEXT, extra_metrics TEXT);
CREATE TABLE IF NOT EXISTS audits (
    scope TEXT NOT NULL, check_name TEXT NOT NULL, job_id TEXT, dataset TEXT NOT NULL,
    system TEXT, seed INTEGER, flag INTEGER NOT NULL, summary TEXT NOT NULL, detail TEXT NOT NULL,
    PRIMARY KEY (scope, check_name));
CREATE TABLE IF NOT EXISTS trials (
    job_id TEXT NOT NULL REFERENCES runs(job_id), number INTEGER NOT NULL, config TEXT NOT NULL,
    score REAL, start_s REAL NOT NULL, end_s REAL NOT NULL, fidelity REAL NOT NULL,
    status TEXT NOT NULL, cpu_s REAL, PRIMARY KEY (job_id, number));
"""
RESULTS_DB = "results.sqlite"


def npy_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    return buf.getvalue()


def npy_load(blob: bytes) -> np.ndarray:
    return np.load(io.BytesIO(blob), allow_pickle=False)


class Store:
    """A thin layer over sqlite3; every write is one transaction."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.conn = sqlite3.connect(path, timeout=30)
        self.conn.row_factory = sqlite3.Row
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA foreign_keys=ON")
        self.conn.executescript(SCHEMA)
        version = self.conn.execute(
            "SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        if version is not None and version[0] == "1":
            self._rekey_v1_splits()
        if version is not None and version[0] != SCHEMA_VERSION:
            self._add_columns()
        self.conn.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)",
                          (SCHEMA_VERSION,))
        self.conn.commit()

    def _rekey_v1_splits(self) -> None:
        """Key `splits` by fingerprint too (an OpenML task has many splits per seed)."""
        self.conn.executescript(
            "BEGIN; ALTER TABLE splits RENAME TO splits_v1;" + SPLITS
            + f"INSERT INTO splits ({V1_SPLIT_COLUMNS}) SELECT {V1_SPLIT_COLUMNS} FROM splits_v1;"
            "DROP TABLE splits_v1; COMMIT;")

    def _add_columns(self) -> None:
        """Add the columns an older store lacks (all nullable)."""
        for table, columns in ADDED_COLUMNS.items():
            have = {r[1] for r in self.conn.execute(f"PRAGMA table_info({table})")}
            for column in columns:
                if column.split()[0] not in have:
                    self.conn.execute(f"ALTER TABLE {table} ADD COLUMN {column}")
        self.conn.commit()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        try:
            yield self.conn
            self.conn.commit()
        except BaseException:
            self.conn.rollback()
            raise

    def close(self) -> None:
        self.conn.close()

    def dataset_fingerprint(self, name: str) -> str | None:
        row = self.conn.execute("SELECT fingerprint FROM datasets WHERE name=?", (name,)).fetchone()
        return row["fingerprint"] if row else None

    def put_dataset(self, row: dict[str, Any]) -> None:
        self._insert_new("datasets", {**row, "classes": json.dumps(row["classes"])})

    def put_split(self, row: dict[str, Any]) -> None:
        self._insert_new("splits", {**row, "holdout_y": npy_bytes(row["holdout_y"])})

    def _insert_new(self, table: str, row: dict[str, Any]) -> None:
        """Insert a row unless one with its key exists."""
        with self.transaction() as c:
            c.execute(f"INSERT OR IGNORE INTO {table} ({', '.join(row)}) "
                      f"VALUES ({', '.join(f':{k}' for k in row)})", row)

    def finished_jobs(self) -> set[str]:
        return {r[0] for r in self.conn.execute("SELECT job_id FROM runs")}

    def put_run(self, run: dict[str, Any], trials: list[dict[str, Any]]) -> None:
        """Record a finished job and its trials atomically."""
        cols = ", ".join(run)
        marks = ", ".join(f":{k}" for k in run)
        with self.transaction() as c:
            c.execute(f"INSERT INTO runs ({cols}) VALUES ({marks})", run)
            c.executemany(
                "INSERT INTO trials VALUES (:job_id, :number, :config, :score, :start_s, :end_s, "
                ":fidelity, :status, :cpu_s)",
                trials,
            )

    def put_audits(self, rows: list[dict[str, Any]]) -> None:
        with self.transaction() as c:
            c.executemany(
                "INSERT OR REPLACE INTO audits VALUES (:scope, :check_name, :job_id, :dataset, "
                ":system, :seed, :flag, :summary, :detail)", rows)

    def rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        return [dict(r) for r in self.conn.execute(sql, params)]
