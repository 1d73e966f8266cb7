"""A system environment's warm server, and the handle a job holds on the worker it forks.

`python -m adapters.systems.warm CONTROL_FD MODULE [PRELOAD ...]` runs in the environment's
interpreter, inside the fork server's sandbox (`auditor.execution.servers` starts it once per run):
it imports the system module and its heavy imports, says so on CONTROL_FD (a socket only the
harness holds), then waits on it. For each job the harness sends one connected socket (the job
holds the other end) with that job's cgroup files, user and CPUs. The server forks a guardian for
it, which waits for the job to send its own namespaces, checks them (namespaces of the sandbox's
own user namespace, none the server's own, the PID namespace a child of the server's), joins the
job's cgroup, enters the namespaces (mount last) and forks the worker: in the job's PID namespace,
as the job's user, with no_new_privs, the job's CPUs, environment and folder, running
`adapters.systems.worker`. The guardian passes the job's SIGTERM on and sends back the worker's
exit status. Nothing the job sends names a path or process the server acts on before the worker has
become the job's user in the job's mount namespace. Needs only the standard library and runs on
Python 3.9.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import importlib
import json
import os
import select
import signal
import socket
import sys
import tempfile
from pathlib import Path
from typing import Any

NAMESPACES = ("ipc", "net", "pid", "mnt")  # the order they are entered in: mount last
CLONE = {"ipc": 0x8000000, "net": 0x40000000, "pid": 0x20000000, "mnt": 0x20000}
NS_GET_USERNS, NS_GET_PARENT = 0xB701, 0xB702
PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_SET_NO_NEW_PRIVS = 1, 4, 38
MESSAGE = 1 << 16  # bytes of one message, either way
_SERVED: list[str] = []  # the server's folder of `adapters` (its PYTHONPATH)
TERM, KILL = b"T", b"K"  # what a job may say to its guardian once the worker runs
READY = b"ready"  # what the server tells the harness once its imports are loaded


class Refused(Exception):
    """The server would not (or could not) start this job's worker; the reason is the message."""


def _libc() -> Any:
    return ctypes.CDLL(None, use_errno=True)


def _own(kind: str) -> os.stat_result:
    return os.stat(f"/proc/self/ns/{kind}")


def _same(a: os.stat_result, b: os.stat_result) -> bool:
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def _related(fd: int, request: int) -> os.stat_result:
    """The namespace that owns (NS_GET_USERNS) or holds (NS_GET_PARENT) the one `fd` names."""
    other = fcntl.ioctl(fd, request)
    try:
        return os.fstat(other)
    finally:
        os.close(other)


def check_namespaces(fds: list[int], network: bool) -> None:
    """Refused unless `fds` are a job's ipc, net, pid and mount namespaces: namespaces (not other
    files) of the server's own user namespace, none the server's own (but the network when the
    job may use the network: then it must be the server's), the PID namespace a child of the
    server's."""
    if len(fds) != len(NAMESPACES):
        raise Refused(f"{len(fds)} descriptors sent, not the {len(NAMESPACES)} namespaces")
    user = _own("user")
    for i, kind in enumerate(NAMESPACES):  # as many, checked above
        fd = fds[i]
        st, own = os.fstat(fd), _own(kind)
        if st.st_dev != own.st_dev:
            raise Refused(f"the {kind} descriptor is not a namespace")
        if kind == "net" and network:  # the job stayed in the sandbox's network
            if not _same(st, own):
                raise Refused("the network namespace is not the server's, yet the job may use "
                              "the network")
            continue
        if _same(st, own):
            raise Refused(f"the {kind} namespace is the server's own")
        try:
            if not _same(_related(fd, NS_GET_USERNS), user):
                raise Refused(f"the {kind} namespace belongs to another user namespace")
            if kind == "pid" and not _same(_related(fd, NS_GET_PARENT), own):
                raise Refused("the PID namespace is not a child of the server's")
        except OSError as exc:
            raise Refused(f"the {kind} descriptor is not a namespace: {exc}") from None


def become(uid: int | None) -> None:
    """A job's process or worker becomes the job's user (None: keeps this one's), dropping every
    capability, and can gain no privileges."""
    if uid is not None:
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)  # drops every capability
    _libc().prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)


def _enter(fds: list[int], network: bool) -> None:
    libc = _libc()
    for i, kind in enumerate(NAMESPACES):  # checked: as many
        if kind == "net" and network:
            continue
        if libc.setns(fds[i], CLONE[kind]) != 0:  # the kernel checks the kind too
            raise Refused(f"setns {kind}: {os.strerror(ctypes.get_errno())}")


