"""The results store: stores written before Alembic (versions 1 and 5) are upgraded in place and
keep their rows, on SQLite and PostgreSQL; records come back as they were written."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine

from auditor.store.database import MIGRATIONS, Store, store_url
from auditor.store.records import StoredAudit, StoredRun, StoredSplit, StoredTrial
from auditor.store.schema import npy_bytes

HEAD = ScriptDirectory(str(MIGRATIONS)).get_current_head()
V5 = (Path(__file__).parent / "data" / "store_v5.sql").read_text()
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
CREATE TABLE runs (
    job_id TEXT PRIMARY KEY, suite TEXT NOT NULL, dataset TEXT NOT NULL, system TEXT NOT NULL,
    system_ref TEXT NOT NULL, options TEXT NOT NULL, seed INTEGER NOT NULL, metric TEXT NOT NULL,
    status TEXT NOT NULL, failure_class TEXT, failure_message TEXT,
    reported_score REAL, reported_on TEXT, holdout_score REAL, holdout_lo REAL, holdout_hi REAL,
    gap REAL, gap_lo REAL, gap_hi REAL, verdict TEXT, n_configs INTEGER, best_config TEXT,
    model_description TEXT, system_version TEXT, search_space TEXT, environment TEXT,
    wall_s REAL NOT NULL, cpu_s REAL, peak_rss_mb REAL, search_s REAL, overrun INTEGER NOT NULL,
    budget TEXT NOT NULL, versions TEXT NOT NULL, dataset_fingerprint TEXT NOT NULL,
    split_fingerprint TEXT NOT NULL, predictions_path TEXT,
    started_at TEXT NOT NULL, finished_at TEXT NOT NULL);
CREATE TABLE trials (
    job_id TEXT NOT NULL REFERENCES runs(job_id), number INTEGER NOT NULL, config TEXT NOT NULL,
    score REAL, start_s REAL NOT NULL, end_s REAL NOT NULL, fidelity REAL NOT NULL,
    status TEXT NOT NULL, PRIMARY KEY (job_id, number));
"""
RUN = ("INSERT INTO runs (job_id, suite, dataset, system, system_ref, options, seed, metric, "
       "status, reported_score, n_configs, search_space, wall_s, overrun, budget, versions, "
       "dataset_fingerprint, split_fingerprint, started_at, finished_at) VALUES ('j1', 's', "
       "'iris', 'x', 'x', '{\"a\": 1}', 0, 'accuracy', 'ok', {score}, 3, 'null', 1.5, 0, "
       "'{\"wall_seconds\": 10}', '{}', 'abc', 'f0', 't0', 't1')")
TRIAL = ("INSERT INTO trials (job_id, number, config, score, start_s, end_s, fidelity, status) "
         "VALUES ('j1', 0, '{\"lr\": 0.1}', 0.9, 0.0, 1.0, 1.0, 'complete')")


def _legacy_sqlite(db: Path, schema: str, score: str = "0.9") -> None:
    conn = sqlite3.connect(db)
    conn.executescript(schema)
    if "INSERT INTO datasets" not in schema:
        conn.execute("INSERT INTO datasets (name, source, target, task_type, classes, n_rows, "
                     "n_features, n_categorical, n_missing, fingerprint) VALUES ('iris', "
                     "'sklearn:iris', 'target', 'multiclass', '[]', 150, 4, 0, 0, 'abc')")
    conn.execute("INSERT INTO splits (dataset, seed, holdout_fraction, fingerprint, n_search, "
                 "n_holdout, holdout_y) VALUES ('iris', 0, 0.2, 'f0', 120, 30, ?)",
                 (npy_bytes(np.arange(30)),))
    conn.execute(RUN.replace("{score}", score))
    conn.execute(TRIAL)
    conn.commit()
    conn.close()


