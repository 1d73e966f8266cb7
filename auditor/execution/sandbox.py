"""Every job in a sandbox: the fork server runs inside bubblewrap namespaces, and each job forked
there enters its own cgroup, mount, IPC and network namespaces and user before any system code runs.

The fork server's sandbox (`bwrap`): its own PID namespace (the harness's processes are not in its
/proc), read-only system and Python folders (of each `sys.path` folder outside the interpreter's
prefix only its packages and modules, so an output folder beside them stays hidden), the system
environments read-only, and one writable folder that holds the job folders. Each job then
(`Entry.enter`): joins its cgroup (`auditor.execution.cgroups`), unshares PID, mount, IPC and
(unless its system may use the network) network namespaces, goes on as pid 1 of its own namespace
(its first process waits outside, passing SIGTERM on), mounts its own /proc, /tmp and /dev/shm
(charged to its memory limit, gone with its last process), and becomes a user of its own whose
folder is mode 0700: it can neither see, signal, trace nor read another job. Levels: `off` (none
of this), `auto` (what the machine allows, one warning line naming the rest), `strict` (all of it
or refuse).
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import importlib.util
import os
import secrets
import shlex
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import psutil

from adapters.systems.environments import envs_root
from auditor.config.errors import UsageError
from auditor.execution import cgroups
from auditor.execution.confinement import THREAD_VARS

PARTS = ("namespaces", "cgroup", "job users")
# the harness's environment variables a job's process keeps; no other (tokens, passwords, the
# store's URL) reaches it, at any sandbox level. A job's settings come through its job file.
JOB_ENVIRON = ("PATH", "LANG", "LANGUAGE", "LC_ALL", "LC_CTYPE", "TZ", "PYTHONPATH",
               "LD_LIBRARY_PATH", "JAVA_HOME", *THREAD_VARS)
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/etc", "/opt")
CLONE_NEWNS, CLONE_NEWIPC, CLONE_NEWPID, CLONE_NEWNET = 0x20000, 0x8000000, 0x20000000, 0x40000000
MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_BIND, MS_REC, MS_PRIVATE = 2, 4, 8, 0x1000, 0x4000, 1 << 18
MS_RDONLY, MS_REMOUNT = 1, 32
PACKAGES = ("auditor", "adapters", "reports", "benchmarks")  # the project's own
# environments folders given on the command line (`--envs`), seen read-only like the default one
ENVS_FOLDERS: list[Path] = []
PR_SET_NO_NEW_PRIVS = 38
SIOCSIFFLAGS, IFF_UP_LOOPBACK = 0x8914, 0x1 | 0x8 | 0x40  # IFF_UP, IFF_LOOPBACK, IFF_RUNNING
FIRST_UID = 200_000  # job users are FIRST_UID + a random number below 2^20


@dataclass(frozen=True)
class Isolation:
    """What this machine gives every job at the requested level."""

    level: str
    missing: tuple[str, ...]
    groups: list[Path] | None = None  # the cgroup folders jobs are made in

    @property
    def on(self) -> bool:
        return self.level != "off" and "namespaces" not in self.missing

    def label(self, network: bool = False) -> str:
        """What the store records for a run: sandbox, partial (without ...), or none."""
        if self.level == "off" or len(self.missing) == len(PARTS):
            return "none"
        text = "sandbox" if not self.missing else f"partial (no {', '.join(self.missing)})"
        return f"{text}, network allowed" if network else text


def _bwrap_works() -> bool:
    """Whether the fork server's own sandbox starts here (the interpreter runs in it)."""
    if shutil.which("bwrap") is None:
        return False
    cmd = [*bwrap_command(jobs_root()), sys.executable, "-c", "pass"]
    return subprocess.run(cmd, capture_output=True, timeout=120).returncode == 0


def _privilege() -> list[str]:
    """Capabilities the fork server keeps so that each job can unshare and change user."""
    caps = [arg for cap in ("SYS_ADMIN", "NET_ADMIN", "SETUID", "SETGID")
            for arg in ("--cap-add", f"CAP_{cap}")]
    return caps if os.geteuid() == 0 else ["--unshare-user", *caps]


