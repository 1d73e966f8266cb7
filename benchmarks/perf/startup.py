"""Start-up latency of the command line, measured as a user meets it (a new process each time).

    python -m benchmarks.perf.startup [--repeats 5]

Three figures, each the median of `--repeats` runs: `auditor --help`; the first line `auditor run`
prints for the quickstart suite (the run is stopped there); and the whole process of a run of one
trivial job (`constant` on Telco churn, report included). Targets on an idle core: 0.5 s, 2 s and
4 s (AMLB's whole process for one trivial job: 4.5 s). Beside the wall seconds, the CPU seconds
of the command's process (and the children it waited for: not the fork server, which it does
not wait for), and the load average before and after, so that a figure on a busy machine reads.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from benchmarks.perf.overhead import TELCO

QUICKSTART = Path(__file__).resolve().parents[1] / "quickstart.yaml"
AUDITOR = [sys.executable, "-m", "auditor"]
TARGETS = {"auditor --help": 0.5, "first line of auditor run": 2.0,
           "one trivial job, whole process": 4.0}


def _cpu() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def _whole(cmd: list[str]) -> tuple[float, float]:
    """Wall and CPU seconds of the whole command."""
    start, cpu = time.monotonic(), _cpu()
    subprocess.run(cmd, check=True, capture_output=True, timeout=600)
    return time.monotonic() - start, _cpu() - cpu


def _first_line(cmd: list[str]) -> tuple[float, float]:
    """Wall seconds to the first line, and CPU seconds of the process stopped there."""
    start, cpu = time.monotonic(), _cpu()
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
                          ) as p:
        assert p.stdout is not None
        line = p.stdout.readline()
        took = time.monotonic() - start
        p.kill()
    if not line:
        raise SystemExit(f"error: {' '.join(cmd)} printed nothing")
    return took, _cpu() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="auditor-startup-"))
    trivial = folder / "trivial.yaml"
    trivial.write_text(yaml.safe_dump({
        "name": "trivial", "seeds": [0], "datasets": [TELCO], "systems": ["constant"],
        "budget": {"wall_seconds": 30, "cores": 1, "memory_mb": 2048}}))
    figures: dict[str, list[tuple[float, float]]] = {name: [] for name in TARGETS}
    print(f"load average at the start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    try:
        for i in range(args.repeats):
            figures["auditor --help"].append(_whole([*AUDITOR, "--help"]))
            figures["first line of auditor run"].append(_first_line(
                [*AUDITOR, "run", str(QUICKSTART), "--out", str(folder / f"quick{i}")]))
            out = folder / f"trivial{i}"
            figures["one trivial job, whole process"].append(
                _whole([*AUDITOR, "run", str(trivial), "--out", str(out)]))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print(f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    for name, values in figures.items():
        walls = [wall for wall, _ in values]
        median = statistics.median(walls)
        print(f"{name:32s} median {median:6.2f} s, max {max(walls):6.2f} s "
              f"(CPU median {statistics.median(cpu for _, cpu in values):5.2f} s); "
              f"{median / TARGETS[name]:.2f}× the {TARGETS[name]:g} s target")


if __name__ == "__main__":
    main()
