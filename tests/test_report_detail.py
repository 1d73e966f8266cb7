"""A report of more runs than its page shows one by one: summaries on the page, a visible line
that says so, and links to exported tables that hold every run. And the audit pass over a real
store, which computes each split's bootstrap scores once: its paired comparisons are those that
`paired_gain` gives pair by pair."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from adapters.metrics import get_metric
from auditor.audit.catalog import predictions_file
from auditor.report.context import build_context
from auditor.report.exports import write_report
from auditor.stats.bootstrap import paired_gain
from reports.tables import tables_dir
from tests.conftest import open_store

SUSPICION = "suspicious: check for leakage"


def _audits_section(html: str) -> str:
    return html[html.index('<section id="audits">'):html.index('<section id="provenance">')]


def test_past_the_detail_limit_the_page_summarises_and_its_tables_hold_every_run(
        comparison_run: Path, tmp_path: Path) -> None:
    full, short = tmp_path / "full.html", tmp_path / "short.html"
    write_report(build_context([comparison_run]).plain(), full)
    write_report(build_context([comparison_run], detail_runs=10).plain(), short)
    page, summary = full.read_text(), short.read_text()
    with open_store(comparison_run) as store:
        runs, audits, splits = store.runs(), store.audits(), store.splits()
    assert len(runs) > 10
    assert "too many to show one by one" in summary and "too many" not in page
    for name in ("runs", "configurations", "audits", "anytime", "failures", "fingerprints"):
        assert f'href="short_tables/{name}.csv"' in summary
    # per-run detail is on the full page only: the runs tables, split fingerprints, unflagged
    # audit rows, best configurations
    assert '<table class="runs">' in page and '<table class="runs">' not in summary
    assert all(s.fingerprint in page and s.fingerprint not in summary for s in splits)
    assert 'badge good' in _audits_section(page)
    assert 'badge good' not in _audits_section(summary)
    shown = _audits_section(summary)
    assert shown.count("<tr>") - shown.count("<thead><tr>") <= sum(a.flag for a in audits)
    assert "Best configurations" in summary and "<code>{" in page and "<code>{" not in summary
    assert len(summary) < len(page)
    # the exported tables are the same for both pages, and hold every run
    tables = tables_dir(short)
    for path in tables.iterdir():
        assert path.read_text() == (tables_dir(full) / path.name).read_text(), path.name
    table = pd.read_csv(tables / "runs.csv")
    assert sorted(zip(table.dataset, table.system, table.seed, strict=True)) == sorted(
        (r.dataset, r.system, r.seed) for r in runs)
    configs = json.loads((tables / "configurations.json").read_text())
    assert {(c["dataset"], c["system"], c["seed"]): c["best_config"] for c in configs} == {
        (r.dataset, r.system, r.seed): json.dumps(r.best_config, sort_keys=True)
        if r.best_config else None for r in runs}
    assert len(pd.read_csv(tables / "audits.csv")) == len(audits)
    assert {s.fingerprint for s in splits} <= set(pd.read_csv(tables / "fingerprints.csv")
                                                  .fingerprint)


def test_the_audit_pass_compares_each_run_with_its_peers_as_paired_gain_does(
        comparison_run: Path) -> None:
    with open_store(comparison_run) as store:
        runs = {r.job_id: r for r in store.runs(status="ok")}
        holdout = {s.fingerprint: s.holdout_y for s in store.splits()}
        tasks = {d.name: d.task_type for d in store.datasets()}
        checks = [a for a in store.audits() if a.check_name == SUSPICION]
        every = store.trials()
        assert store.trials_of(list(runs)) == {
            job: [t for t in every if t.job_id == job]
            for job in runs if any(t.job_id == job for t in every)}
    assert len(checks) == len(runs)
    compared = 0
    for a in checks:
        run = runs[str(a.job_id)]
        peers = {r.system: r for r in runs.values()
                 if r.split_fingerprint == run.split_fingerprint and r.job_id != run.job_id}
        assert set(a.detail["versus"]) == set(peers)
        for system, peer in peers.items():
            _, lo, hi = paired_gain(
                get_metric(run.metric), holdout[run.split_fingerprint],
                np.load(predictions_file(comparison_run, run)),
                np.load(predictions_file(comparison_run, peer)),
                tasks[run.dataset] != "regression", run.seed)
            assert a.detail["versus"][system] == {"beats": lo > 0, "lo": lo, "hi": hi}
            compared += 1
    assert compared >= len(checks)
