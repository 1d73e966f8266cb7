"""Plan a suite before anything is written: systems, data, sealed splits, job ids, the store."""

from __future__ import annotations

import hashlib
import json
import platform
import warnings
from dataclasses import dataclass, field, replace
from importlib import metadata
from pathlib import Path

from adapters import registry
from auditor.config.errors import UsageError
from auditor.config.settings import Settings
from auditor.config.suite import DatasetSpec, Suite, SystemSpec
from auditor.data.dataset import Dataset
from auditor.data.openml import suite_tasks
from auditor.data.sources import load_dataset
from auditor.data.split import SealedSplit, official, seal
from auditor.store.database import RESULTS_DB, Store

HARNESS_PACKAGES = ("automl-auditor", "numpy", "pandas", "scipy", "scikit-learn", "lightgbm",
                    "optuna", "pyarrow", "threadpoolctl", "psutil", "openml")


def harness_environment() -> dict[str, str]:
    """The harness's own environment, for systems that run in it."""
    dists = sorted(f"{d.metadata['Name']}=={d.version}" for d in metadata.distributions())
    return {"python": platform.python_version(), "name": "harness",
            "freeze_sha256": hashlib.sha256("\n".join(dists).encode()).hexdigest()}


def harness_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in HARNESS_PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def resolve_systems(suite: Suite, force: bool = False) -> list[SystemSpec]:
    """Check each system loads with its options; give CV systems the suite's `cv_folds`; refuse
    a wall budget below a system's minimum (`force`: warn and go on)."""
    resolved = []
    for spec in suite.systems:
        try:
            caps = registry.adapter_class(spec.system).capabilities
            options = dict(spec.options)
            if caps.cv_folds and "cv_folds" not in options:
                options["cv_folds"] = suite.cv_folds
            registry.load(spec.system, options)
        except registry.UnknownSystem as exc:
            raise UsageError(f"suite system {spec.label!r}: {exc}") from None
        minimum = caps.min_wall_seconds
        if suite.budget.wall_seconds < minimum:
            said = (f"system {spec.label!r} needs a wall budget of at least {minimum:g} s to "
                    f"search; the suite gives {suite.budget.wall_seconds:g} s")
            if not force:
                raise UsageError(f"{said}: raise budget.wall_seconds, drop the system, or pass "
                                 "--force to run it anyway")
            warnings.warn(f"{said}, so its jobs will likely fail (--force)", stacklevel=1)
        resolved.append(replace(spec, options=options))
    return resolved


def check_claims(systems: list[SystemSpec], tasks: dict[str, str], metrics: dict[str, str]) -> None:
    """Every system claims each dataset's task type and metric (its `Capabilities`)."""
    for spec in systems:
        caps = registry.adapter_class(spec.system).capabilities
        for name, metric in metrics.items():
            task = tasks[name]
            if task not in caps.tasks:
                raise UsageError(f"suite system {spec.label!r} does not take {task} tasks "
                                 f"(dataset {name!r}); it takes {', '.join(caps.tasks)}")
            if caps.metrics is not None and metric not in caps.metrics:
                raise UsageError(f"suite system {spec.label!r} cannot optimise {metric!r} "
                                 f"(dataset {name!r}); give one of {', '.join(caps.metrics)} "
                                 "as the metric, or drop the system")


def dataset_specs(suite: Suite, settings: Settings) -> list[DatasetSpec]:
    """The suite's datasets, each OpenML suite replaced by its tasks (named SUITE/DATA-taskID)."""
    specs: list[DatasetSpec] = []
    for spec in suite.datasets:
        if spec.openml_suite is None:
            specs.append(spec)
            continue
        tasks = suite_tasks(spec.openml_suite, settings, spec.limit, spec.max_rows)
        if not tasks:
            raise UsageError(f"OpenML suite {spec.openml_suite} has no task with at most "
                             f"{spec.max_rows} rows — raise max_rows of dataset {spec.name!r}")
        specs += [replace(spec, name=f"{spec.name}/{data}-task{task}",
                          source=f"openml:task/{task}", openml_suite=None, limit=None,
                          max_rows=None) for task, data in tasks]
    names = [s.name for s in specs]
    dup = next((n for n in names if names.count(n) > 1), None)
    if dup:
        raise UsageError(f"two datasets are named {dup!r} once OpenML suites are expanded; "
                         "rename one of them")
    return specs