def probe(level: str) -> Isolation:
    """The isolation `level` gets here; `strict` raises UsageError when a part is missing."""
    if level == "off":
        return Isolation("off", PARTS)
    missing = []
    if not _bwrap_works():
        missing.append("namespaces")
    groups = cgroups.hierarchies()
    if groups is None:
        missing.append("cgroup")
    if os.geteuid() != 0 or "namespaces" in missing:
        missing.append("job users")
    found = Isolation(level, tuple(missing), groups)
    if missing and level == "strict":
        raise UsageError(f"--sandbox strict: this machine lacks {_lacks(found)}; "
                         f"{_fixes(found)}, or use --sandbox auto")
    return found


_WHY = {"namespaces": "working bubblewrap (bwrap) namespaces",
        "cgroup": "writable cgroups with memory, pids and cpu controllers",
        "job users": "root, for a user of its own per job"}
_FIX = {"namespaces": "install bubblewrap (Debian: apt-get install bubblewrap) and allow "
                      "unprivileged user namespaces",
        "cgroup": "run as root or in a systemd scope with delegated cgroups "
                  "(systemd-run --user --scope -p Delegate=yes)",
        "job users": "run as root"}


def _lacks(found: Isolation) -> str:
    return "; ".join(_WHY[m] for m in found.missing)


def _fixes(found: Isolation) -> str:
    """Only the fixes for what is missing. Root is the fix for job users only when it is not
    already root and the cgroup fix (which says it) is not given."""
    root_said = "cgroup" in found.missing or os.geteuid() == 0
    missing = [m for m in found.missing if not (m == "job users" and root_said)]
    return "; ".join(_FIX[m] for m in missing)


def warning(found: Isolation) -> str | None:
    """The one warning line of an incomplete sandbox at level auto, or None."""
    if found.level != "auto" or not found.missing:
        return None
    return f"warning: jobs are not fully isolated ({found.label()}): this machine lacks " \
           f"{_lacks(found)}"


def jobs_root() -> Path:
    """The one writable folder the fork server's sandbox sees: it holds the job folders."""
    root = Path(os.environ.get("AUDITOR_JOBS") or
                Path(tempfile.gettempdir()) / f"auditor-jobs-{os.geteuid()}")
    root.mkdir(mode=0o711, parents=True, exist_ok=True)
    return root


def _sweep(root: Path, prefix: str = "") -> None:
    """Remove the folders `<prefix><pid>-…` in `root` whose process is gone (killed mid-job)."""
    for old in root.glob(f"{prefix}*"):
        pid = old.name[len(prefix):].partition("-")[0]
        if pid.isdigit() and not psutil.pid_exists(int(pid)):
            shutil.rmtree(old, ignore_errors=True)


def job_folder(name: str) -> Path:
    """A fresh job folder in `jobs_root`, named after this process's pid; those of processes
    that died are removed."""
    root = jobs_root()
    _sweep(root)
    return root / f"{os.getpid()}-{name}-{secrets.token_hex(4)}"


