"""Where H2O's start-up goes, per JVM option set: the client's import, its `java -version` check,
the JVM's launch, H2O's cloud formation and web server, the client's connection, and the JVM's
CPU seconds.

    python -m benchmarks.perf.h2o_startup [--repeats 3]

Needs the H2O environment (`auditor systems install h2o`) and Java. Each start is a new JVM, as
in a one-core job (pinned to one CPU, heap 2/3 of 4 GB, one thread, on localhost), started as
`adapters.systems.h2o.warm` starts it, then shut down. The phases come from the JVM's own log
(its first line, "Cloud of size 1 formed", "Open H2O Flow"); the figures are medians, with the
load average before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import tempfile
import time
from datetime import datetime
from pathlib import Path

HEAP_MB = 4096 * 2 // 3
STAMP = re.compile(r"^(\d\d-\d\d \d\d:\d\d:\d\d\.\d+)")
MARKS = {"cloud formed": "Cloud of size 1 formed", "web server up": "Open H2O Flow"}
VARIANTS: dict[str, list[str]] = {
    "default": [],
    "-XX:TieredStopAtLevel=1": ["-XX:TieredStopAtLevel=1"],
    "-XX:+UseSerialGC": ["-XX:+UseSerialGC"],
}


def _log_time(stamp: str) -> float:
    """Epoch seconds of an H2O log stamp (month-day hours:minutes:seconds.millis, local time)."""
    parsed = datetime.strptime(f"{datetime.now().year}-{stamp}", "%Y-%m-%d %H:%M:%S.%f")
    return parsed.timestamp()


def _phases(log: Path, launched: float) -> dict[str, float]:
    """Seconds from the JVM's launch to its first log line and to each of `MARKS`."""
    found: dict[str, float] = {}
    for line in log.read_text(errors="replace").splitlines():
        match = STAMP.match(line)
        if match is None:
            continue
        at = _log_time(match.group(1)) - launched
        found.setdefault("first log line", at)
        for name, text in MARKS.items():
            if text in line:
                found.setdefault(name, at)
    return found


def _start(args: list[str], folder: Path) -> dict[str, float]:
    """One H2O start in this (the H2O environment's) interpreter: the seconds of each phase."""
    import h2o
    from h2o.backend import H2OLocalServer

    ice = Path(tempfile.mkdtemp(dir=folder))
    t0 = time.time()
    subprocess.run(["java", "-version"], capture_output=True, check=True)
    checked = time.time()
    server = H2OLocalServer.start(nthreads=1, max_mem_size=HEAP_MB << 20, ice_root=str(ice),
                                  port="54321+", bind_to_localhost=True, verbose=False,
                                  jvm_custom_args=args or None)
    started = time.time()
    h2o.connect(server=server, verbose=False)
    connected = time.time()
    stat = Path(f"/proc/{server._process.pid}/stat").read_text().rsplit(")", 1)[1].split()
    figures = {"java -version": checked - t0, "server start (client's wait)": started - checked,
               "connect": connected - started,
               "JVM CPU s until connected": (int(stat[11]) + int(stat[12]))
               / os.sysconf("SC_CLK_TCK")}
    logs = sorted(ice.rglob("*-info.log")) or sorted(ice.rglob("*.out"))
    figures.update(_phases(logs[0], checked) if logs else {})
    h2o.cluster().shutdown()
    server.shutdown()
    figures["total"] = connected - t0
    return figures


def _inside(repeats: int) -> None:
    """In the H2O environment, on one CPU: the import, then `repeats` starts of each variant, as
    JSON."""
    os.environ["DO_NOT_TRACK"] = "1"
    os.sched_setaffinity(0, {max(os.sched_getaffinity(0))})
    t0 = time.time()
    import h2o  # noqa: F401

    out: dict[str, object] = {"import h2o": time.time() - t0}
    folder = Path(tempfile.mkdtemp(prefix="auditor-h2o-startup-"))
    starts: dict[str, list[dict[str, float]]] = {name: [] for name in VARIANTS}
    for _ in range(repeats):  # interleaved, so that a change of load touches every variant
        for name, args in VARIANTS.items():
            starts[name].append(_start(args, folder))
    out.update(starts)
    shutil.rmtree(folder, ignore_errors=True)
    print(json.dumps(out))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inside:
        _inside(args.repeats)
        return
    from adapters.systems import environments
    from adapters.systems.h2o import H2OAutoML

    python = environments.ready(H2OAutoML.env)["python_path"]
    print(f"load average at the start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    done = subprocess.run([python, __file__, "--inside", "--repeats", str(args.repeats)],
                          capture_output=True, text=True, check=True, timeout=1800)
    print(f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    found = json.loads(done.stdout.splitlines()[-1])
    print(f"{'import h2o':40s} {found.pop('import h2o'):6.2f} s")
    for variant, starts in found.items():
        print(f"{variant}: median of {len(starts)} starts")
        for phase in starts[0]:
            values = [s[phase] for s in starts if phase in s]
            print(f"  {phase:38s} {statistics.median(values):6.2f} s "
                  f"(range {min(values):.2f}-{max(values):.2f})")


if __name__ == "__main__":
    main()
