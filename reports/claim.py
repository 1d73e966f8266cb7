"""Render a vendor-claim report: claimed vs sealed-holdout score, verdict, budget adequacy."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reports import _environment

VERDICT_STYLES = {"confirmed": "good", "optimistic": "warn", "not reproduced": "bad",
                  "adequate": "good", "marginal": "warn", "inadequate": "bad", "unknown": "neutral"}


def render_claim(context: Mapping[str, Any]) -> str:
    template = _environment().get_template("claim.html.j2")
    return template.render(**context, verdict_styles=VERDICT_STYLES)
