"""Fault injection: every job ends recorded once with the right failure class, whatever fails.

Systems that crash, hang, run out of memory, hand back garbage or NaN (locally and on Ray); a Ray
worker killed mid-job (retried: infrastructure); the store's connections dropped mid-run
(PostgreSQL); and SIGKILL of `auditor run` at random points, 20 times over one output folder.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest

from auditor.cli import main
from auditor.store.database import RESULTS_DB, Store
from auditor.store.records import StoredRun, StoredTrial
from tests.conftest import REPO, WALL_CAP, open_store, runs

FAULTS = {
    "crasher": ("tests.fault_adapters:Crasher", "crash"),
    "sleeper": ("tests.fault_adapters:Sleeper", "timeout"),
    "hog": ("tests.fault_adapters:Hog", "oom"),
    "garbage": ("tests.fault_adapters:Garbage", "invalid-output"),
    "wrong-shape": ("tests.fault_adapters:WrongShape", "invalid-output"),
    "nan": ("tests.fault_adapters:NaNPredictor", "invalid-output"),
}


@pytest.fixture(params=["local", "ray"])
def executor(request: pytest.FixtureRequest) -> list[str]:
    if request.param == "local":
        return ["--workers", "2"]
    return ["--executor", "ray", "--address", request.getfixturevalue("ray_address")]


def test_system_failures_are_classified_and_never_retried(tmp_path: Path, suite_factory,
                                                          executor: list[str], capsys) -> None:
    suite = suite_factory(
        grace_seconds=1,
        budget={"wall_seconds": 15, "cores": 1, "memory_mb": 700},
        systems=["constant",
                 *({"system": ref, "label": label} for label, (ref, _) in FAULTS.items())],
    )
    out = tmp_path / "out"
    assert main(["run", str(suite), "--out", str(out), *executor]) == 0
    assert "retry" not in capsys.readouterr().err
    rows = {r.system: r for r in runs(out)}
    assert len(runs(out)) == len(rows) == 1 + len(FAULTS)
    assert rows["constant"].status == "ok"
    for label, (_, failure) in FAULTS.items():
        assert (rows[label].status, rows[label].failure_class) == ("failed", failure), (
            label, rows[label].failure_message)
    assert 16 <= rows["sleeper"].wall_s <= 16 + 5  # killed at wall + grace; slack for load
    assert rows["hog"].peak_rss_mb >= 650  # a cgroup holds it at the limit; psutil sees it pass
    assert "could not convert string to float" in rows["garbage"].failure_message
    assert "shape" in rows["wrong-shape"].failure_message


def _ray_worker_of(job_pid: int) -> psutil.Process:
    """The Ray worker running a job: the nearest ancestor of the job's process (a child of the
    worker's fork server) that Ray has titled `ray::...`."""
    for process in psutil.Process(job_pid).parents():
        if process.name().startswith("ray::") or " ".join(process.cmdline()).startswith("ray::"):
            return process
    raise AssertionError(f"no Ray worker above job {job_pid} yet")


@pytest.mark.parametrize(("hang", "status", "failure"), [(1, "ok", None),
                                                         (3, "failed", "infrastructure")])
def test_ray_worker_killed_mid_job_is_retried(tmp_path: Path, suite_factory, ray_address,
                                              hang: int, status: str, failure: str | None,
                                              capsys) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    suite = suite_factory(budget={"wall_seconds": 120, "cores": 1, "memory_mb": 2048},
                          systems=[{"system": "tests.fault_adapters:Hanger", "label": "hanger",
                                    "options": {"marks": str(marks), "hang": hang}}])
    killed: list[int] = []

    missed: list[str] = []  # why a job's worker was not found, for the assertion's message

    done = threading.Event()  # the run has ended: no deadline of its own, since a busy machine
    # can take many minutes to start Ray's workers

    def killer() -> None:
        while len(killed) < hang and not done.is_set():
            for mark in sorted(marks.glob("attempt-*.pid")):
                pid = int(mark.read_text() or 0)
                if pid and pid not in killed:
                    time.sleep(0.5)
                    try:
                        _ray_worker_of(pid).kill()
                    except (psutil.Error, AssertionError) as exc:
                        missed.append(f"{pid}: {exc}")
                        if not psutil.pid_exists(pid):
                            return  # the job ended without its worker being found
                        continue  # its process tree is not complete yet: look again
                    killed.append(pid)
            time.sleep(0.1)

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    out = tmp_path / "out"
    # the hanger's marks folder and the worker -> fork server -> job ancestry are outside a
    # sandbox; what is under test is Ray losing a worker (the sandbox is test_sandbox_sealing's)
    try:
        code = main(["run", str(suite), "--out", str(out), "--executor", "ray", "--address",
                     ray_address, "--sandbox", "off"])
    finally:
        done.set()
        thread.join()
    assert code == 0
    assert len(killed) == hang, missed[-3:]
    err = capsys.readouterr().err
    assert err.count("  retry  ") == min(hang, 2)
    (row,) = runs(out)
    assert (row.status, row.failure_class) == (status, failure), row.failure_message
    if failure:
        assert "WorkerCrashedError" in row.failure_message or "died" in row.failure_message
    assert len(list(marks.glob("attempt-*.pid"))) == min(hang + 1, 3)


