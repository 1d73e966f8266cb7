"""Calibration benchmark: how often each verdict of the auditor is wrong.

Simulated honest and dishonest systems on synthetic data with known population scores go
through the auditor's own verdict functions; every false-alarm rate, power and interval coverage
comes with a 95 % Wilson interval over the Monte Carlo replicates. `python -m
benchmarks.calibration` prints the table; `--quick` runs the small seeded version the tests use.
"""

from __future__ import annotations

from dataclasses import dataclass

from benchmarks.calibration.comparisons import clear_lead, leakage_suspicion, stability
from benchmarks.calibration.experiments import (
    Rate,
    budget_adequacy,
    doubling_gain_coverage,
    leakage,
    optimism_and_claims,
    overtuning,
    shared_rows,
)
from benchmarks.calibration.gate_pairings import gate_rates
from benchmarks.calibration.worlds import Sizes


@dataclass(frozen=True)
class Replicates:
    sizes: Sizes
    reps: int
    adequacy_reps: int
    worse: float  # the overtuning power case: incumbent worse by this much RMSE
    gate_reps: int  # regression-gate pairings on the shipped tables


FULL = Replicates(Sizes(search=5600, holdout=1400), reps=1000, adequacy_reps=1000, worse=0.05,
                  gate_reps=1000)
QUICK = Replicates(Sizes(search=1200, holdout=300), reps=400, adequacy_reps=200, worse=0.12,
                   gate_reps=200)


def run(plan: Replicates, seed: int = 0) -> list[Rate]:
    """Every measured rate of the plan."""
    return (optimism_and_claims(plan.sizes, plan.reps, seed)
            + overtuning(plan.sizes, plan.reps, seed, plan.worse)
            + shared_rows(plan.sizes, plan.adequacy_reps, seed)
            + leakage(plan.sizes, plan.adequacy_reps, seed)
            + leakage_suspicion(plan.sizes, plan.adequacy_reps, seed)
            + clear_lead(plan.sizes, plan.adequacy_reps, seed)
            + stability(plan.adequacy_reps, seed)
            + budget_adequacy(plan.adequacy_reps, seed)
            + doubling_gain_coverage(plan.adequacy_reps, seed)
            + gate_rates(plan.gate_reps, seed))


def mc_bound(r: Rate, ses: float = 3.0) -> float:
    """Largest false-alarm rate consistent with the nominal one: nominal + `ses` binomial
    standard errors at the replicate count."""
    assert r.nominal is not None
    return r.nominal + ses * (r.nominal * (1 - r.nominal) / r.n) ** 0.5


def table(rates: list[Rate], plan: Replicates) -> str:
    """A Markdown table of the rates with their Wilson intervals."""
    lines = [f"Holdout {plan.sizes.holdout} rows, search {plan.sizes.search} rows; "
             f"{plan.reps} replicates per case ({plan.adequacy_reps} for adequacy, shared rows, "
             f"leakage and comparisons; {plan.gate_reps} gate pairings).", "",
             "| verdict | case | measured | rate (95 % CI) | nominal | effect |",
             "|---|---|---|---|---|---|"]
    for r in rates:
        lo, hi = r.wilson()
        nominal = f"{r.nominal:.1%}" if r.nominal is not None else ""
        lines.append(f"| {r.verdict} | {r.case} | {r.kind} | {r.rate:.1%} ({lo:.1%}–{hi:.1%}) "
                     f"| {nominal} | {r.effect} |")
    return "\n".join(lines)
