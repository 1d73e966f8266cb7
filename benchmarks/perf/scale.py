"""How the harness scales with the rows of a data set and with the runs in a store.

Figures per size and their growth exponents (`benchmarks.perf.growth`):

    python -m benchmarks.perf.scale --rows 10000,100000,1000000 [--kind numeric|mixed]
    python -m benchmarks.perf.scale --runs 10,100,1000,10000 [--keep FOLDER]

`--rows` is the rows curve (`benchmarks.perf.rows`), `--runs` the store curve
(`benchmarks.perf.runs`); with neither, both run at their default sizes.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

ROWS, RUNS = "10000,100000,1000000", "10,100,1000,10000"


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(part) for part in text.split(",")]
    except ValueError:
        sizes = []
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: give sizes as e.g. 10,100,1000")
    return sorted(set(sizes))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=_sizes, help=f"row counts of the rows curve (e.g. {ROWS})")
    ap.add_argument("--kind", choices=["numeric", "mixed"], default="numeric")
    ap.add_argument("--wall", type=float, default=600.0, help="each job's wall budget, seconds")
    ap.add_argument("--runs", type=_sizes, help=f"store sizes of the store curve (e.g. {RUNS})")
    ap.add_argument("--keep", type=Path, help="build the stores here and keep them")
    ap.add_argument("--measure", nargs=3, metavar=("SUITE", "OUT", "FIGURES"),
                    help=argparse.SUPPRESS)
    args = ap.parse_args()
    from benchmarks.perf import rows, runs

    if args.measure:  # one point of the rows curve, in its own process
        rows.measure(*args.measure)
        return
    if args.keep and args.keep.exists() and any(args.keep.iterdir()):
        ap.error(f"--keep {args.keep} is not empty; give a new or empty folder")
    if args.rows is None and args.runs is None:
        args.rows, args.runs = _sizes(ROWS), _sizes(RUNS)
    if args.rows:
        rows.rows_curve(args.rows, args.kind, args.wall)
    if args.runs:
        if args.keep:
            args.keep.mkdir(parents=True, exist_ok=True)
            runs.store_curve(args.runs, args.keep)
        else:
            with tempfile.TemporaryDirectory(prefix="auditor-scale-") as tmp:
                runs.store_curve(args.runs, Path(tmp))


if __name__ == "__main__":
    main()
