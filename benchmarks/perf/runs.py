"""The store curve of `python -m benchmarks.perf.scale --runs 10,100,1000,10000 [--keep
FOLDER]`: how the auditor scales with the runs in a store (the audit pass, `auditor report`).

A small real suite runs once through the harness (`benchmarks.perf.replicate`); its rows are
copied through the store's API into stores of N runs (ten systems × ten seeds once N allows,
datasets for the rest). Per N: the audit pass (`auditor.audit.suite_pass.run_audits`, in this
process) in seconds and ms per run; `auditor report` as a user runs it (a new process): seconds,
peak RSS, the HTML's size and that of the exported tables beside it (past
`auditor.report.views.DETAIL_RUNS` runs the page gives summaries and the tables every run); and
each curve's growth exponent. Targets at 10,000 runs: audit ≤ 20 ms per run; report ≤ 30 s,
≤ 1 GB RSS, HTML ≤ 10 MB.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from auditor.audit.suite_pass import run_audits
from auditor.store.database import RESULTS_DB, Store
from benchmarks.perf.growth import exponent
from benchmarks.perf.peak import wait_peak
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


def timed_report(out: Path) -> tuple[float, float]:
    """`auditor report OUT` in a new process: (seconds, peak RSS in MB)."""
    start = time.monotonic()
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen([sys.executable, "-m", "auditor", "report", str(out)],
                                stdout=subprocess.DEVNULL, stderr=err)
        code, peak = wait_peak(proc)
        took = time.monotonic() - start
        if code:
            err.seek(0)
            raise SystemExit(f"auditor report {out} failed: {err.read().decode()[-2000:]}")
    return took, peak


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
    if len(ns) > 1:
        print(f"growth exponents (log time vs log runs): audit pass "
              f"{exponent(ns, [p.audit_s for p in points]):.2f}, auditor report "
              f"{exponent(ns, [p.report_s for p in points]):.2f}")
    last = points[-1]
    print(f"at {last.runs:,} runs: audit {1000 * last.audit_s / last.runs:.1f} ms/run (target "
          f"≤ {TARGET_AUDIT_MS:g}); report {last.report_s:.1f} s (≤ {TARGET_REPORT_S:g}), "
          f"{last.report_rss_mb:.0f} MB RSS (≤ {TARGET_RSS_MB:g}), HTML {last.html_mb:.2f} MB "
          f"(≤ {TARGET_HTML_MB:g}); {os.cpu_count()} CPUs")
    return points
