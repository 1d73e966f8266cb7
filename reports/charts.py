"""Inline SVG charts, built as plain strings with every text escaped."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

# Okabe-Ito colours (yellow left out: too faint on white), paired with distinct markers.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#000000")
MARKERS = ("circle", "square", "triangle", "diamond")
NO_RUNS = '<p class="chart-empty">no successful runs</p>'

_PLOT = 300  # side of the square plot area, px
_LEFT, _TOP, _BOTTOM, _GAP = 62, 14, 46, 22
_ROW = 18  # legend row height, px
_MAX_LABEL = 28  # legend characters before truncation
_INK, _MUTED, _GRID = "#1f2933", "#616e7c", "#e4e7eb"


def _num(value: float) -> str:
    return f"{value:.3f}"


def _nice_step(span: float) -> float:
    raw = span / 5
    magnitude = 10 ** math.floor(math.log10(raw))
    return next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)


def _axis(values: Sequence[float]) -> tuple[float, float, list[float], int]:
    """Shared x/y domain snapped to tick multiples, the ticks, and their decimals."""
    lo, hi = min(values), max(values)
    pad = (hi - lo) * 0.06 if hi > lo else abs(lo) * 0.05 or 0.05
    lo, hi = lo - pad, hi + pad
    step = _nice_step(hi - lo)
    first, last = math.floor(lo / step), math.ceil(hi / step)
    decimals = max(0, -math.floor(math.log10(step) + 1e-9))
    ticks = [round(i * step, decimals + 2) for i in range(first, last + 1)]
    return ticks[0], ticks[-1], ticks, decimals


def _marker(kind: str, x: float, y: float, colour: str) -> str:
    style = f'fill="{colour}" stroke="#ffffff" stroke-width="1"'
    if kind == "circle":
        return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4.5" {style}/>'
    if kind == "square":
        return f'<rect x="{x - 4:.1f}" y="{y - 4:.1f}" width="8" height="8" {style}/>'
    if kind == "triangle":
        pts = f"{x:.1f},{y - 5:.1f} {x + 5:.1f},{y + 4:.1f} {x - 5:.1f},{y + 4:.1f}"
    else:
        pts = f"{x:.1f},{y - 5.5:.1f} {x + 5:.1f},{y:.1f} {x:.1f},{y + 5.5:.1f} {x - 5:.1f},{y:.1f}"
    return f'<polygon points="{pts}" {style}/>'


def _text(x: float, y: float, label: str, attrs: str = "") -> str:
    return f'<text x="{x:.1f}" y="{y:.1f}"{attrs}>{escape(label)}</text>'


def _hover(run: Mapping[str, Any], metric: str) -> str:
    lines = [f"{run['system']} · seed {run['seed']}"]
    lines.append(f"reported {metric}: {_num(run['reported'])}")
    holdout = f"holdout {metric}: {_num(run['holdout'])}"
    if run.get("holdout_lo") is not None and run.get("holdout_hi") is not None:
        holdout += f" [{_num(run['holdout_lo'])}, {_num(run['holdout_hi'])}]"
    lines.append(holdout)
    if run.get("verdict"):
        lines.append(f"verdict: {run['verdict']}")
    return escape("\n".join(lines))


def reported_vs_holdout_svg(
    runs: Sequence[Mapping[str, Any]],
    metric: str,
    greater_is_better: bool,
    systems: Sequence[str] | None = None,
) -> str:
    """Scatter of reported (x) vs holdout (y) scores with holdout 95% CI bars and y = x.

    `systems` fixes the colour order so a system keeps its colour across charts. Runs lacking a
    reported or holdout score are skipped; without any successful run a short note is returned.
    """
    ok = [r for r in runs if r.get("status") == "ok"]
    if not ok:
        return NO_RUNS
    points = [r for r in ok if r.get("reported") is not None and r.get("holdout") is not None]
    values = [
        r[key]
        for r in ok
        for key in ("reported", "holdout", "holdout_lo", "holdout_hi")
        if r.get(key) is not None
    ]
    lo, hi, ticks, decimals = _axis(values or [0.0, 1.0])
    order = list(systems or [])
    order += sorted({r["system"] for r in points} - set(order))
    shown = [s for s in order if any(r["system"] == s for r in points)]

    def sx(v: float) -> float:
        return _LEFT + (v - lo) / (hi - lo) * _PLOT

    def sy(v: float) -> float:
        return _TOP + _PLOT - (v - lo) / (hi - lo) * _PLOT

    def style(system: str) -> tuple[str, str]:
        i = order.index(system)
        return MARKERS[i % len(MARKERS)], PALETTE[i % len(PALETTE)]

    arrow = "↑" if greater_is_better else "↓"
    labels = [s if len(s) <= _MAX_LABEL else s[: _MAX_LABEL - 1] + "…" for s in shown]
    legend_w = 24 + 6.5 * max((len(s) for s in labels), default=0)
    width = _LEFT + _PLOT + _GAP + legend_w + 8
    height = max(_TOP + _PLOT + _BOTTOM, _TOP + _ROW * len(shown) + 8)
    bottom, right = _TOP + _PLOT, _LEFT + _PLOT
    diag_x, diag_y = _LEFT + 0.88 * _PLOT, _TOP + 0.12 * _PLOT

    parts = [
        f'<svg class="chart" role="img" width="{width:.0f}" height="{height}" '
        f'viewBox="0 0 {width:.0f} {height}" data-points="{len(points)}" '
        f'font-family="system-ui, sans-serif" font-size="11" fill="{_INK}">',
        f"<title>{escape(f'Reported vs holdout {metric}')}</title>",
        f'<rect x="{_LEFT}" y="{_TOP}" width="{_PLOT}" height="{_PLOT}" fill="#ffffff" '
        f'stroke="{_MUTED}"/>',
    ]
    # Shade where the reported score beats the holdout score (optimistic claims).
    corner_x, corner_y = (right, bottom) if greater_is_better else (_LEFT, _TOP)
    parts.append(
        f'<polygon points="{_LEFT},{bottom} {corner_x},{corner_y} {right},{_TOP}" '
        'fill="#f3ece4" stroke="none"/>'
    )
    label_y = bottom - 8 if greater_is_better else _TOP + 14
    anchor = "end" if greater_is_better else "start"
    label_x = right - 6 if greater_is_better else _LEFT + 6
    parts.append(
        _text(label_x, label_y, "optimistic region",
              f' text-anchor="{anchor}" fill="#8a6d4b" font-style="italic"')
    )
    for t in ticks:
        label = f"{t:.{decimals}f}"
        parts += [
            f'<line x1="{sx(t):.1f}" y1="{_TOP}" x2="{sx(t):.1f}" y2="{bottom}" '
            f'stroke="{_GRID}" stroke-width="0.6"/>',
            f'<line x1="{_LEFT}" y1="{sy(t):.1f}" x2="{right}" y2="{sy(t):.1f}" '
            f'stroke="{_GRID}" stroke-width="0.6"/>',
            f'<line x1="{sx(t):.1f}" y1="{bottom}" x2="{sx(t):.1f}" y2="{bottom + 4}" '
            f'stroke="{_MUTED}"/>',
            f'<line x1="{_LEFT - 4}" y1="{sy(t):.1f}" x2="{_LEFT}" y2="{sy(t):.1f}" '
            f'stroke="{_MUTED}"/>',
            _text(sx(t), bottom + 16, label, ' text-anchor="middle"'),
            _text(_LEFT - 7, sy(t) + 3.5, label, ' text-anchor="end"'),
        ]
    parts += [
        f'<line x1="{_LEFT}" y1="{bottom}" x2="{right}" y2="{_TOP}" stroke="{_MUTED}" '
        'stroke-dasharray="5 4"/>',
        _text(diag_x, diag_y - 5, "y = x",
              f' text-anchor="middle" fill="{_MUTED}" transform="rotate(-45 {diag_x:.1f} '
              f'{diag_y:.1f})"'),
        _text(_LEFT + _PLOT / 2, bottom + 36, f"reported {metric} {arrow}",
              ' text-anchor="middle" font-weight="600"'),
        _text(16, _TOP + _PLOT / 2, f"holdout {metric} {arrow}",
              f' text-anchor="middle" font-weight="600" transform="rotate(-90 16 '
              f'{_TOP + _PLOT / 2:.1f})"'),
    ]
    if not points:
        parts.append(_text(_LEFT + _PLOT / 2, _TOP + _PLOT / 2, "no run has both scores",
                           f' text-anchor="middle" fill="{_MUTED}"'))
    for run in points:
        kind, colour = style(run["system"])
        x, y = sx(run["reported"]), sy(run["holdout"])
        group = [f'<g class="point"><title>{_hover(run, metric)}</title>']
        if run.get("holdout_lo") is not None and run.get("holdout_hi") is not None:
            y_lo, y_hi = sy(run["holdout_lo"]), sy(run["holdout_hi"])
            group += [
                f'<line x1="{x:.1f}" y1="{y_lo:.1f}" x2="{x:.1f}" y2="{y_hi:.1f}" '
                f'stroke="{colour}" stroke-width="1.4"/>',
                f'<line x1="{x - 3:.1f}" y1="{y_lo:.1f}" x2="{x + 3:.1f}" y2="{y_lo:.1f}" '
                f'stroke="{colour}" stroke-width="1.4"/>',
                f'<line x1="{x - 3:.1f}" y1="{y_hi:.1f}" x2="{x + 3:.1f}" y2="{y_hi:.1f}" '
                f'stroke="{colour}" stroke-width="1.4"/>',
            ]
        group += [_marker(kind, x, y, colour), "</g>"]
        parts.append("".join(group))
    legend_x = right + _GAP
    for i, (system, label) in enumerate(zip(shown, labels, strict=True)):
        kind, colour = style(system)
        y = _TOP + 8 + i * _ROW
        parts.append(
            f"<g><title>{escape(system)}</title>{_marker(kind, legend_x + 5, y, colour)}"
            f"{_text(legend_x + 16, y + 4, label)}</g>"
        )
    parts.append("</svg>")
    return "\n".join(parts)
