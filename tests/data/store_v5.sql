-- The schema of a version-5 store, as the store wrote it before Alembic (SQLite types;
-- PostgreSQL stores had BYTEA, DOUBLE PRECISION and datasets.rowid BIGSERIAL).
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS datasets (
    name TEXT PRIMARY KEY, source TEXT NOT NULL, target TEXT NOT NULL, task_type TEXT NOT NULL,
    classes TEXT NOT NULL, n_rows INTEGER NOT NULL, n_features INTEGER NOT NULL,
    n_categorical INTEGER NOT NULL, n_missing INTEGER NOT NULL, fingerprint TEXT NOT NULL,
    openml_dataset_id INTEGER, openml_dataset_version INTEGER, openml_task_id INTEGER);

CREATE TABLE IF NOT EXISTS splits (
    dataset TEXT NOT NULL REFERENCES datasets(name), seed INTEGER NOT NULL,
    holdout_fraction REAL NOT NULL, fingerprint TEXT NOT NULL, n_search INTEGER NOT NULL,
    n_holdout INTEGER NOT NULL, holdout_y BLOB NOT NULL, openml_task_id INTEGER, repeat INTEGER,
    fold INTEGER, PRIMARY KEY (dataset, seed, fingerprint));

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
    notes TEXT, failure_detail TEXT);
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
INSERT INTO meta VALUES ('schema_version', '5');
