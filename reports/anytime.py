"""Anytime curves as inline SVG small multiples: the incumbent's validation score against wall
time, CPU time and evaluations, one step line per run, coloured by system."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from reports.charts import (
    _GRID,
    _INK,
    _MUTED,
    PALETTE,
    UNBOUNDED,
    _axis,
    _nice_step,
    _text,
    overlap_note,
    same_series,
)

NO_TRAJECTORIES = ('<p class="chart-empty">No anytime chart: no run recorded its trial history.'
                   "</p>")
# (trajectory column, run field that ends the line, panel title)
PANELS = ((0, "search_s", "wall time, s"), (1, "compute_cpu_s", "CPU time, s"),
          (2, "n_configs", "evaluations"))
_W, _H = 160, 254  # one panel's plot area, px: as tall as the reported-vs-holdout chart beside it
_LEFT, _TOP, _BOTTOM, _GAP, _ROW = 62, 26, 40, 28, 18
_MAX_LABEL = 28


def _x_ticks(hi: float) -> tuple[float, list[float]]:
    """Ticks from 0 to a round number at or above `hi`."""
    hi = hi if hi > 0 else 1.0
    step = _nice_step(hi * 1.05)
    ticks = [i * step for i in range(math.ceil(hi * 1.0001 / step) + 1)]
    return ticks[-1], ticks


def _label(value: float) -> str:
    """An x tick: "500", "1.5k", "20k" (no exponent, short enough for a panel's ticks)."""
    return f"{value:g}" if value < 1000 else f"{value / 1000:g}k"


def anytime_svg(runs: Sequence[Mapping[str, Any]], metric: str, greater_is_better: bool,
                systems: Sequence[str], baseline: str | None = None,
                bounds: tuple[float, float] = UNBOUNDED, min_height: int = 0) -> str:
    """`runs`: run views with `trajectory` rows [wall s, CPU s, evaluations, incumbent score];
    `systems` fixes each system's colour; the value axis stays within the metric's `bounds`;
    the chart is at least `min_height` px tall (as tall as a chart beside it).
    Runs without a trajectory and the `baseline`'s (which searches nothing) are left out; so is
    a panel where no run went past one evaluation."""
    shown = [r for r in runs if r.get("trajectory")]
    if any(r["system"] != baseline for r in shown):
        shown = [r for r in shown if r["system"] != baseline]
    if not shown:
        return NO_TRAJECTORIES
    y_lo, y_hi, y_ticks, decimals = _axis(
        [p[3] for r in shown for p in r["trajectory"] if math.isfinite(p[3])] or [0.0, 1.0],
        bounds)
    panels = [p for p in PANELS if p[0] != 2 or max(
        max(q[2] for q in r["trajectory"]) for r in shown) > 1]
    order = list(systems) + sorted({r["system"] for r in shown} - set(systems))
    legend = [s for s in order if any(r["system"] == s for r in shown)]
    labels = [s if len(s) <= _MAX_LABEL else s[: _MAX_LABEL - 1] + "…" for s in legend]
    # the same incumbents at the same evaluations draw on top of each other (the seconds
    # between them differ run to run by the machine's timing, not by what was found)
    keyed = {s: {(r["seed"], r.get("repeat"), r.get("fold")):
                 [(p[2], p[3]) for p in r["trajectory"]] for r in shown if r["system"] == s}
             for s in legend}
    notes = [n for n in (overlap_note(same_series(keyed)),
                         "" if len(panels) == len(PANELS) else
                         "No evaluations panel: no run evaluated more than one configuration.")
             if n]
    panels_w = len(panels) * _W + (len(panels) - 1) * _GAP
    width = max([_LEFT + panels_w + 30 + 24 + 6.5 * max(len(s) for s in labels)]
                + [_LEFT + 6.2 * len(n) for n in notes])
    height = max(_TOP + _H + _BOTTOM + 15 * len(notes), _TOP + _ROW * len(legend) + 8,
                 min_height)
    bottom = _TOP + _H
    arrow = "↑" if greater_is_better else "↓"

    def sy(v: float) -> float:
        return bottom - (v - y_lo) / (y_hi - y_lo) * _H

    parts = [
        f'<svg class="chart anytime" role="img" width="{width:.0f}" height="{height}" '
        f'viewBox="0 0 {width:.0f} {height}" data-runs="{len(shown)}" '
        f'data-domain="{y_lo:g} {y_hi:g}" data-bounds="{bounds[0]:g} {bounds[1]:g}" '
        f'font-family="system-ui, sans-serif" font-size="11" fill="{_INK}">',
        f"<title>{escape(f'Incumbent validation {metric} over the search')}</title>",
        _text(16, _TOP + _H / 2, f"validation {metric} {arrow}",
              f' text-anchor="middle" font-weight="600" transform="rotate(-90 16 '
              f'{_TOP + _H / 2:.1f})"'),
    ]
    for i, note in enumerate(notes):
        parts.append(_text(_LEFT, bottom + 34 + 15 * i, note, f' fill="{_MUTED}"'))
    for n, (column, end_field, title) in enumerate(panels):
        x0 = _LEFT + n * (_W + _GAP)
        ends = [max([p[column] for p in r["trajectory"]] + [r.get(end_field) or 0.0])
                for r in shown]
        x_hi, x_ticks = _x_ticks(max(ends))

        def sx(v: float, x0: float = x0, x_hi: float = x_hi) -> float:
            return x0 + v / x_hi * _W

        parts += [f'<rect x="{x0}" y="{_TOP}" width="{_W}" height="{_H}" fill="#ffffff" '
                  f'stroke="{_MUTED}"/>',
                  _text(x0 + _W / 2, _TOP - 8, title, ' text-anchor="middle" font-weight="600"')]
        for t in x_ticks:
            parts += [f'<line x1="{sx(t):.1f}" y1="{_TOP}" x2="{sx(t):.1f}" y2="{bottom}" '
                      f'stroke="{_GRID}" stroke-width="0.6"/>',
                      _text(sx(t), bottom + 15, _label(t), ' text-anchor="middle"')]
        for t in y_ticks:
            parts.append(f'<line x1="{x0}" y1="{sy(t):.1f}" x2="{x0 + _W}" y2="{sy(t):.1f}" '
                         f'stroke="{_GRID}" stroke-width="0.6"/>')
            if n == 0:
                parts.append(_text(x0 - 7, sy(t) + 3.5, f"{t:.{decimals}f}",
                                   ' text-anchor="end"'))
        for run, end in zip(shown, ends, strict=True):
            colour = PALETTE[order.index(run["system"]) % len(PALETTE)]
            points: list[tuple[float, float]] = []
            for p in run["trajectory"]:
                if points:
                    points.append((sx(p[column]), points[-1][1]))
                points.append((sx(p[column]), sy(p[3])))
            points.append((sx(end), points[-1][1]))
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
            hover = escape(f"{run['system']} · seed {run['seed']}")
            parts.append(
                f'<g class="run"><title>{hover}</title><polyline points="{path}" fill="none" '
                f'stroke="{colour}" stroke-width="1.5" stroke-opacity="0.8"/>'
                + "".join(f'<circle cx="{sx(p[column]):.1f}" cy="{sy(p[3]):.1f}" r="2.2" '
                          f'fill="{colour}"/>' for p in run["trajectory"])
                + "</g>")
    legend_x = _LEFT + panels_w + 30
    for i, (system, label) in enumerate(zip(legend, labels, strict=True)):
        colour = PALETTE[order.index(system) % len(PALETTE)]
        y = _TOP + 8 + i * _ROW
        parts.append(f'<g><title>{escape(system)}</title><line x1="{legend_x}" y1="{y}" '
                     f'x2="{legend_x + 14}" y2="{y}" stroke="{colour}" stroke-width="2.5"/>'
                     f"{_text(legend_x + 20, y + 4, label)}</g>")
    parts.append("</svg>")
    return "\n".join(parts)
