"""The results store: a SQLite file in the output folder (default) or a shared PostgreSQL database.

Tables in `auditor.store.schema`, rows as the typed records of `auditor.store.records`; nothing
outside this package issues SQL. A run, its trials and its lease's `done` are written in one
transaction; `runs` is keyed by `job_id`, so a job is recorded once even if two runners finished
it. A job without a `runs` row is re-run. A lease (a row of `claims`) is taken with INSERT ... ON
CONFLICT DO NOTHING; a lease whose owner stopped beating (heartbeat older than budget + grace + a
margin) or whose owner is a dead process on this host is taken over by compare-and-swap.

Opening a store runs its Alembic migrations (`auditor/store/migrations/`) up to the newest
revision in the opening transaction: a new store is created by them, a store of any earlier
version is upgraded in place. Both back ends go through SQLAlchemy: `sqlite:///PATH` and
`postgresql://...` URLs (psycopg 3). A transaction that loses its connection is retried
`RETRIES` times on a fresh connection (tenacity); then `StoreUnavailable` ends the command.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import (
    Connection,
    Select,
    Table,
    create_engine,
    delete,
    event,
    or_,
    select,
    text,
)
from sqlalchemy import literal_column as column
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, InterfaceError, OperationalError
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_incrementing

from auditor.config.errors import INFRASTRUCTURE, UsageError
from auditor.store.leases import dead_here
from auditor.store.records import (
    Stored,
    StoredAudit,
    StoredClaim,
    StoredDataset,
    StoredRun,
    StoredSplit,
    StoredTrial,
)
from auditor.store.schema import AUDITS, CLAIMS, DATASETS, RUNS, SPLITS, TRIALS

RESULTS_DB = "results.sqlite"
MIGRATIONS = Path(__file__).parent / "migrations"

ENV_PREFIX = "env:"  # `--store env:VAR`: the store's URL is in $VAR
RETRIES = 2  # a transaction that lost its connection is tried this many more times
RETRY_PAUSE_S = 1.0  # before the first retry; one more before each further one
IN_CHUNK = 500  # job ids per `IN (...)`, under SQLite's limit on bound parameters
PG_SCHEMA_LOCK = 4_242_001  # advisory lock: runners migrating the tables at once
T = TypeVar("T")
R = TypeVar("R", bound=Stored)


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


def migrate(c: Connection) -> None:
    """Run the store's Alembic migrations up to the newest revision, inside `c`'s transaction.
    A new store is made by the migrations too (not `create_all` and a stamp), so that new and
    upgraded stores are one and the same schema."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = c
    command.upgrade(config, "head")


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    dbapi_conn.isolation_level = None  # transactions are begun by `_sqlite_begin`, DDL included
    dbapi_conn.execute("PRAGMA journal_mode=WAL")
    dbapi_conn.execute("PRAGMA foreign_keys=ON")


def _sqlite_begin(conn: Connection) -> None:
    conn.exec_driver_sql("BEGIN")


