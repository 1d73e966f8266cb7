"""Render an audit as one self-contained HTML report (inline CSS and SVG, no scripts)."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from functools import cache
from pathlib import Path, PurePath
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup
from typing_extensions import TypeIs

from reports.anytime import anytime_svg
from reports.cd_diagram import cd_diagram_svg
from reports.charts import reported_vs_holdout_svg
from reports.tables import table_files, tables_dir

__all__ = ["render_report", "report_files"]

DASH = "—"
# a report without per-run detail (context key `detailed` false) shows at most this many rows of
# a per-run list (a check's flagged rows, the failures); its exported table has them all
DETAIL_ROWS = 100
VERDICT_STYLES = {"consistent": "good", "optimistic": "bad", "pessimistic": "info"}


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _present(value: float | None) -> TypeIs[float]:
    return not _missing(value)


def decimals(value: float, spread: float | None = None) -> int:
    """Decimals for a metric value: two significant digits of its CI's width `spread` when
    known, else by magnitude (three below 10, none from 1,000 up)."""
    if spread is not None and spread > 0 and math.isfinite(spread):
        return min(4, max(0, 1 - math.floor(math.log10(spread))))
    size = abs(value)
    return 3 if size < 10 else 2 if size < 100 else 1 if size < 1000 else 0


def fmt_score(value: float | None, signed: bool = False, places: int | None = None) -> str:
    """Metric value with `places` decimals (default: `decimals` by magnitude), thousands
    separated, never "-0.000"; `signed` adds an explicit + for gaps and differences."""
    if not _present(value):
        return DASH
    places = decimals(value) if places is None else places
    text = f"{value:{'+' if signed else ''},.{places}f}"
    if float(text.replace(",", "")) == 0:
        return f"{0:.{places}f}"
    return text


def fmt_interval(value: float | None, lo: float | None, hi: float | None,
                 signed: bool = False) -> tuple[str, str | None]:
    """A value and its "[lo, hi]", both at the precision the interval's width allows."""
    if not _present(value):
        return DASH, None
    if not _present(lo) or not _present(hi):
        return fmt_score(value, signed), None
    places = decimals(value, hi - lo)
    return (fmt_score(value, signed, places),
            f"[{fmt_score(lo, signed, places)}, {fmt_score(hi, signed, places)}]")


def fmt_lead(value: float, lo: float | None, hi: float | None) -> tuple[str, str | None]:
    """A lead and its interval as `fmt_interval` gives them, except that a lead which rounds to
    zero at that precision reads "less than" its last shown digit ("less than 0.001"), not
    "0.000"."""
    shown, ci = fmt_interval(value, lo, hi)
    if value != 0 and float(shown.replace(",", "")) == 0:
        places = decimals(value, hi - lo if _present(lo) and _present(hi) else None)
        shown = f"less than {10.0 ** -places:.{places}f}"
    return shown, ci


def is_wide(value: float | None, lo: float | None, hi: float | None,
            bounds: tuple[float, float] | None = None) -> bool:
    """An interval wider than a quarter of its metric's range (of the value's size when the
    metric is unbounded), which the summary calls too wide to pin the value down."""
    if not (_present(value) and _present(lo) and _present(hi)):
        return False
    b_lo, b_hi = bounds or (-math.inf, math.inf)
    scale = b_hi - b_lo if math.isfinite(b_hi - b_lo) else abs(value)
    return hi - lo > scale / 4


def fmt_like(value: float | None, lo: float | None, hi: float | None) -> str:
    """`value` at the precision of another value's interval [lo, hi] (a reported score beside
    its holdout score's CI)."""
    if not _present(value):
        return DASH
    spread = hi - lo if _present(lo) and _present(hi) else None
    return fmt_score(value, places=decimals(value, spread))


def fmt_count(value: float | None) -> str:
    """A count (or a mean of counts) as a whole number."""
    return f"{math.floor(value + 0.5):,}" if _present(value) else DASH


def fmt_source(source: str) -> str:
    """A dataset source for the client: a local file by its name only (the store keeps the
    path for the operator; the fingerprint identifies the data)."""
    if source.startswith("file:"):
        return f"file {PurePath(source.removeprefix('file:')).name}"
    return source


# an absolute folder path (not a URL's), up to the last slash before a file name
_FOLDERS = re.compile(r"(?<![\w.~:/-])/(?:[^\s\"'/:,;()\[\]<>]+/)+")
_ANCHORS = ("site-packages", "auditor", "adapters", "reports", "benchmarks", "tests")


def _short_folder(match: re.Match[str]) -> str:
    parts = match.group(0).strip("/").split("/")
    anchors = [i for i, part in enumerate(parts) if part in _ANCHORS]
    return "/".join(parts[anchors[-1] if anchors else -1:]) + "/"


def fmt_local_paths(text: str | None) -> str | None:
    """A failure's text for the client: absolute paths cut to what names the code (from
    site-packages or the project's package on; elsewhere the last folder and the file), so no
    local folder of the operator's machine shows. The store keeps the full text."""
    return _FOLDERS.sub(_short_folder, text) if text else text