def _python_dirs() -> list[str]:
    """Folders of the interpreter, its packages and the system environments, read-only."""
    prefixes = {Path(p).resolve() for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
    out: list[Path] = list(prefixes)
    for entry in filter(None, sys.path):
        path = Path(entry).resolve()
        if not path.is_dir() or any(path.is_relative_to(p) for p in prefixes):
            continue
        out += [c for c in path.iterdir() if (c / "__init__.py").exists() or c.suffix == ".py"]
    for name in PACKAGES:  # an editable install finds them without a sys.path entry
        spec = importlib.util.find_spec(name)
        out += [Path(d).resolve() for d in (spec.submodule_search_locations or [])] if spec else []
    for envs in (envs_root(), *ENVS_FOLDERS):
        if not envs.is_dir():
            continue
        out.append(envs.resolve())
        for cfg in envs.glob("*/pyvenv.cfg"):  # the interpreters the environments were made from
            for line in cfg.read_text().splitlines():
                key, _, value = line.partition("=")
                if key.strip() == "home":
                    out.append(Path(value.strip()).resolve().parent)
    return list(dict.fromkeys(str(p) for p in out))


def bwrap_command(root: Path) -> list[str]:
    """The fork server's sandbox, up to the `--` before the interpreter."""
    cmd = ["bwrap", "--die-with-parent", "--unshare-pid", "--unshare-uts", "--unshare-ipc",
           *_privilege(), "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/dev/shm",
           "--tmpfs", "/tmp"]
    binds = _python_dirs()
    # the folders above them (a job's user must pass /root to reach a pyenv interpreter)
    for d in sorted({str(a) for b in [*binds, os.getcwd()] for a in Path(b).parents} - {"/"}):
        cmd += ["--perms", "0755", "--dir", d]
    cmd += ["--perms", "0755", "--dir", os.getcwd()]
    for d in [*SYSTEM_DIRS, *binds]:
        cmd += ["--ro-bind-try", d, d]
    return [*cmd, "--bind", str(root), str(root), "--chdir", os.getcwd(), "--"]


def wrapper(root: Path) -> Path:
    """An executable that runs the interpreter in the sandbox (multiprocessing's `executable`)."""
    prefix, tmp = "auditor-sandbox-", Path(tempfile.gettempdir())
    _sweep(tmp, prefix)  # left by a process killed while its fork server started
    script = Path(tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}-", dir=tmp)) / "python"
    command = shlex.join([*bwrap_command(root), sys.executable])
    script.write_text(f'#!/bin/sh\nexec {command} "$@"\n')
    script.chmod(0o700)
    return script


def host_pid(server_pid: int, ns_pid: int) -> int | None:
    """The harness's pid of the sandboxed process whose own-namespace pid is `ns_pid` (None when
    it is gone already): a walk down from the fork server's `bwrap`, a few processes deep."""
    todo = [server_pid]
    while todo:
        pid = todo.pop()
        with contextlib.suppress(OSError):
            status = Path(f"/proc/{pid}/status").read_text()
            nspid = next(line for line in status.splitlines() if line.startswith("NSpid:"))
            if pid != server_pid and nspid.split()[-1] == str(ns_pid):
                return pid
            for task in Path(f"/proc/{pid}/task").iterdir():
                todo += map(int, (task / "children").read_text().split())
    return None


def disk_bytes(folder: Path) -> int:
    """Bytes allocated to the files under `folder` (sparse holes not counted)."""
    total = 0
    stack = [folder]
    while stack:
        with contextlib.suppress(OSError), os.scandir(stack.pop()) as entries:
            for e in entries:
                with contextlib.suppress(OSError):
                    if e.is_dir(follow_symlinks=False):
                        stack.append(Path(e.path))
                    total += e.stat(follow_symlinks=False).st_blocks * 512
    return total


@dataclass
class Entry:
    """What a job's process needs to enter its sandbox: its cgroup's `cgroup.procs` files
    (opened by the harness), its user (None: keep the fork server's), its namespaces."""

    joins: list[Connection] = field(default_factory=list)
    uid: int | None = None
    namespaces: bool = False
    network: bool = False
    # read-only folders of the fork server's sandbox under /tmp (a clone, a venv there), bound
    # again over the job's own /tmp
    under_tmp: tuple[str, ...] = ()

    @classmethod
    def for_job(cls, found: Isolation, cell: cgroups.JobCgroup | None, folder: Path,
                network: bool) -> Entry:
        uid = None
        if "job users" not in found.missing:
            uid = FIRST_UID + secrets.randbelow(2**20)
            for path in (folder, *folder.iterdir()):
                os.chown(path, uid, uid)
            folder.chmod(0o700)
        joins = [Connection(fd, readable=False) for fd in cell.handles()] if cell else []
        served = _serving[0][1] if _serving else ()  # what the fork server binds, found once
        under = tuple(d for d in served if Path(d).is_relative_to("/tmp"))
        return cls(joins, uid, found.on, network, under)

    def close(self) -> None:
        for c in self.joins:
            c.close()

    def enter(self, folder: Path) -> None:
        """Called first in the job's process, before any system code."""
        for c in self.joins:
            os.write(c.fileno(), b"0")
        self.close()
        libc = ctypes.CDLL(None, use_errno=True)
        if self.namespaces:
            flags = (CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWPID
                     | (0 if self.network else CLONE_NEWNET))
            _check(libc.unshare(flags), "unshare")
            _stand_by(os.fork())  # the job goes on in the child: pid 1 of its own namespace
            if not self.network:  # a loopback of its own (H2O, Dask and Ray talk over it)
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                    fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sH", b"lo", IFF_UP_LOOPBACK))
            _check(libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None), "mount /")
            _check(libc.mount(b"proc", b"/proc", b"proc", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                              None), "mount /proc")
            own = os.open(folder, os.O_PATH | os.O_DIRECTORY)
            kept = {}
            for d in self.under_tmp:
                with contextlib.suppress(OSError):  # not bound when the server started
                    kept[d] = os.open(d, os.O_PATH)
            for target in (b"/tmp", b"/dev/shm"):
                _check(libc.mount(b"tmpfs", target, b"tmpfs", MS_NOSUID | MS_NODEV,
                                  b"mode=1777"), f"mount {target.decode()}")
            for d, fd in kept.items():
                _rebind(libc, fd, Path(d))
            if not folder.exists():  # under the new /tmp: only its own folder comes back
                folder.mkdir(parents=True)
                _check(libc.mount(f"/proc/self/fd/{own}".encode(), str(folder).encode(), None,
                                  MS_BIND, None), "mount the job folder")
            os.close(own)
            os.chdir(folder)
        if self.uid is not None:
            os.setgroups([])
            os.setresgid(self.uid, self.uid, self.uid)
            os.setresuid(self.uid, self.uid, self.uid)  # drops every capability
        libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
        os.environ.update(HOME=str(folder), TMPDIR=str(folder / "tmp"))
        tempfile.tempdir = None  # the fork server's cached choice would be the sandbox's /tmp


