"""`python -m benchmarks.calibration [--quick] [--seed N]`: print the measured rates."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path

import reports
from benchmarks.calibration import FULL, QUICK, run, table

# the measured rates the report's audit section quotes beside each verdict
MEASURED = Path(reports.__file__).parent / "calibration.json"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.calibration",
                                     description="False-alarm rates, power and interval coverage "
                                                 "of the auditor's verdicts, by simulation.")
    parser.add_argument("--quick", action="store_true", help="the small seeded version")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--write", action="store_true",
                        help="also write the rates to reports/calibration.json for "
                             "the report (the full version only)")
    args = parser.parse_args(argv)
    if args.write and args.quick:
        parser.error("--write records the full version's rates; leave out --quick")
    plan = QUICK if args.quick else FULL
    rates = run(plan, args.seed)
    print(table(rates, plan))
    if args.write:
        rows = [{**asdict(r), "rate": r.rate, "ci": r.wilson()} for r in rates]
        MEASURED.write_text(json.dumps({"plan": table([], plan).splitlines()[0], "seed": args.seed,
                                        "rates": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
