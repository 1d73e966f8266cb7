"""Suspicious runs: a holdout score too good to be honest.

A run is flagged when its holdout score reaches the metric's perfect value, or when it beats both
its own reported validation score beyond the optimism gap's 95 % CI (the gap's CI lies below 0)
and every other system on the same split beyond a paired bootstrap 95 % CI (the unpaired holdout
CIs when a peer's predictions are not at hand). An honest search rarely does better on unseen rows
than on the rows that chose it, and still beat every rival by a clear margin: either points to a
leak into the run (a feature that gives the target away, or labels reaching the system).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from adapters.metrics import Metric, get_metric
from auditor.audit.catalog import Check, RunSubject, holdout_of, predictions_file, register
from auditor.audit.checks import Finding
from auditor.store.records import StoredRun

PERFECT_TOL = 1e-12


def perfect_value(metric: Metric) -> float:
    """The best score the metric can take (may be infinite: no perfect value)."""
    return metric.bounds[1] if metric.greater_is_better else metric.bounds[0]


def suspected(metric: Metric, holdout: float, gap_hi: float | None, beats: Sequence[bool]
              ) -> tuple[bool, bool]:
    """(flagged, at the perfect value): the holdout score is perfect, or it beats the run's own
    validation score beyond the gap's CI (`gap_hi` < 0) and every peer beyond its CI (`beats`)."""
    perfect = perfect_value(metric)
    at_perfect = math.isfinite(perfect) and abs(holdout - perfect) <= PERFECT_TOL
    return at_perfect or (gap_hi is not None and gap_hi < 0 and bool(beats) and all(beats)), \
        at_perfect


def _beats(s: RunSubject, metric: Metric, peer: StoredRun) -> tuple[bool, float, float]:
    """Whether the run beats `peer` on the holdout beyond the CI, and that CI (in the better
    direction: positive means the run is better)."""
    run, path = s.run, predictions_file(s.out, peer)
    if s.split is not None and path.is_file():
        _, lo, hi = s.paired_gain(metric, peer)
    else:  # unpaired: the gap between the two holdout intervals
        sign = 1.0 if metric.greater_is_better else -1.0
        ends = sorted(sign * (a - b) for a in holdout_of(run)[1:] for b in holdout_of(peer)[1:])
        lo, hi = ends[0], ends[-1]
    return bool(lo > 0), float(lo), float(hi)


@register
class LeakageSuspect(Check[RunSubject]):
    name, scope = "suspicious: check for leakage", "run"

    def findings(self, s: RunSubject) -> list[Finding]:
        run = s.run
        metric = get_metric(run.metric)
        holdout = holdout_of(run)[0]
        versus = {p.system: _beats(s, metric, p) for p in s.peers}
        flagged, at_perfect = suspected(metric, holdout, run.gap_hi,
                                        [b for b, _, _ in versus.values()])
        beats_own = run.gap_hi is not None and run.gap_hi < 0
        detail = {"holdout": holdout, "perfect": perfect_value(metric), "at_perfect": at_perfect,
                  "beats_own_validation": beats_own,
                  "versus": {k: {"beats": b, "lo": lo, "hi": hi}
                             for k, (b, lo, hi) in versus.items()}}
        if at_perfect:
            summary = (f"suspicious: the holdout {metric.name} is {holdout:.4g}, the metric's "
                       "perfect value; check for leakage (a feature or a route that gives the "
                       "target away)")
        elif flagged:
            summary = (f"suspicious: the holdout {metric.name} {holdout:.4g} beats the system's "
                       f"own validation score ({run.reported_score:.4g}) beyond the gap's "
                       f"95 % CI and each of the {len(versus)} other systems on this split beyond "
                       "the 95 % CI; check for leakage")
        else:
            summary = (f"nothing suspicious: the holdout {metric.name} is not perfect and does "
                       "not beat both its own validation score and every other system on this "
                       "split beyond the CI")
        return [Finding(self.name, flagged, summary, detail)]
