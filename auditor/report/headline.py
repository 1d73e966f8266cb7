"""The executive summary, in the order a client asks: what was compared under what budget, who
is best where it can be said and where it cannot, which systems failed, and the audit flags."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from auditor.audit import starvation
from auditor.audit.checks import measured_on
from auditor.report import sentences
from auditor.report.results import AuditRow, ReportRun
from auditor.stats.compare import ALPHA, Comparison, Observation, compare
from auditor.store.records import StoredDataset
from reports import fmt_p, plural
from reports.charts import same_series

# Audit checks lifted into the summary, most serious first; the run verdict 'optimistic' counts
# as the optimism check.
SERIOUS = ("leakage screen", "suspicious: check for leakage", "optimism", "budget adequacy",
           "overtuning", "seed stability", "shared holdout rows",
           "duplicate rows across the split")
# a check's name in the summary's list, where it differs from its own
SHOWN = {"suspicious: check for leakage": "suspiciously good holdout scores"}


@dataclass(frozen=True)
class Scope:
    """What the suite compared: every system it named, its datasets, seeds and budget."""

    systems: list[str]
    datasets: list[StoredDataset]
    seeds: list[int]
    budget: dict[str, Any]
    unit: str


@dataclass(frozen=True)
class DatasetLead:
    """A dataset's best system and whether its lead over the runner-up is clear: the paired
    95 % interval across the splits both finished excludes 0."""

    dataset: str
    system: str
    clear: bool


def leads(found: Sequence[DatasetLead]) -> list[str]:
    """Where a system leads clearly, and where none does, said as plainly."""
    if not found:
        return []
    clear = [f for f in found if f.clear]
    if not clear:
        where = ("its one dataset" if len(found) == 1 else
                 f"any of the {plural(len(found), 'dataset')}")
        return [f"No system leads clearly on {where}: each best system's lead over the "
                "runner-up has a 95 % interval that includes 0."]
    rest = len(found) - len(clear)
    return ["A clear lead (the paired 95 % interval over the runner-up excludes 0): "
            + "; ".join(f"{f.system} on {f.dataset}" for f in clear)
            + ("." if not rest else "; none on the other dataset." if rest == 1 else
               f"; none on the other {rest} datasets.")]


def scope_sentence(s: Scope) -> str:
    tasks = Counter(d.task_type for d in s.datasets)
    kinds = ", ".join(f"{n} {task}" for task, n in sorted(tasks.items()))
    b = s.budget
    trials = (f", at most {plural(b['max_trials'], 'trial')}" if b.get("max_trials") is not None
              else "")
    return (f"Compared {plural(len(s.systems), 'system')} ({', '.join(s.systems)}) on "
            f"{plural(len(s.datasets), 'dataset')} ({kinds}) over {plural(len(s.seeds), s.unit)}, "
            f"each run under the same budget: {b['wall_seconds']:g} s wall clock, "
            f"{plural(b['cores'], 'core')}, {b['memory_mb']:,} MB memory{trials}.")


def failed_systems(runs: Sequence[ReportRun], ranked: Sequence[str]) -> list[str]:
    """One sentence per system with failed runs: how many, why, and whether it is ranked."""
    lines = []
    for system in dict.fromkeys(r.system for r in runs):
        mine = [r for r in runs if r.system == system]
        failed = [r for r in mine if r.status != "ok"]
        if not failed:
            continue
        classes = Counter(r.failure_class or "unknown" for r in failed).most_common()
        why = classes[0][0] if len(classes) == 1 else ", ".join(f"{c} {n}" for c, n in classes)
        where = (", so it is not in the ranking" if system not in ranked else
                 "; it is ranked only on the seeds every system finished")
        lines.append(f"{system}: {len(failed)} of {plural(len(mine), 'run')} failed ({why})"
                     f"{where}.")
    return lines


def identical(runs: Sequence[ReportRun], compared: Sequence[str] | None = None,
              unit: str = "seed") -> list[str]:
    """Pairs of systems (among `compared`, when given) with the same reported and holdout
    scores on some of the dataset × seed pairs both finished, by the rule the charts mark them
    with: there their ranks and the tests between them say nothing."""
    keyed: dict[str, dict[tuple[str, str, int], tuple[float | None, float]]] = defaultdict(dict)
    configs: dict[str, list[int]] = defaultdict(list)
    for r in runs:
        if (r.status == "ok" and r.holdout_score is not None
                and (compared is None or r.system in compared)):
            keyed[r.system][r.dataset, r.split_fingerprint, r.seed] = (r.reported_score,
                                                                         r.holdout_score)
            configs[r.system].append(r.n_configs or 0)
    lines = []
    for a, b, same, n in same_series(keyed):
        evals = max(max(configs[a]), max(configs[b]))
        pairs = plural(n, f"dataset × {unit} pair")
        rest = ("so nothing tells them apart" if same == n else
                f"so what tells them apart rests on the other {n - same}")
        lines.append(f"{a} and {b} were identical (the same reported and holdout scores) on "
                     f"{f'all {pairs}' if same == n > 1 else f'{same} of {pairs}'} (each "
                     f"evaluated at most {plural(evals, 'configuration')}), {rest}.")
    return lines


def ranking(c: Comparison, obs: Sequence[Observation], baseline: str | None, unit: str
            ) -> list[str]:
    """The ranking sentence; when Friedman is significant only with the baseline in, the ranking
    among the other systems leads and the baseline's effect follows."""
    f = c.friedman
    others = [o for o in obs if o.system != baseline]
    if (baseline not in c.mean_ranks or f.p_value is None or f.p_value >= ALPHA
            or len({o.system for o in others}) < 2):
        return [sentences.ranking(c, unit)]
    without = compare(others, pairwise=False)  # only its ranks and Friedman test are read
    g = without.friedman
    if g.p_value is not None and g.p_value < ALPHA:  # significant without it too: say so
        return [f"Without the {baseline} baseline: " + sentences.ranking(without, unit),
                f"With {baseline} included the Friedman test gives "
                f"{fmt_p(f.p_value, named=True)}; {baseline} ranks last on "
                f"{_last(c, baseline)} of {plural(len(c.blocks), 'dataset')}."]
    return [f"Without the {baseline} baseline: " + sentences.ranking(without, unit),
            f"With {baseline} included the Friedman test gives {fmt_p(f.p_value, named=True)}, "
            f"but that difference comes from the baseline: every system beats a constant "
            "prediction, which is not a finding about the systems."]


