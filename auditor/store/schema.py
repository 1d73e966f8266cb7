"""The results store's tables as SQLAlchemy Core definitions (one schema for SQLite and
PostgreSQL), and the .npy encoding of arrays in them.

Schema (see also README, "Results store"):
- `datasets`: one row per dataset — source, task, shape, sha256 fingerprint; for OpenML data the
  data set id and version (`openml_dataset_id`, `openml_dataset_version`) and the task id
  (`openml_task_id`), NULL otherwise; for a local file the sha256 of its bytes (`file_sha256`,
  revision 0005), which the report shows beside the file's name. Rows keep their insertion
  order in `rowid` (implicit in SQLite; in PostgreSQL a BIGSERIAL column that the migrations add,
  not part of `DATASETS`).
- `splits`: one row per (dataset, seed, split fingerprint) — holdout fraction, sizes, the sealed
  holdout labels (`holdout_y`, .npy bytes), which never leave the harness, and for an OpenML task's
  official split its `openml_task_id`, `repeat` and `fold` (NULL for the harness's own splits).
- `runs`: one row per finished job (`job_id` is a hash of dataset, split, system, options, seed,
  metric and budget, and of task, repeat and fold for a task's split) — status, failure class,
  audit figures, measured wall / CPU / peak RSS, overrun flag, budget, versions, the system's
  environment (python, sha256 of its `pip freeze`), fingerprints, the OpenML columns of `datasets`
  and `splits`, and `predictions_path`: the holdout predictions as an .npy file relative to the
  output folder.
  Also the run's compute (`compute_cpu_s` summed over evaluations, or for a system that does not
  report it the harness's measure of its process tree's CPU from the budget's start to its last
  evaluation's end, `full_fidelity_evals` = the sum of their fidelities), its anytime `trajectory`
  (JSON rows [end s, cumulative CPU s, evaluations, incumbent validation score]) and
  `extra_metrics` (JSON: for binary tasks the holdout precision in the top risk decile with its
  CI). And `isolation`: how the job was sandboxed (`sandbox`, `sandbox, network allowed`, `partial
  (no ...)`, `none`; NULL for runs recorded before it was kept; revision 0002), and `cpu_wait_s`:
  seconds its threads were ready to run but waited for a CPU (revision 0003), and `startup_s`:
  seconds from the job's start to its budget's start, the system's imports, data and servers
  (revision 0004).
- `audits`: one row per audit check and scope (a run's `job_id`, a split's fingerprint, or a
  dataset for seed stability) — `flag` (1: something to look at), a plain-words `summary` and
  the figures as JSON `detail`; recomputed from the rows above by `auditor.audit.suite_pass`.
- `trials`: every evaluation of each run (config, score, start, end, fidelity, status, CPU s).
- `claims`: one lease per job a runner took (`owner` = host/pid/start time, `heartbeat` in epoch
  seconds, `done` once its `runs` row is written): the job leases of `auditor.store.leases`, so
  that runners sharing a store never run the same job twice.
- `meta`: `schema_version` of the stores before Alembic (1–5); it stays at 5, the last of them.
  Versions since are Alembic's `alembic_version`.

A change to these tables goes with an Alembic revision in `auditor/store/migrations/versions/`.
"""

from __future__ import annotations

import io

import numpy as np
from sqlalchemy import (
    Column,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    Table,
    Text,
)

METADATA = MetaData()


def _cols(spec: str, nullable: bool = True) -> list[Column]:
    """Columns from "name:type ..." (t: TEXT, i: INTEGER, r: REAL, b: BLOB)."""
    types = {"t": Text, "i": Integer, "r": Float, "b": LargeBinary}
    return [Column(name, types[kind], nullable=nullable)
            for name, kind in (word.split(":") for word in spec.split())]


def _key(spec: str) -> list[Column]:
    columns = _cols(spec, nullable=False)
    for column in columns:
        column.primary_key = True
    return columns


OPENML = "openml_dataset_id:i openml_dataset_version:i openml_task_id:i"
META = Table("meta", METADATA, *_key("key:t"), *_cols("value:t", False))
DATASETS = Table(
    "datasets", METADATA, *_key("name:t"),
    *_cols("source:t target:t task_type:t classes:t n_rows:i n_features:i n_categorical:i "
           "n_missing:i fingerprint:t", False), *_cols(OPENML), *_cols("file_sha256:t"))
SPLITS = Table(
    "splits", METADATA, Column("dataset", Text, ForeignKey("datasets.name"), primary_key=True),
    *_key("seed:i"), *_cols("holdout_fraction:r", False), *_key("fingerprint:t"),
    *_cols("n_search:i n_holdout:i holdout_y:b", False),
    *_cols("openml_task_id:i repeat:i fold:i"))
RUNS = Table(
    "runs", METADATA, *_key("job_id:t"),
    *_cols("suite:t dataset:t system:t system_ref:t options:t seed:i metric:t status:t", False),
    *_cols("failure_class:t failure_message:t reported_score:r reported_on:t holdout_score:r "
           "holdout_lo:r holdout_hi:r gap:r gap_lo:r gap_hi:r verdict:t n_configs:i "
           "best_config:t model_description:t system_version:t search_space:t environment:t"),
    *_cols("wall_s:r", False), *_cols("cpu_s:r peak_rss_mb:r search_s:r"),
    *_cols("overrun:i budget:t versions:t dataset_fingerprint:t split_fingerprint:t", False),
    *_cols("predictions_path:t"), *_cols("started_at:t finished_at:t", False),
    *_cols(OPENML + " repeat:i fold:i compute_cpu_s:r full_fidelity_evals:r trajectory:t "
           "extra_metrics:t notes:t failure_detail:t isolation:t cpu_wait_s:r startup_s:r"))
AUDITS = Table(
    "audits", METADATA, *_key("scope:t check_name:t"), *_cols("job_id:t"),
    *_cols("dataset:t", False), *_cols("system:t seed:i"),
    *_cols("flag:i summary:t detail:t", False))
TRIALS = Table(
    "trials", METADATA, Column("job_id", Text, ForeignKey("runs.job_id"), primary_key=True),
    *_key("number:i"), *_cols("config:t", False), *_cols("score:r"),
    *_cols("start_s:r end_s:r fidelity:r status:t", False), *_cols("cpu_s:r"))
CLAIMS = Table(
    "claims", METADATA, *_key("job_id:t"), *_cols("owner:t heartbeat:r", False),
    Column("done", Integer, nullable=False, server_default="0"))


def npy_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    return buf.getvalue()


def npy_load(blob: bytes) -> np.ndarray:
    return np.load(io.BytesIO(blob), allow_pickle=False)