def _become(order: dict[str, Any], request: dict[str, Any]) -> None:
    """In the worker, first thing: the job's user, no new privileges, its CPUs, environment and
    folder; the server's paths of `adapters` become the job's own."""
    become(order["uid"])
    _libc().prctl(PR_SET_DUMPABLE, 1, 0, 0, 0)  # as an exec'd worker is: the job's to inspect
    os.sched_setaffinity(0, order["cpus"])
    env = {str(k): str(v) for k, v in dict(request.get("env", {})).items()}
    os.environ.clear()
    os.environ.update({**env, **order["threads"]})
    tempfile.tempdir = None  # an import may have cached the server's, which the job cannot see
    folder = Path(str(request["folder"]))
    os.chdir(folder)
    log = os.open("worker.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    for target in (1, 2):
        os.dup2(log, target)
    os.close(log)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    _relocate(str(folder / "lib"))


def _relocate(lib: str) -> None:
    """Point `sys.path` and the `adapters` packages at the job's `lib` (the server's is not in the
    job's mount namespace), so that what is imported from now on comes from the job's view."""
    served = _SERVED[0]
    sys.path[:] = [lib if os.path.abspath(p) == served else p for p in sys.path]
    for name, module in list(sys.modules.items()):
        paths = getattr(module, "__path__", None)
        if (name == "adapters" or name.startswith("adapters.")) and isinstance(paths, list):
            module.__path__ = [lib + p[len(served):] if p.startswith(served) else p
                               for p in paths]
    importlib.invalidate_caches()


def _admit(raw: bytes, fds: list[int], order: dict[str, Any], cgroups: list[int]
           ) -> dict[str, Any]:
    """Check the job's request and namespaces, join its cgroup and enter its namespaces; the
    request. Refused (or OSError) when any of it fails."""
    try:
        request = json.loads(raw)
    except ValueError:
        request = None
    if not isinstance(request, dict) or not isinstance(request.get("folder"), str):
        raise Refused("the request is not a job folder and environment")
    check_namespaces(fds, bool(order["network"]))
    for fd in cgroups:
        os.write(fd, b"0")
    _enter(fds, bool(order["network"]))
    return request


def _guard(control: socket.socket, job: socket.socket, order: dict[str, Any],
           cgroups: list[int]) -> int:
    """The guardian of one job: its exit status."""
    control.close()
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    _libc().prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    try:
        raw, fds, _, _ = socket.recv_fds(job, MESSAGE, len(NAMESPACES) + 1)
    except OSError:
        return 1
    if not raw:
        return 0  # the job went without asking
    try:
        request = _admit(raw, fds, order, cgroups)
    except (Refused, OSError) as exc:
        job.send(json.dumps({"refused": str(exc)}).encode())
        return 1
    finally:
        for fd in [*fds, *cgroups]:
            os.close(fd)
    worker = os.fork()
    if worker == 0:
        code = 1
        try:
            job.close()
            _become(order, request)
            from adapters.systems import worker as entry

            code = entry.main(Path.cwd())
        except BaseException as exc:  # the worker must never return into the server
            with contextlib.suppress(BaseException):
                sys.stderr.write(f"warm worker: {type(exc).__name__}: {exc}\n")
                sys.stderr.flush()
        finally:
            os._exit(code)
    return _relay(job, worker)


def _relay(job: socket.socket, worker: int) -> int:
    """Pass the job's SIGTERM and SIGKILL on to `worker` until it ends; send its exit status."""
    job.send(json.dumps({"started": True}).encode())
    ended = os.pidfd_open(worker)
    while True:
        ready, _, _ = select.select([job.fileno(), ended], [], [])
        if ended in ready:
            break
        word = job.recv(MESSAGE)
        if word == TERM:
            os.kill(worker, signal.SIGTERM)
        elif word == KILL or not word:  # the job went: so does its worker
            os.kill(worker, signal.SIGKILL)
            break
    code = os.waitstatus_to_exitcode(os.waitpid(worker, 0)[1])
    with contextlib.suppress(OSError):
        job.send(json.dumps({"exit": code}).encode())
    return 0


def serve(control: socket.socket, module: str, preload: list[str]) -> int:
    """Import the system, then fork a guardian for each job the harness sends, until it closes
    the control socket."""
    _SERVED[:] = [os.path.abspath(os.environ["PYTHONPATH"])]
    for name in [module, *preload]:
        importlib.import_module(name)
    importlib.import_module("adapters.systems.worker")
    print(f"warm: {module} and {preload} imported; {len(os.listdir('/proc/self/task'))} "
          "thread(s)", flush=True)
    control.send(READY)  # the harness starts the run's first job once every server has said it
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # guardians are reaped by the kernel
    while True:
        raw, fds, _, _ = socket.recv_fds(control, MESSAGE, 16)
        if not raw:
            return 0
        order = json.loads(raw)
        job = socket.socket(fileno=fds[0])
        if os.fork() == 0:
            code = 1
            try:
                code = _guard(control, job, order, fds[1:])
            finally:
                os._exit(code)
        job.close()
        for fd in fds[1:]:
            os.close(fd)


class WarmWorker:
    """The job's side: a worker forked by its environment's server, through the connected socket
    the harness handed the job; used like `subprocess.Popen`."""

    def __init__(self, sock: socket.socket, folder: Path, env: dict[str, str]) -> None:
        """Ask for the worker; Refused when the server refuses or is gone."""
        self.sock = sock
        self.returncode: int | None = None
        fds = [os.open(f"/proc/self/ns/{kind}", os.O_RDONLY) for kind in NAMESPACES]
        try:
            socket.send_fds(sock, [json.dumps({"folder": str(folder), "env": env}).encode()],
                            fds)
        except OSError as exc:
            raise Refused(f"the server is gone ({exc})") from None
        finally:
            for fd in fds:
                os.close(fd)
        answer = self._answer(None)
        if answer is None or "started" not in answer:
            sock.close()
            raise Refused(answer["refused"] if answer else "the server is gone")

    def _answer(self, timeout: float | None) -> dict[str, Any] | None:
        self.sock.settimeout(timeout)
        try:
            raw = self.sock.recv(MESSAGE)
        except BlockingIOError:  # nothing yet (a timeout of 0: non-blocking)
            raise TimeoutError from None
        except OSError:
            return None
        return json.loads(raw) if raw else None

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                answer = self._answer(0.0)
            except TimeoutError:
                return None
            self.returncode = int(answer["exit"]) if answer and "exit" in answer else -9
            self.sock.close()
        return self.returncode

    def send_signal(self, sig: int) -> None:
        if self.returncode is None:
            with contextlib.suppress(OSError):
                self.sock.send(TERM if sig == signal.SIGTERM else KILL)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


if __name__ == "__main__":
    sys.exit(serve(socket.socket(fileno=int(sys.argv[1])), sys.argv[2], sys.argv[3:]))
