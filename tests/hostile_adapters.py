"""Adapters written as a hostile or buggy system would: they hand back what the contract does not
allow, or write the job folder's files themselves (named by import path in the tests)."""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from adapters import protocol
from adapters.contract import RunContext, RunResult, SearchData, Trial
from tests.fault_adapters import _Base


class StringScore(_Base):
    """Reports its score as text."""

    def run(self, data: SearchData, ctx: RunContext) -> RunResult:
        return RunResult(self.prior(data), "0.99", "5-fold CV", 1)  # type: ignore[arg-type]


class ManyConfigs(_Base):
    """Counts its configurations in words, and one trial's score too."""

    def run(self, data: SearchData, ctx: RunContext) -> RunResult:
        trials = [Trial(0, {}, 0.8, 0.0, 0.1), Trial(1, {}, "high", 0.1, 0.2)]  # type: ignore
        return RunResult(self.prior(data), 0.8, "5-fold CV", "many", trials=trials)  # type: ignore


class NoDimension(_Base):
    """Describes its search space without a dimension."""

    def run(self, data: SearchData, ctx: RunContext) -> RunResult:
        result = RunResult(self.prior(data), 0.8, "5-fold CV", 3)
        result.search_space = {"name": "secret sauce", "hyperparameters": "many"}
        return result


class Verbose(_Base):
    """Describes its model, and what it measured on, at 20 kB each (with bytes no store's text
    holds), and counts more configurations than any store's integer holds."""

    def run(self, data: SearchData, ctx: RunContext) -> RunResult:
        return RunResult(self.prior(data), 0.8, "CV \x00\ud800" + "x" * 20_000, 10**20,
                         model_description="<b>model</b>" * 2_000)


def _write_result(folder: Path, predictions: Any) -> None:
    """Write the job's result files as the system likes, not as the protocol does."""
    predictions(folder / protocol.PREDICTIONS)
    protocol.write_json(folder / protocol.RESULT, {
        "reported_score": 0.8, "reported_on": "CV", "n_configs": 1, "best_config": {},
        "trials": [], "model_description": "", "search_space": None, "environment": {}})


def _own_files(predictions: Any) -> None:
    """Replace the job process's result writer by one that writes `predictions(path)`."""
    protocol.write_result = lambda folder, result, extra: _write_result(folder, predictions)


class WrongDtype(_Base):
    """Writes integer predictions of the right shape."""

    def run(self, data: SearchData, ctx: RunContext) -> RunResult:
        preds = self.prior(data)
        _own_files(lambda path: np.save(path, np.ones(preds.shape, dtype=np.int64)))
        return self.result(data, preds)


class WrongShapeFile(_Base):
    """Writes three probability columns for two classes."""

    def run(self, data: SearchData, ctx: RunContext) -> RunResult:
        n = len(data.X_holdout)
        _own_files(lambda path: np.save(path, np.full((n, 3), 1 / 3)))
        return self.result(data, self.prior(data))


def _sparse_npy(path: Path, shape: tuple[int, ...], size: int) -> None:
    """An .npy header for float64 `shape`, then a hole up to `size` bytes: nothing allocated."""
    with open(path, "wb") as f:
        np.lib.format.write_array_header_1_0(
            f, {"descr": "<f8", "fortran_order": False, "shape": shape})
        f.truncate(size)


class Huge(_Base):
    """Writes a predictions header claiming 10^9 rows (a 16 GB sparse file)."""

    def run(self, data: SearchData, ctx: RunContext) -> RunResult:
        _own_files(lambda path: _sparse_npy(path, (10**9, 2), 16 * 10**9 + 128))
        return self.result(data, self.prior(data))


class Padded(_Base):
    """Writes predictions of the right shape followed by 2 GB (sparse) of nothing."""

    def run(self, data: SearchData, ctx: RunContext) -> RunResult:
        shape = (len(data.X_holdout), len(data.classes))
        _own_files(lambda path: _sparse_npy(path, shape, 2 * 2**30))
        return self.result(data, self.prior(data))


class ForgedError(_Base):
    """Writes an error file naming a failure class of its own, with a number for a message."""

    def run(self, data: SearchData, ctx: RunContext) -> RunResult:
        protocol.write_result = lambda folder, result, extra: protocol.write_json(
            folder / protocol.ERROR, {"failure_class": "not-my-fault", "message": 12345})
        return self.result(data, self.prior(data))


