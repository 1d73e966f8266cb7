"""In-place upgrades of older SQLite stores (version 1: one split per dataset and seed;
versions 1–2: fewer columns; version 3: no leases)."""

from __future__ import annotations

from sqlalchemy import Connection

from auditor.store.schema import SCHEMA_VERSION, SPLITS

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


def upgrade(c: Connection, version: str | None) -> None:
    """Bring a store of schema `version` (None: new) up to `SCHEMA_VERSION`."""
    if version == "1":
        _rekey_v1_splits(c)
    if version is not None and version != SCHEMA_VERSION:
        _add_columns(c)


def _rekey_v1_splits(c: Connection) -> None:
    """Key `splits` by fingerprint too (an OpenML task has many splits per seed)."""
    c.exec_driver_sql("ALTER TABLE splits RENAME TO splits_v1")
    c.exec_driver_sql(SPLITS)
    c.exec_driver_sql(f"INSERT INTO splits ({V1_SPLIT_COLUMNS}) "
                      f"SELECT {V1_SPLIT_COLUMNS} FROM splits_v1")
    c.exec_driver_sql("DROP TABLE splits_v1")


def _add_columns(c: Connection) -> None:
    """Add the columns an older SQLite store lacks (all nullable)."""
    for table, columns in ADDED_COLUMNS.items():
        have = {r[1] for r in c.exec_driver_sql(f"PRAGMA table_info({table})")}
        for column in columns:
            if column.split()[0] not in have:
                c.exec_driver_sql(f"ALTER TABLE {table} ADD COLUMN {column}")
