"""The results store's tables, and the .npy encoding of arrays in them.

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
  And `isolation`: how the job was sandboxed (`sandbox`, `partial (no ...)`, `none`; NULL for
  runs recorded before it was kept).
- `audits`: one row per audit check and scope (a run's `job_id`, a split's fingerprint, or a
  dataset for seed stability) — `flag` (1: something to look at), a plain-words `summary` and
  the figures as JSON `detail`; recomputed from the rows above by `auditor.audit.suite_pass`.
- `trials`: every evaluation of each run (config, score, start, end, fidelity, status, CPU s).

- `claims`: one lease per job a runner took (`owner` = host/pid/start time, `heartbeat` in epoch
  seconds, `done` once its `runs` row is written): the job leases of `auditor.store.leases`, so
  that runners sharing a store never run the same job twice.
"""

from __future__ import annotations

import io

import numpy as np

SCHEMA_VERSION = "6"
SPLITS = """
CREATE TABLE IF NOT EXISTS splits (
    dataset TEXT NOT NULL REFERENCES datasets(name), seed INTEGER NOT NULL,
    holdout_fraction REAL NOT NULL, fingerprint TEXT NOT NULL, n_search INTEGER NOT NULL,
    n_holdout INTEGER NOT NULL, holdout_y BLOB NOT NULL, openml_task_id INTEGER, repeat INTEGER,
    fold INTEGER, PRIMARY KEY (dataset, seed, fingerprint));
"""
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
    compute_cpu_s REAL, full_fidelity_evals REAL, trajectory TEXT, extra_metrics TEXT,
    notes TEXT, failure_detail TEXT, isolation TEXT);
CREATE TABLE IF NOT EXISTS audits (
    scope TEXT NOT NULL, check_name TEXT NOT NULL, job_id TEXT, dataset TEXT NOT NULL,
    system TEXT, seed INTEGER, flag INTEGER NOT NULL, summary TEXT NOT NULL, detail TEXT NOT NULL,
    PRIMARY KEY (scope, check_name));
CREATE TABLE IF NOT EXISTS trials (
    job_id TEXT NOT NULL REFERENCES runs(job_id), number INTEGER NOT NULL, config TEXT NOT NULL,
    score REAL, start_s REAL NOT NULL, end_s REAL NOT NULL, fidelity REAL NOT NULL,
    status TEXT NOT NULL, cpu_s REAL, PRIMARY KEY (job_id, number));
CREATE TABLE IF NOT EXISTS claims (
    job_id TEXT PRIMARY KEY, owner TEXT NOT NULL, heartbeat REAL NOT NULL,
    done INTEGER NOT NULL DEFAULT 0);
"""
PG_TYPES = {"BLOB": "BYTEA", "REAL": "DOUBLE PRECISION"}


def npy_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    return buf.getvalue()


def npy_load(blob: bytes) -> np.ndarray:
    return np.load(io.BytesIO(blob), allow_pickle=False)
