"""Scale-out: the same suite on a local Ray cluster into PostgreSQL gives the results of the
local pool into SQLite; runners sharing a store never run a job twice; stale leases are taken
over."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from auditor.cli import main
from auditor.store.database import Store
from auditor.store.leases import owner_id
from auditor.store.records import StoredRun
from tests.conftest import REPO, WALL_CAP

# quickstart's datasets and deterministic systems, small enough to be quick everywhere
SUITE = {
    "name": "scale", "seeds": [0, 1], "cv_folds": 3, "grace_seconds": 2,
    "budget": {"wall_seconds": WALL_CAP, "cores": 1, "memory_mb": 2048, "max_trials": 4},
    "datasets": [{"name": "breast-cancer", "source": "sklearn:breast_cancer"},
                 {"name": "diabetes", "source": "sklearn:diabetes"}],
    "systems": ["constant", "lgbm-default", {"system": "random", "options": {"space": "gbm11"}}],
}
# on Ray: one seed of a regression set and a client file (6 jobs; a busy machine runs Ray slowly)
RAY_SUITE = {
    **SUITE, "seeds": [0],
    "datasets": [SUITE["datasets"][1],
                 {"name": "credit-client-csv",
                  "source": f"file:{REPO / 'benchmarks' / 'data' / 'credit_data.csv'}",
                  "target": "Status"}],
}
KEY = ("job_id", "dataset", "system", "seed", "status", "holdout_score", "n_configs")


def _rows(store: Store) -> list[tuple]:
    try:
        return sorted(tuple(getattr(r, k) for k in KEY) for r in store.runs())
    finally:
        store.close()


def test_ray_into_postgres_matches_local_into_sqlite(tmp_path: Path, suite_factory, ray_address,
                                                     pg_url) -> None:
    suite = suite_factory(**RAY_SUITE)
    local, remote = tmp_path / "local", tmp_path / "ray"
    assert main(["run", str(suite), "--out", str(local)]) == 0
    assert main(["run", str(suite), "--out", str(remote), "--executor", "ray", "--address",
                 ray_address, "--store", pg_url]) == 0
    expected = _rows(Store(local / "results.sqlite"))
    assert len(expected) == 6 and all(r[4] == "ok" for r in expected)
    assert _rows(Store(pg_url)) == expected
    # random search ran its 4 trials in both places, from the same seed
    assert {r[6] for r in expected if r[2] == "random"} == {4}
    assert not (remote / "results.sqlite").exists()
    assert (remote / "report.html").is_file()
    store = Store(pg_url)
    try:
        paths = [r.predictions_path for r in store.runs()]
    finally:
        store.close()
    assert all(Path(p).is_absolute() and Path(p).is_file() for p in paths)


def test_two_runners_share_one_store_without_duplicates(tmp_path: Path, suite_factory,
                                                        pg_url) -> None:
    suite = suite_factory(seeds=[0, 1, 2], systems=["constant", "lgbm-default"],
                          datasets=SUITE["datasets"][:2])
    cmd = [sys.executable, "-m", "auditor", "run", str(suite), "--store", pg_url, "--workers",
           "1", "--no-install"]
    procs = [subprocess.Popen([*cmd, "--out", str(tmp_path / f"runner{i}")], cwd=REPO,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
             for i in range(2)]
    errs = [p.communicate(timeout=WALL_CAP)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], errs
    started = [{line.split("start", 1)[1].strip() for line in err.splitlines()
                if line.startswith("  start  ")} for err in errs]
    assert all(started), errs  # both took part
    assert not started[0] & started[1]  # no job ran twice
    assert len(started[0] | started[1]) == 12
    store = Store(pg_url)
    try:
        ids = [r.job_id for r in store.runs()]
    finally:
        store.close()
    assert len(ids) == len(set(ids)) == 12


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    target = (tmp_path / "leases.sqlite" if request.param == "sqlite"
              else request.getfixturevalue("pg_url"))
    store = Store(target)
    request.addfinalizer(store.close)
    return store


def test_leases_are_taken_once_and_taken_over_when_stale(store: Store) -> None:
    me, other, gone = owner_id(), "elsewhere/1/1.00", f"{owner_id().split('/')[0]}/999999/1.00"
    assert store.lease("a", other, stale_s=60)
    assert not store.lease("a", me, stale_s=60)  # a live runner elsewhere holds it
    time.sleep(0.2)
    assert store.lease("a", me, stale_s=0.1)  # its heartbeat went stale
    assert not store.lease("a", other, stale_s=60)
    assert store.lease("b", gone, stale_s=60)
    assert store.lease("b", me, stale_s=60)  # its owner was a process on this host, now dead
    store.release(me)
    assert store.lease("a", other, stale_s=60)  # given back
    run = StoredRun("a", "s", "d", "x", "x", {}, 0, "m", "ok", 1.0, False, {}, {}, "f", "f",
                    "t", "t")
    assert store.put_run(run, [], other)
    assert not store.put_run(run, [], me)  # recorded once, whoever finishes second
    assert not store.lease("a", me, stale_s=0)  # done: never run again
    assert len(store.runs()) == 1
