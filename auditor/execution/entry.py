"""How a job's process enters its sandbox, first thing after the fork server forks it: it joins
its cgroup, unshares PID, mount, IPC and (unless its system may use the network) network
namespaces, goes on as pid 1 of its own namespace, mounts its own /proc, /tmp and /dev/shm, and
becomes a user of its own (`auditor.execution.sandbox` starts the fork server this runs in)."""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import os
import secrets
import signal
import socket
import struct
import tempfile
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from adapters.systems import warm
from auditor.execution import cgroups, sandbox
from auditor.execution.handoff import MOUNT

MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_BIND, MS_REC, MS_PRIVATE = 2, 4, 8, 0x1000, 0x4000, 1 << 18
MS_RDONLY, MS_REMOUNT = 1, 32
SIOCSIFFLAGS, IFF_UP_LOOPBACK = 0x8914, 0x1 | 0x8 | 0x40  # IFF_UP, IFF_LOOPBACK, IFF_RUNNING
FIRST_UID = 200_000  # job users are FIRST_UID + a random number below 2^20


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
    # without a cgroup to charge their pages to, the job's /tmp and /dev/shm hold at most this
    tmpfs_mb: int | None = None
    # the split's data folder (`auditor.execution.handoff`), bound read-only at the job folder's
    # `handoff.MOUNT`: the one folder of the harness's data the job sees
    data: str | None = None

    @classmethod
    def for_job(cls, found: sandbox.Isolation, cell: cgroups.JobCgroup | None, folder: Path,
                network: bool, memory_mb: int, data: Path | None = None) -> Entry:
        uid = None
        if "job users" not in found.missing:
            uid = FIRST_UID + secrets.randbelow(2**20)
            for path in (folder, *folder.iterdir()):
                os.chown(path, uid, uid)
            folder.chmod(0o700)
        joins = [Connection(fd, readable=False) for fd in cell.handles()] if cell else []
        served = sandbox.served_folders()  # what the fork server binds, found once
        under = tuple(d for d in served if Path(d).is_relative_to("/tmp"))
        return cls(joins, uid, found.on, network, under, None if cell else memory_mb,
                   str(data) if data else None)

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
            flags = sum(warm.CLONE[kind] for kind in warm.NAMESPACES
                        if kind != "net" or not self.network)
            _check(libc.unshare(flags), "unshare")
            _stand_by(os.fork())  # the job goes on in the child: pid 1 of its own namespace
            if not self.network:  # a loopback of its own (H2O, Dask and Ray talk over it)
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                    fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sH", b"lo", IFF_UP_LOOPBACK))
            _check(libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None), "mount /")
            _check(libc.mount(b"proc", b"/proc", b"proc", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                              None), "mount /proc")
            own = os.open(folder, os.O_PATH | os.O_DIRECTORY)
            data = os.open(self.data, os.O_PATH | os.O_DIRECTORY) if self.data else None
            kept = {}
            for d in self.under_tmp:
                with contextlib.suppress(OSError):  # not bound when the server started
                    kept[d] = os.open(d, os.O_PATH)
            size = f",size={self.tmpfs_mb}m" if self.tmpfs_mb else ""
            for target in (b"/tmp", b"/dev/shm"):
                _check(libc.mount(b"tmpfs", target, b"tmpfs", MS_NOSUID | MS_NODEV,
                                  f"mode=1777{size}".encode()), f"mount {target.decode()}")
            for d, fd in kept.items():
                _rebind(libc, fd, Path(d))
            if not folder.exists():  # under the new /tmp: only its own folder comes back
                folder.mkdir(parents=True)
                _check(libc.mount(f"/proc/self/fd/{own}".encode(), str(folder).encode(), None,
                                  MS_BIND, None), "mount the job folder")
            os.close(own)
            if data is not None:
                _bind_read_only(libc, data, folder / MOUNT)
            os.chdir(folder)
        warm.become(self.uid)
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
    _bind_read_only(libc, fd, path)


def _bind_read_only(libc: Any, fd: int, path: Path) -> None:
    """Bind what `fd` (an O_PATH descriptor) names over `path`, read-only, and close `fd`."""
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