def _check_upgraded(target: Path | str) -> None:
    store = Store(target)
    try:
        assert store.revision() == HEAD
        assert store.finished_jobs() == {"j1"}
        (split,) = store.splits()
        assert (split.fingerprint, split.fold, split.openml_task_id) == ("f0", None, None)
        assert np.array_equal(split.holdout_y, np.arange(30))
        (run,) = store.runs()
        assert (run.options, run.budget, run.search_space, run.overrun) == (
            {"a": 1}, {"wall_seconds": 10}, None, False)
        assert (run.repeat, run.fold, run.notes) == (None, None, None)
        (trial,) = store.trials("j1")
        assert (trial.config, trial.cpu_s) == ({"lr": 0.1}, None)
        assert [d.name for d in store.datasets()] == ["iris"]
        # a task has several splits per seed now
        for fold in (0, 1):
            store.put_split(StoredSplit("iris", 0, 0.1, f"task-{fold}", 135, 15, np.zeros(15),
                                        openml_task_id=7, repeat=0, fold=fold))
        assert len([s for s in store.splits() if s.seed == 0]) == 3
    finally:
        store.close()
    Store(target).close()  # opening an upgraded store again changes nothing


def test_version_1_store_is_upgraded_in_place(tmp_path: Path) -> None:
    db = tmp_path / "results.sqlite"
    _legacy_sqlite(db, V1)
    _check_upgraded(db)


def test_version_5_store_is_upgraded_in_place(tmp_path: Path) -> None:
    db = tmp_path / "results.sqlite"
    _legacy_sqlite(db, V5)
    _check_upgraded(db)


def test_version_5_postgresql_store_is_upgraded_in_place(pg_url: str) -> None:
    schema = re.sub(r"\bBLOB\b", "BYTEA", re.sub(r"\bREAL\b", "DOUBLE PRECISION", V5))
    schema = schema.replace("datasets (", "datasets (rowid BIGSERIAL, ", 1)
    engine = create_engine(store_url(pg_url))
    with engine.begin() as c:
        for statement in filter(str.strip, schema.split(";")):
            if not statement.strip().startswith("--") or "CREATE" in statement:
                c.exec_driver_sql(statement)
        c.exec_driver_sql("INSERT INTO datasets (name, source, target, task_type, classes, "
                          "n_rows, n_features, n_categorical, n_missing, fingerprint) VALUES "
                          "('iris', 'sklearn:iris', 'target', 'multiclass', '[]', 150, 4, 0, 0, "
                          "'abc')")
        c.exec_driver_sql("INSERT INTO splits (dataset, seed, holdout_fraction, fingerprint, "
                          "n_search, n_holdout, holdout_y) VALUES ('iris', 0, 0.2, 'f0', 120, "
                          "30, %(y)s)", {"y": npy_bytes(np.arange(30))})
        c.exec_driver_sql(RUN.replace("{score}", "0.9").replace("%", "%%"))
        c.exec_driver_sql(TRIAL)
    engine.dispose()
    _check_upgraded(pg_url)


def test_a_version_4_store_is_cleaned_on_upgrade(tmp_path: Path) -> None:
    db = tmp_path / "results.sqlite"
    _legacy_sqlite(db, V5.replace("'5'", "'4'"), score="'high'")
    store = Store(db)
    try:
        (run,) = store.runs()
        assert run.reported_score is None and "reported score 'high' dropped" in run.notes
    finally:
        store.close()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_records_come_back_as_written(backend: str, tmp_path: Path,
                                      request: pytest.FixtureRequest) -> None:
    store = Store(tmp_path / "new.sqlite" if backend == "sqlite"
                  else request.getfixturevalue("pg_url"))
    run = StoredRun("j", "s", "d", "x", "x", {"b": 1, "a": [1, 2]}, 0, "m", "ok", 1.0, True,
                    {"wall_seconds": 5}, {"numpy": "2"}, "f", "g", "t0", "t1",
                    best_config={"lr": 0.1}, trajectory=[[1.0, 1.0, 1.0, 0.5]])
    trial = StoredTrial("j", 0, {"lr": 0.1}, 0.5, 0.0, 1.0, 1.0, "complete", 0.9)
    audit = StoredAudit("j", "budget overrun", "j", "d", "x", 0, True, "ran long", {"s": 1.5})
    try:
        assert store.revision() == HEAD
        assert store.put_run(run, [trial], "me/1/1.00")
        assert not store.put_run(run, [trial], "me/1/1.00")
        store.put_audits([audit])
        store.put_audits([audit])
        assert store.runs() == [run] and store.runs(status="failed") == []
        assert store.trials() == store.trials("j") == [trial]
        assert store.audits() == [audit] and store.audited_scopes() == {"j"}
        assert [(c.job_id, c.done) for c in store.claims()] == [("j", True)]
    finally:
        store.close()
