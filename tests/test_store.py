"""The results store: a version-1 store is upgraded in place and keeps its rows."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np

from auditor.store.records import Store
from auditor.store.schema import SCHEMA_VERSION, npy_bytes, npy_load

V1 = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT INTO meta VALUES ('schema_version', '1');
CREATE TABLE datasets (
    name TEXT PRIMARY KEY, source TEXT NOT NULL, target TEXT NOT NULL, task_type TEXT NOT NULL,
    classes TEXT NOT NULL, n_rows INTEGER NOT NULL, n_features INTEGER NOT NULL,
    n_categorical INTEGER NOT NULL, n_missing INTEGER NOT NULL, fingerprint TEXT NOT NULL);
INSERT INTO datasets VALUES ('iris', 'sklearn:iris', 'target', 'multiclass', '[]', 150, 4, 0, 0,
                             'abc');
CREATE TABLE splits (
    dataset TEXT NOT NULL REFERENCES datasets(name), seed INTEGER NOT NULL,
    holdout_fraction REAL NOT NULL, fingerprint TEXT NOT NULL, n_search INTEGER NOT NULL,
    n_holdout INTEGER NOT NULL, holdout_y BLOB NOT NULL, PRIMARY KEY (dataset, seed));
CREATE TABLE runs (job_id TEXT PRIMARY KEY, seed INTEGER NOT NULL, failure_class TEXT);
INSERT INTO runs VALUES ('j1', 0, NULL);
"""


def test_version_1_store_is_upgraded_in_place(tmp_path: Path) -> None:
    db = tmp_path / "results.sqlite"
    conn = sqlite3.connect(db)
    conn.executescript(V1)
    conn.execute("INSERT INTO splits VALUES ('iris', 0, 0.2, 'f0', 120, 30, ?)",
                 (npy_bytes(np.arange(30)),))
    conn.commit()
    conn.close()

    store = Store(db)
    try:
        assert store.rows("SELECT value FROM meta")[0]["value"] == SCHEMA_VERSION
        assert store.finished_jobs() == {"j1"}
        (split,) = store.rows("SELECT * FROM splits")
        assert (split["fingerprint"], split["fold"], split["openml_task_id"]) == ("f0", None, None)
        assert np.array_equal(npy_load(split["holdout_y"]), np.arange(30))
        (run,) = store.rows("SELECT * FROM runs")
        assert {"openml_dataset_version", "openml_task_id", "repeat", "fold"} <= run.keys()
        # a task has several splits per seed now
        for fold in (0, 1):
            store.put_split({"dataset": "iris", "seed": 0, "holdout_fraction": 0.1,
                             "fingerprint": f"task-{fold}", "n_search": 135, "n_holdout": 15,
                             "holdout_y": np.zeros(15), "openml_task_id": 7, "repeat": 0,
                             "fold": fold})
        assert len(store.rows("SELECT * FROM splits WHERE seed = 0")) == 3
    finally:
        store.close()
    Store(db).close()  # opening an upgraded store again changes nothing
