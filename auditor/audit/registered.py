"""The audit's built-in checks, registered in the order their findings are stored."""

from __future__ import annotations

import contextlib

from adapters import registry
from adapters.metrics import get_metric
from adapters.spaces import SPACES
from auditor.audit import starvation
from auditor.audit.adequacy import assess
from auditor.audit.catalog import (
    Check,
    DatasetSubject,
    RunSubject,
    SplitSubject,
    holdout_of,
    register,
)
from auditor.audit.checks import (
    Finding,
    leakage_screen,
    measured_on,
    seed_stability,
    selection_bias,
    shared_rows,
    shared_rows_effect,
)
from auditor.audit.overtuning import overtuning
from auditor.store.records import StoredRun, StoredTrial


@register
class SharedRows(Check[SplitSubject]):
    name, scope = "duplicate rows across the split", "split"

    def findings(self, s: SplitSubject) -> list[Finding]:
        return [shared_rows(s.split.shared_holdout)]


@register
class LeakageScreen(Check[SplitSubject]):
    name, scope = "leakage screen", "split"

    def findings(self, s: SplitSubject) -> list[Finding]:
        sp = s.split
        return [leakage_screen(sp.search_X, sp.search_y, sp.holdout_X, sp.holdout_y,
                               sp.dataset.task_type)]


@register
class MeasuredOn(Check[RunSubject]):
    name, scope = "reported score measured on", "run"

    def findings(self, s: RunSubject) -> list[Finding]:
        return [measured_on(s.run.reported_on)]


@register
class SelectionBias(Check[RunSubject]):
    name, scope = "selection bias", "run"

    def findings(self, s: RunSubject) -> list[Finding]:
        return [selection_bias(s.run.n_configs, s.run.reported_on)]


@register
class BudgetOverrun(Check[RunSubject]):
    name, scope = "budget overrun", "run"

    def findings(self, s: RunSubject) -> list[Finding]:
        run = s.run
        if not run.overrun:
            return []
        return [Finding(self.name, True,
                        f"ran {run.wall_s:.1f} s against a wall budget of "
                        f"{run.budget['wall_seconds']:g} s",
                        {"wall_s": run.wall_s})]


def adequacy_finding(run: StoredRun, trials: list[StoredTrial]) -> Finding:
    """Budget adequacy of one run, by the rules of the kind its adapter declares."""
    metric = get_metric(run.metric)
    done = sorted((t for t in trials if t.status == "complete" and t.score is not None),
                  key=lambda t: t.end_s)
    kind, title, startup = None, run.system_ref, None
    with contextlib.suppress(registry.UnknownSystem):
        caps = registry.adapter_class(run.system_ref).capabilities
        kind, title = caps.search, caps.title or title
        startup = registry.load(run.system_ref, run.options).n_startup_trials
    a = assess([t.score for t in done if t.score is not None], [t.end_s for t in done],
               metric.greater_is_better, len(done), run.search_space, title, kind, startup)
    advice = f"; recommended: at least {a.recommended_trials} trials" if (
        a.recommended_trials) else ""
    return Finding("budget adequacy", a.verdict in ("inadequate", "marginal"),
                   f"budget {a.verdict}: " + "; ".join(a.reasons) + advice,
                   {"verdict": a.verdict, "reasons": a.reasons,
                    "recommended_trials": a.recommended_trials, **a.figures})


@register
class CPUShare(Check[RunSubject]):
    name, scope = starvation.CHECK, "run"

    def findings(self, s: RunSubject) -> list[Finding]:
        return starvation.finding(s.run)


@register
class BudgetAdequacy(Check[RunSubject]):
    name, scope = "budget adequacy", "run"

    def findings(self, s: RunSubject) -> list[Finding]:
        if not (s.trials or s.run.n_configs):
            return []
        return [adequacy_finding(s.run, s.trials)]


@register
class SharedRowsEffect(Check[RunSubject]):
    name, scope = "shared holdout rows", "run"

    def findings(self, s: RunSubject) -> list[Finding]:
        if s.split is None:
            return []
        shared, run = s.split.shared_holdout, s.run
        if not shared.any() or shared.all():
            return []
        _, lo, hi = holdout_of(run)
        return [shared_rows_effect(
            get_metric(run.metric), s.split.holdout_y, s.predictions(), shared,
            s.split.dataset.task_type != "regression", (hi - lo) / 2, run.seed)]


@register
class Overtuning(Check[RunSubject]):
    name, scope = "overtuning", "run"

    def findings(self, s: RunSubject) -> list[Finding]:
        run = s.run
        space = (run.search_space or {}).get("name")
        scored = [t for t in sorted(s.trials, key=lambda t: t.number) if t.score is not None]
        if s.split is None or space not in SPACES or not scored or not run.best_config:
            return []
        return [overtuning(get_metric(run.metric), s.split, space, s.predictions(),
                           scored[0].config, run.seed, s.cores)]


@register
class SeedStability(Check[DatasetSubject]):
    name, scope = "seed stability", "dataset"

    def findings(self, s: DatasetSubject) -> list[Finding]:
        holdout = {sys_: [holdout_of(r)[0] for r in s.runs if r.system == sys_]
                   for sys_ in {r.system for r in s.runs}}
        configs = {sys_: [r.best_config or {} for r in s.runs
                          if r.system == sys_] for sys_ in holdout}
        return seed_stability(holdout, configs)