class Noisy(_Base):
    """Writes 200 lines (one of them markup) to stderr, then fails."""

    def run(self, data: SearchData, ctx: RunContext) -> RunResult:
        for i in range(200):
            print(f"progress line {i}", file=sys.stderr)
        print("<script>alert('stderr')</script>", file=sys.stderr, flush=True)
        raise RuntimeError("gave up after a noisy search")


class DiskFullInJob(_Base):
    """The job process's disk fills up while it saves the predictions."""

    def run(self, data: SearchData, ctx: RunContext) -> RunResult:
        def full(path: Path, array: np.ndarray) -> None:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))

        protocol.save_npy = full
        return self.result(data, self.prior(data))


class FillsDisk(_Base):
    """Fills its job folder's file system (which the test makes smaller than its disk budget)."""

    def run(self, data: SearchData, ctx: RunContext) -> RunResult:
        with contextlib.suppress(OSError), open("filler.bin", "wb") as f:  # in its job folder
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        return self.result(data, self.prior(data))


class _Escape(_Base):
    """Tries one way out of the sandbox (`attempt`, a list of what got through); fails naming
    what leaked, or answers normally with the tries in its model description."""

    def attempt(self) -> list[str]:
        raise NotImplementedError

    def run(self, data: SearchData, ctx: RunContext) -> RunResult:
        leaks = self.attempt()
        if leaks:
            raise RuntimeError(f"leaked: {'; '.join(leaks)[:400]}")
        result = self.result(data, self.prior(data))
        result.model_description = f"sealed: {type(self).__name__}"
        return result


def _try_read(path: str, size: int = 64) -> str | None:
    try:
        with open(path, "rb") as f:
            return f.read(size).hex() or None
    except OSError:
        return None


class HarnessProc(_Escape):
    """Reads the harness's open store through /proc/<pid>/fd, its memory and its command line."""

    def attempt(self) -> list[str]:
        pid = int(str(self.options["harness"]))
        leaks = [f"{what} of pid {pid}" for what in ("cmdline", "mem", "environ")
                 if _try_read(f"/proc/{pid}/{what}")]
        for proc in Path("/proc").iterdir():
            try:
                fds = list((proc / "fd").iterdir())
            except OSError:
                continue
            for fd in fds:
                with contextlib.suppress(OSError):
                    if os.readlink(fd).endswith(".sqlite") and _try_read(str(fd)):
                        leaks.append(f"{fd} -> {os.readlink(fd)}")
        return leaks


class Environ(_Escape):
    """Looks for the harness's secret (`options['token']`, set in the harness's environment) in
    its own environment, as Python and as /proc shows it."""

    def attempt(self) -> list[str]:
        token = str(self.options["token"])
        leaks = [f"${k}" for k, v in os.environ.items() if token in v]
        with contextlib.suppress(OSError):
            if token.encode() in Path("/proc/self/environ").read_bytes():
                leaks.append("/proc/self/environ")
        return leaks


class Neighbours(_Escape):
    """Checks whether it sees, may signal (signal 0) or may read the environment of any other
    process: the fork server's, the other jobs'."""

    def attempt(self) -> list[str]:
        pids = [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()]
        leaks = [f"sees pid {pid}" for pid in pids if pid != os.getpid()]
        for pid in pids:
            if pid == os.getpid():
                continue
            with contextlib.suppress(OSError):
                os.kill(pid, 0)
                leaks.append(f"may signal {pid}")
            if _try_read(f"/proc/{pid}/environ"):
                leaks.append(f"read environ of {pid}")
        return leaks


class StoreScan(_Escape):
    """Looks through the file system for results.sqlite files and reads them."""

    def attempt(self) -> list[str]:
        skip = {"proc", "sys", "dev", "usr", "site-packages", "lib", "lib64"}
        leaks = []
        for root, dirs, files in os.walk("/"):
            dirs[:] = [d for d in dirs if d not in skip]
            leaks += [f"{root}/{f}" for f in files
                      if f.endswith(".sqlite") and _try_read(f"{root}/{f}")]
        return leaks


class StoreWrite(_Escape):
    """Rewrites every run's holdout score in the store (`options['store']`)."""

    def attempt(self) -> list[str]:
        try:
            conn = sqlite3.connect(f"file:{self.options['store']}?mode=rw", uri=True)
            conn.execute("UPDATE runs SET holdout_score = 1.0")
            conn.commit()
        except sqlite3.Error:
            return []
        return ["UPDATE runs"]


