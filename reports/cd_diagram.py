"""Critical-difference diagram (Demšar 2006) as inline SVG: mean ranks on an axis, the Nemenyi
critical difference as a bar, and systems that are not significantly different joined by a line."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape

from reports.charts import _INK, _MUTED, PALETTE, _text

_WIDTH, _SIDE = 780, 240  # total width; room for the names on each side, px
_AXIS_Y, _CLIQUE_GAP, _ROW = 58, 7, 20
_MAX_LABEL = 24


def _short(name: str, most: int = _MAX_LABEL) -> str:
    return name if len(name) <= most else name[: most - 1] + "…"


def cd_diagram_svg(ranks: Sequence[Mapping[str, float | str]], critical_difference: float,
                   cliques: Sequence[Sequence[str]], systems: Sequence[str]) -> str:
    """`ranks`: rows {system, mean_rank}, best first; `systems` fixes each system's colour."""
    k = len(ranks)
    lo, hi = 1, max(k, 2)
    left, right = _SIDE, _WIDTH - _SIDE

    def sx(rank: float) -> float:
        return left + (rank - lo) / (hi - lo) * (right - left)

    names = [str(r["system"]) for r in ranks]
    values = [float(r["mean_rank"]) for r in ranks]
    first_row = _AXIS_Y + 16 + _CLIQUE_GAP * len(cliques)
    half = (k + 1) // 2
    height = first_row + _ROW * max(half, k - half) + 10
    parts = [
        f'<svg class="chart cd" role="img" width="{_WIDTH}" height="{height}" '
        f'viewBox="0 0 {_WIDTH} {height}" font-family="system-ui, sans-serif" font-size="12" '
        f'fill="{_INK}">',
        "<title>Critical-difference diagram: mean rank of each system (1 = best)</title>",
        f'<line x1="{left}" y1="{_AXIS_Y}" x2="{right}" y2="{_AXIS_Y}" stroke="{_INK}"/>',
    ]
    for tick in range(lo, hi + 1):
        x = sx(tick)
        parts += [f'<line x1="{x:.1f}" y1="{_AXIS_Y - 6}" x2="{x:.1f}" y2="{_AXIS_Y}" '
                  f'stroke="{_INK}"/>',
                  _text(x, _AXIS_Y - 10, str(tick), ' text-anchor="middle"')]
    cd_end = sx(min(lo + critical_difference, hi))
    parts += [
        f'<line x1="{left}" y1="24" x2="{cd_end:.1f}" y2="24" stroke="{_INK}" stroke-width="2"/>',
        f'<line x1="{left}" y1="19" x2="{left}" y2="29" stroke="{_INK}"/>',
        f'<line x1="{cd_end:.1f}" y1="19" x2="{cd_end:.1f}" y2="29" stroke="{_INK}"/>',
        _text((left + cd_end) / 2, 14, f"critical difference {critical_difference:.2f}",
              f' text-anchor="middle" fill="{_MUTED}"'),
    ]
    for i, clique in enumerate(cliques):
        members = [values[names.index(s)] for s in clique if s in names]
        y = _AXIS_Y + 10 + i * _CLIQUE_GAP
        parts.append(f'<line class="clique" x1="{sx(min(members)) - 4:.1f}" y1="{y}" '
                     f'x2="{sx(max(members)) + 4:.1f}" y2="{y}" stroke="{_INK}" '
                     'stroke-width="3" stroke-linecap="round"/>')
    for i, (name, rank) in enumerate(zip(names, values, strict=True)):
        on_left = i < half
        row = i if on_left else k - 1 - i
        y = first_row + row * _ROW
        x = sx(rank)
        end = left - 12 if on_left else right + 12
        colour = PALETTE[list(systems).index(name) % len(PALETTE)] if name in systems else _INK
        # a dot shared with another system (the same mean rank) says so, in the same room
        tied = values.count(rank) > 1
        shown = f"{rank:.2f}" + (", tied" if tied else "")
        short = _short(name, _MAX_LABEL - 6 * tied)
        label = f"{short} ({shown})" if on_left else f"({shown}) {short}"
        anchor = "end" if on_left else "start"
        parts.append(
            f"<g><title>{escape(f'{name}: mean rank {rank:.2f}')}</title>"
            f'<polyline points="{x:.1f},{_AXIS_Y} {x:.1f},{y} {end:.1f},{y}" fill="none" '
            f'stroke="{_MUTED}"/>'
            f'<circle cx="{x:.1f}" cy="{_AXIS_Y}" r="4" fill="{colour}"/>'
            + _text(end + (-4 if on_left else 4), y + 4, label, f' text-anchor="{anchor}"')
            + "</g>")
    parts.append("</svg>")
    return "\n".join(parts)
