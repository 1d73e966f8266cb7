"""Warm servers: one per system environment a run uses, started before the run's first job and
waited for until their imports are loaded (outside every budget), in the fork server's sandbox, in
the environment's own interpreter, with the system's heavy imports loaded
(`adapters.systems.warm`). Each job of a third-party system gets a `Door`: a socket the harness
connected to its environment's server, over which its worker is forked into the job's own cgroup,
namespaces and user. The harness, not the job, makes every connection and sends the cgroup, user
and CPUs; the job sends only its namespaces, which the server checks. Where that cannot hold, the
door says why and the job starts a fresh interpreter.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import select
import shutil
import signal
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import adapters
from adapters import registry
from adapters.contract import SetupFailure
from adapters.systems import environments
from adapters.systems.external import Door, ExternalSystem
from adapters.systems.warm import READY
from auditor.execution import sandbox
from auditor.execution.cgroups import JobCgroup
from auditor.execution.confinement import thread_env
from auditor.execution.executor import JobSpec

ADAPTERS = Path(adapters.__file__).resolve().parent  # what joins a server's path
STOP_S = 5.0  # for a server to end once its control socket is closed
READY_S = 120.0  # at most, for the servers' imports before the first job (then jobs wait)
LOOK_S = 0.5  # between looks at whether a server that has not said it is ready still lives


def serve(python: str, folder: str, control: socket.socket, argv: list[str]) -> None:
    """In a process forked from the fork server: become the environment's warm server."""
    log = os.open(Path(folder) / "server.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    for target in (1, 2):
        os.dup2(log, target)
    os.set_inheritable(control.fileno(), True)
    env = {**os.environ, "PYTHONPATH": str(Path(folder) / "lib"), "PYTHONNOUSERSITE": "1",
           "TMPDIR": str(Path(folder) / "tmp")}
    os.chdir(folder)
    os.execve(python, [python, "-m", "adapters.systems.warm", str(control.fileno()), *argv], env)


@dataclass
class Server:
    """One environment's server: its process (of the fork server) and the harness's end of its
    control socket; `gone` says why it no longer takes jobs."""

    process: Any
    control: socket.socket
    folder: Path
    started: float = field(default_factory=time.monotonic)
    ready_s: float | None = None  # seconds from its start to its imports loaded
    gone: str = ""

    def ended(self) -> str:
        """Why the server ended (waited for a moment, so that its exit code is known)."""
        self.process.join(STOP_S)
        return f"it ended (exit code {self.process.exitcode}): {self.last_line()}"

    def last_line(self) -> str:
        """The last line the server wrote (why it ended)."""
        with contextlib.suppress(OSError):
            lines = (self.folder / "server.log").read_text(errors="replace").split("\n")
            return next((x.strip()[:300] for x in reversed(lines) if x.strip()), "no output")
        return "no output"


@dataclass
class Servers:
    """The warm servers of one `Runner`, by environment; `start_process` starts a process of
    the fork server's context (`Runner` hides its main module meanwhile)."""

    ctx: Any
    start_process: Callable[[Any], None]
    servers: dict[str, Server] = field(default_factory=dict)

    def prestart(self, systems: list[str]) -> list[str]:
        """Start the server of each environment `systems` use, where a warm worker can be
        forked (a whole sandbox, the environment built); a job of any other starts fresh. The
        environments that have a server now."""
        found = sandbox.current()
        if not (found.on and found.groups):
            return []
        for name in dict.fromkeys(systems):
            cls = self._external(name)
            if cls is None:
                continue
            with contextlib.suppress(SetupFailure):  # its jobs report it
                self._server(cls, environments.ready(cls.env))
        return list(self.servers)

    def wait(self, timeout: float = READY_S) -> list[str]:
        """Wait until every server has loaded its imports, has ended, or `timeout` has passed
        (a job of a server still loading waits at its door, inside its start-up); a line on
        each server."""
        deadline = time.monotonic() + timeout
        waiting = {s.control.fileno(): (name, s) for name, s in self.servers.items()
                   if s.ready_s is None and not s.gone}
        while waiting and (left := deadline - time.monotonic()) > 0:
            said, _, _ = select.select(list(waiting), [], [], min(left, LOOK_S))
            for fd, (_, server) in list(waiting.items()):
                if fd in said and server.control.recv(len(READY)) == READY:
                    server.ready_s = time.monotonic() - server.started
                elif fd in said or not server.process.is_alive():
                    server.gone = server.ended()
                else:
                    continue
                del waiting[fd]
        lines = [f"warm server {name}: imports loaded in {s.ready_s:.1f} s"
                 if s.ready_s is not None else f"warm server {name}: {s.gone}"
                 for name, s in self.servers.items() if s.ready_s is not None or s.gone]
        lines += [f"warm server {name}: imports not loaded after {timeout:.0f} s; its jobs "
                  "wait for them" for name, _ in waiting.values()]
        return lines

    @staticmethod
    def _external(system: str) -> type[ExternalSystem] | None:
        try:
            cls = registry.adapter_class(system)
        except registry.UnknownSystem:  # the job itself reports it
            return None
        return cls if issubclass(cls, ExternalSystem) else None

    def door(self, task: JobSpec, cell: JobCgroup | None, uid: int | None, cpus: list[int],
             cores: int) -> Door | None:
        """The job's door to its environment's server (None when its system has none)."""
        cls = self._external(task.system)
        if cls is None:
            return None
        found = sandbox.current()
        if not found.on:
            return Door(None, "no sandbox to fork a warm worker into")
        if cell is None:
            return Door(None, "no cgroup to charge a warm worker's memory and CPU to")
        try:
            marker = environments.ready(cls.env)
        except SetupFailure:
            return None  # the job reports it
        server = self._server(cls, marker)
        if server.gone or not server.process.is_alive():
            server.gone = server.gone or server.ended()
            return Door(None, f"the {cls.env.name} server is gone: {server.gone}")
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        handles = cell.handles()
        order = {"uid": uid, "network": task.network, "cpus": cpus, "threads": thread_env(cores)}
        try:
            socket.send_fds(server.control, [json.dumps(order).encode()],
                            [theirs.fileno(), *handles])
        except OSError as exc:
            server.gone = f"its control socket failed ({exc})"
            mine.close()
            return Door(None, f"the {cls.env.name} server is gone: {server.gone}")
        finally:
            theirs.close()
            for fd in handles:
                os.close(fd)
        return Door(mine, f"forked from the {cls.env.name} server, imports preloaded")

    def _server(self, cls: type[ExternalSystem], marker: dict[str, Any]) -> Server:
        """The environment's server, started now if this is its first job."""
        name = cls.env.name
        if name not in self.servers:
            folder = sandbox.jobs_root() / f"{os.getpid()}-warm-{name}-{secrets.token_hex(4)}"
            (folder / "lib").mkdir(parents=True)
            (folder / "tmp").mkdir()
            (folder / "lib" / "adapters").symlink_to(ADAPTERS)
            mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            process = self.ctx.Process(
                target=serve, name=f"warm-{name}",
                args=(marker["python_path"], str(folder), theirs, [cls.module, *cls.preload]))
            self.start_process(process)
            theirs.close()
            self.servers[name] = Server(process, mine, folder)
        return self.servers[name]

    def close(self) -> None:
        """End every server (closing its control socket ends it) and remove its folder."""
        for server in self.servers.values():
            server.control.close()
            server.process.join(STOP_S)
            if server.process.is_alive():  # its pid in the sandbox means nothing here
                pid = sandbox.host_pid(sandbox.server_pid(), server.process.pid)
                if pid is not None:
                    os.kill(pid, signal.SIGKILL)
                server.process.join()
            shutil.rmtree(server.folder, ignore_errors=True)
        self.servers.clear()
