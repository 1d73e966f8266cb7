"""Warm servers: one per system environment a run uses, started at that environment's first job
(outside every budget) in the fork server's sandbox, in the environment's own interpreter, with
the system's heavy imports loaded (`adapters.systems.warm`). Each job of a third-party system gets
a `Door`: a socket the harness connected to its environment's server, over which its worker is
forked into the job's own cgroup, namespaces and user. The harness, not the job, makes every
connection and sends the cgroup, user and CPUs; the job sends only its namespaces, which the
server checks. Where that cannot hold, the door says why and the job starts a fresh interpreter.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import adapters
from adapters import registry
from adapters.contract import SetupFailure
from adapters.systems import environments
from adapters.systems.external import Door, ExternalSystem
from auditor.execution import sandbox
from auditor.execution.cgroups import JobCgroup
from auditor.execution.confinement import thread_env
from auditor.execution.executor import JobSpec

ADAPTERS = Path(adapters.__file__).resolve().parent  # what joins a server's path
STOP_S = 5.0  # for a server to end once its control socket is closed


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
    gone: str = ""

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

    def prestart(self, systems: list[str]) -> None:
        """Start the server of each environment `systems` use, where a warm worker can be
        forked (a whole sandbox, the environment built); a job of any other starts fresh."""
        found = sandbox.current()
        if not (found.on and found.groups):
            return
        for name in dict.fromkeys(systems):
            cls = self._external(name)
            if cls is None:
                continue
            with contextlib.suppress(SetupFailure):  # its jobs report it
                self._server(cls, environments.ready(cls.env))

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
            server.gone = server.gone or (f"it ended (exit code {server.process.exitcode}): "
                                          f"{server.last_line()}")
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
