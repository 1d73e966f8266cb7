"""Render a vendor-claim report: claimed vs sealed-holdout score, verdict, budget adequacy."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from reports import _environment
from reports.tables import write_atomic

VERDICT_STYLES = {"confirmed": "good", "optimistic": "warn", "not reproduced": "bad",
                  "adequate": "good", "marginal": "warn", "inadequate": "bad", "unknown": "neutral"}


def render_claim(context: Mapping[str, Any]) -> str:
    template = _environment().get_template("claim.html.j2")
    return template.render(**context, verdict_styles=VERDICT_STYLES)


def write_claim(context: Mapping[str, Any], path: Path) -> None:
    write_atomic(path, render_claim(context))
