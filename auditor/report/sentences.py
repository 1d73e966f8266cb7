"""The report's plain-word sentences; each one carries its confidence interval or its test."""

from __future__ import annotations

from collections.abc import Sequence

from auditor.stats.compare import ALPHA, Comparison, Interval, Normalized, Pair
from reports import fmt_p

STYLE_NAMES = {"amlb": "AMLB style", "bayesmark": "Bayesmark style"}


def _interval(i: Interval, digits: str = ".3g") -> str:
    if i.lo is None or i.hi is None:
        return f"{i.mean:{digits}} (one value, no CI)"
    return f"{i.mean:{digits}} (95 % CI {i.lo:{digits}} to {i.hi:{digits}})"


def wide(i: Interval, scale: float) -> bool:
    """An interval wider than half the quantity's `scale` (its range, or its size) says little."""
    return i.lo is not None and i.hi is not None and i.hi - i.lo > scale / 2


def _splits(c: Comparison, unit: str) -> str:
    counts = sorted({c.complete[d] for d in c.blocks})
    many = f"{counts[0]}" if len(counts) == 1 else f"{counts[0]} to {counts[-1]}"
    return (f"{many} {unit}{'s' if counts[-1] != 1 else ''} each on which every system "
            "succeeded, averaged per dataset")


def ranking(c: Comparison, unit: str = "seed") -> str:
    if not c.blocks:
        return ("No dataset has a successful run of every system, so the systems are not ranked "
                "and not tested against each other as a group.")
    best = c.systems[0]
    tied = [s for s in c.systems if c.mean_ranks[s] == c.mean_ranks[best]]
    k, n = len(c.mean_ranks), len(c.blocks)
    who = (f"{best} had the best" if len(tied) == 1 else
           f"{_list(tied)} tied for the best")
    text = (f"Across {n} dataset{'s' if n != 1 else ''} ({_splits(c, unit)}), {who} "
            f"average rank: {c.mean_ranks[best]:.2f} among {k} systems (1 = best)")
    f = c.friedman
    if f.p_value is None:
        return text + f"; Friedman test: {f.note}."
    verdict = ("the systems differ significantly" if f.p_value < ALPHA
               else "not significant, the differences in rank could be chance")
    return text + f"; Friedman test {fmt_p(f.p_value, named=True)}: {verdict}."


def nemenyi(c: Comparison, baseline: str | None = None) -> str | None:
    if c.nemenyi is None or c.friedman.p_value is None:
        return None
    leaders = [s for s in c.systems if c.mean_ranks[s] == c.mean_ranks[c.systems[0]]]
    beaten = [b for (a, b), p in c.nemenyi.p_values.items()
              if a == leaders[0] and b not in leaders and p < c.nemenyi.alpha]
    head = (f"Nemenyi post-hoc test (critical difference {c.nemenyi.critical_difference:.2f} "
            f"ranks at alpha = {c.nemenyi.alpha:g}): ")
    # systems tied on the best mean rank have the same p against every other system
    who, rank, are = ((leaders[0], "ranks", "is") if len(leaders) == 1 else
                      (f"{_list(leaders)}, tied on rank, each", "rank", "are"))
    if beaten and all(b == baseline for b in beaten):
        return head + (f"{who} {rank} significantly better than {_list(beaten)} only, the "
                       "baseline: the test separates none of the other systems.")
    if beaten:
        return head + f"{who} {rank} significantly better than {_list(beaten)}."
    return head + f"{who.removesuffix(', each')} {are} not significantly better ranked than " \
                  "any other system."


