"""The family-wise view: how many statistical checks ran, and how many flags chance alone
would raise among them if every run were honest.

Each statistical check flags an honest run at most at its nominal false-alarm rate (measured
by `python -m benchmarks.calibration`); the sum over the checks run is the count of flags to
expect from chance alone. Rule-based checks (budget rules, duplicates, what the score was
measured on, overruns, the leakage screen's thresholds) are not tests and are counted apart.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

# nominal false-alarm rate per check: the optimism verdict flags either side of a 95 % CI; the
# overtuning check tests against two references, one-sided at 2.5 % each; the shared-rows
# effect is one-sided at 2.5 %
CHANCE_RATE = {"optimism": 0.05, "overtuning": 0.05, "shared holdout rows": 0.025}
OPTIMISM_FLAGS = ("optimistic", "pessimistic")


@dataclass(frozen=True)
class CheckTally:
    check: str
    tests: int
    rate: float
    flags: int
    expected: float


@dataclass(frozen=True)
class FamilyView:
    tests: int
    flags: int
    expected: float
    p_any: float  # probability that chance alone raises at least one flag
    rule_checks: int  # checks that are rules, not tests
    by_check: list[CheckTally]


def family_view(checks: Sequence[tuple[str, bool]], verdicts: Sequence[str | None]
                ) -> FamilyView:
    """Per statistical check: tests run, flags raised, flags expected from chance alone.

    `checks` are the audits' (check name, flagged); `verdicts` the optimism verdicts of the
    successful runs."""
    rows = [(check, bool(flag)) for check, flag in checks if check in CHANCE_RATE]
    rows += [("optimism", v in OPTIMISM_FLAGS) for v in verdicts
             if v and v != "no reported score" and not v.startswith("no verdict")]
    by_check = []
    for check, rate in CHANCE_RATE.items():
        flags = [flag for name, flag in rows if name == check]
        if flags:
            by_check.append(CheckTally(check, len(flags), rate, sum(flags), rate * len(flags)))
    rates = [CHANCE_RATE[name] for name, _ in rows]
    return FamilyView(len(rows), sum(flag for _, flag in rows), float(sum(rates)),
                      float(1 - np.prod([1 - p for p in rates])) if rates else 0.0,
                      sum(check not in CHANCE_RATE for check, _ in checks), by_check)


def sentence(view: FamilyView) -> str:
    """The family-wise view in one sentence for the report's summary."""
    if not view.tests:
        return "No statistical check ran, so chance alone raised no flag."
    return (f"{view.tests} statistical checks ran (optimism, overtuning, shared rows) and "
            f"flagged {view.flags}; chance alone would flag about {view.expected:.1f} of "
            f"them if every run were honest (at least one with probability "
            f"{view.p_any:.0%}), so a few flags on their own are no evidence of a problem.")
