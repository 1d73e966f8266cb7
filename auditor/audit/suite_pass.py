"""The audit pass after a suite's jobs: every registered check (`auditor.audit.catalog`) of each
scope — per split, per run, per dataset. Results go to the store's `audits` table.

The runs are audited split by split: the trials of a split's runs (one query) and their
predictions (each file read once, `SplitRuns`) are in memory together and then let go, so the
pass never holds every run's trials or predictions at once."""

from __future__ import annotations

from pathlib import Path

from auditor.audit.catalog import (
    DatasetSubject,
    RunSubject,
    SplitRuns,
    SplitSubject,
    predictions_file,
    registered,
)
from auditor.audit.checks import Finding
from auditor.data.split import SealedSplit
from auditor.store.database import Store
from auditor.store.records import StoredAudit, StoredRun


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
    by_split: dict[str, list[StoredRun]] = {}
    for run in runs:
        by_split.setdefault(run.split_fingerprint, []).append(run)
    found: dict[str, list[StoredAudit]] = {}
    for fp, on_split in by_split.items():
        # a shared store's runs from other machines are audited where their predictions are
        todo = [r for r in on_split
                if r.job_id not in done and predictions_file(out, r).is_file()]
        if not todo:
            continue
        trials = store.trials_of([r.job_id for r in todo])
        shared = SplitRuns(out)  # the split's predictions, read once for all its runs
        for run in todo:
            peers = [r for r in on_split if r.job_id != run.job_id]
            run_subject = RunSubject(run, trials.get(run.job_id, []), out, splits.get(fp),
                                     cores, peers, shared)
            found[run.job_id] = [_row(run.job_id, f, run.dataset, run.job_id, run.system,
                                      run.seed)
                                 for check in registered("run")
                                 for f in check.findings(run_subject)]
    rows += [row for run in runs for row in found.get(run.job_id, [])]
    by_dataset: dict[str, list[StoredRun]] = {}
    for run in runs:
        by_dataset.setdefault(run.dataset, []).append(run)
    for dataset in sorted(by_dataset):
        data_subject = DatasetSubject(dataset, by_dataset[dataset])
        rows += [_row(f"dataset:{dataset}", f, dataset, system=f.system)
                 for check in registered("dataset") for f in check.findings(data_subject)]
    if rows:
        store.put_audits(rows)
