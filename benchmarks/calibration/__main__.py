"""`python -m benchmarks.calibration [--quick] [--seed N]`: print the measured rates."""

from __future__ import annotations

import argparse

from benchmarks.calibration import FULL, QUICK, run, table


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.calibration",
                                     description="False-alarm rates, power and interval coverage "
                                                 "of the auditor's verdicts, by simulation.")
    parser.add_argument("--quick", action="store_true", help="the small seeded version")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    print(table(run(plan, args.seed), plan))


if __name__ == "__main__":
    main()