class Network(_Escape):
    """Connects to a listener on the harness's loopback (`options['port']`)."""

    def attempt(self) -> list[str]:
        try:
            socket.create_connection(("127.0.0.1", int(str(self.options["port"]))), 5).close()
        except OSError:
            return []
        return ["connected"]


class OwnLoopback(_Escape):
    """Talks to itself over loopback, as H2O, Dask and Ray do: that must still work."""

    def attempt(self) -> list[str]:
        with socket.create_server(("127.0.0.1", 0)) as server:
            socket.create_connection(server.getsockname(), 5).close()
        return []


class Detached(_Escape):
    """Leaves a double-forked, setsid grandchild behind (`sleep` with a marker argument)."""

    def attempt(self) -> list[str]:
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                os.execvp("sleep", ["sleep", str(self.options["marker"])])
            os._exit(0)
        os.wait()
        return []


class ShmHog(_Escape):
    """Writes 1.5 GB into /dev/shm, 100 MB at a time."""

    def attempt(self) -> list[str]:
        block = b"x" * 100 * 2**20
        with open(f"/dev/shm/hog-{os.getpid()}", "wb") as f:
            for _ in range(15):
                f.write(block)
        return ["1.5 GB in /dev/shm"]


class DiskFiller(_Escape):
    """Writes a 2 GB file into the job folder's temp folder, 16 MB at a time."""

    def attempt(self) -> list[str]:
        block = b"x" * 16 * 2**20
        with open(Path(tempfile.gettempdir()) / "fill", "wb") as f:
            for _ in range(128):
                f.write(block)
        return ["2 GB on disk"]


class Affinity(_Escape):
    """Asks for every CPU, then keeps three processes busy for 3 s; says which CPUs it got."""

    def attempt(self) -> list[str]:
        with contextlib.suppress(OSError):
            os.sched_setaffinity(0, range(os.cpu_count() or 1))
        got = sorted(os.sched_getaffinity(0))
        busy = [subprocess.Popen([sys.executable, "-c", "import time\nt = time.time() + 3\n"
                                  "while time.time() < t: pass"]) for _ in range(3)]
        for p in busy:
            p.wait()
        self.options["cpus"] = got
        return []

    def run(self, data: SearchData, ctx: RunContext) -> RunResult:
        result = super().run(data, ctx)
        result.model_description = f"cpus {self.options['cpus']}"
        return result


class LinkedStderr(_Base):
    """Replaces its stderr file by a link to a file only the harness may read, then fails."""

    def run(self, data: SearchData, ctx: RunContext) -> RunResult:
        stderr = Path.cwd() / "stderr.log"
        stderr.unlink()
        stderr.symlink_to(str(self.options["secret"]))
        raise RuntimeError("look at my stderr")


class DataProbe(_Base):
    """Says how its data reached it: whether its first feature lies in a mapping of its split's
    file, what writing to that file and its folder does, what the folder holds, and the first
    value before it overwrites that value in its own frame."""

    def run(self, data: SearchData, ctx: RunContext) -> RunResult:
        import json

        folder = Path(json.loads(Path(protocol.JOB).read_text())["data"])
        address = data.X.iloc[:, 0].to_numpy().__array_interface__["data"][0]
        mapped = []
        for line in Path("/proc/self/maps").read_text().splitlines():
            span, *_, name = line.split(maxsplit=5)
            start, end = (int(x, 16) for x in span.split("-"))
            if start <= address < end:
                mapped.append(Path(name).name)
        tries = {}
        for what, attempt in (
                ("write", lambda: open(folder / "search_X.arrow", "r+b").close()),
                ("chmod", lambda: os.chmod(folder / "search_X.arrow", 0o666)),
                ("create", lambda: open(folder / "extra", "wb").close())):
            try:
                attempt()
                tries[what] = "done"
            except OSError as exc:
                tries[what] = errno.errorcode.get(exc.errno or 0, str(exc))
        first = float(data.X.iloc[0, 0])
        data.X.iloc[0, 0] = 1e9  # its own copy of the page, not the file
        seen = {"mapped": mapped, "files": sorted(os.listdir(folder)), "first": first,
                "written": float(data.X.iloc[0, 0]), **tries}
        return RunResult(self.prior(data), 0.5, "nothing", 1, model_description=json.dumps(seen))
