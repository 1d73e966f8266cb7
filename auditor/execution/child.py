"""What runs inside a job's process: confine, read the job folder, run the adapter, write back."""

from __future__ import annotations

import errno
import functools
import json
import os
import resource
import sys
import time
import traceback
from multiprocessing.connection import Connection
from pathlib import Path

from adapters import protocol, registry
from adapters.contract import (
    Budget,
    FailureClass,
    RunContext,
    RunResult,
    SearchData,
    SystemFailure,
)
from adapters.systems import external
from auditor.execution import handoff
from auditor.execution.confinement import confine
from auditor.execution.entry import Entry

STDERR = "stderr.log"  # the job's stderr, in its folder; the harness keeps its tail on failure
# errors of the disk while the result is written: the machinery's fault, once the harness
# sees the disk full (`auditor.execution.outputs.disk_full`)
DISK_ERRORS = (errno.ENOSPC, errno.EDQUOT)


class InvalidOutput(SystemFailure):
    """The system returned something that is not a usable result."""

    failure_class = FailureClass.INVALID_OUTPUT


def _usage() -> dict[str, float]:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "cpu_s": own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime,
        "maxrss_mb": max(own.ru_maxrss, kids.ru_maxrss) / 1024,
    }


def main(job_dir: str, cpus: list[int], entry: Entry | None, told: Connection,
         door: external.Door | None = None) -> None:
    """Entry point of a job's process, forked from the fork server. The data is its split's
    read-only files (`auditor.execution.handoff`), memory-mapped once the process is in its
    sandbox: search rows with labels, holdout features only, never the holdout labels.
    The process enters its sandbox (`entry`) before any system code runs, and says on `told`
    whether it did ("" or why not): the one word the harness takes from a job unchecked, since
    no system code has run yet. A third-party system's worker starts through `door`
    (`auditor.execution.servers`)."""
    folder = Path(job_dir)
    # the sandbox moves the process into its job folder: a relative `sys.path` entry (the
    # current folder, where a user's own adapter module may be) must keep naming where it was
    sys.path[:] = [os.path.abspath(p) for p in sys.path]
    sys.stderr.flush()
    with open(folder / STDERR, "wb") as log:
        os.dup2(log.fileno(), 2)
    job = json.loads((folder / protocol.JOB).read_text())
    os.environ.update(job["settings"])
    if entry is not None:
        try:
            entry.enter(folder)
        except OSError as exc:
            told.send(f"entering the sandbox: {exc}")
            raise SystemExit(1) from None
    told.send("")
    told.close()
    external.DOORS[:] = [door] if door else []
    budget = Budget(**job["budget"])
    confine(budget.cores, cpus)
    ctx = RunContext(deadline=job["deadline"], seed=job["seed"], budget=budget,
                     job_started=job["started"],
                     on_begin=functools.partial(protocol.write_startup, folder))
    ctx.stop_on_sigterm()
    try:
        X, y, X_holdout = handoff.read(Path(job["data"]))
    except OSError as exc:  # the machinery's fault: no system code has run
        protocol.write_error(folder, FailureClass.INFRASTRUCTURE, f"reading the data: {exc}",
                             traceback.format_exc())
        raise SystemExit(1) from None
    try:
        data = SearchData(X, y, X_holdout, job["task_type"], job["metric"], job["classes"])
        adapter = registry.load(job["system"], job["options"])
        if not adapter.begins_itself:
            ctx.begin()
        started = time.monotonic()
        result = adapter.run(data, ctx)
        search_s = time.monotonic() - started
        if not isinstance(result, RunResult):
            raise InvalidOutput(f"the system returned {type(result).__name__}, not a RunResult")
        if result.search_space is None and (space := adapter.search_space()) is not None:
            result.search_space = space.as_dict()
        result.environment = result.environment or job["environment"]
        try:
            protocol.write_result(folder, result, {
                "search_s": search_s, "system_version": adapter.version(), **_usage()})
        except (TypeError, ValueError) as exc:
            raise InvalidOutput(f"unusable result: {type(exc).__name__}: {exc}") from None
        except OSError as exc:
            if exc.errno not in DISK_ERRORS:
                raise
            protocol.write_error(folder, FailureClass.INFRASTRUCTURE, f"saving the result: {exc}",
                                 traceback.format_exc())
            raise SystemExit(1) from None
    except MemoryError:
        protocol.write_error(folder, FailureClass.OOM,
                             "MemoryError: allocation failed inside the system",
                             traceback.format_exc())
        raise SystemExit(1) from None
    except Exception as exc:
        failure = exc.failure_class if isinstance(exc, SystemFailure) else FailureClass.CRASH
        message = str(exc) if isinstance(exc, SystemFailure) else f"{type(exc).__name__}: {exc}"
        protocol.write_error(folder, failure, message.splitlines()[0][:500] if message else failure,
                             str(getattr(exc, "detail", "") or "") + traceback.format_exc())
        raise SystemExit(1) from None
