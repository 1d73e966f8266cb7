"""The results store: a SQLite file in the output folder (default) or a shared PostgreSQL database.

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
  holdout precision in the top risk decile with its CI; for every run `reported_uncertainty`:
  how the optimism gap's CI took the reported score's own uncertainty, its fold scores or the
  rows of its internal holdout).
- `audits`: one row per audit check and scope (a run's `job_id`, a split's fingerprint, or a
  dataset for seed stability) — `flag` (1: something to look at), a plain-words `summary` and
  the figures as JSON `detail`; recomputed from the rows above by `auditor.audits`.
- `trials`: every evaluation of each run (config, score, start, end, fidelity, status, CPU s).

- `claims`: one row per job a runner took (`owner` = host/pid/start time, `heartbeat` in epoch
  seconds, `done` once its `runs` row is written), so that runners sharing a store never run the
  same job twice. A claim is taken with INSERT ... ON CONFLICT DO NOTHING; a claim whose owner
  stopped beating (heartbeat older than budget + grace + a margin) or whose owner is a dead
  process on this host is taken over by compare-and-swap.

A run, its trials and its claim's `done` are written in one transaction; `runs` is keyed by
`job_id`, so a job is recorded once even if two runners finished it. A job without a `runs` row
is re-run. Older SQLite stores (version 1: one split per dataset and seed; versions 1–2: fewer
columns; version 3: no claims) are upgraded in place when opened.

Both back ends go through SQLAlchemy: `sqlite:///PATH` and `postgresql://...` URLs (psycopg 3).
PostgreSQL has the same tables with BYTEA for BLOB, DOUBLE PRECISION for REAL, and an explicit
`datasets.rowid` (insertion order, implicit in SQLite). A write that loses its connection is
retried `RETRIES` times on a fresh connection; then `StoreUnavailable` ends the command.
"""

from __future__ import annotations

import io
import json
import os
import re
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import psutil
from sqlalchemy import Connection, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, InterfaceError, OperationalError

from auditor.errors import UsageError
from auditor.outputs import clean_stored_runs

