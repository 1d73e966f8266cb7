"""The family-wise view counts statistical checks and the flags chance alone would raise."""

from __future__ import annotations

import pytest

from auditor.stats.chance import family_view, sentence


def test_expected_flags_sum_the_nominal_rates() -> None:
    audits = ([{"check": "overtuning", "flag": i == 0} for i in range(20)]
              + [{"check": "budget adequacy", "flag": True}])
    runs = [{"status": "ok", "verdict": v} for v in
            ["consistent"] * 9 + ["optimistic", "no verdict: interval has zero width"]]
    view = family_view(audits, runs)
    assert view["tests"] == 30 and view["flags"] == 2 and view["rule_checks"] == 1
    assert view["expected"] == pytest.approx(20 * 0.05 + 10 * 0.05)
    assert 0.7 < view["p_any"] < 0.8
    assert "chance alone would flag about 1.5" in sentence(view)
