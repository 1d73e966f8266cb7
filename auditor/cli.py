"""Command line: `auditor run SUITE`, `auditor report OUT`."""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from pathlib import Path

from auditor.errors import UsageError


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2
        raise UsageError(f"{message}; see `auditor {self.prog.split()[-1]} --help`")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="auditor", description="Audit AutoML systems on a sealed holdout.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    run = sub.add_parser("run", help="run a suite and write the store and report.html")
    run.add_argument("suite", type=Path, help="suite YAML file, e.g. benchmarks/quickstart.yaml")
    run.add_argument("--out", type=Path, help="output folder (default: results/<suite name>)")
    run.add_argument("--workers", type=int, default=None,
                     help="jobs run in parallel (default: cores // budget cores)")
    rep = sub.add_parser("report", help="render report.html again from an output folder")
    rep.add_argument("out", type=Path, help="output folder holding results.sqlite")
    rep.add_argument("-o", "--output", type=Path, help="report file (default: OUT/report.html)")
    return p


def _run(args: argparse.Namespace) -> int:
    from auditor.pipeline import plan, run_suite
    from auditor.suite import load_suite

    suite = load_suite(args.suite)
    workers = args.workers or max(1, (os.cpu_count() or 1) // suite.budget.cores)
    if workers < 1:
        raise UsageError(f"--workers must be at least 1, got {workers}")
    out = args.out or Path("results") / suite.name
    run_suite(plan(suite), out, workers)
    return _report(out, out / "report.html")


def _report(out: Path, target: Path) -> int:
    from auditor.reporting import build_context
    from auditor.store import RESULTS_DB
    from reports import write_report

    if not (out / RESULTS_DB).is_file():
        raise UsageError(f"{out} holds no {RESULTS_DB}; give an output folder of `auditor run`")
    write_report(build_context(out), target)
    print(f"report: {target}", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    warnings.simplefilter("default")
    warnings.formatwarning = lambda msg, cat, *a, **k: f"warning: {msg}\n"
    try:
        args = _parser().parse_args(argv)
        if args.command == "run":
            return _run(args)
        return _report(args.out, args.output or args.out / "report.html")
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; run the same command again to resume", file=sys.stderr)
        return 130