SCHEMA_VERSION = "5"
SPLITS = """
CREATE TABLE IF NOT EXISTS splits (
    dataset TEXT NOT NULL REFERENCES datasets(name), seed INTEGER NOT NULL,
    holdout_fraction REAL NOT NULL, fingerprint TEXT NOT NULL, n_search INTEGER NOT NULL,
    n_holdout INTEGER NOT NULL, holdout_y BLOB NOT NULL, openml_task_id INTEGER, repeat INTEGER,
    fold INTEGER, PRIMARY KEY (dataset, seed, fingerprint));
"""
# Columns added since version 1 (2: OpenML; 3: compute, trajectories, extra metrics; 5: notes on
# a system's answer, a failure's last lines of traceback and stderr), and the version-1 columns
# of `splits`
ADDED_COLUMNS = {
    "datasets": ("openml_dataset_id INTEGER", "openml_dataset_version INTEGER",
                 "openml_task_id INTEGER"),
    "runs": ("openml_dataset_id INTEGER", "openml_dataset_version INTEGER",
             "openml_task_id INTEGER", "repeat INTEGER", "fold INTEGER", "compute_cpu_s REAL",
             "full_fidelity_evals REAL", "trajectory TEXT", "extra_metrics TEXT", "notes TEXT",
             "failure_detail TEXT"),
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
"""
RESULTS_DB = "results.sqlite"
INFRASTRUCTURE = "infrastructure"  # failure class of a job lost to the machinery
ENV_PREFIX = "env:"  # `--store env:VAR`: the store's URL is in $VAR
RETRIES = 2  # a write that lost its connection is tried this many more times
RETRY_PAUSE_S = 1.0
PG_TYPES = {"BLOB": "BYTEA", "REAL": "DOUBLE PRECISION"}
PG_SCHEMA_LOCK = 4_242_001  # advisory lock: runners creating the tables at once
T = TypeVar("T")


class StoreUnavailable(UsageError):
    """The store cannot be opened, or lost its connection more often than `RETRIES`."""

    def __init__(self, message: str, reason: str = "") -> None:
        super().__init__(message)
        self.reason = reason or message


def npy_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    return buf.getvalue()


def npy_load(blob: bytes) -> np.ndarray:
    return np.load(io.BytesIO(blob), allow_pickle=False)


def take_secret_url(spec: str) -> str:
    """A `--store` value as the URL to connect with, keeping passwords off command lines and out
    of child processes: `env:VAR` reads the URL from $VAR; a postgresql URL without a password
    takes $PGPASSWORD (libpq's own convention; ~/.pgpass works as well). Either variable then
    leaves this process's environment, so that no process started later (the fork server, jobs,
    a system's worker) inherits it; the URL stays in memory only."""
    if spec.startswith(ENV_PREFIX):
        var = spec[len(ENV_PREFIX):]
        if not os.environ.get(var):
            raise UsageError(f"--store {spec}: ${var} is not set; set it to the store's URL")
        spec = os.environ.pop(var)
    url = store_url(spec)
    if url.get_backend_name() == "postgresql" and url.password is None:
        password = os.environ.pop("PGPASSWORD", None)
        if password is not None:
            return url.set(password=password).render_as_string(hide_password=False)
    return spec


def store_url(spec: str) -> URL:
    """The SQLAlchemy URL of a `--store` value; postgresql URLs use psycopg 3."""
    try:
        url = make_url(spec)
    except ArgumentError:
        raise UsageError(f"--store {spec!r} is not a database URL; give e.g. "
                         "postgresql://USER@HOST:PORT/DB or sqlite:///PATH") from None
    if url.get_backend_name() == "postgresql":
        return url.set(drivername="postgresql+psycopg")
    if url.get_backend_name() == "sqlite" and url.database:
        return url
    raise UsageError(f"--store {url.render_as_string(hide_password=True)}: only postgresql:// "
                     "and sqlite:///PATH stores are supported")


def owner_id() -> str:
    """This process as a claim owner: host, pid and start time (pids are reused)."""
    me = psutil.Process()
    return f"{socket.gethostname()}/{me.pid}/{me.create_time():.2f}"


def dead_here(owner: str) -> bool:
    """True when `owner` ran on this host and that process is gone."""
    host, pid, started = owner.rsplit("/", 2)
    if host != socket.gethostname():
        return False
    try:
        return f"{psutil.Process(int(pid)).create_time():.2f}" != started
    except psutil.NoSuchProcess:
        return True


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    dbapi_conn.isolation_level = None  # transactions are begun by `_sqlite_begin`, DDL included
    dbapi_conn.execute("PRAGMA journal_mode=WAL")
    dbapi_conn.execute("PRAGMA foreign_keys=ON")


def _sqlite_begin(conn: Connection) -> None:
    conn.exec_driver_sql("BEGIN")


class Store:
    """Results store over SQLAlchemy; every write is one transaction."""

    def __init__(self, target: Path | str) -> None:
        """`target`: a SQLite file, or a `--store` URL."""
        self.url = (URL.create("sqlite", database=str(target)) if isinstance(target, Path)
                    else store_url(target))
        self.name = (str(target) if isinstance(target, Path)
                     else make_url(target).render_as_string(hide_password=True))
        self.postgres = self.url.get_backend_name() == "postgresql"
        if self.postgres:
            self.engine = create_engine(self.url, pool_pre_ping=True, pool_size=2,
                                        connect_args={"connect_timeout": 10})
        else:
            self.engine = create_engine(self.url, connect_args={"timeout": 30})
            event.listen(self.engine, "connect", _sqlite_pragmas)
            event.listen(self.engine, "begin", _sqlite_begin)
        try:
            self._tx(self._create)
        except StoreUnavailable as exc:
            self.engine.dispose()
            raise StoreUnavailable(f"cannot open the store {self.name} ({exc.reason}); check the "
                                   "URL and that the server is up") from None
        except DBAPIError as exc:
            self.engine.dispose()
            raise StoreUnavailable(f"{self.name} is not a results store: {_first_line(exc)}"
                                   ) from None

    def _create(self, c: Connection) -> None:
        if self.postgres:
            c.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": PG_SCHEMA_LOCK})
        for statement in filter(str.strip, SCHEMA.split(";")):
            if self.postgres:
                statement = re.sub(r"\b(BLOB|REAL)\b", lambda m: PG_TYPES[m[1]], statement)
                statement = statement.replace("datasets (", "datasets (rowid BIGSERIAL, ", 1)
            c.exec_driver_sql(statement)
        version = c.execute(text("SELECT value FROM meta WHERE key = 'schema_version'")).scalar()
        if version == "1":
            self._rekey_v1_splits(c)
        if version is not None and version != SCHEMA_VERSION:
            self._add_columns(c, self.postgres)
            clean_stored_runs(c)  # values written before answers were checked
        c.execute(text("INSERT INTO meta VALUES ('schema_version', :v) ON CONFLICT (key) "
                       "DO UPDATE SET value = excluded.value"), {"v": SCHEMA_VERSION})

    @staticmethod
    def _rekey_v1_splits(c: Connection) -> None:
        """Key `splits` by fingerprint too (an OpenML task has many splits per seed)."""
        c.exec_driver_sql("ALTER TABLE splits RENAME TO splits_v1")
        c.exec_driver_sql(SPLITS)
        c.exec_driver_sql(f"INSERT INTO splits ({V1_SPLIT_COLUMNS}) "
                          f"SELECT {V1_SPLIT_COLUMNS} FROM splits_v1")
        c.exec_driver_sql("DROP TABLE splits_v1")

    @staticmethod
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

    def _tx(self, work: Callable[[Connection], T]) -> T:
        """Run `work` in one transaction, again on a fresh connection if the connection broke."""
        for attempt in range(RETRIES + 1):
            try:
                with self.engine.begin() as c:
                    return work(c)
            except (OperationalError, InterfaceError) as exc:
                if attempt == RETRIES:
                    raise StoreUnavailable(
                        f"store {self.name} failed {RETRIES + 1} times ({_first_line(exc)}); "
                        "check that it is reachable and run the same command again to resume",
                        _first_line(exc)) from None
                time.sleep(RETRY_PAUSE_S * (attempt + 1))
        raise AssertionError("unreachable")

    def close(self) -> None:
        self.engine.dispose()

    def dataset_fingerprint(self, name: str) -> str | None:
        rows = self.rows("SELECT fingerprint FROM datasets WHERE name = :name", name=name)
        return rows[0]["fingerprint"] if rows else None

    def put_dataset(self, row: dict[str, Any]) -> None:
        self._insert_new("datasets", {**row, "classes": json.dumps(row["classes"])})

    def put_split(self, row: dict[str, Any]) -> None:
        self._insert_new("splits", {**row, "holdout_y": npy_bytes(row["holdout_y"])})

    def _insert_new(self, table: str, row: dict[str, Any]) -> None:
        """Insert a row unless one with its key exists."""
        self._tx(lambda c: c.execute(text(_insert(table, row) + " ON CONFLICT DO NOTHING"), row))

    def finished_jobs(self) -> set[str]:
        """Jobs recorded for good: all but those lost to the machinery, which run again."""
        return {r["job_id"] for r in self.rows(
            "SELECT job_id FROM runs WHERE failure_class IS NULL OR failure_class <> :infra",
            infra=INFRASTRUCTURE)}

    def claim(self, job_id: str, owner: str, stale_s: float) -> bool:
        """Take the job for `owner` unless it is recorded or a live runner holds it."""
        def work(c: Connection) -> bool:
            now = time.time()
            new = {"job_id": job_id, "owner": owner, "heartbeat": now}
            if c.execute(text("INSERT INTO claims (job_id, owner, heartbeat, done) VALUES "
                              "(:job_id, :owner, :heartbeat, 0) ON CONFLICT DO NOTHING"),
                         new).rowcount:
                return True
            held = c.execute(text("SELECT owner, heartbeat, done FROM claims "
                                  "WHERE job_id = :job_id"), new).one()
            if held.done or (held.heartbeat > now - stale_s and not dead_here(held.owner)):
                return False
            return c.execute(text(
                "UPDATE claims SET owner = :owner, heartbeat = :heartbeat WHERE job_id = :job_id "
                "AND owner = :old AND heartbeat = :old_beat AND done = 0"),
                {**new, "old": held.owner, "old_beat": held.heartbeat}).rowcount == 1
        return self._tx(work)

    def heartbeat(self, owner: str) -> None:
        self._tx(lambda c: c.execute(text(
            "UPDATE claims SET heartbeat = :now WHERE owner = :owner AND done = 0"),
            {"now": time.time(), "owner": owner}))

    def release(self, owner: str) -> None:
        """Give back the jobs `owner` claimed but did not record."""
        self._tx(lambda c: c.execute(text(
            "DELETE FROM claims WHERE owner = :owner AND done = 0"), {"owner": owner}))

    def put_run(self, run: dict[str, Any], trials: list[dict[str, Any]], owner: str) -> bool:
        """Record a finished job, its trials and its claim's end atomically; False when the job
        was already recorded (by a runner that took over a claim that looked dead). A job lost
        to the machinery replaces an earlier such record and leaves its claim open, so that it
        runs again once this runner gives its claims back."""
        def work(c: Connection) -> bool:
            key = {"job_id": run["job_id"], "infra": INFRASTRUCTURE}
            lost = ("SELECT job_id FROM runs WHERE job_id = :job_id AND failure_class = :infra")
            c.execute(text(f"DELETE FROM trials WHERE job_id IN ({lost})"), key)
            c.execute(text(f"DELETE FROM runs WHERE job_id IN ({lost})"), key)
            added = c.execute(text(_insert("runs", run) + " ON CONFLICT DO NOTHING"),
                              run).rowcount == 1
            if added and trials:
                c.execute(text(_insert("trials", trials[0])), trials)
            done = int(run.get("failure_class") != INFRASTRUCTURE)
            c.execute(text("INSERT INTO claims (job_id, owner, heartbeat, done) VALUES (:job_id, "
                           ":owner, :now, :done) ON CONFLICT (job_id) DO UPDATE SET done = :done"),
                      {"job_id": run["job_id"], "owner": owner, "now": time.time(), "done": done})
            return added
        return self._tx(work)

    def put_audits(self, rows: list[dict[str, Any]]) -> None:
        keys = ("scope", "check_name")
        update = ", ".join(f"{k} = excluded.{k}" for k in rows[0] if k not in keys)
        sql = f"{_insert('audits', rows[0])} ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {update}"
        self._tx(lambda c: c.execute(text(sql), rows))

    def rows(self, sql: str, **params: Any) -> list[dict[str, Any]]:
        """Rows of a query with `:name` parameters, as dicts."""
        return self._tx(lambda c: [dict(r._mapping) for r in c.execute(text(sql), params)])


def _insert(table: str, row: dict[str, Any]) -> str:
    return (f"INSERT INTO {table} ({', '.join(row)}) "
            f"VALUES ({', '.join(f':{k}' for k in row)})")


def _first_line(exc: BaseException) -> str:
    cause = getattr(exc, "orig", None) or exc
    return (str(cause).strip().splitlines() or [type(cause).__name__])[0]
