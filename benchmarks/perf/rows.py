"""The rows curve of `python -m benchmarks.perf.scale --rows 10000,100000,1000000 [--kind
numeric|mixed]`: how the harness scales with the rows of a data set.

For each row count, a synthetic binary data set (numpy, fixed seed, a learnable target;
`numeric`: 20 numeric features, `mixed`: 100 columns, a quarter categorical, 5 % of the cells
missing) is written as Parquet to a temporary folder and `constant` and `lgbm-default` run on it
(one seed, each job in its own sandbox) in a separate process. Printed per row count: the frame's
in-memory size, the harness's peak RSS and its ratio to the frame (target: ≤ 3 × frame + 0.5 GB),
each job's peak RSS, the seconds of result processing (scoring on the holdout and recording:
`auditor.pipeline.run._record`) per run and of the audit pass per run (target: ≤ 2 s each at 1M
rows), each as wall and as CPU seconds of the thread that ran it (the machine may be shared), and
the whole run's wall seconds.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from benchmarks.perf.growth import exponent
from benchmarks.perf.peak import hwm_mb

SYSTEMS = ["constant", "lgbm-default"]


def synthetic(rows: int, kind: str, seed: int = 0) -> pd.DataFrame:
    """A binary data set with a learnable target: `numeric` 20 features, `mixed` 100 columns
    (every fourth categorical with 8 levels) with 5 % of the cells missing."""
    rng = np.random.default_rng(seed)
    if kind == "numeric":
        X = rng.standard_normal((rows, 20))
        logit = X[:, :5] @ np.array([1.0, -0.8, 0.6, 0.5, -0.4]) + 0.3 * X[:, 5] * X[:, 6]
        frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(20)])
    else:
        columns: dict[str, Any] = {}
        logit = np.zeros(rows)
        for i in range(100):
            if i % 4 == 3:
                codes = rng.integers(0, 8, rows)
                columns[f"c{i}"] = np.array([f"level{k}" for k in range(8)], dtype=object)[codes]
                logit += (codes % 3 - 1) * 0.3 * (i < 20)
            else:
                columns[f"x{i}"] = rng.standard_normal(rows)
                logit += columns[f"x{i}"] * 0.4 * (i < 10)
        frame = pd.DataFrame(columns).mask(rng.random((rows, 100)) < 0.05)
    frame["target"] = np.where(logit + rng.logistic(size=rows) > 0, "yes", "no")
    return frame


@dataclass(frozen=True)
class RowPoint:
    """One row count's figures."""

    rows: int
    frame_mb: float
    harness_mb: float
    jobs_mb: dict[str, float]
    record_s: float  # result processing, per run (the slowest run)
    audit_s: float  # the audit pass, per run
    record_cpu_s: float  # the same, CPU seconds of the thread that ran it
    audit_cpu_s: float
    wall_s: float
    failures: list[str]

    @property
    def harness_limit_mb(self) -> float:
        return 3 * self.frame_mb + 512


def _suite(folder: Path, rows: int, wall: float) -> Path:
    suite = folder / "suite.yaml"
    suite.write_text(yaml.safe_dump({
        "name": f"scale-{rows}", "seeds": [0], "holdout_fraction": 0.2, "cv_folds": 5,
        "budget": {"wall_seconds": wall, "cores": 1, "memory_mb": 16384, "max_trials": 5},
        "datasets": [{"name": "synthetic", "source": "file:data.parquet", "target": "target"}],
        "systems": SYSTEMS}))
    return suite


