"""The family-wise view: how many statistical checks ran, and how many flags chance alone
would raise among them if every run were honest.

Each statistical check flags an honest run at most at its nominal false-alarm rate (measured
by `python -m benchmarks.calibration`); the sum over the checks run is the count of flags to
expect from chance alone. Rule-based checks (budget rules, duplicates, what the score was
measured on, overruns, the leakage screen's thresholds) are not tests and are counted apart.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

# nominal false-alarm rate per check: the optimism verdict flags either side of a 95 % CI; the
# overtuning check tests against two references, one-sided at 2.5 % each; the shared-rows
# effect is one-sided at 2.5 %
CHANCE_RATE = {"optimism": 0.05, "overtuning": 0.05, "shared holdout rows": 0.025}
OPTIMISM_FLAGS = ("optimistic", "pessimistic")


def family_view(audits: Sequence[dict[str, Any]], runs: Sequence[dict[str, Any]]
                ) -> dict[str, Any]:
    """Per statistical check: tests run, flags raised, flags expected from chance alone."""
    rows = [{"check": a["check"], "flag": bool(a["flag"])} for a in audits
            if a["check"] in CHANCE_RATE]
    rows += [{"check": "optimism", "flag": r["verdict"] in OPTIMISM_FLAGS} for r in runs
             if r["status"] == "ok" and r["verdict"] and r["verdict"] != "no reported score"
             and not r["verdict"].startswith("no verdict")]
    by_check = []
    for check, rate in CHANCE_RATE.items():
        mine = [r for r in rows if r["check"] == check]
        if mine:
            by_check.append({"check": check, "tests": len(mine), "rate": rate,
                             "flags": sum(r["flag"] for r in mine),
                             "expected": rate * len(mine)})
    rates = [CHANCE_RATE[r["check"]] for r in rows]
    return {"tests": len(rows), "flags": sum(r["flag"] for r in rows),
            "expected": float(sum(rates)),
            "p_any": float(1 - np.prod([1 - p for p in rates])) if rates else 0.0,
            "rule_checks": sum(a["check"] not in CHANCE_RATE for a in audits),
            "by_check": by_check}


def sentence(view: dict[str, Any]) -> str:
    """The family-wise view in one sentence for the report's summary."""
    if not view["tests"]:
        return "No statistical check ran, so chance alone raised no flag."
    return (f"{view['tests']} statistical checks ran (optimism, overtuning, shared rows) and "
            f"flagged {view['flags']}; chance alone would flag about {view['expected']:.1f} of "
            f"them if every run were honest (at least one with probability "
            f"{view['p_any']:.0%}), so a few flags on their own are no evidence of a problem.")
