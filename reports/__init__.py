"""Render an audit as one self-contained HTML report (inline CSS and SVG, no scripts)."""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from reports.charts import reported_vs_holdout_svg

__all__ = ["render_report", "write_report"]

DASH = "—"
VERDICT_STYLES = {"consistent": "good", "optimistic": "bad", "pessimistic": "info"}


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def fmt_score(value: float | None, signed: bool = False) -> str:
    """Score with three decimals; `signed` adds an explicit + for gaps."""
    return DASH if _missing(value) else f"{value:{'+' if signed else ''}.3f}"


def fmt_seconds(value: float | None) -> str:
    return DASH if _missing(value) else f"{value:,.1f}"


def fmt_mb(value: float | None) -> str:
    return DASH if _missing(value) else f"{value:,.0f}"


def fmt_number(value: int | None) -> str:
    return DASH if value is None else f"{value:,}"


def fmt_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(", ", ": "), default=str)


def _system_order(context: Mapping[str, Any]) -> list[str]:
    return sorted({run["system"] for ds in context["datasets"] for run in ds["runs"]})


@cache
def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        score=fmt_score,
        seconds=fmt_seconds,
        mb=fmt_mb,
        number=fmt_number,
        json=fmt_json,
        verdict_style=lambda v: VERDICT_STYLES.get(v, "neutral"),
    )
    env.tests["missing"] = _missing
    env.globals["chart"] = _chart
    return env


def _chart(dataset: Mapping[str, Any], systems: list[str]) -> Markup:
    # The builder escapes every text it emits, so its output is safe markup.
    svg = reported_vs_holdout_svg(
        dataset["runs"], dataset["metric"], dataset["greater_is_better"], systems
    )
    return Markup(svg)


def render_report(context: dict) -> str:
    """Render the report context (see the template for the keys it reads) to HTML."""
    failures = [
        {"dataset": ds["name"], **run}
        for ds in context["datasets"]
        for run in ds["runs"]
        if run["status"] != "ok"
    ]
    template = _environment().get_template("report.html.j2")
    return template.render(context, system_order=_system_order(context), failures=failures)


def write_report(context: dict, path: Path) -> None:
    """Render and write atomically: a temp file in the same folder, then os.replace."""
    html = render_report(context)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(html)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
