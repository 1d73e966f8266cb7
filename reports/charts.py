"""Inline SVG charts, built as plain strings with every text escaped."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

# Okabe-Ito colours (yellow left out: too faint on white), paired with distinct markers.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#000000")
MARKERS = ("circle", "square", "triangle", "diamond")
NO_RUNS = '<p class="chart-empty">No reported-vs-holdout chart: no run succeeded.</p>'

_PLOT = 260  # side of the square plot area, px
_LEFT, _TOP, _BOTTOM, _GAP = 62, 14, 46, 22
_ROW = 18  # legend row height, px
_MAX_LABEL = 28  # legend characters before truncation
_INK, _MUTED, _GRID = "#1f2933", "#616e7c", "#e4e7eb"
UNBOUNDED = (-math.inf, math.inf)


def _num(value: float) -> str:
    return f"{value:,.{_places(value)}f}"


def _nice_step(span: float) -> float:
    raw = span / 5
    magnitude = 10 ** math.floor(math.log10(raw))
    return next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)


def _axis(values: Sequence[float], bounds: tuple[float, float] = UNBOUNDED
          ) -> tuple[float, float, list[float], int]:
    """Domain snapped to tick multiples and kept within the metric's `bounds`, its ticks, and
    their decimals."""
    lo, hi = min(values), max(values)
    pad = (hi - lo) * 0.06 if hi > lo else abs(lo) * 0.05 or 0.05
    lo, hi = max(lo - pad, bounds[0]), min(hi + pad, bounds[1])
    step = _nice_step(hi - lo)
    first, last = math.floor(lo / step + 1e-9), math.ceil(hi / step - 1e-9)
    decimals = max(0, -math.floor(math.log10(step) + 1e-9))
    ticks = [round(i * step, decimals + 2) for i in range(first, last + 1)]
    lo, hi = max(first * step, bounds[0]), min(last * step, bounds[1])
    return lo, hi, [t for t in ticks if lo <= t <= hi], decimals


def same_series(keyed: Mapping[str, Mapping[Any, Any]]
                ) -> list[tuple[str, str, int, int]]:
    """Pairs of systems whose series (`keyed`: system → {run key: values}) are identical on
    some of the runs both have, so there one line or point hides the other: (a, b, identical
    runs, shared runs)."""
    names = list(keyed)
    pairs = []
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            shared = keyed[a].keys() & keyed[b].keys()
            same = sum(keyed[a][k] == keyed[b][k] for k in shared)
            if same:
                pairs.append((a, b, same, len(shared)))
    return pairs


def overlap_note(pairs: Sequence[tuple[str, str, int, int]]) -> str:
    """ "random and tpe identical on every run" (or "on 1 of 2 runs") for the chart's foot."""
    return "; ".join(f"{a} and {b} identical on "
                     f"{'every run' if same == n else f'{same} of {n} runs'}"
                     for a, b, same, n in pairs)


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


def _reference_note(refs: Sequence[float], lo: float, hi: float, baseline: str | None) -> str:
    """Where the baseline's mean holdout score is: a dotted line, or off the axis."""
    if not refs:
        return ""
    ref = sum(refs) / len(refs)
    where = "dotted line" if lo <= ref <= hi else f"{'below' if ref < lo else 'above'} the axis"
    return f"baseline {baseline}: mean holdout {ref:.{_places(ref)}f}, {where}"


def _places(value: float) -> int:
    return 3 if abs(value) < 10 else 1 if abs(value) < 1000 else 0


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
    baseline: str | None = None,
    bounds: tuple[float, float] = UNBOUNDED,
    min_height: int = 0,
) -> str:
    """Scatter of reported (x) vs holdout (y) scores with holdout 95% CI bars and y = x, axes
    within the metric's range `bounds`, at least `min_height` px tall (as tall as a chart
    beside it).

    `systems` fixes the colour order so a system keeps its colour across charts. The `baseline`
    system is a reference line at its mean holdout score, not points that stretch the axes. Runs
    lacking a reported or holdout score are skipped; without any successful run a short note is
    returned.
    """
    ok = [r for r in runs if r.get("status") == "ok"]
    if not ok:
        return NO_RUNS
    refs = [r["holdout"] for r in ok if r["system"] == baseline and r.get("holdout") is not None]
    if refs and len(refs) < len(ok):
        ok = [r for r in ok if r["system"] != baseline]
    else:
        refs = []
    points = [r for r in ok if r.get("reported") is not None and r.get("holdout") is not None]
    values = [
        r[key]
        for r in ok
        for key in ("reported", "holdout", "holdout_lo", "holdout_hi")
        if r.get(key) is not None and math.isfinite(r[key])
    ]
    lo, hi, ticks, decimals = _axis(values or [max(bounds[0], 0.0), min(bounds[1], 1.0)], bounds)
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
    keyed = {s: {(r["seed"], r.get("repeat"), r.get("fold")): (r["reported"], r["holdout"])
                 for r in points if r["system"] == s} for s in shown}
    notes = [n for n in (overlap_note(same_series(keyed)), _reference_note(refs, lo, hi, baseline))
             if n]
    height = max(_TOP + _PLOT + _BOTTOM + 15 * len(notes), _TOP + _ROW * len(shown) + 8,
                 min_height)
    width = max([width] + [_LEFT + 6.2 * len(n) for n in notes])
    bottom, right = _TOP + _PLOT, _LEFT + _PLOT
    # the y = x label at the end of the diagonal away from the points
    centre = sum(r["holdout"] for r in points) / len(points) if points else lo
    end = 0.12 if centre > (lo + hi) / 2 else 0.88
    diag_x, diag_y = _LEFT + end * _PLOT, _TOP + (1 - end) * _PLOT

    parts = [
        f'<svg class="chart" role="img" width="{width:.0f}" height="{height}" '
        f'viewBox="0 0 {width:.0f} {height}" data-points="{len(points)}" '
        f'data-domain="{lo:g} {hi:g}" data-bounds="{bounds[0]:g} {bounds[1]:g}" '
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
    if refs and lo <= (ref := sum(refs) / len(refs)) <= hi:
        parts.append(f'<line class="reference" x1="{_LEFT}" y1="{sy(ref):.1f}" x2="{right}" '
                     f'y2="{sy(ref):.1f}" stroke="{_MUTED}" stroke-width="1.2" '
                     'stroke-dasharray="2 3"/>')
    for i, note in enumerate(notes):
        parts.append(_text(_LEFT, bottom + 52 + 15 * i, note, f' fill="{_MUTED}"'))
    if not points:
        parts.append(_text(_LEFT + _PLOT / 2, _TOP + _PLOT / 2, "no run has both scores",
                           f' text-anchor="middle" fill="{_MUTED}"'))
    taken: dict[tuple[int, int], int] = {}  # pixel → points already drawn there
    for run in points:
        kind, colour = style(run["system"])
        x, y = sx(run["reported"]), sy(run["holdout"])
        # a point on top of another moves 5 px right, so both stay visible
        here = taken[round(x), round(y)] = taken.get((round(x), round(y)), -1) + 1
        x += 5 * here
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