def plural(n: float, word: str) -> str:
    """ "1 core", "2 cores"."""
    return f"{fmt_count(n)} {word}{'' if n == 1 else 's'}"


def fmt_seconds(value: float | None) -> str:
    return f"{value:,.1f}" if _present(value) else DASH


def fmt_mb(value: float | None) -> str:
    return f"{value:,.0f}" if _present(value) else DASH


def fmt_number(value: int | None) -> str:
    return DASH if value is None else f"{value:,}"


def fmt_p(value: float | None, named: bool = False) -> str:
    """A p-value with two significant digits, more where two would round it onto or across
    0.05, the level the report's verdicts use (0.0498 is not "0.05: significant"); below 0.001
    as "< 0.001". `named` puts "p" before it, for a sentence: "p = 0.03", "p < 0.001"."""
    if not _present(value):
        return DASH
    if value < 0.001:
        return "p < 0.001" if named else "< 0.001"
    digits = 2
    while digits < 6 and (float(f"{value:.{digits}g}") < 0.05) != (value < 0.05):
        digits += 1
    return f"p = {value:.{digits}g}" if named else f"{value:.{digits}g}"


def fmt_ratio(value: float | None) -> str:
    return f"{value:.2f}×" if _present(value) else DASH


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
        count=fmt_count,
        plural=plural,
        source=fmt_source,
        seconds=fmt_seconds,
        mb=fmt_mb,
        number=fmt_number,
        json=fmt_json,
        pvalue=fmt_p,
        ratio=fmt_ratio,
        verdict_style=lambda v: VERDICT_STYLES.get(v, "neutral"),
    )
    env.tests["missing"] = _missing
    env.globals["fmt_interval"] = fmt_interval
    env.globals["is_wide"] = is_wide
    env.globals["fmt_like"] = fmt_like
    env.globals["measured"] = measured_rates()
    env.globals["chart_row"] = chart_row
    env.globals["detail_rows"] = DETAIL_ROWS
    # The chart builders escape every text they emit, so their output is safe markup.
    env.globals["cd_chart"] = lambda cmp, systems: Markup(
        cd_diagram_svg(cmp["ranks"], cmp["nemenyi"]["critical_difference"],
                       cmp["nemenyi"]["cliques"], systems))
    return env


def _bounds(dataset: Mapping[str, Any]) -> tuple[float, float]:
    """The range the dataset's metric can take (context key `bounds`), unbounded without it."""
    lo, hi = dataset.get("bounds") or (-math.inf, math.inf)
    return float(lo), float(hi)


def measured_rates() -> dict[str, list[dict[str, Any]]]:
    """The rates `python -m benchmarks.calibration --write` measured, by verdict (procedures
    replaced since, marked "before" or "dropped", left out)."""
    rows = json.loads((Path(__file__).parent / "calibration.json").read_text())["rates"]
    out: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        if "(before)" not in r["case"] and "(dropped)" not in r["verdict"]:
            out.setdefault(r["verdict"], []).append(r)
    return out


def chart_row(dataset: Mapping[str, Any], systems: list[str], baseline: str | None = None
              ) -> dict[str, Any]:
    """A dataset's charts, equally tall so that neither leaves a blank band beside the other:
    "anytime" and "scatter" (reported vs holdout), each None when it has nothing to draw, and
    "empty", the one-line reasons of those left out. `systems` fixes each system's colour; the
    `baseline` is a reference, not a series."""
    def draw(min_height: int = 0) -> dict[str, str]:
        args = (dataset["runs"], dataset["metric"], dataset["greater_is_better"], systems,
                baseline, _bounds(dataset), min_height)
        return {"anytime": anytime_svg(*args), "scatter": reported_vs_holdout_svg(*args)}

    charts = draw()
    heights = {int(m[1]) for svg in charts.values() if (m := re.search(r'height="(\d+)"', svg))}
    if len(heights) > 1:
        charts = draw(max(heights))
    # The builders escape every text they emit, so their output is safe markup.
    return {**{k: Markup(svg) if svg.startswith("<svg") else None for k, svg in charts.items()},
            "empty": [Markup(svg) for svg in charts.values() if not svg.startswith("<svg")]}


def render_report(context: Mapping[str, Any], exports: str | None = None) -> str:
    """Render the report context (see the template for the keys it reads) to HTML; `exports`
    names the folder of the exported tables, when there is one."""
    failures = [
        {"dataset": ds["name"], **run}
        for ds in context["datasets"]
        for run in ds["runs"]
        if run["status"] != "ok"
    ]
    template = _environment().get_template("report.html.j2")
    context = {"baseline": None, "summary_lead": None, "detailed": True, **context}
    return template.render(context, system_order=_system_order(context), failures=failures,
                           exports=exports,
                           run_count=sum(len(ds["runs"]) for ds in context["datasets"]))


def report_files(context: Mapping[str, Any], path: Path) -> dict[Path, str]:
    """The report at `path` and its tables (context key `tables`) as CSV and JSON in the folder
    beside it: path → text."""
    if not context.get("tables"):
        return {path: render_report(context)}
    folder = tables_dir(path)
    tables = {folder / name: text for name, text in table_files(context["tables"]).items()}
    return {**tables, path: render_report(context, folder.name)}
