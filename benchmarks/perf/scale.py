"""How the auditor scales: with the number of runs in a store (the audit pass, `auditor report`).

    python -m benchmarks.perf.scale [--runs 10,100,1000,10000] [--keep FOLDER]

The store curve: a small real suite runs once through the harness (`benchmarks.perf.replicate`);
its rows are copied through the store's API into stores of N runs (ten systems × ten seeds once N
allows, datasets for the rest). Per N: the audit pass (`auditor.audit.suite_pass.run_audits`,
in this process) in seconds and ms per run; `auditor report` as a user runs it (a new process):
seconds, peak RSS, the HTML's size and that of the exported tables beside it (past
`auditor.report.views.DETAIL_RUNS` runs the page gives summaries and the tables every run); and
each curve's growth exponent, the slope of log time against log N (1 = linear). Targets at
10,000 runs: audit ≤ 20 ms per run; report ≤ 30 s, ≤ 1 GB RSS, HTML ≤ 10 MB.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from auditor.audit.suite_pass import run_audits
from auditor.store.database import RESULTS_DB, Store
from benchmarks.perf.replicate import Template, replicate, run_template, shape
from reports.tables import tables_dir

TARGET_AUDIT_MS, TARGET_REPORT_S, TARGET_RSS_MB, TARGET_HTML_MB = 20.0, 30.0, 1024.0, 10.0


@dataclass(frozen=True)
class StorePoint:
    """One store size's figures."""

    runs: int
    build_s: float
    audit_s: float
    report_s: float
    report_rss_mb: float
    html_mb: float
    tables_mb: float


def growth(sizes: list[int], times: list[float]) -> float | None:
    """Slope of log time against log size (least squares); None with fewer than two sizes."""
    if len(sizes) < 2:
        return None
    return float(np.polyfit(np.log(sizes), np.log(np.maximum(times, 1e-6)), 1)[0])


def timed_report(out: Path) -> tuple[float, float]:
    """`auditor report OUT` in a new process: (seconds, peak RSS in MB)."""
    start = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "auditor", "report", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    took = time.monotonic() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    assert proc.stderr is not None
    if proc.returncode:
        raise SystemExit(f"auditor report {out} failed: {proc.stderr.read().decode()[-2000:]}")
    return took, usage.ru_maxrss / 1024


def store_point(t: Template, folder: Path, n: int) -> StorePoint:
    """Build an N-run store in `folder`, audit it and report it."""
    out = folder / f"runs-{n}"
    start = time.monotonic()
    splits = replicate(t, out, n)
    built = time.monotonic() - start
    store = Store(out / RESULTS_DB)
    try:
        start = time.monotonic()
        run_audits(store, out, splits, cores=1)
        audited = time.monotonic() - start
    finally:
        store.close()
    report_s, rss = timed_report(out)
    html = (out / "report.html").stat().st_size / 1e6
    tables = sum(p.stat().st_size for p in tables_dir(out / "report.html").iterdir()) / 1e6
    return StorePoint(n, built, audited, report_s, rss, html, tables)


def store_curve(sizes: list[int], folder: Path) -> list[StorePoint]:
    """The store curve over `sizes` runs, printed as it goes."""
    print(f"template suite: {len(sizes)} store sizes; running the real suite first",
          file=sys.stderr)
    t = run_template(folder)
    points = []
    print(f"{'runs':>7} {'shape d×s×k':>12} {'build s':>8} {'audit s':>8} {'ms/run':>7} "
          f"{'report s':>9} {'RSS MB':>7} {'HTML MB':>8} {'tables MB':>9}  load")
    for n in sizes:
        p = store_point(t, folder, n)
        points.append(p)
        d, s, k = shape(n)
        print(f"{n:>7,} {f'{d}×{s}×{k}':>12} {p.build_s:>8.1f} {p.audit_s:>8.2f} "
              f"{1000 * p.audit_s / n:>7.2f} {p.report_s:>9.2f} {p.report_rss_mb:>7.0f} "
              f"{p.html_mb:>8.2f} {p.tables_mb:>9.1f}  {os.getloadavg()[0]:.1f}", flush=True)
    ns = [p.runs for p in points]
    audit, report = growth(ns, [p.audit_s for p in points]), growth(ns, [p.report_s
                                                                           for p in points])
    if audit is not None and report is not None:
        print(f"growth exponents (log time vs log runs): audit pass {audit:.2f}, "
              f"auditor report {report:.2f}")
    last = points[-1]
    print(f"at {last.runs:,} runs: audit {1000 * last.audit_s / last.runs:.1f} ms/run (target "
          f"≤ {TARGET_AUDIT_MS:g}); report {last.report_s:.1f} s (≤ {TARGET_REPORT_S:g}), "
          f"{last.report_rss_mb:.0f} MB RSS (≤ {TARGET_RSS_MB:g}), HTML {last.html_mb:.2f} MB "
          f"(≤ {TARGET_HTML_MB:g}); {os.cpu_count()} CPUs")
    return points


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(part) for part in text.split(",")]
    except ValueError:
        sizes = []
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: give sizes as e.g. 10,100,1000")
    return sorted(set(sizes))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=_sizes, default=[10, 100, 1000, 10000],
                    help="store sizes of the store curve, comma-separated")
    ap.add_argument("--keep", type=Path, help="build the stores here and keep them")
    args = ap.parse_args()
    if args.keep:
        if args.keep.exists() and any(args.keep.iterdir()):
            ap.error(f"--keep {args.keep} is not empty; give a new or empty folder")
        args.keep.mkdir(parents=True, exist_ok=True)
        store_curve(args.runs, args.keep)
    else:
        with tempfile.TemporaryDirectory(prefix="auditor-scale-") as tmp:
            store_curve(args.runs, Path(tmp))
    # The rows curve (`rows_curve`, rows 10k → 1M) is printed after the store curve.


if __name__ == "__main__":
    main()
