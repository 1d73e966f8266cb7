"""Render an audit as one self-contained HTML report (inline CSS and SVG, no scripts)."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from reports.anytime import anytime_svg
from reports.cd_diagram import cd_diagram_svg
from reports.charts import reported_vs_holdout_svg
from reports.tables import table_files, tables_dir

__all__ = ["render_report", "report_files"]

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


def fmt_p(value: float | None, named: bool = False) -> str:
    """A p-value with two significant digits; below 0.001 as "< 0.001". `named` puts "p" before
    it, for a sentence: "p = 0.03", "p < 0.001"."""
    if _missing(value):
        return DASH
    if value < 0.001:
        return "p < 0.001" if named else "< 0.001"
    return f"p = {value:.2g}" if named else f"{value:.2g}"


def fmt_ratio(value: float | None) -> str:
    return DASH if _missing(value) else f"{value:.2f}×"


def fmt_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(", ", ": "), default=str)


def _system_order(context: Mapping[str, Any]) -> list[str]:
    if context.get("system_order"):
        return list(context["system_order"])
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
        pvalue=fmt_p,
        ratio=fmt_ratio,
        verdict_style=lambda v: VERDICT_STYLES.get(v, "neutral"),
    )
    env.tests["missing"] = _missing
    env.globals["chart"] = _chart
    # The chart builders escape every text they emit, so their output is safe markup.
    env.globals["anytime_chart"] = lambda ds, systems: Markup(
        anytime_svg(ds["runs"], ds["metric"], ds["greater_is_better"], systems))
    env.globals["cd_chart"] = lambda cmp, systems: Markup(
        cd_diagram_svg(cmp["ranks"], cmp["nemenyi"]["critical_difference"],
                       cmp["nemenyi"]["cliques"], systems))
    return env


def _chart(dataset: Mapping[str, Any], systems: list[str]) -> Markup:
    # The builder escapes every text it emits, so its output is safe markup.
    svg = reported_vs_holdout_svg(
        dataset["runs"], dataset["metric"], dataset["greater_is_better"], systems
    )
    return Markup(svg)


def render_report(context: dict, exports: str | None = None) -> str:
    """Render the report context (see the template for the keys it reads) to HTML; `exports`
    names the folder of the exported tables, when there is one."""
    failures = [
        {"dataset": ds["name"], **run}
        for ds in context["datasets"]
        for run in ds["runs"]
        if run["status"] != "ok"
    ]
    template = _environment().get_template("report.html.j2")
    return template.render(context, system_order=_system_order(context), failures=failures,
                           exports=exports)


def report_files(context: dict, path: Path) -> dict[Path, str]:
    """The report at `path` and its tables (context key `tables`) as CSV and JSON in the folder
    beside it: path → text."""
    if not context.get("tables"):
        return {path: render_report(context)}
    folder = tables_dir(path)
    tables = {folder / name: text for name, text in table_files(context["tables"]).items()}
    return {**tables, path: render_report(context, folder.name)}
