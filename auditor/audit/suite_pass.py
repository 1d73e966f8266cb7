"""The audit pass after a suite's jobs: every registered check (`auditor.audit.catalog`) of each
scope — per split, per run, per dataset. Results go to the store's `audits` table."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from auditor.audit.catalog import DatasetSubject, RunSubject, SplitSubject, registered
from auditor.audit.checks import Finding
from auditor.data.split import SealedSplit
from auditor.store.records import Store


def _row(scope: str, f: Finding, dataset: str, job_id: str | None = None,
         system: str | None = None, seed: int | None = None) -> dict[str, Any]:
    return {"scope": scope, "check_name": f.check, "job_id": job_id, "dataset": dataset,
            "system": system, "seed": seed, "flag": int(f.flag), "summary": f.summary,
            "detail": json.dumps(f.detail, default=float)}


def run_audits(store: Store, out: Path, splits: dict[str, SealedSplit], cores: int) -> None:
    """Audit every split and every successful run not audited yet; refresh the dataset checks.
    `splits` maps split fingerprints to the sealed splits of this suite."""
    done = {r["scope"] for r in store.rows("SELECT DISTINCT scope FROM audits")}
    rows = []
    for fp, split in splits.items():
        if f"split:{fp}" not in done:
            subject = SplitSubject(split.dataset.name, split)
            rows += [_row(f"split:{fp}", f, subject.dataset, seed=split.seed)
                     for check in registered("split") for f in check.findings(subject)]
    runs = store.rows("SELECT * FROM runs WHERE status = 'ok'")
    for run in runs:
        # a shared store's runs from other machines are audited where their predictions are
        if run["job_id"] in done or not (out / run["predictions_path"]).is_file():
            continue
        trials = store.rows("SELECT * FROM trials WHERE job_id = :job_id", job_id=run["job_id"])
        peers = [r for r in runs if r["split_fingerprint"] == run["split_fingerprint"]
                 and r["job_id"] != run["job_id"]]
        run_subject = RunSubject(run, trials, out, splits.get(run["split_fingerprint"]), cores,
                                 peers)
        rows += [_row(run["job_id"], f, run["dataset"], run["job_id"], run["system"], run["seed"])
                 for check in registered("run") for f in check.findings(run_subject)]
    for dataset in sorted({r["dataset"] for r in runs}):
        data_subject = DatasetSubject(dataset, [r for r in runs if r["dataset"] == dataset])
        rows += [_row(f"dataset:{dataset}", f, dataset, system=f.system)
                 for check in registered("dataset") for f in check.findings(data_subject)]
    if rows:
        store.put_audits(rows)


def audit_rows(store: Store) -> list[dict[str, Any]]:
    """The audits table for the report: flagged checks first, in plain words."""
    rows = store.rows("SELECT dataset, system, seed, check_name, flag, summary, detail "
                      "FROM audits ORDER BY flag DESC, dataset, system, seed, check_name")
    return [{"dataset": r["dataset"], "system": r["system"], "seed": r["seed"],
             "check": r["check_name"], "flag": bool(r["flag"]),
             "verdict": json.loads(r["detail"]).get("verdict") or
             ("look at this" if r["flag"] else "ok"), "detail": r["summary"]} for r in rows]