def _last(c: Comparison, system: str) -> int:
    """On how many datasets `system` ranked last (ties for last included)."""
    last = 0
    for d in c.blocks:
        ranks = {cell.system: cell.rank for cell in c.cells
                 if cell.dataset == d and cell.rank is not None}
        last += ranks.get(system) == max(ranks.values(), default=None)
    return last


def audit_flags(audits: Sequence[AuditRow], runs: Sequence[ReportRun]) -> list[str]:
    """The serious audit checks that flagged something, with their counts (details under Audit
    checks)."""
    def family(a: AuditRow) -> str:  # "seed stability: a vs b" → "seed stability"
        return next((f for f in SERIOUS if a.check.startswith(f + ": ")), a.check)

    # starved runs have a sentence of their own (`starved`)
    flagged = Counter(family(a) for a in audits if a.flag and a.check != starvation.CHECK)
    total = Counter(family(a) for a in audits)
    verdicts = {check: Counter(a.verdict for a in audits if family(a) == check and a.flag
                               ).most_common(1)[0][0] for check in flagged}
    ok = [r for r in runs if r.status == "ok"]
    optimistic = sum(r.verdict == "optimistic" for r in ok)
    if optimistic:
        flagged["optimism"], total["optimism"] = optimistic, len(ok)
        verdicts["optimism"] = "reported score better than the holdout beyond its 95 % CI"
    order = [c for c in SERIOUS if c in flagged] + sorted(set(flagged) - set(SERIOUS))
    if not order:
        return []
    parts = [f"{SHOWN.get(check, check)} {flagged[check]} of {total[check]}"
             + (f" ('{verdicts[check]}')" if verdicts[check] != "look at this" else "")
             for check in order]
    return ["Audit flags (see Audit checks): " + "; ".join(parts) + "."]


def validated_on(reported_on: str | None) -> str:
    """What a reported score was measured on, in a few words, from the run's own account:
    "5-fold CV", "internal holdout (33 %)", "—" when not stated."""
    text = (reported_on or "").lower()
    kind = measured_on(reported_on).detail["kind"]  # the audit's reading of the same words
    if kind.startswith("cross-validation"):
        folds = re.search(r"(\d+)-fold", text)
        return f"{folds.group(1)}-fold CV" if folds else "k-fold CV"
    if kind.startswith("an internal holdout"):
        share = re.search(r"(\d+) ?%", text)
        return f"internal holdout ({share.group(1)} %)" if share else "internal holdout"
    return "—"


def validation(runs: Sequence[ReportRun]) -> str:
    """Each way a system's runs validated, the most frequent first."""
    ways = Counter(validated_on(r.reported_on) for r in runs if r.status == "ok")
    return ", ".join(w for w, _ in ways.most_common()) or "—"


def starved(runs: Sequence[ReportRun]) -> list[str]:
    """A sentence on the starved runs (`starvation.is_starved`)."""
    measured = [r for r in runs if starvation.cpu_wait(r) is not None]
    hungry = [r for r in measured if starvation.is_starved(r)]
    if not hungry:
        return []
    systems = ", ".join(sorted({r.system for r in hungry}))
    one = len(hungry) == 1
    return [f"{plural(len(hungry), 'run')} of {len(measured)} ({systems}) "
            f"{'was' if one else 'were'} starved of CPU: under {100 * starvation.SHARE:.0f} % "
            f"of {'its' if one else 'their'} cores' time through at least half "
            f"{'its' if one else 'their'} wall budget, for want of a CPU the machine gave to "
            f"other work. {'It is' if one else 'They are'} not a result, so "
            f"{'it is' if one else 'they are'} left out of the ranking and the comparisons, as "
            "failed runs are; rerun on a quieter machine (Budget compliance)."]


def executive(c: Comparison | None, obs: Sequence[Observation], scope: Scope,
              runs: Sequence[ReportRun], audits: Sequence[AuditRow],
              baseline: str | None, found: Sequence[DatasetLead] = ()
              ) -> tuple[list[str], list[str]]:
    """The summary's sentences: the headline (scope, ranking and what limits it, the
    datasets' clear leads (`found`), failed systems, audit flags), and the tests behind it."""
    lines = [scope_sentence(scope)]
    if c is None:
        lines.append("No run finished successfully, so no system is compared."
                     if not any(r.status == "ok" for r in runs) else
                     "No system is compared: every run that finished was starved of CPU.")
    else:
        lines += ranking(c, obs, baseline, scope.unit) + leads(found)
    lines += failed_systems(runs, c.systems if c else [])
    if c is not None:
        lines += [line for line in (sentences.small_sample(c),) if line]
    lines += identical(runs, c.systems if c else None, scope.unit)
    lines += starved(runs)
    lines += audit_flags(audits, runs)
    return lines, sentences.details(c, baseline) if c is not None else []
