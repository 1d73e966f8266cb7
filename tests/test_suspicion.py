"""The suspicion check flags a run that predicts a holdout it was never shown perfectly (the
labels reach it by a test-only route), and none of the honest reference runs beside it."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from adapters.metrics import get_metric
from auditor.audit.catalog import CHECKS, RunSubject, registered
from auditor.audit.suspicion import perfect_value
from auditor.cli import main
from auditor.config.suite import load_suite
from auditor.execution.recording import bootstrap_file
from auditor.pipeline.plan import plan
from auditor.stats.bootstrap import paired_gain
from auditor.store.records import StoredRun
from tests.conftest import audits, runs, write_suite

CHEATER = "tests.fault_adapters:Cheater"
CHECK = "suspicious: check for leakage"


def test_a_run_given_the_holdout_labels_is_suspicious(tmp_path: Path) -> None:
    labels = tmp_path / "labels.npy"
    cheater = {"system": CHEATER, "label": "cheater", "options": {"labels": str(labels)}}
    suite = write_suite(tmp_path, systems=["constant", "lgbm-default", cheater])
    split = next(iter(plan(load_suite(suite)).splits.values()))
    np.save(labels, split.holdout_y)
    out = tmp_path / "out"
    # the labels reach the cheater through a file the sandbox would hide: a leak it cannot have
    assert main(["run", str(suite), "--out", str(out), "--sandbox", "off"]) == 0
    rows = {a.system: a for a in audits(out) if a.check_name == CHECK}
    assert {s: a.flag for s, a in rows.items()} == {"constant": False, "lgbm-default": False,
                                                    "cheater": True}
    assert "perfect value" in rows["cheater"].summary
    assert rows["lgbm-default"].summary.startswith("nothing suspicious")
    assert CHECK in (tmp_path / "out" / "report.html").read_text()
    # the paired CIs come from the bootstrap scores result processing kept, and are the ones
    # drawn afresh from the saved predictions
    stored = {r.system: r for r in runs(out)}
    assert all(bootstrap_file(out / r.predictions_path).is_file() for r in stored.values())
    lgbm, constant = (np.load(out / stored[s].predictions_path) for s in ("lgbm-default",
                                                                         "constant"))
    _, lo, hi = paired_gain(get_metric(stored["constant"].metric), split.holdout_y, lgbm,
                            constant, True, stored["constant"].seed)
    versus = rows["lgbm-default"].detail["versus"]["constant"]
    assert (versus["lo"], versus["hi"]) == (lo, hi) and lo > 0


def test_perfect_values() -> None:
    assert perfect_value(get_metric("roc_auc")) == 1.0
    assert perfect_value(get_metric("log_loss")) == 0.0
    assert perfect_value(get_metric("r2")) == 1.0


def _run(system: str, holdout: float, lo: float, hi: float, gap_hi: float | None
         ) -> StoredRun:
    return StoredRun(
        job_id=system, suite="s", dataset="d", system=system, system_ref=system, options={},
        seed=0, metric="roc_auc", status="ok", wall_s=1.0, overrun=False, budget={},
        versions={}, dataset_fingerprint="f", split_fingerprint="f", started_at="",
        finished_at="", holdout_score=holdout, holdout_lo=lo, holdout_hi=hi, gap_hi=gap_hi,
        reported_score=0.8, predictions_path="absent.npy")


def test_beating_own_score_and_every_peer_beyond_the_ci_is_suspicious(tmp_path: Path) -> None:
    check = next(c for c in registered("run") if c.name == CHECK)
    assert CHECKS[CHECK] is check

    def flag(me: StoredRun, peers: list[StoredRun]) -> bool:
        [finding] = check.findings(RunSubject(me, [], tmp_path, None, 1, peers))
        return finding.flag

    me, peers = _run("x", 0.97, 0.95, 0.99, -0.1), [_run("a", 0.8, 0.75, 0.85, 0.0),
                                                     _run("b", 0.85, 0.8, 0.9, 0.0)]
    assert flag(me, peers)
    assert not flag(me, [])  # no other system to beat
    assert not flag(me, [*peers, _run("c", 0.95, 0.93, 0.97, 0.0)])  # within the CI of c
    assert not flag(_run("x", 0.97, 0.95, 0.99, 0.02), peers)  # not beyond its own score
    assert not flag(_run("x", 0.97, 0.95, 0.99, None), peers)  # no reported score
