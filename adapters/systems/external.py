"""Base for systems that run in their own environment, through `adapters.systems.worker`.

The adapter (in the harness's job process) writes the job folder, starts the worker, forwards the
stop signal, and reads the answer back. The worker is forked by its environment's warm server
(`adapters.systems.warm`) into this job's cgroup, namespaces and user, through the door the harness
handed the job (`DOORS`); without one, it is a fresh interpreter of the environment, a child of
this process. Either way the job's thread caps, CPU affinity and memory accounting cover it, and
the run's `environment["worker"]` says which it was. The budget starts when the worker has warmed
up (its `startup.txt`); the adapter then tells the harness.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from adapters import protocol
from adapters.contract import (
    Adapter,
    FailureClass,
    RunContext,
    RunResult,
    SearchData,
    SystemFailure,
)
from adapters.systems import environments
from adapters.systems.environments import EnvSpec
from adapters.systems.warm import Refused, WarmWorker

POLL_S = 0.05


@dataclass
class Door:
    """How this job's worker may start warm: a socket the harness connected to the environment's
    server (`sock`), or None and why not (`how`)."""

    sock: socket.socket | None
    how: str

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()


DOORS: list[Door] = []  # the job's door, put here by its process before the adapter runs


class ExternalSystem(Adapter):
    """A system in its own environment. Subclasses set `name`, `capabilities`, `metric_map`,
    `env` and `module`; `module` provides `work(data, ctx, options, folder) -> RunResult` and is
    imported only in that environment."""

    env: ClassVar[EnvSpec]
    module: ClassVar[str]
    preload: ClassVar[tuple[str, ...]] = ()  # heavy imports the warm server loads beside `module`
    own_server: ClassVar[str] = ""  # a server each job starts for itself, said in the record
    begins_itself = True

    def __init__(self, **options: Any) -> None:
        self.options = options

    def _marker(self) -> dict[str, Any]:
        return environments.ready(self.env)

    def version(self) -> str:
        try:
            return f"{self.env.name} {self._marker()['version']}"
        except SystemFailure:
            return f"{self.env.name} (not installed)"

    def run(self, data: SearchData, ctx: RunContext) -> RunResult:
        marker = self._marker()
        folder = Path(tempfile.mkdtemp(prefix=f"auditor-{self.env.name}-"))
        try:
            return self._run_in(folder, marker, data, ctx)
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def _run_in(self, folder: Path, marker: dict[str, Any], data: SearchData,
                ctx: RunContext) -> RunResult:
        protocol.write_inputs(folder, data.X, data.y, data.X_holdout)
        protocol.write_json(folder / protocol.JOB, {
            "module": self.module, "options": self.options, "seed": ctx.seed,
            "metric": data.metric, "task_type": data.task_type, "classes": data.classes,
            "budget": ctx.budget.as_dict(), "deadline": ctx.deadline,
            "job_started": ctx.job_started,
        })
        lib = folder / "lib"  # only the `adapters` package joins the environment's path
        lib.mkdir()
        (lib / "adapters").symlink_to(Path(__file__).resolve().parents[1])
        (folder / "tmp").mkdir()
        env = {**os.environ, "PYTHONPATH": str(lib), "TMPDIR": str(folder / "tmp"),
               "PYTHONNOUSERSITE": "1"}
        log = folder / "worker.log"
        with open(log, "wb") as out:
            proc, how = self._start(folder, marker, env, out)
            try:
                termed = False
                while proc.poll() is None:
                    if ctx.job_started is not None and (folder / protocol.STARTUP).exists():
                        ctx.begin()
                    if ctx.stop_requested and not termed:
                        proc.send_signal(signal.SIGTERM)
                        termed = True
                    time.sleep(POLL_S)
            finally:
                if proc.poll() is None:
                    proc.kill()
        error = protocol.read_error(folder)
        if error is not None:
            if error["failure_class"] == FailureClass.OOM:
                raise MemoryError(error["message"])
            failure = SystemFailure(f"{self.name}: {error['message']}")
            failure.failure_class = error["failure_class"]
            failure.detail = f"{error.get('detail', '')}\n-- worker output --\n{_tail(log)}\n"
            raise failure
        if not (folder / protocol.RESULT).exists():
            lines = [x for x in log.read_text(errors="replace").splitlines() if x.strip()]
            last = lines[-1][:300] if lines else "none"
            failure = SystemFailure(f"{self.name} worker exited with code {proc.returncode} and "
                                    f"no result; last output: {last}")
            failure.detail = f"-- worker output --\n{_tail(log)}\n"
            raise failure
        n = len(data.X_holdout)
        result, _ = protocol.read_result(
            folder, (n,) if data.task_type == "regression" else (n, len(data.classes)))
        result.environment = {k: marker[k] for k in ("system", "version", "python",
                                                     "freeze_sha256")}
        result.environment["worker"] = how + (f"; {self.own_server}" if self.own_server else "")
        return result

    def _start(self, folder: Path, marker: dict[str, Any], env: dict[str, str],
               out: Any) -> tuple[subprocess.Popen | WarmWorker, str]:
        """The worker, forked warm through the job's door, or else a fresh interpreter; and how
        it started."""
        door = DOORS.pop() if DOORS else Door(None, "no warm server offered")
        if door.sock is not None:
            try:
                return WarmWorker(door.sock, folder, env), f"warm: {door.how}"
            except Refused as exc:
                door = Door(None, f"the warm server refused: {exc}")
        worker = [marker["python_path"], "-m", "adapters.systems.worker", str(folder)]
        return (subprocess.Popen(worker, cwd=folder, env=env, stdout=out,
                                 stderr=subprocess.STDOUT),
                f"fresh interpreter: {door.how}")


def _tail(log: Path, lines: int = 100) -> str:
    """The last `lines` lines of the worker's output (read from its last 64 kB)."""
    with open(log, "rb") as f:
        f.seek(max(0, f.seek(0, os.SEEK_END) - (1 << 16)))
        return "\n".join(f.read().decode(errors="replace").splitlines()[-lines:])


class CrossValidating(ExternalSystem):
    """A system that validates by k-fold CV with the suite's `cv_folds` (its `cv_folds` option),
    so that every CV system of a suite validates alike."""

    def __init__(self, cv_folds: int = 5, **options: Any) -> None:
        if not (isinstance(cv_folds, int) and cv_folds >= 2):
            raise ValueError(f"cv_folds must be an integer of at least 2, not {cv_folds!r}")
        super().__init__(cv_folds=cv_folds, **options)
