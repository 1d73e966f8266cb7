"""SIGKILL of `auditor run` part-way, then the same command: every job recorded exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

from auditor.store.database import RESULTS_DB
from tests.conftest import REPO, WALL_CAP, runs


def _recorded(out: Path) -> int:
    return len(runs(out)) if (out / RESULTS_DB).exists() else 0


def test_sigkill_then_rerun_records_every_job_once(tmp_path: Path, suite_factory) -> None:
    suite = suite_factory(
        seeds=[0, 1],
        budget={"wall_seconds": WALL_CAP, "cores": 1, "memory_mb": 2048, "max_trials": 3},
        datasets=[{"name": "breast-cancer", "source": "sklearn:breast_cancer"},
                  {"name": "diabetes", "source": "sklearn:diabetes"}],
        systems=["constant", "lgbm-default", "random"],
    )
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "auditor", "run", str(suite), "--out", str(out)]
    first = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while _recorded(out) < 3:
        assert first.poll() is None, first.stderr.read().decode()
        assert time.monotonic() < deadline
        time.sleep(0.05)
    family = psutil.Process(first.pid).children(recursive=True)
    os.kill(first.pid, signal.SIGKILL)
    first.wait()
    before = {r.job_id for r in runs(out)}
    assert 3 <= len(before) < 12
    # the job processes die with the harness instead of writing on behind its back
    _, alive = psutil.wait_procs(family, timeout=10)
    assert not alive

    second = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=WALL_CAP)
    assert second.returncode == 0, second.stderr
    assert f"({len(before)} already recorded)" in second.stderr
    rows = runs(out)
    ids = [r.job_id for r in rows]
    assert len(ids) == len(set(ids)) == 12
    assert before <= set(ids)
    assert {(r.dataset, r.system, r.seed) for r in rows} == {
        (d, s, seed) for d in ("breast-cancer", "diabetes")
        for s in ("constant", "lgbm-default", "random") for seed in (0, 1)}
    assert all(r.status == "ok" for r in rows)
    assert all((out / r.predictions_path).is_file() for r in rows)

    third = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=WALL_CAP)
    assert third.returncode == 0
    assert "(12 already recorded)" in third.stderr
    assert len(runs(out)) == 12