def _rebind(libc: Any, fd: int, path: Path) -> None:
    """Bind what `fd` (an O_PATH descriptor) names at `path` again, read-only."""
    if os.path.isdir(f"/proc/self/fd/{fd}"):
        path.mkdir(mode=0o755, parents=True, exist_ok=True)
    else:
        path.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
        path.touch()
    for parent in path.parents:  # made by mkdir under the umask: let the job's user through
        if parent != Path("/") and parent.is_relative_to("/tmp") and parent != Path("/tmp"):
            parent.chmod(0o755)
    source, target = f"/proc/self/fd/{fd}".encode(), str(path).encode()
    _check(libc.mount(source, target, None, MS_BIND | MS_REC, None), f"bind {path}")
    # nosuid and nodev kept: in a user namespace (an unprivileged harness) the kernel refuses a
    # remount that would drop the flags the folder already has
    _check(libc.mount(None, target, None,
                      MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, None),
           f"bind {path} read-only")
    os.close(fd)


def _stand_by(pid: int) -> None:
    """In the job's first process (`pid` > 0): wait for the job, pass SIGTERM on, and end as it
    ended; nothing of the job's own PID namespace sees this process."""
    if pid == 0:
        return
    signal.signal(signal.SIGTERM, lambda *_: os.kill(pid, signal.SIGTERM))
    code = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    if code < 0:  # killed: so is this process, by the same signal
        signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
    os._exit(code)


def _check(result: int, what: str) -> None:
    if result != 0:
        raise OSError(ctypes.get_errno(), f"sandbox: {what}: {os.strerror(ctypes.get_errno())}")


# the isolation and read-only folders of the fork server this process started
_serving: list[tuple[Isolation, tuple[str, ...], Path]] = []


def current() -> Isolation:
    """The isolation of the running fork server (`off` before one is started)."""
    return _serving[0][0] if _serving else Isolation("off", PARTS)


def server_pid() -> int:
    from multiprocessing import forkserver

    # private to multiprocessing
    return forkserver._forkserver._forkserver_pid or 0  # type: ignore[attr-defined]


def start_server(found: Isolation, start: Callable[[], None]) -> None:
    """Run `start` (which starts multiprocessing's fork server) so that the server lives in the
    sandbox `found` describes; a server started at another level, or with other folders to
    see (another environments folder), is stopped first."""
    from multiprocessing import forkserver, spawn

    key = (found, tuple(_python_dirs()) if found.on else (), jobs_root())
    if _serving and _serving[0] != key:
        forkserver._forkserver._stop()  # type: ignore[attr-defined]  # private to multiprocessing
    _serving[:] = [key]
    if not found.on:
        with _job_environ():
            start()
        return
    exe, script = spawn.get_executable(), wrapper(jobs_root())
    spawn.set_executable(str(script))
    try:
        with _job_environ():
            start()
    finally:
        spawn.set_executable(exe)
        shutil.rmtree(script.parent, ignore_errors=True)


@contextlib.contextmanager
def _job_environ() -> Iterator[None]:
    """The fork server (and every job forked from it) starts with only `JOB_ENVIRON`: its
    environment block, which a job can read in /proc, holds nothing else of the harness's."""
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update({k: v for k, v in saved.items() if k in JOB_ENVIRON})
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)