def test_dropped_store_connections_lose_nothing(tmp_path: Path, suite_factory, pg_url) -> None:
    import psycopg

    suite = suite_factory(seeds=[0, 1, 2], systems=["constant", "lgbm-default"],
                          datasets=[{"name": "breast-cancer", "source": "sklearn:breast_cancer"},
                                    {"name": "diabetes", "source": "sklearn:diabetes"}])
    database = pg_url.rsplit("/", 1)[1]
    stop, dropped = threading.Event(), []
    # the shared store exists already, as a team's does: making its tables is one transaction of
    # every migration, which a cut each 0.3 s on a busy machine can stop three times in a row
    Store(pg_url).close()

    def dropper() -> None:
        with psycopg.connect(pg_url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as admin:
            while not stop.wait(0.3):
                dropped.extend(r[0] for r in admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s "
                    "AND pid <> pg_backend_pid()", (database,)))

    thread = threading.Thread(target=dropper)
    thread.start()
    try:
        assert main(["run", str(suite), "--out", str(tmp_path / "out"), "--store",
                     pg_url]) == 0
    finally:
        stop.set()
        thread.join()
    assert sum(dropped) >= 2  # connections were cut while it ran
    store = Store(pg_url)
    try:
        rows = store.runs()
        claims = store.claims()
    finally:
        store.close()
    assert len(rows) == len({r.job_id for r in rows}) == 12
    assert all(r.status == "ok" for r in rows)
    assert len(claims) == 12 and all(c.done for c in claims)


def test_a_write_cut_mid_transaction_is_retried_once_recorded(pg_url) -> None:
    import psycopg
    from sqlalchemy import event

    store = Store(pg_url)
    cut = []

    def cut_first_insert(conn, cursor, statement, *args) -> None:
        if statement.startswith("INSERT INTO runs") and not cut:
            pid = conn.connection.dbapi_connection.info.backend_pid
            with psycopg.connect(pg_url, autocommit=True) as admin:
                admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
            cut.append(pid)

    event.listen(store.engine, "before_cursor_execute", cut_first_insert)
    run = StoredRun("j", "s", "d", "x", "x", {}, 0, "m", "ok", 1.0, False, {}, {}, "f", "f",
                    "t", "t")
    trial = StoredTrial("j", 0, {}, 0.5, 0.0, 1.0, 1.0, "complete", 1.0)
    try:
        assert store.put_run(run, [trial], "me/1/1.00")
        assert cut
        assert len(store.runs()) == len(store.trials()) == 1
    finally:
        store.close()


def _count(out: Path) -> int:
    return len(runs(out)) if (out / RESULTS_DB).exists() else 0


def test_sigkill_at_random_points_loses_and_duplicates_nothing(tmp_path: Path,
                                                                suite_factory) -> None:
    suite = suite_factory(
        seeds=[0, 1, 2], grace_seconds=1,
        budget={"wall_seconds": WALL_CAP, "cores": 1, "memory_mb": 2048},
        datasets=[{"name": "breast-cancer", "source": "sklearn:breast_cancer"},
                  {"name": "diabetes", "source": "sklearn:diabetes"}],
        systems=["constant", "lgbm-default"],
    )
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "auditor", "run", str(suite), "--out", str(out), "--workers",
           "2"]
    rng = random.Random(20)
    counts = []
    for _ in range(20):
        runner = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.5, 7.0))
        family = psutil.Process(runner.pid).children(recursive=True)
        os.kill(runner.pid, signal.SIGKILL)
        runner.wait()
        _, alive = psutil.wait_procs(family, timeout=10)
        assert not alive, "job processes outlived their runner"
        counts.append(_count(out))
    assert counts == sorted(counts)  # what was recorded stays recorded
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=WALL_CAP)
    assert done.returncode == 0, done.stderr
    rows = runs(out)
    assert len(rows) == len({r.job_id for r in rows}) == 12
    assert all(r.status == "ok" for r in rows)
    assert all((out / r.predictions_path).is_file() for r in rows)
    with open_store(out) as store:
        claims = store.claims()
    assert len(claims) == sum(c.done for c in claims) == 12
