"""In-place upgrades of older stores (version 1: one split per dataset and seed; versions 1–4:
fewer columns; version 3: no leases), on SQLite and PostgreSQL."""

from __future__ import annotations

import re

from sqlalchemy import Connection

from auditor.execution.outputs import clean_stored_runs
from auditor.store.schema import PG_TYPES, SCHEMA_VERSION, SPLITS

# Columns added since version 1 (2: OpenML; 3: compute, trajectories, extra metrics; 5: notes on
# a system's answer, a failure's last lines of traceback and stderr; 6: the job's isolation), and
# the version-1 columns
# of `splits`
ADDED_COLUMNS = {
    "datasets": ("openml_dataset_id INTEGER", "openml_dataset_version INTEGER",
                 "openml_task_id INTEGER"),
    "runs": ("openml_dataset_id INTEGER", "openml_dataset_version INTEGER",
             "openml_task_id INTEGER", "repeat INTEGER", "fold INTEGER", "compute_cpu_s REAL",
             "full_fidelity_evals REAL", "trajectory TEXT", "extra_metrics TEXT", "notes TEXT",
             "failure_detail TEXT", "isolation TEXT"),
    "trials": ("cpu_s REAL",),
}
V1_SPLIT_COLUMNS = "dataset, seed, holdout_fraction, fingerprint, n_search, n_holdout, holdout_y"


def upgrade(c: Connection, version: str | None, postgres: bool) -> None:
    """Bring a store of schema `version` (None: new) up to `SCHEMA_VERSION`."""
    if version == "1":
        _rekey_v1_splits(c)
    if version is not None and version != SCHEMA_VERSION:
        _add_columns(c, postgres)
        clean_stored_runs(c)  # values written before a system's answers were checked


def _rekey_v1_splits(c: Connection) -> None:
    """Key `splits` by fingerprint too (an OpenML task has many splits per seed)."""
    c.exec_driver_sql("ALTER TABLE splits RENAME TO splits_v1")
    c.exec_driver_sql(SPLITS)
    c.exec_driver_sql(f"INSERT INTO splits ({V1_SPLIT_COLUMNS}) "
                      f"SELECT {V1_SPLIT_COLUMNS} FROM splits_v1")
    c.exec_driver_sql("DROP TABLE splits_v1")


def _add_columns(c: Connection, postgres: bool) -> None:
    """Add the columns an older store lacks (all nullable)."""
    for table, columns in ADDED_COLUMNS.items():
        if postgres:
            for column in columns:
                column = re.sub(r"\b(BLOB|REAL)\b", lambda m: PG_TYPES[m[1]], column)
                c.exec_driver_sql(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {column}")
            continue
        have = {r[1] for r in c.exec_driver_sql(f"PRAGMA table_info({table})")}
        for column in columns:
            if column.split()[0] not in have:
                c.exec_driver_sql(f"ALTER TABLE {table} ADD COLUMN {column}")
