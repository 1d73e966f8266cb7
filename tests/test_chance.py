"""The family-wise view counts statistical checks and the flags chance alone would raise."""

from __future__ import annotations

import pytest

from auditor.stats.chance import family_view, sentence


def test_expected_flags_sum_the_nominal_rates() -> None:
    checks = [("overtuning", i == 0) for i in range(20)] + [("budget adequacy", True)]
    verdicts = ["consistent"] * 9 + ["optimistic", "no verdict: interval has zero width", None]
    view = family_view(checks, verdicts)
    assert (view.tests, view.flags, view.rule_checks) == (30, 2, 1)
    assert view.expected == pytest.approx(20 * 0.05 + 10 * 0.05)
    assert [(t.check, t.tests, t.flags) for t in view.by_check] == [
        ("optimism", 10, 1), ("overtuning", 20, 1)]
    assert 0.7 < view.p_any < 0.8
    assert "chance alone would flag about 1.5" in sentence(view)
