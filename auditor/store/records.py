"""The results store: a SQLite file in the output folder (default) or a shared PostgreSQL database.

Tables in `auditor.store.schema`. A run, its trials and its lease's `done` are written in one
transaction; `runs` is keyed by `job_id`, so a job is recorded once even if two runners finished
it. A job without a `runs` row is re-run. A lease (a row of `claims`) is taken with INSERT ... ON
CONFLICT DO NOTHING; a lease whose owner stopped beating (heartbeat older than budget + grace + a
margin) or whose owner is a dead process on this host is taken over by compare-and-swap. Older
SQLite stores are upgraded in place when opened (`auditor.store.migrations`).

Both back ends go through SQLAlchemy: `sqlite:///PATH` and `postgresql://...` URLs (psycopg 3).
PostgreSQL has the same tables with BYTEA for BLOB, DOUBLE PRECISION for REAL, and an explicit
`datasets.rowid` (insertion order, implicit in SQLite). A write that loses its connection is
retried `RETRIES` times on a fresh connection; then `StoreUnavailable` ends the command.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, InterfaceError, OperationalError

from auditor.config.errors import INFRASTRUCTURE, UsageError
from auditor.store.leases import dead_here
from auditor.store.migrations import upgrade
from auditor.store.schema import PG_TYPES, SCHEMA, SCHEMA_VERSION, npy_bytes

RESULTS_DB = "results.sqlite"

ENV_PREFIX = "env:"  # `--store env:VAR`: the store's URL is in $VAR
RETRIES = 2  # a write that lost its connection is tried this many more times
RETRY_PAUSE_S = 1.0
PG_SCHEMA_LOCK = 4_242_001  # advisory lock: runners creating the tables at once
T = TypeVar("T")


class StoreUnavailable(UsageError):
    """The store cannot be opened, or lost its connection more often than `RETRIES`."""

    def __init__(self, message: str, reason: str = "") -> None:
        super().__init__(message)
        self.reason = reason or message


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
        upgrade(c, version, self.postgres)
        c.execute(text("INSERT INTO meta VALUES ('schema_version', :v) ON CONFLICT (key) "
                       "DO UPDATE SET value = excluded.value"), {"v": SCHEMA_VERSION})
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

    def lease(self, job_id: str, owner: str, stale_s: float) -> bool:
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
        """Give back the jobs `owner` leased but did not record."""
        self._tx(lambda c: c.execute(text(
            "DELETE FROM claims WHERE owner = :owner AND done = 0"), {"owner": owner}))

    def put_run(self, run: dict[str, Any], trials: list[dict[str, Any]], owner: str) -> bool:
        """Record a finished job, its trials and its lease's end atomically; False when the job
        was already recorded (by a runner that took over a lease that looked dead). A job lost
        to the machinery replaces an earlier such record and leaves its lease open, so that it
        runs again once this runner gives its leases back."""
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