class Store:
    """Results store over SQLAlchemy; every call is one transaction."""

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
            self._tx(self._migrate)
        except StoreUnavailable as exc:
            self.engine.dispose()
            raise StoreUnavailable(f"cannot open the store {self.name} ({exc.reason}); check the "
                                   "URL and that the server is up") from None
        except DBAPIError as exc:
            self.engine.dispose()
            raise StoreUnavailable(f"{self.name} is not a results store: {_first_line(exc)}"
                                   ) from None

    def _migrate(self, c: Connection) -> None:
        if self.postgres:
            c.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": PG_SCHEMA_LOCK})
        migrate(c)

    def _tx(self, work: Callable[[Connection], T]) -> T:
        """Run `work` in one transaction, again on a fresh connection if the connection broke."""
        retrying = Retrying(retry=retry_if_exception_type((OperationalError, InterfaceError)),
                            stop=stop_after_attempt(RETRIES + 1), reraise=True,
                            wait=wait_incrementing(RETRY_PAUSE_S, RETRY_PAUSE_S))
        try:
            for attempt in retrying:
                with attempt, self.engine.begin() as c:
                    return work(c)
        except (OperationalError, InterfaceError) as exc:
            raise StoreUnavailable(
                f"store {self.name} failed {RETRIES + 1} times ({_first_line(exc)}); "
                "check that it is reachable and run the same command again to resume",
                _first_line(exc)) from None
        raise AssertionError("unreachable")

    def _insert(self, table: Table) -> postgresql.Insert | sqlite.Insert:
        return (postgresql if self.postgres else sqlite).insert(table)

    def close(self) -> None:
        self.engine.dispose()

    def revision(self) -> str | None:
        """The Alembic revision the store is at."""
        return self._tx(lambda c: MigrationContext.configure(c).get_current_revision())

    # Reading

    def _all(self, query: Select[Any], record: type[R]) -> list[R]:
        return self._tx(lambda c: [record.from_row(r) for r in c.execute(query).mappings()])

    def dataset_fingerprint(self, name: str) -> str | None:
        return self._tx(lambda c: c.execute(select(DATASETS.c.fingerprint).where(
            DATASETS.c.name == name)).scalar())

    def datasets(self) -> list[StoredDataset]:
        """The datasets in the order they were first recorded."""
        return self._all(select(DATASETS).order_by(column("rowid")), StoredDataset)

    def splits(self) -> list[StoredSplit]:
        s = SPLITS.c
        return self._all(select(SPLITS).order_by(s.dataset, s.seed, s.repeat, s.fold),
                         StoredSplit)

    def runs(self, status: str | None = None) -> list[StoredRun]:
        """The recorded runs (those of `status` only, if given), by dataset, system and split."""
        r = RUNS.c
        query = select(RUNS).order_by(r.dataset, r.system, r.seed, r.repeat, r.fold)
        return self._all(query if status is None else query.where(r.status == status),
                         StoredRun)

    def trials(self, job_id: str | None = None) -> list[StoredTrial]:
        """The trials of the run `job_id`, or of every run."""
        query = select(TRIALS).order_by(TRIALS.c.job_id, TRIALS.c.number)
        return self._all(query if job_id is None else query.where(TRIALS.c.job_id == job_id),
                         StoredTrial)

    def trials_of(self, job_ids: Collection[str]) -> dict[str, list[StoredTrial]]:
        """The trials of the runs `job_ids` (one query per `IN_CHUNK` of them), by job id."""
        ids = sorted(set(job_ids))
        out: dict[str, list[StoredTrial]] = {}
        for start in range(0, len(ids), IN_CHUNK):
            chunk = TRIALS.c.job_id.in_(ids[start:start + IN_CHUNK])
            query = select(TRIALS).where(chunk).order_by(TRIALS.c.job_id, TRIALS.c.number)
            for t in self._all(query, StoredTrial):
                out.setdefault(t.job_id, []).append(t)
        return out

    def audits(self) -> list[StoredAudit]:
        """The audit checks, flagged ones first."""
        a = AUDITS.c
        return self._all(select(AUDITS).order_by(a.flag.desc(), a.dataset, a.system, a.seed,
                                                 a.check_name), StoredAudit)

    def audited_scopes(self) -> set[str]:
        return set(self._tx(lambda c: c.execute(select(AUDITS.c.scope).distinct()).scalars()
                            .all()))

    def claims(self) -> list[StoredClaim]:
        return self._all(select(CLAIMS).order_by(CLAIMS.c.job_id), StoredClaim)

    def finished_jobs(self) -> set[str]:
        """Jobs recorded for good: all but those lost to the machinery, which run again."""
        r = RUNS.c
        query = select(r.job_id).where(or_(r.failure_class.is_(None),
                                           r.failure_class != INFRASTRUCTURE))
        return set(self._tx(lambda c: c.execute(query).scalars().all()))

    # Writing

    def put_dataset(self, dataset: StoredDataset) -> None:
        """Record a dataset unless one of its name is recorded."""
        query = self._insert(DATASETS).values(dataset.to_row()).on_conflict_do_nothing()
        self._tx(lambda c: c.execute(query))

    def put_split(self, split: StoredSplit) -> None:
        """Record a split unless it is recorded."""
        query = self._insert(SPLITS).values(split.to_row()).on_conflict_do_nothing()
        self._tx(lambda c: c.execute(query))

    def lease(self, job_id: str, owner: str, stale_s: float) -> bool:
        """Take the job for `owner` unless it is recorded or a live runner holds it."""
        def work(c: Connection) -> bool:
            now = time.time()
            if _inserted(c, self._insert(CLAIMS).values(job_id=job_id, owner=owner,
                                                        heartbeat=now, done=0)):
                return True
            held = c.execute(select(CLAIMS).where(CLAIMS.c.job_id == job_id)).one()
            if held.done or (held.heartbeat > now - stale_s and not dead_here(held.owner)):
                return False
            return c.execute(CLAIMS.update().where(
                CLAIMS.c.job_id == job_id, CLAIMS.c.owner == held.owner,
                CLAIMS.c.heartbeat == held.heartbeat, CLAIMS.c.done == 0).values(
                owner=owner, heartbeat=now)).rowcount == 1
        return self._tx(work)

    def heartbeat(self, owner: str) -> None:
        query = CLAIMS.update().where(CLAIMS.c.owner == owner, CLAIMS.c.done == 0)
        self._tx(lambda c: c.execute(query.values(heartbeat=time.time())))

    def release(self, owner: str) -> None:
        """Give back the jobs `owner` leased but did not record."""
        self._tx(lambda c: c.execute(delete(CLAIMS).where(CLAIMS.c.owner == owner,
                                                          CLAIMS.c.done == 0)))

    def put_run(self, run: StoredRun, trials: list[StoredTrial], owner: str) -> bool:
        """Record a finished job, its trials and its lease's end atomically; False when the job
        was already recorded (by a runner that took over a lease that looked dead). A job lost
        to the machinery replaces an earlier such record and leaves its lease open, so that it
        runs again once this runner gives its leases back."""
        def work(c: Connection) -> bool:
            lost = select(RUNS.c.job_id).where(RUNS.c.job_id == run.job_id,
                                               RUNS.c.failure_class == INFRASTRUCTURE)
            c.execute(delete(TRIALS).where(TRIALS.c.job_id.in_(lost)))
            c.execute(delete(RUNS).where(RUNS.c.job_id.in_(lost)))
            added = _inserted(c, self._insert(RUNS).values(run.to_row()))
            if added and trials:
                c.execute(TRIALS.insert(), [t.to_row() for t in trials])
            done = int(run.failure_class != INFRASTRUCTURE)
            claim = self._insert(CLAIMS).values(job_id=run.job_id, owner=owner,
                                                heartbeat=time.time(), done=done)
            c.execute(claim.on_conflict_do_update(index_elements=[CLAIMS.c.job_id],
                                                  set_={"done": done}))
            return added
        return self._tx(work)

    def put_audits(self, audits: list[StoredAudit]) -> None:
        """Record audit checks, replacing earlier results of the same check and scope."""
        query = self._insert(AUDITS)
        keys = {"scope", "check_name"}
        query = query.on_conflict_do_update(
            index_elements=sorted(keys),
            set_={c.name: query.excluded[c.name] for c in AUDITS.c if c.name not in keys})
        self._tx(lambda c: c.execute(query, [a.to_row() for a in audits]))


def _inserted(c: Connection, query: Any) -> bool:
    """Insert a row unless one with its key exists; whether it was inserted (RETURNING, as not
    every driver reports a row count for INSERT)."""
    key = next(iter(query.table.primary_key))
    return c.execute(query.on_conflict_do_nothing().returning(key)).first() is not None


def _first_line(exc: BaseException) -> str:
    cause = getattr(exc, "orig", None) or exc
    return (str(cause).strip().splitlines() or [type(cause).__name__])[0]
