"""Command line: `auditor run SUITE`, `auditor report OUT`, `auditor systems ...`."""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from pathlib import Path

from adapters.environments import ENVS_VAR
from auditor.errors import UsageError


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2
        raise UsageError(f"{message}; see `{self.prog} --help`")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="auditor", description="Audit AutoML systems on a sealed holdout.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    run = sub.add_parser("run", help="run a suite and write the store and report.html")
    run.add_argument("suite", type=Path, help="suite YAML file, e.g. benchmarks/quickstart.yaml")
    run.add_argument("--out", type=Path, help="output folder (default: results/<suite name>)")
    run.add_argument("--workers", type=int, default=None,
                     help="jobs run in parallel (default: cores // budget cores)")
    run.add_argument("--no-install", action="store_true",
                     help="do not build missing system environments (their jobs fail as setup)")
    rep = sub.add_parser("report", help="render report.html again from an output folder")
    rep.add_argument("out", type=Path, help="output folder holding results.sqlite")
    rep.add_argument("-o", "--output", type=Path, help="report file (default: OUT/report.html)")
    systems = sub.add_parser("systems", help="list, install or check system environments")
    verbs = systems.add_subparsers(dest="verb", required=True, parser_class=_Parser)
    listing = verbs.add_parser("list", help="every system and the state of its environment")
    install = verbs.add_parser("install", help="build the environment of one or more systems")
    install.add_argument("names", nargs="+", help="system names, e.g. flaml auto-sklearn")
    install.add_argument("--python", help="interpreter to build from (auto-sklearn needs 3.9)")
    install.add_argument("--force", action="store_true", help="rebuild even if up to date")
    check = verbs.add_parser("check", help="re-run the import check in installed environments")
    check.add_argument("names", nargs="+", help="system names")
    for parser in (run, listing, install, check):
        parser.add_argument("--envs", type=Path,
                            help=f"environments folder (default: ${ENVS_VAR} or a cache folder)")
    return p


def _run(args: argparse.Namespace) -> int:
    from auditor.pipeline import plan, run_suite
    from auditor.suite import load_suite

    suite = load_suite(args.suite)
    workers = args.workers or max(1, (os.cpu_count() or 1) // suite.budget.cores)
    if workers < 1:
        raise UsageError(f"--workers must be at least 1, got {workers}")
    out = args.out or Path("results") / suite.name
    p = plan(suite)
    if not args.no_install:
        from auditor.systems import ensure_installed

        ensure_installed([s.system for s in p.systems], None,
                         lambda line: print(line, file=sys.stderr))
    run_suite(p, out, workers)
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


def _systems(args: argparse.Namespace) -> int:
    from adapters.contract import SetupFailure
    from auditor import systems

    if args.verb == "list":
        rows = systems.list_systems()
        width = max(len(name) for name, _, _ in rows)
        for name, python, state in rows:
            print(f"{name:<{width}}  python {python:<16} {state}")
        return 0
    failed = 0
    for name in args.names:
        try:
            if args.verb == "install":
                systems.install(name, python=args.python, force=args.force,
                                say=lambda line: print(line, file=sys.stderr))
            else:
                print(systems.check(name))
        except SetupFailure as exc:
            print(f"error: {exc}", file=sys.stderr)
            failed = 1
    return failed


def main(argv: list[str] | None = None) -> int:
    warnings.simplefilter("default")
    warnings.formatwarning = lambda msg, cat, *a, **k: f"warning: {msg}\n"
    try:
        args = _parser().parse_args(argv)
        if getattr(args, "envs", None):
            os.environ[ENVS_VAR] = str(args.envs.resolve())
        if args.command == "run":
            return _run(args)
        if args.command == "systems":
            return _systems(args)
        return _report(args.out, args.output or args.out / "report.html")
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; run the same command again to resume", file=sys.stderr)
        return 130
