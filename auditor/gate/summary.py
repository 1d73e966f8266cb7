"""The gate's short summary: `summary.md` and a self-contained `summary.html` (inline CSS, every
value escaped) with the same tables, plus `candidate.json` (the candidate's results, in the
baseline format, so an accepted candidate can become the next baseline)."""

from __future__ import annotations

import html
from pathlib import Path

from adapters.protocol import write_atomic
from auditor.gate.regression import GateComparison

Section = tuple[str, list[str], list[list[str]]]  # heading, column names, rows

CSS = ("body{font:15px/1.45 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;"
       "color:#222}table{border-collapse:collapse;margin:.5rem 0 1.5rem}th,td{border:1px solid "
       "#ccc;padding:.25rem .6rem;text-align:left}th{background:#f3f3f3}.fail{color:#a40000}"
       ".pass{color:#1a6b1a}")


def _f(x: float, signed: bool = False) -> str:
    return f"{x:+.4f}" if signed else f"{x:.4f}"


def _versions(versions: dict[str, str]) -> str:
    return ", ".join(f"{name} {v}" for name, v in versions.items())


def sections(c: GateComparison) -> list[Section]:
    """The summary's tables: the result, mean regret by trials, and per task."""
    b, k = c.baseline, c.candidate
    offset = k.seeds[0] - b.seeds[0]
    worse, better = sum(r.worse for r in c.rows), sum(r.better for r in c.rows)
    key = [
        ["verdict", c.verdict],
        ["candidate", k.strategy],
        ["baseline", b.strategy],
        ["runs", f"{len(c.rows)} tasks × {len(b.seeds)} seeds × {b.trials} trials (candidate "
                 f"seeds = baseline seeds {offset:+d})"],
        ["mean regret difference (candidate − baseline)",
         f"{_f(c.effect, True)} (95 % CI {_f(c.ci[0], True)} to {_f(c.ci[1], True)})"],
        [f"Wilcoxon p, worse by more than {c.tolerance:g}", f"{c.p_worse:.3g} (alpha {c.alpha:g})"],
        [f"Wilcoxon p, better by more than {c.tolerance:g}", f"{c.p_better:.3g}"],
        ["pairs worse / better / tied",
         f"{worse} / {better} / {c.differences.size - worse - better}"],
        ["simulated training time", f"baseline {b.simulated_seconds:,.0f} s, candidate "
                                    f"{k.simulated_seconds:,.0f} s"],
        ["library versions", f"baseline {_versions(b.versions)}; candidate "
                             f"{_versions(k.versions)}"],
        ["time to run on the tables", f"baseline {b.wall_seconds:.1f} s, candidate "
                                      f"{k.wall_seconds:.1f} s"],
    ]
    curve = [[str(n), _f(rb), _f(rc)] for n, rb, rc in c.checkpoints]
    tasks = [[r.task, _f(r.baseline), _f(r.candidate), str(r.worse), str(r.better),
              _f(r.holdout_baseline), _f(r.holdout_candidate)] for r in c.rows]
    return [
        ("Result", ["figure", "value"], key),
        ("Mean regret after n trials", ["trials", "baseline", "candidate"], curve),
        ("Per task (mean final regret; worse/better: seeds)",
         ["task", "baseline", "candidate", "worse", "better", "holdout baseline",
          "holdout candidate"], tasks),
    ]


NOTE = ("Regret = (best − found) / (best − median) of the validation score over the table's "
        "configurations: 0 is the table's best, 1 its median. Holdout regret scores the same "
        "final configurations on the sealed holdout.")


def _md_cell(text: str) -> str:
    """A table cell with markup characters as entities, so names cannot break the table or add
    HTML."""
    return html.escape(text, quote=False).replace("|", "&#124;")


def markdown(c: GateComparison) -> str:
    """summary.md: the verdict line and the tables."""
    lines = [f"# Search-strategy regression test: {c.verdict}", "", _md_cell(c.line()), ""]
    for heading, columns, rows in sections(c):
        lines += [f"## {heading}", "", "| " + " | ".join(columns) + " |",
                  "|" + "---|" * len(columns)]
        lines += ["| " + " | ".join(_md_cell(cell) for cell in row) + " |" for row in rows]
        lines.append("")
    return "\n".join([*lines, NOTE, ""])


def html_page(c: GateComparison) -> str:
    """summary.html: the same, as one page without scripts or outside resources."""
    e = html.escape
    status = "fail" if c.worse else "pass"
    parts = [f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Regression test: "
             f"{e(c.verdict)}</title><style>{CSS}</style></head><body>",
             f"<h1>Search-strategy regression test: <span class='{status}'>{e(c.verdict)}</span>"
             "</h1>", f"<p>{e(c.line())}</p>"]
    for heading, columns, rows in sections(c):
        parts.append(f"<h2>{e(heading)}</h2><table><tr>"
                     + "".join(f"<th>{e(col)}</th>" for col in columns) + "</tr>")
        parts += ["<tr>" + "".join(f"<td>{e(cell)}</td>" for cell in row) + "</tr>"
                  for row in rows]
        parts.append("</table>")
    parts.append(f"<p>{e(NOTE)}</p></body></html>\n")
    return "".join(parts)


def write_summary(c: GateComparison, out: Path) -> list[Path]:
    """Write summary.md, summary.html and candidate.json into `out`."""
    paths = [out / "summary.md", out / "summary.html", out / "candidate.json"]
    write_atomic(paths[0], markdown(c))
    write_atomic(paths[1], html_page(c))
    c.candidate.save(paths[2])
    return paths
