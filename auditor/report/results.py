"""Read one or more results stores into one set of rows for the report.

A source is an output folder holding `results.sqlite`, the path of a store itself, or a store URL
(`postgresql://...`, whose runs record absolute prediction paths). Stores are
merged by dataset name: the same name must carry the same dataset fingerprint. A run recorded in
several stores (same `job_id`) is kept once; each run keeps the folder its predictions live in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from auditor.audit.suite_pass import audit_rows
from auditor.config.errors import UsageError
from auditor.store.database import RESULTS_DB, Store, store_url
from auditor.store.records import StoredDataset, StoredSplit


@dataclass
class Results:
    stores: list[Path | str] = field(default_factory=list)  # store files and URLs
    datasets: list[StoredDataset] = field(default_factory=list)
    splits: list[StoredSplit] = field(default_factory=list)  # with the sealed `holdout_y`
    # the fields of each `StoredRun` as a plain row, with its `root` and `store`
    runs: list[dict[str, Any]] = field(default_factory=list)
    # rows of `auditor.audit.suite_pass.audit_rows`
    audits: list[dict[str, Any]] = field(default_factory=list)


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
                       runs=[asdict(r) for r in store.runs()], audits=audit_rows(store))
    finally:
        store.close()


def load_results(sources: Sequence[Path | str]) -> Results:
    """Merge the stores of `sources`; a dataset name with two fingerprints is a UsageError."""
    merged = Results()
    origin: dict[str, tuple[str, Path | str]] = {}  # dataset name → (fingerprint, store)
    seen_splits, seen_runs, seen_audits = set(), set(), set()
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
            if (key := (s.dataset, s.seed, s.fingerprint)) not in seen_splits:
                seen_splits.add(key)
                merged.splits.append(s)
        for r in rows.runs:
            if r["job_id"] not in seen_runs:
                seen_runs.add(r["job_id"])
                merged.runs.append({**r, "root": root(path), "store": shown})
        for a in rows.audits:
            if (key := (a["dataset"], a["system"], a["seed"], a["check"], a["detail"])
                ) not in seen_audits:
                seen_audits.add(key)
                merged.audits.append(a)
    key = {d.name: i for i, d in enumerate(merged.datasets)}
    merged.runs.sort(key=lambda r: (key[r["dataset"]], r["system"], r["seed"], r["repeat"] or 0,
                                    r["fold"] or 0))
    return merged
