"""Runs one job inside a system's own environment: `python -m adapters.systems.worker JOB_FOLDER`.

Reads `job.json`, imports the system module the job names and calls its `warm(options, budget,
folder)` (the system's heavy imports, a server it needs), reads the inputs, and only then starts
the budget's clock (`RunContext.begin`, told to the adapter through `startup.txt`): start-up is
paid outside the budget, as the reference searchers' preloaded imports are. Then it calls
`work(data, ctx, options, folder)` and writes the result or the error back. Needs only the standard
library, numpy and pandas, and runs on Python 3.9.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import importlib
import json
import signal
import sys
import traceback
from pathlib import Path

from adapters import protocol
from adapters.contract import Budget, FailureClass, RunContext, SearchData, SystemFailure

PR_SET_PDEATHSIG = 1


def main(folder: Path) -> int:
    with contextlib.suppress(OSError, AttributeError):  # die with the process that started us
        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    job = json.loads((folder / protocol.JOB).read_text())
    budget = Budget(**job["budget"])
    ctx = RunContext(deadline=job["deadline"], seed=job["seed"], budget=budget,
                     job_started=job["job_started"],
                     on_begin=functools.partial(protocol.write_startup, folder))
    ctx.stop_on_sigterm()
    try:
        system = importlib.import_module(job["module"])
        if hasattr(system, "warm"):
            system.warm(job["options"], budget, folder)
        X, y, X_holdout = protocol.read_inputs(folder)
        data = SearchData(X, y, X_holdout, job["task_type"], job["metric"], job["classes"])
        ctx.begin()
        result = system.work(data, ctx, job["options"], folder)
        protocol.write_result(folder, result, {})
    except MemoryError:
        protocol.write_error(folder, FailureClass.OOM, "MemoryError inside the system",
                             traceback.format_exc())
        return 1
    except Exception as exc:
        failure = exc.failure_class if isinstance(exc, SystemFailure) else FailureClass.CRASH
        message = f"{type(exc).__name__}: {exc}".splitlines()[0][:500]
        protocol.write_error(folder, failure, message, traceback.format_exc())
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