def _list(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def pair(p: Pair, subject: str) -> str:
    """`subject` (one of the pair) against the other, in wins, ties and losses, with the test."""
    other = p.b if subject == p.a else p.a
    wins, losses = (p.wins, p.losses) if subject == p.a else (p.losses, p.wins)
    text = (f"{subject} beat {other} on {wins} of {p.n_datasets} datasets ({p.ties} "
            f"tie{'s' if p.ties != 1 else ''}, {losses} loss{'es' if losses != 1 else ''})")
    if p.p_holm is None:
        return text + f"; {p.note}."
    verdict = "significant" if p.significant else "not significant"
    return (text + f"; Wilcoxon signed-rank {fmt_p(p.p_holm, named=True)} after Holm correction: "
            f"{verdict}.")


def tests_differ(c: Comparison) -> str | None:
    """One line when a pair is significant by Nemenyi but not by Wilcoxon (or the reverse)."""
    if c.nemenyi is None or c.friedman.p_value is None:
        return None
    differ = [p for p in c.pairs if p.p_holm is not None
              and (c.nemenyi.p_values[p.a, p.b] < c.nemenyi.alpha) != p.significant]
    if not differ:
        return None
    names = _list([f"{p.a} vs {p.b}" for p in differ])
    return (f"Nemenyi and Wilcoxon disagree on {names}: Nemenyi compares mean ranks among all "
            f"{len(c.mean_ranks)} systems at once, Wilcoxon compares that pair's per-dataset "
            f"differences, Holm-corrected over {len(c.pairs)} pairs; with few datasets the two "
            "can differ, and neither alone is a firm finding.")


def small_sample(c: Comparison) -> str | None:
    """Say so when too few datasets let any Holm-corrected Wilcoxon test reach significance."""
    tested = [p.n_datasets for p in c.pairs if p.p_value is not None]
    if not tested or max(tested) >= c.min_datasets:
        return None
    n, m = max(tested), len(c.pairs)
    return (f"With {n} datasets and {m} pair{'s' if m != 1 else ''} of systems, no pair can be "
            f"significant after Holm correction (the smallest possible p is "
            f"{min(1.0, m * 2 / 2 ** n):.3g}), so \"not significant\" below says nothing; it takes "
            f"at least {c.min_datasets} datasets.")


def normalized(n: Normalized, leave_out: Sequence[str] = ()) -> str | None:
    """The normalized scores of the systems other than the anchors and `leave_out`."""
    shown = {s: i for s, i in n.summary.items() if s not in (n.zero, n.one, *leave_out)}
    if not shown:
        return None
    top = "1" if n.style == "amlb" else "100"
    digits = ".2f" if n.style == "amlb" else ".0f"
    counts = sorted({i.n for i in shown.values()})
    over = f"{counts[0]}" if len(counts) == 1 else f"{counts[0]} to {counts[-1]}"
    scale = 1.0 if n.style == "amlb" else 100.0
    parts = [f"{s} {_interval(i, digits)}" + (" — too wide to say much"
                                               if wide(i, scale) else "")
             for s, i in shown.items()]
    return (f"Normalized scores ({STYLE_NAMES[n.style]}: {n.zero} = 0, {n.one} = {top}; mean over "
            f"{over} dataset{'s' if counts[-1] != 1 else ''}): " + "; ".join(parts) + ".")


def details(c: Comparison, baseline: str | None = None) -> list[str]:
    """Sentences after the ranking: the leader against each other system, Nemenyi (and where it
    and Wilcoxon disagree), and the normalized scores (the Bayesmark-style ones without
    `baseline`, whose distance from random search says little)."""
    lines = []
    if c.systems:
        leader = c.systems[0]
        lines += [pair(p, leader) for p in c.pairs if leader in (p.a, p.b)]
    lines += [line for line in (nemenyi(c, baseline), tests_differ(c)) if line]
    lines += [line for line in (normalized(n, [baseline] if n.style == "bayesmark" and baseline
                                           else []) for n in c.normalized) if line]
    return lines


def executive(c: Comparison, unit: str = "seed", baseline: str | None = None) -> list[str]:
    """Sentences on the whole comparison: ranks and Friedman, then `details`."""
    return [ranking(c, unit), *[line for line in (small_sample(c),) if line],
            *details(c, baseline)]