def measure(suite: str, out: str, into: str) -> None:
    """In a process of its own: run the suite with result processing and the audit timed, and
    write the figures (and this process's peak RSS) to `into`."""
    from auditor import cli
    from auditor.pipeline import run

    figures: dict[str, Any] = {"record_s": [], "record_cpu_s": []}
    record, audits, run_suite = run._record, run.run_audits, run.run_suite

    def timed_record(*args: Any, **kwargs: Any) -> Any:
        start, cpu = time.perf_counter(), time.thread_time()
        try:
            return record(*args, **kwargs)
        finally:
            figures["record_s"].append(time.perf_counter() - start)
            figures["record_cpu_s"].append(time.thread_time() - cpu)

    def timed_audits(*args: Any, **kwargs: Any) -> Any:
        start, cpu = time.perf_counter(), time.thread_time()
        try:
            return audits(*args, **kwargs)
        finally:
            figures["audit_s"] = time.perf_counter() - start
            figures["audit_cpu_s"] = time.thread_time() - cpu

    def sized_run(p: Any, *args: Any, **kwargs: Any) -> Any:
        figures["frame_mb"] = sum(float(d.X.memory_usage(deep=True).sum())
                                  for d in p.datasets.values()) / 2**20
        return run_suite(p, *args, **kwargs)

    run._record, run.run_audits, run.run_suite = timed_record, timed_audits, sized_run
    code = cli.main(["run", suite, "--out", out])
    figures["code"] = code
    figures["maxrss_mb"] = hwm_mb()
    Path(into).write_text(json.dumps(figures))


def _point(rows: int, kind: str, wall: float) -> RowPoint:
    folder = Path(tempfile.mkdtemp(prefix="auditor-scale-"))
    try:
        synthetic(rows, kind).to_parquet(folder / "data.parquet")
        suite, out, into = _suite(folder, rows, wall), folder / "out", folder / "figures.json"
        start = time.monotonic()
        subprocess.run([sys.executable, "-m", "benchmarks.perf.scale", "--measure", str(suite),
                        str(out), str(into)], check=True, stdout=subprocess.DEVNULL)
        wall_s = time.monotonic() - start
        figures = json.loads(into.read_text())
        with sqlite3.connect(out / "results.sqlite") as db:
            runs = db.execute("SELECT system, peak_rss_mb, status, failure_message FROM runs"
                              ).fetchall()
        n_runs = max(1, len(runs))
        slowest = max(range(len(figures["record_s"])), key=figures["record_s"].__getitem__,
                      default=None)
        return RowPoint(rows, figures.get("frame_mb", 0.0), figures["maxrss_mb"],
                        {s: mb for s, mb, _, _ in runs},
                        0.0 if slowest is None else figures["record_s"][slowest],
                        figures.get("audit_s", 0.0) / n_runs,
                        0.0 if slowest is None else figures["record_cpu_s"][slowest],
                        figures.get("audit_cpu_s", 0.0) / n_runs, wall_s,
                        [f"{s}: {m}" for s, _, status, m in runs if status != "ok"])
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def rows_curve(rows: list[int], kind: str = "numeric", wall: float = 600.0) -> list[RowPoint]:
    """Run and print the figures per row count, then their growth exponents."""
    points = []
    print(f"rows curve ({kind}), load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"{'rows':>9} {'frame MB':>9} {'harness MB':>10} {'limit MB':>9} "
          f"{'job MB (' + ', '.join(SYSTEMS) + ')':>32} {'record s (CPU)':>15} "
          f"{'audit s (CPU)':>14} {'wall s':>7} {'load':>5}")
    for n in rows:
        p = _point(n, kind, wall)
        points.append(p)
        jobs = ", ".join(f"{p.jobs_mb.get(s, 0.0):.0f}" for s in SYSTEMS)
        print(f"{n:>9} {p.frame_mb:>9.1f} {p.harness_mb:>10.0f} {p.harness_limit_mb:>9.0f} "
              f"{jobs:>32} {f'{p.record_s:.2f} ({p.record_cpu_s:.2f})':>15} "
              f"{f'{p.audit_s:.2f} ({p.audit_cpu_s:.2f})':>14} {p.wall_s:>7.1f} "
              f"{os.getloadavg()[0]:>5.1f}", flush=True)
        for line in p.failures:
            print(f"{'':>9} FAILED {line}")
    sizes = [p.rows for p in points]
    print("growth exponents: " + ", ".join(
        f"{name} {exponent(sizes, values):.2f}" for name, values in (
            ("harness RSS", [p.harness_mb for p in points]),
            ("harness RSS above the frame", [max(p.harness_mb - p.frame_mb, 1e-9)
                                             for p in points]),
            ("result processing", [p.record_s for p in points]),
            ("audit", [p.audit_s for p in points]))))
    return points