def load_datasets(specs: list[DatasetSpec], base: Path, settings: Settings
                  ) -> dict[str, Dataset]:
    return {
        spec.name: load_dataset(spec.name, spec.source, target=spec.target, task=spec.task,
                                drop=spec.drop, base_dir=base, settings=settings)
        for spec in specs
    }


def job_id(split: SealedSplit, system: SystemSpec, metric: str, suite: Suite) -> str:
    what = {
        "dataset": split.dataset.fingerprint(), "split": split.fingerprint(),
        "label": system.label, "system": system.system, "options": system.options,
        "seed": split.seed, "metric": metric, "budget": suite.budget.as_dict(),
    }
    if split.task_id is not None:  # harness-made splits keep the ids they had before tasks
        what |= {"openml_task": split.task_id, "repeat": split.repeat, "fold": split.fold}
    key = json.dumps(what, sort_keys=True, default=str)
    return hashlib.sha256(key.encode()).hexdigest()[:16]


# (dataset name, seed, repeat, fold); repeat and fold are None for the harness's own splits
SplitKey = tuple[str, int, int | None, int | None]


@dataclass
class Plan:
    suite: Suite
    systems: list[SystemSpec]
    datasets: dict[str, Dataset]
    splits: dict[SplitKey, SealedSplit]
    metrics: dict[str, str]
    settings: Settings = field(default_factory=Settings)


def plan(suite: Suite, settings: Settings | None = None, force: bool = False) -> Plan:
    """Everything that can fail on bad input, done before any output is written (with
    `settings`, default: from the environment; `force`: run systems below their minimum
    budget)."""
    settings = settings or Settings.from_environ()
    systems = resolve_systems(suite, force)
    specs = dataset_specs(suite, settings)
    datasets = load_datasets(specs, suite.path.parent, settings)
    metrics = {s.name: suite.metric_for(s, datasets[s.name].task_type) for s in specs}
    check_claims(systems, {n: d.task_type for n, d in datasets.items()}, metrics)
    splits: dict[SplitKey, SealedSplit] = {}
    for spec in specs:
        d = datasets[spec.name]
        for seed in suite.seeds:
            if d.openml is None or d.openml.task_id is None:
                splits[(spec.name, seed, None, None)] = seal(d, seed, suite.holdout_fraction)
                continue
            for repeat in spec.repeats:
                for fold in spec.folds:
                    splits[(spec.name, seed, repeat, fold)] = official(d, seed, repeat, fold)
    return Plan(suite, systems, datasets, splits, metrics, settings)


def open_store(out: Path, p: Plan, url: str | None) -> Store | None:
    """The store to record into: `url`, else the output folder's SQLite file if it exists yet
    (None: it is made once the checks have passed). Refuses a store that holds a different
    dataset under one of this suite's names."""
    if out.exists() and not out.is_dir():
        raise UsageError(f"output path {out} is a file; give a folder with --out")
    db = out / RESULTS_DB
    if url is None and not db.exists():
        return None
    store = Store(db if url is None else url)
    for name, d in p.datasets.items():
        known = store.dataset_fingerprint(name)
        if known is not None and known != d.fingerprint():
            store.close()
            where = f"output folder {out}" if url is None else f"store {store.name}"
            raise UsageError(f"{where} holds results for a different dataset named {name!r}; "
                             "use a new --out folder or store, or rename the dataset")
    return store
