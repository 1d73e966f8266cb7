"""The report's context as typed records: what `auditor.report.context` builds and `reports`
renders (as the plain mapping of `ReportContext.plain`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from auditor.report.exports import export_tables
from auditor.report.results import AuditRow
from auditor.stats.chance import FamilyView
from auditor.stats.compare import Interval

# Past this many runs the page leaves out per-run detail (the runs tables and charts, best
# configurations, split fingerprints, unflagged audit rows) and links the exported tables instead
DETAIL_RUNS = 2000


@dataclass(frozen=True)
class IntervalView:
    mean: float
    lo: float | None
    hi: float | None
    n: int

    @classmethod
    def of(cls, i: Interval | None) -> IntervalView | None:
        return None if i is None else cls(i.mean, i.lo, i.hi, i.n)


@dataclass(frozen=True)
class RunView:
    """One run as its dataset's table and charts show it."""

    system: str
    seed: int
    repeat: int | None
    fold: int | None
    status: str
    failure_class: str | None
    failure_message: str | None
    failure_detail: str | None
    notes: str | None
    reported_on: str | None
    verdict: str | None
    n_configs: int | None
    wall_s: float
    cpu_s: float | None
    peak_rss_mb: float | None
    search_s: float | None
    model_description: str | None
    system_version: str | None
    compute_cpu_s: float | None
    full_fidelity_evals: float | None
    holdout: float | None
    holdout_lo: float | None
    holdout_hi: float | None
    reported: float | None
    gap: float | None
    gap_lo: float | None
    gap_hi: float | None
    overrun: bool
    best_config: dict[str, Any]
    environment: dict[str, Any]
    search_space: dict[str, Any] | None
    top_decile: dict[str, float] | None  # {value, lo, hi} of the top-decile precision
    reported_uncertainty: str | None  # how the reported score's uncertainty was measured
    trajectory: list[list[float]]  # [end s, cumulative CPU s, evals, incumbent]
    ties_everywhere: bool  # every holdout row got the same predicted risk


@dataclass(frozen=True)
class SeedRow:
    """One system on one dataset, across its seeds (or splits)."""

    system: str
    runs: int
    ok: int
    holdout: IntervalView | None
    rank: float | None
    top_decile: IntervalView | None
    top_decile_na: str | None  # why there is no top-decile precision
    n_configs: float | None
    full_fidelity_evals: float | None
    compute_cpu_s: float | None
    wall_s: float | None


@dataclass(frozen=True)
class DatasetSection:
    name: str
    source: str
    task_type: str
    metric: str
    greater_is_better: bool
    bounds: tuple[float, float]
    n_rows: int
    n_features: int
    n_categorical: int
    n_missing: int
    fingerprint: str
    openml: dict[str, int | None] | None  # dataset id, version and task id
    file_sha256: str | None  # of a local file's bytes
    splits: list[dict[str, Any]]
    runs: list[RunView]
    finding: str
    across_seeds: list[SeedRow]


@dataclass(frozen=True)
class ComplianceRow:
    """One system: how close its runs came to the budget, and its failures by class."""

    system: str
    runs: int
    ok: int
    max_wall_ratio: float
    median_wall_ratio: float
    overruns: int
    max_memory_ratio: float | None
    failures: dict[str, int]
    median_cpu_share: float | None  # `starvation.cpu_share`
    max_cpu_wait: float | None  # share of its ready time a run waited for a CPU
    starved: int  # runs starved of CPU (`starvation.is_starved`)
    # seconds from the job's start to its budget's start (imports, data, servers)
    median_startup_s: float | None
    max_startup_s: float | None
    validation: str  # what its reported scores were measured on (`headline.validation`)


@dataclass(frozen=True)
class ComparisonView:
    """The cross-dataset statistics (`auditor.stats.compare.Comparison`) as the report shows
    them; the nested rows are plain mappings, one per table row."""

    systems: list[str]
    datasets: list[str]
    blocks: list[str]
    excluded: list[dict[str, str]]
    ranks: list[dict[str, Any]]
    mean_ranks: dict[str, float]
    friedman: dict[str, Any]
    nemenyi: dict[str, Any] | None
    pairs: list[dict[str, Any]]
    normalized: list[dict[str, Any]]
    scores: list[dict[str, Any]]
    notes: list[str]


@dataclass(frozen=True)
class IsolationView:
    levels: list[tuple[str, int]]  # isolation label → runs
    not_isolated: int  # runs without namespaces: nothing sealed their holdout
    runs: int
    partial: str  # a sentence on runs sealed by namespaces but lacking another part, or ""


@dataclass
class ReportContext:
    title: str
    generated_at: str
    suite: dict[str, str]  # name, path
    sources: list[dict[str, Any]]  # store, runs
    budget: dict[str, Any]
    budgets: list[dict[str, Any]]
    seeds: list[int]
    holdout_fraction: float | None
    cv_folds: int | None
    startup_cap_s: float  # start-up not charged to a budget, at most (STARTUP_CAP_S)
    versions: dict[str, str]
    isolation: IsolationView
    summary: list[str]
    summary_lead: int  # the first sentences of `summary` are the headline
    system_order: list[str]
    baseline: str | None
    comparison: ComparisonView | None
    datasets: list[DatasetSection]
    compliance: list[ComplianceRow]
    audits: list[AuditRow]
    family: FamilyView
    # False past `DETAIL_RUNS` runs: the page shows summaries, the exported tables every run
    detailed: bool = True

    def plain(self) -> dict[str, Any]:
        """The context as nested plain mappings, as `reports` renders it, with every table of
        the report under `tables` for the CSV and JSON exports beside it."""
        plain = asdict(self)
        plain["tables"] = export_tables(plain)
        return plain
