"""Adapters in FLAML's environment that look at, or attack, their warm worker's server (named by
import path in `tests/test_warm.py`)."""

from __future__ import annotations

import ctypes
import json
import os
import socket
import threading
import time
from pathlib import Path
from typing import Any

from adapters.contract import RunContext, RunResult, SearchData
from adapters.systems import external, warm
from adapters.systems.flaml import FLAML
from tests.fault_adapters import _Base

CLONE_NEWUSER, CLONE_NEWNS = 0x10000000, 0x20000


def _view(pid: str) -> dict[str, Any]:
    """What this job's /proc says of process `pid`."""
    proc = Path("/proc") / pid
    status = dict(line.split(":\t", 1) for line in (proc / "status").read_text().splitlines()
                  if ":\t" in line)
    return {"cmdline": (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(),
            "cgroup": (proc / "cgroup").read_text(),
            "ns": {k: os.readlink(proc / "ns" / k) for k in ("mnt", "net", "ipc", "pid")},
            "uid": status["Uid"].split()[0], "cpus": status["Cpus_allowed_list"].strip()}


class WarmProbe(FLAML):
    """FLAML itself, while the job's process records every process its own /proc shows."""

    def run(self, data: SearchData, ctx: RunContext) -> RunResult:
        seen: dict[str, dict[str, Any]] = {}
        done = threading.Event()

        def watch() -> None:
            while not done.is_set():
                for pid in filter(str.isdigit, os.listdir("/proc")):
                    if pid not in seen and pid != str(os.getpid()):
                        try:
                            seen[pid] = _view(pid)
                        except OSError:
                            continue
                time.sleep(0.02)

        own = _view("self")
        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        try:
            result = super().run(data, ctx)
        finally:
            done.set()
            watcher.join()
        result.model_description = json.dumps({"own": own, "seen": seen})
        return result


class WarmIntruder(FLAML):
    """Sends its environment's server what a hostile job would (option `attack`), and reports
    the answer; runs no system."""

    def run(self, data: SearchData, ctx: RunContext) -> RunResult:
        door = external.DOORS.pop()
        if door.sock is None:
            return RunResult(_Base.prior(data), 0.5, "nothing", 1, model_description=door.how)
        answer = getattr(self, f"_{self.options['attack']}")(door.sock)
        return RunResult(_Base.prior(data), 0.5, "nothing", 1, model_description=answer)

    @staticmethod
    def _ask(sock: socket.socket, fds: list[int], message: bytes = b"") -> str:
        message = message or json.dumps({"folder": os.getcwd(), "env": {}}).encode()
        socket.send_fds(sock, [message], fds)
        return sock.recv(warm.MESSAGE).decode() or "closed"

    @staticmethod
    def _own(kinds: tuple[str, ...] = warm.NAMESPACES) -> list[int]:
        return [os.open(f"/proc/self/ns/{k}", os.O_RDONLY) for k in kinds]

    def _nothing(self, sock: socket.socket) -> str:
        return self._ask(sock, [])

    def _files(self, sock: socket.socket) -> str:
        return self._ask(sock, [os.open("/etc/hostname", os.O_RDONLY) for _ in range(4)])

    def _swapped(self, sock: socket.socket) -> str:
        return self._ask(sock, self._own(("ipc", "net", "mnt", "pid")))

    def _garbage(self, sock: socket.socket) -> str:
        return self._ask(sock, self._own(), b"\xff not json")

    def _own_userns(self, sock: socket.socket) -> str:
        """A mount namespace of a user namespace the job made itself, in a child."""
        reader, writer = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(reader)
            libc = ctypes.CDLL(None, use_errno=True)
            if libc.unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0:
                answer = f"unshare refused: {os.strerror(ctypes.get_errno())}"
            else:
                answer = self._ask(sock, self._own())
            os.write(writer, answer.encode())
            os._exit(0)
        os.close(writer)
        os.waitpid(pid, 0)
        with os.fdopen(reader) as f:
            return f.read()


class WarmDoomed(FLAML):
    """FLAML, whose warm server cannot import what it is told to preload: it dies at start."""

    preload = ("adapters.no_such_module",)
