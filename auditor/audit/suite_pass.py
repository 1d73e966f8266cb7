"""The audit pass after a suite's jobs: protocol checks per split, and per run the budget
adequacy, what the reported score was measured on, selection bias, overruns and overtuning;
seed stability per dataset. Results go to the store's `audits` table."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import numpy as np

from adapters import registry
from adapters.metrics import get_metric
from adapters.spaces import SPACES
from auditor.audit.adequacy import assess
from auditor.audit.checks import (
    Finding,
    leakage_screen,
    measured_on,
    seed_stability,
    selection_bias,
    shared_rows,
    shared_rows_effect,
)
from auditor.audit.overtuning import overtuning
from auditor.data.split import SealedSplit
from auditor.store.database import Store
from auditor.store.records import StoredAudit, StoredRun, StoredTrial


def _row(scope: str, f: Finding, dataset: str, job_id: str | None = None,
         system: str | None = None, seed: int | None = None) -> StoredAudit:
    return StoredAudit(scope, f.check, job_id, dataset, system, seed, f.flag, f.summary,
                       f.detail)


def split_checks(name: str, split: SealedSplit) -> list[StoredAudit]:
    scope = f"split:{split.fingerprint()}"
    return [_row(scope, f, name, seed=split.seed) for f in (
        shared_rows(split.shared_holdout),
        leakage_screen(split.search_X, split.search_y, split.holdout_X, split.holdout_y,
                       split.dataset.task_type))]


def adequacy_finding(run: StoredRun, trials: list[StoredTrial]) -> Finding:
    metric = get_metric(run.metric)
    done = sorted((t for t in trials if t.status == "complete" and t.score is not None),
                  key=lambda t: t.end_s)
    startup = None
    with contextlib.suppress(registry.UnknownSystem):
        startup = getattr(registry.load(run.system_ref, run.options), "n_startup_trials", None)
    a = assess([t.score for t in done], [t.end_s for t in done], metric.greater_is_better,
               len(done), run.search_space, run.system_ref, startup)
    advice = f"; recommended: at least {a.recommended_trials} trials" if (
        a.recommended_trials) else ""
    return Finding("budget adequacy", a.verdict in ("inadequate", "marginal"),
                   f"budget {a.verdict}: " + "; ".join(a.reasons) + advice,
                   {"verdict": a.verdict, "reasons": a.reasons,
                    "recommended_trials": a.recommended_trials, **a.figures})


def run_checks(run: StoredRun, trials: list[StoredTrial], out: Path,
               split: SealedSplit | None, cores: int) -> list[Finding]:
    findings = [measured_on(run.reported_on), selection_bias(run.n_configs, run.reported_on)]
    if run.overrun:
        findings.append(Finding("budget overrun", True,
                                f"ran {run.wall_s:.1f} s against a wall budget of "
                                f"{run.budget['wall_seconds']:g} s",
                                {"wall_s": run.wall_s}))
    if trials or run.n_configs:
        findings.append(adequacy_finding(run, trials))
    space = (run.search_space or {}).get("name")
    scored = [t for t in sorted(trials, key=lambda t: t.number) if t.score is not None]
    if split is None:
        return findings
    metric, incumbent = get_metric(run.metric), np.load(out / run.predictions_path)
    shared = split.shared_holdout
    if shared.any() and not shared.all():
        findings.append(shared_rows_effect(
            metric, split.holdout_y, incumbent, shared, split.dataset.task_type != "regression",
            (run.holdout_hi - run.holdout_lo) / 2, run.seed))
    if space in SPACES and scored and run.best_config:
        findings.append(overtuning(metric, split, space, incumbent,
                                   scored[0].config, run.seed, cores))
    return findings


def run_audits(store: Store, out: Path, splits: dict[str, SealedSplit], cores: int) -> None:
    """Audit every split and every successful run not audited yet; refresh seed stability.
    `splits` maps split fingerprints to the sealed splits of this suite."""
    done = store.audited_scopes()
    rows = []
    for fp, split in splits.items():
        if f"split:{fp}" not in done:
            rows += split_checks(split.dataset.name, split)
    runs = store.runs(status="ok")
    for run in runs:
        # a shared store's runs from other machines are audited where their predictions are
        if run.job_id in done or not (out / run.predictions_path).is_file():
            continue
        trials = store.trials(run.job_id)
        for f in run_checks(run, trials, out, splits.get(run.split_fingerprint), cores):
            rows.append(_row(run.job_id, f, run.dataset, run.job_id, run.system, run.seed))
    for dataset in sorted({r.dataset for r in runs}):
        mine = [r for r in runs if r.dataset == dataset]
        holdout = {s: [r.holdout_score for r in mine if r.system == s]
                   for s in {r.system for r in mine}}
        configs = {s: [r.best_config or {} for r in mine if r.system == s] for s in holdout}
        rows += [_row(f"dataset:{dataset}", f, dataset, system=f.check.split(": ", 1)[1])
                 for f in seed_stability(holdout, configs)]
    if rows:
        store.put_audits(rows)


def audit_rows(store: Store) -> list[dict[str, Any]]:
    """The audits table for the report: flagged checks first, in plain words."""
    return [{"dataset": a.dataset, "system": a.system, "seed": a.seed, "check": a.check_name,
             "flag": a.flag, "verdict": a.detail.get("verdict") or
             ("look at this" if a.flag else "ok"), "detail": a.summary} for a in store.audits()]
