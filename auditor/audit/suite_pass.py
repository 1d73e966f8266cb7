"""The audit pass after a suite's jobs: every registered check (`auditor.audit.catalog`) of each
scope — per split, per run, per dataset. Results go to the store's `audits` table."""

from __future__ import annotations

from pathlib import Path

from auditor.audit.catalog import (
    DatasetSubject,
    RunSubject,
    SplitSubject,
    predictions_file,
    registered,
)
from auditor.audit.checks import Finding
from auditor.data.split import SealedSplit
from auditor.store.database import Store
from auditor.store.records import StoredAudit


def _row(scope: str, f: Finding, dataset: str, job_id: str | None = None,
         system: str | None = None, seed: int | None = None) -> StoredAudit:
    return StoredAudit(scope, f.check, job_id, dataset, system, seed, f.flag, f.summary,
                       f.detail)


def run_audits(store: Store, out: Path, splits: dict[str, SealedSplit], cores: int) -> None:
    """Audit every split and every successful run not audited yet; refresh the dataset checks.
    `splits` maps split fingerprints to the sealed splits of this suite."""
    done = store.audited_scopes()
    rows = []
    for fp, split in splits.items():
        if f"split:{fp}" not in done:
            subject = SplitSubject(split.dataset.name, split)
            rows += [_row(f"split:{fp}", f, subject.dataset, seed=split.seed)
                     for check in registered("split") for f in check.findings(subject)]
    runs = store.runs(status="ok")
    for run in runs:
        # a shared store's runs from other machines are audited where their predictions are
        if run.job_id in done or not predictions_file(out, run).is_file():
            continue
        peers = [r for r in runs if r.split_fingerprint == run.split_fingerprint
                 and r.job_id != run.job_id]
        run_subject = RunSubject(run, store.trials(run.job_id), out,
                                 splits.get(run.split_fingerprint), cores, peers)
        rows += [_row(run.job_id, f, run.dataset, run.job_id, run.system, run.seed)
                 for check in registered("run") for f in check.findings(run_subject)]
    for dataset in sorted({r.dataset for r in runs}):
        data_subject = DatasetSubject(dataset, [r for r in runs if r.dataset == dataset])
        rows += [_row(f"dataset:{dataset}", f, dataset, system=f.system)
                 for check in registered("dataset") for f in check.findings(data_subject)]
    if rows:
        store.put_audits(rows)
