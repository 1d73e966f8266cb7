"""Build the report's context (`auditor.report.views`) from one or more results stores, with
plain-word findings first."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from adapters.contract import STARTUP_CAP_S
from adapters.metrics import get_metric
from auditor.audit import starvation
from auditor.config.errors import UsageError
from auditor.report import headline, sentences
from auditor.report.isolation import isolation_view
from auditor.report.results import ReportRun, Results, load_results
from auditor.report.views import (
    DETAIL_RUNS,
    ComparisonView,
    ComplianceRow,
    DatasetSection,
    IntervalView,
    ReportContext,
    RunView,
    SeedRow,
)
from auditor.stats.chance import family_view
from auditor.stats.chance import sentence as chance_sentence
from auditor.stats.compare import Comparison, Observation, compare, mean_ci
from auditor.stats.lead import Lead, lead
from auditor.store.records import StoredDataset
from reports import fmt_interval, fmt_lead, fmt_local_paths, is_wide, plural

# Systems that anchor the normalized scores, found by label, then by registered name
BASELINE, REFERENCES, RANDOM = "constant", ("tpe",), "random"


def _run_view(row: ReportRun, version: str | None) -> RunView:
    extra = row.extra_metrics or {}
    return RunView(
        row.system, row.seed, row.repeat, row.fold, row.status, row.failure_class,
        fmt_local_paths(row.failure_message), fmt_local_paths(row.failure_detail), row.notes,
        row.reported_on, row.verdict,
        row.n_configs, row.wall_s, row.cpu_s, row.peak_rss_mb, row.search_s,
        row.model_description, row.system_version or version, row.compute_cpu_s,
        row.full_fidelity_evals, row.holdout_score, row.holdout_lo, row.holdout_hi,
        row.reported_score, row.gap, row.gap_lo, row.gap_hi, bool(row.overrun),
        row.best_config or {}, row.environment or {}, row.search_space,
        extra.get("top_decile_precision"),
        (extra.get("reported_uncertainty") or {}).get("method"), row.trajectory or [],
        _ties_everywhere(row))


def _ties_everywhere(run: ReportRun) -> bool:
    """True when a successful binary run gave every holdout row the same predicted risk."""
    if run.status != "ok" or not run.predictions_path or not run.extra_metrics or (
            "top_decile_precision" not in run.extra_metrics):
        return False
    risk = np.load(run.root / run.predictions_path)[:, 1]
    return bool(np.all(risk == risk[0]))


def _comparable(run: ReportRun) -> bool:
    """A run the comparisons count: it succeeded and was not starved of CPU."""
    return run.status == "ok" and not starvation.is_starved(run)


def _split_key(run: ReportRun) -> str:
    return "/".join(str(v) for v in (run.seed, run.repeat, run.fold) if v is not None)


def paired_difference(results: Results, dataset: str, metric: str, a: str, b: str
                      ) -> Lead | None:
    """The lead of `a` over `b` on the splits both finished (`auditor.stats.lead`); None when
    the two share no successful split."""
    task = next(d.task_type for d in results.datasets if d.name == dataset)
    labels = {(s.seed, s.fingerprint): s.holdout_y for s in results.splits
              if s.dataset == dataset}
    by_split: dict[tuple[int, str], dict[str, ReportRun]] = {}
    for r in results.runs:
        if r.dataset == dataset and _comparable(r) and r.system in (a, b):
            by_split.setdefault((r.seed, r.split_fingerprint), {})[r.system] = r
    pairs = [(labels[seed, fp], *(np.load(pair[s].root / str(pair[s].predictions_path))
                                  for s in (a, b)), seed)
             for (seed, fp), pair in sorted(by_split.items()) if len(pair) == 2]
    return lead(get_metric(metric), pairs, task != "regression") if pairs else None


def _dataset_finding(results: Results, d: StoredDataset, metric: str, c: Comparison | None
                     ) -> tuple[str, headline.DatasetLead | None]:
    """The dataset's finding, and its best system's lead over the runner-up when measured."""
    cells = [x for x in (c.cells if c else []) if x.dataset == d.name]
    if not cells:
        return f"On {d.name}, no system finished successfully.", None
    unit = "seed" if d.openml_task_id is None else "split"
    paired = [(x, x.paired) for x in cells if x.paired is not None]
    if len(paired) < len(cells):
        return (f"On {d.name}, the systems finished on different {unit}s (none on which all "
                "did), so their means are not compared here."), None
    m = get_metric(metric)
    ranked = sorted(paired, key=lambda p: m.loss(p[1].mean))
    best, i = ranked[0]
    shown, ci = fmt_interval(i.mean, i.lo, i.hi)
    spread = (f", 95 % CI {ci.strip('[]').replace(', ', ' to ')} across them" if ci else "")
    if is_wide(i.mean, i.lo, i.hi, m.bounds):
        spread += f" (wide: {i.n} {unit}s are too few to pin it down)"
    text = (f"On {d.name}, {best.system} had the best mean holdout {metric}: "
            f"{shown} over {plural(i.n, unit)}{spread}")
    if len(ranked) == 1:
        return text + "; no other system finished to compare with.", None
    runner_up = ranked[1][0].system
    diff = paired_difference(results, d.name, metric, best.system, runner_up)
    if diff is None:
        return (text + f"; it shares no successful {unit} with {runner_up}, so no paired "
                "comparison."), None
    found = headline.DatasetLead(d.name, best.system, diff.splits > 1 and diff.clear)
    if diff.lo == diff.hi == 0:
        return text + f", tied with {runner_up} on every shared {unit}.", found
    shown, ci = fmt_lead(diff.point, diff.lo, diff.hi)
    ci = (ci or "").strip("[]").replace(", ", " to ")
    if diff.splits == 1:
        return (text + f", ahead of {runner_up} by {shown} on the one {unit} both finished (95 % "
                f"CI {ci}, paired bootstrap over its holdout rows); with one shared {unit}, "
                f"nothing can be concluded about other {unit}s."), found
    clear = "a clear lead" if diff.clear else "not a clear lead: the interval includes 0"
    return (text + f", ahead of {runner_up} by {shown} (95 % CI {ci}, t-interval across the "
            f"{diff.splits} {unit}s both finished, which carries {unit}-to-{unit} and holdout "
            f"variance) — {clear}."), found


def _openml_view(d: StoredDataset) -> dict[str, int | None] | None:
    """OpenML data set id and version and task id, or None for other sources."""
    if d.openml_dataset_id is None:
        return None
    return {"dataset_id": d.openml_dataset_id, "version": d.openml_dataset_version,
            "task_id": d.openml_task_id}


def _mean(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return float(np.mean(present)) if present else None


def _anchor(runs: list[ReportRun], names: Sequence[str], chosen: str | None = None
            ) -> str | None:
    """The label of the first system among `names` (label first, then registered name)."""
    labels = {r.system for r in runs if r.status == "ok"}
    if chosen is not None:
        if chosen not in labels:
            raise UsageError(f"--reference {chosen!r} has no successful run; choose one of "
                             + ", ".join(sorted(labels)))
        return chosen
    for name in names:
        if name in labels:
            return name
        refs = sorted(r.system for r in runs if r.status == "ok" and r.system_ref == name)
        if refs:
            return refs[0]
    return None


def _across_seeds(views: list[RunView], c: Comparison | None, dataset: str,
                  order: list[str]) -> list[SeedRow]:
    """Per system on one dataset: holdout and top-decile precision with CIs across seeds, and
    the mean configurations, full-fidelity equivalents, compute and wall seconds per run."""
    rows = []
    for system in order:
        runs = [v for v in views if v.system == system]
        if not runs:
            continue
        ok = [v for v in runs if v.status == "ok"]
        top = [v.top_decile["value"] for v in ok if v.top_decile]
        tied = bool(ok) and all(v.ties_everywhere for v in ok)
        cell = c.cell(dataset, system) if c else None
        rows.append(SeedRow(
            system, len(runs), len(ok), IntervalView.of(cell.score) if cell else None,
            cell.rank if cell else None,
            IntervalView.of(mean_ci(top, bounds=get_metric("top_decile_precision").bounds))
            if top and not tied else None,
            "every holdout row got the same predicted risk, so there is no top decile"
            if top and tied else None,
            _mean([v.n_configs for v in ok]), _mean([v.full_fidelity_evals for v in ok]),
            _mean([v.compute_cpu_s for v in ok]), _mean([v.wall_s for v in runs])))
    return rows


def _skipped(baseline: str | None, tuned: str | None, random: str | None) -> list[str]:
    """Why a normalized score is missing."""
    notes = []
    if baseline is None or tuned is None:
        missing = [name for name, label in (("the constant baseline", baseline),
                                            ("a tuned reference", tuned)) if label is None]
        notes.append("AMLB-style normalized scores need the constant baseline and a tuned "
                     f"reference ({', '.join(REFERENCES)}, or `auditor report --reference "
                     f"SYSTEM`); {' and '.join(missing)} did not run successfully here, so they "
                     "are left out.")
    if random is None:
        notes.append("Bayesmark-style normalized scores need random search, which did not run "
                     "successfully here, so they are left out.")
    return notes


def _comparison_view(c: Comparison, metrics: dict[str, str], notes: list[str]
                     ) -> ComparisonView:
    nemenyi = None
    if c.nemenyi is not None:
        n = c.nemenyi
        nemenyi = {
            "alpha": n.alpha, "q_alpha": n.q_alpha, "critical_difference": n.critical_difference,
            "cliques": n.cliques,
            "pairs": [{"a": a, "b": b, "rank_difference": abs(c.mean_ranks[a] - c.mean_ranks[b]),
                       "p_value": p, "significant": p < n.alpha}
                      for (a, b), p in n.p_values.items()],
        }
    scores = []
    for d in c.datasets:
        cells = {x.system: x for x in c.cells if x.dataset == d}
        gib = get_metric(metrics[d]).greater_is_better
        best = (max if gib else min)(x.score.mean for x in cells.values())
        scores.append({"dataset": d, "metric": metrics[d], "greater_is_better": gib,
                       "bounds": get_metric(metrics[d]).bounds,
                       "in_ranks": d in c.blocks, "cells": {
                           s: {**asdict(IntervalView(x.score.mean, x.score.lo, x.score.hi,
                                                     x.score.n)),
                               "rank": x.rank, "best": x.score.mean == best}
                           for s, x in cells.items()}})
    return ComparisonView(
        systems=c.systems, datasets=c.datasets, blocks=c.blocks,
        excluded=[{"dataset": d, "reason": why} for d, why in c.excluded.items()],
        ranks=[{"system": s, "mean_rank": c.mean_ranks[s], "n_datasets": len(c.blocks)}
               for s in c.systems if s in c.mean_ranks],
        mean_ranks=dict(c.mean_ranks),
        friedman={"n_datasets": c.friedman.n_datasets, "n_systems": c.friedman.n_systems,
                  "statistic": c.friedman.statistic, "p_value": c.friedman.p_value,
                  "note": c.friedman.note},
        nemenyi=nemenyi,
        pairs=[{**{k: getattr(p, k) for k in ("a", "b", "n_datasets", "wins", "ties", "losses",
                                                 "median_difference", "statistic", "p_value",
                                                 "p_holm", "note")},
                   "significant": p.significant,
                   "mixed_metrics": len({metrics[d] for d in c.datasets}) > 1,
                   "nemenyi_p": c.nemenyi.p_values[p.a, p.b] if c.nemenyi else None}
                  for p in c.pairs],
        normalized=[{
            "style": n.style, "title": sentences.STYLE_NAMES[n.style], "zero": n.zero,
            "one": n.one, "note": n.note,
            "summary": {s: asdict(IntervalView(i.mean, i.lo, i.hi, i.n))
                        for s, i in n.summary.items()},
            "by_dataset": [{"dataset": d, "scores": {s: v for (e, s), v in n.per_dataset.items()
                                                     if e == d}}
                           for d in c.datasets if any(e == d for e, _ in n.per_dataset)],
        } for n in c.normalized],
        scores=scores,
        notes=notes,
    )


def _compliance(runs: list[ReportRun], order: list[str]) -> list[ComplianceRow]:
    """Per system: how close runs came to the wall budget, overruns, and failures by class."""
    rows = []
    for system in order:
        mine = [r for r in runs if r.system == system]
        ratios = [starvation.budget_wall(r) / r.budget["wall_seconds"] for r in mine]
        startups = [r.startup_s for r in mine if r.startup_s is not None]
        memory = [r.peak_rss_mb / r.budget["memory_mb"] for r in mine
                  if r.peak_rss_mb is not None]
        failures = Counter(r.failure_class or "unknown" for r in mine if r.status != "ok")
        shares = [x for r in mine if (x := starvation.cpu_share(r)) is not None]
        waits = [w for r in mine if (w := starvation.cpu_wait(r)) is not None]
        rows.append(ComplianceRow(
            system, len(mine), sum(r.status == "ok" for r in mine), max(ratios),
            float(np.median(ratios)), sum(bool(r.overrun) for r in mine),
            max(memory) if memory else None, dict(sorted(failures.items())),
            float(np.median(shares)) if shares else None, max(waits) if waits else None,
            sum(starvation.is_starved(r) for r in mine),
            float(np.median(startups)) if startups else None, max(startups, default=None),
            headline.validation(mine)))
    return rows


def build_context(sources: Path | Sequence[Path | str], title: str | None = None,
                  reference: str | None = None, detail_runs: int = DETAIL_RUNS
                  ) -> ReportContext:
    """The report of every run in the stores of `sources` (output folders or store files).

    `reference` is the tuned system (label) that scores 1 in the AMLB-style normalization;
    default: the first of `REFERENCES` present. Past `detail_runs` runs the page shows
    summaries and leaves each run's detail to the exported tables.
    """
    results = load_results([sources] if isinstance(sources, Path) else list(sources))
    runs = results.runs
    if not runs:
        raise UsageError(f"no run recorded in {', '.join(map(str, results.stores))} yet")
    views_by: dict[str, list[RunView]] = {d.name: [] for d in results.datasets}
    versions = {r.system: r.system_version for r in runs if r.system_version}
    for r in runs:
        views_by[r.dataset].append(_run_view(r, versions.get(r.system)))
    metrics = {r.dataset: r.metric for r in runs}
    obs = [Observation(r.dataset, _split_key(r), r.system, r.holdout_score,
                       get_metric(r.metric).greater_is_better, get_metric(r.metric).bounds)
           for r in runs if _comparable(r) and r.holdout_score is not None]
    baseline, tuned = _anchor(runs, (BASELINE,)), _anchor(runs, REFERENCES, reference)
    random = _anchor(runs, (RANDOM,))
    c = compare(obs, baseline, tuned, random) if obs else None
    ranked = c.systems if c else []
    order = ranked + sorted({r.system for r in runs} - set(ranked))
    sections, leads = [], []
    for d in results.datasets:
        views = views_by[d.name]
        if not views:
            continue
        metric = metrics[d.name]
        finding, found = _dataset_finding(results, d, metric, c)
        leads += [found] if found else []
        sections.append(DatasetSection(
            d.name, d.source, d.task_type, metric, get_metric(metric).greater_is_better,
            get_metric(metric).bounds, d.n_rows, d.n_features, d.n_categorical, d.n_missing,
            d.fingerprint, _openml_view(d), d.file_sha256,
            [{k: getattr(s, k) for k in ("seed", "fingerprint", "n_search", "n_holdout",
                                         "openml_task_id", "repeat", "fold")}
             for s in results.splits if s.dataset == d.name],
            views, finding,
            _across_seeds(views, c, d.name, order)))
    unit = "seed" if all(r.fold is None for r in runs) else "split"
    budgets = list({json.dumps(r.budget, sort_keys=True): r.budget for r in runs}.values())
    scope = headline.Scope(order,
                           [d for d in results.datasets if views_by[d.name]],
                           sorted({r.seed for r in runs}), budgets[0], unit)
    lead, summary = headline.executive(c, obs, scope, runs, results.audits, baseline, leads)
    if len(budgets) > 1:
        lead.append(f"These runs used {len(budgets)} different budgets (see Budget), so not "
                    "every comparison here is under a matched budget.")
    failed = [r for r in runs if r.status != "ok"]
    overruns = sum(bool(r.overrun) for r in runs)
    family = family_view([(a.check, a.flag) for a in results.audits],
                         [r.verdict for r in runs if r.status == "ok"])
    summary.append(chance_sentence(family))
    summary.append(f"{len(failed)} of {len(runs)} runs failed"
                   + (": " + ", ".join(sorted({f"{r.failure_class}" for r in failed}))
                      if failed else "") + f"; {overruns} ran past the wall budget.")
    return ReportContext(
        title=title or f"Audit report: {runs[0].suite}",
        generated_at=datetime.now(UTC).isoformat(timespec="seconds"),
        suite={"name": ", ".join(dict.fromkeys(r.suite for r in runs)),
               "path": ", ".join(p.parent.name if isinstance(p, Path) else p
                                 for p in results.stores)},
        # a store file by its folder and name, as the suite's path above (no local folders)
        sources=[{"store": f"{p.parent.name}/{p.name}" if isinstance(p, Path) else p,
                  "runs": sum(r.store == p for r in runs)} for p in results.stores],
        budget=budgets[0],
        budgets=budgets,
        seeds=sorted({r.seed for r in runs}),
        # the harness's own splits; an OpenML task's folds have the sizes the task gives them
        holdout_fraction=next((s.holdout_fraction for s in results.splits
                               if s.openml_task_id is None), None),
        startup_cap_s=STARTUP_CAP_S,
        cv_folds=next((r.options["cv_folds"] for r in runs if "cv_folds" in r.options), None),
        versions=runs[0].versions,
        isolation=isolation_view([r.isolation for r in runs]),
        summary=lead + summary,
        summary_lead=len(lead),
        system_order=order,
        baseline=baseline,
        comparison=_comparison_view(c, metrics, _skipped(baseline, tuned, random))
        if c else None,
        datasets=sections,
        compliance=_compliance(runs, order),
        audits=results.audits,
        family=family,
        detailed=len(runs) <= detail_runs,
    )

