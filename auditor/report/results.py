"""Read one or more results stores into one set of rows for the report.

A source is an output folder holding `results.sqlite`, the path of a store itself, or a store URL
(`postgresql://...`, whose runs record absolute prediction paths). Stores are
merged by dataset name: the same name must carry the same dataset fingerprint. A run recorded in
several stores (same `job_id`) is kept once; each run keeps the folder its predictions live in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from auditor.config.errors import UsageError
from auditor.store.database import RESULTS_DB, Store, store_url
from auditor.store.records import StoredDataset, StoredRun, StoredSplit


@dataclass(frozen=True)
class ReportRun(StoredRun):
    """A stored run with where it came from: the store, and the folder its predictions are in."""

    root: Path = Path("/")
    store: Path | str = ""

    @classmethod
    def of(cls, run: StoredRun, root: Path, store: Path | str) -> ReportRun:
        return cls(**{f.name: getattr(run, f.name) for f in fields(StoredRun)}, root=root,
                   store=store)


@dataclass(frozen=True)
class AuditRow:
    """An audit check's result in the report's words: flagged or not, a verdict, a sentence."""

    dataset: str
    system: str | None
    seed: int | None
    check: str
    flag: bool
    verdict: str
    detail: str


@dataclass
class Results:
    stores: list[Path | str] = field(default_factory=list)  # store files and URLs
    datasets: list[StoredDataset] = field(default_factory=list)
    splits: list[StoredSplit] = field(default_factory=list)  # with the sealed `holdout_y`
    runs: list[ReportRun] = field(default_factory=list)
    audits: list[AuditRow] = field(default_factory=list)


def audit_rows(store: Store) -> list[AuditRow]:
    """The audits table for the report."""
    return [AuditRow(a.dataset, a.system, a.seed, a.check_name, a.flag,
                     a.detail.get("verdict") or ("look at this" if a.flag else "ok"), a.summary)
            for a in store.audits()]


def store_path(source: Path | str) -> Path | str:
    """The store of an output folder, or `source` itself when it is a store file or URL."""
    if isinstance(source, str):
        return source
    path = source / RESULTS_DB if source.is_dir() else source
    if not path.is_file():
        raise UsageError(f"{source} holds no {RESULTS_DB}; give an output folder of `auditor run` "
                         "or a results store")
    return path


def root(store: Path | str) -> Path:
    """The folder that a store's relative prediction paths start from."""
    return store.parent if isinstance(store, Path) else Path("/")


def _read(path: Path | str) -> Results:
    store = Store(path)
    try:
        return Results(datasets=store.datasets(), splits=store.splits(),
                       runs=[ReportRun.of(r, root(path), path) for r in store.runs()],
                       audits=audit_rows(store))
    finally:
        store.close()


def load_results(sources: Sequence[Path | str]) -> Results:
    """Merge the stores of `sources`; a dataset name with two fingerprints is a UsageError."""
    merged = Results()
    origin: dict[str, tuple[str, Path | str]] = {}  # dataset name → (fingerprint, store)
    seen_splits: set[tuple[str, int, str]] = set()
    seen_runs: set[str] = set()
    seen_audits: set[tuple[str, str | None, int | None, str, str]] = set()
    for source in sources:
        path = store_path(source)
        shown = path if isinstance(path, Path) else store_url(path).render_as_string(
            hide_password=True)
        if shown in merged.stores or (isinstance(path, Path) and path.resolve() in (
                p.resolve() for p in merged.stores if isinstance(p, Path))):
            continue
        merged.stores.append(shown)
        rows = _read(path)
        for d in rows.datasets:
            known = origin.setdefault(d.name, (d.fingerprint, shown))
            if known[0] != d.fingerprint:
                raise UsageError(
                    f"dataset {d.name!r} is different data in {known[1]} and {shown} "
                    f"(fingerprints {known[0][:12]}… and {d.fingerprint[:12]}…); rename it in "
                    "one suite")
            if known[1] == shown:
                merged.datasets.append(d)
        for s in rows.splits:
            if (split := (s.dataset, s.seed, s.fingerprint)) not in seen_splits:
                seen_splits.add(split)
                merged.splits.append(s)
        for r in rows.runs:
            if r.job_id not in seen_runs:
                seen_runs.add(r.job_id)
                merged.runs.append(replace(r, store=shown))
        for a in rows.audits:
            if (audit := (a.dataset, a.system, a.seed, a.check, a.detail)) not in seen_audits:
                seen_audits.add(audit)
                merged.audits.append(a)
    order = {d.name: i for i, d in enumerate(merged.datasets)}
    merged.runs.sort(key=lambda r: (order[r.dataset], r.system, r.seed, r.repeat or 0,
                                    r.fold or 0))
    return merged
