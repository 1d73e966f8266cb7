"""Every job in a sandbox: the fork server runs inside bubblewrap namespaces, and each job forked
there enters its own cgroup, mount, IPC and network namespaces and user before any system code runs.

The fork server's sandbox (`bwrap`): its own PID namespace (the harness's processes are not in its
/proc), read-only system and Python folders (of each `sys.path` folder outside the interpreter's
prefix only its packages and modules, so an output folder beside them stays hidden), the system
environments read-only, and one writable folder that holds the job folders. Each job forked
there then enters its own sandbox (`auditor.execution.entry`) and cgroup
(`auditor.execution.cgroups`): it can neither see, signal, trace nor read another job. Levels:
`off` (none of this), `auto` (what the machine allows, one warning line naming the rest),
`strict` (all of it or refuse).
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import os
import secrets
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

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
PACKAGES = ("auditor", "adapters", "reports", "benchmarks")  # the project's own
# environments folders given on the command line (`--envs`), seen read-only like the default one
ENVS_FOLDERS: list[Path] = []


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

    @staticmethod
    def lacked(label: str | None) -> tuple[str, ...]:
        """The parts a recorded `label` says a run's sandbox lacked (every part for `none`, or
        for a run recorded before labels were)."""
        if label is not None and label.startswith("sandbox"):
            return ()
        if label is not None and label.startswith("partial (no "):
            return tuple(label.removeprefix("partial (no ").partition(")")[0].split(", "))
        return PARTS


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


@dataclass(frozen=True)
class _Server:
    """The fork server this process started: its isolation and read-only folders (`key`), how
    it was started, and its pid (that of its `bwrap`, when sandboxed)."""

    key: tuple[Isolation, tuple[str, ...], Path]
    start: Callable[[], None]
    pid: int


_serving: list[_Server] = []


def served_folders() -> tuple[str, ...]:
    """The read-only folders the running fork server's sandbox binds (none before one starts)."""
    return _serving[0].key[1] if _serving else ()


def current() -> Isolation:
    """The isolation of the running fork server (`off` before one is started)."""
    return _serving[0].key[0] if _serving else Isolation("off", PARTS)


def server_pid() -> int:
    from multiprocessing import forkserver

    # private to multiprocessing
    return forkserver._forkserver._forkserver_pid or 0  # type: ignore[attr-defined]


def server_key(found: Isolation) -> tuple[Isolation, tuple[str, ...], Path]:
    """What a fork server in the sandbox `found` describes is started with: the level, the
    folders it sees read-only, the jobs' root."""
    return found, tuple(_python_dirs()) if found.on else (), jobs_root()


def start_server(found: Isolation, start: Callable[[], None]) -> Callable[[], None]:
    """Run `start` (which spawns multiprocessing's fork server) so that the server lives in the
    sandbox `found` describes; a server started at another level, with other folders to see
    (another environments folder), or not by this function, is stopped first. Returns what to
    call once the server is up: it removes the sandbox's wrapper script, which the server's
    start runs."""
    from multiprocessing import forkserver, spawn

    key = server_key(found)
    if not _serving or _serving[0].key != key:
        forkserver._forkserver._stop()  # type: ignore[attr-defined]  # private to multiprocessing
    if not found.on:
        with _job_environ():
            start()
        _serving[:] = [_Server(key, start, server_pid())]
        return lambda: None
    exe, script = spawn.get_executable(), wrapper(jobs_root())
    spawn.set_executable(str(script))
    try:
        with _job_environ():
            start()
    except BaseException:
        shutil.rmtree(script.parent, ignore_errors=True)
        raise
    finally:
        spawn.set_executable(exe)
    _serving[:] = [_Server(key, start, server_pid())]
    return functools.partial(shutil.rmtree, script.parent, ignore_errors=True)


def ensure_served() -> None:
    """Before a process of the fork server starts: when the fork server this process started has
    died (or is not the one running), start it again as it was started, and wait for its
    imports. Left alone, multiprocessing would start a new one itself, outside the sandbox and
    with the harness's whole environment."""
    if not _serving:
        return
    served = _serving[0]
    if server_pid() == served.pid and _running(served.pid):
        return
    from multiprocessing import forkserver

    forkserver._forkserver._stop()  # type: ignore[attr-defined]  # private to multiprocessing
    await_imports(start_server(served.key[0], served.start))


def await_imports(started: Callable[[], None]) -> None:
    """Wait for the fork server's imports (a process of it starts once they are done; paid
    once, outside any job), then call `started` (what `start_server` returned)."""
    import multiprocessing

    up = multiprocessing.get_context("forkserver").Process(target=int)
    try:
        with main_hidden():
            up.start()
        up.join()
    finally:
        started()


def _running(pid: int) -> bool:
    """Whether the child `pid` has not exited (it is not reaped: multiprocessing reaps it)."""
    try:
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None
    except ChildProcessError:
        return False


@contextlib.contextmanager
def main_hidden() -> Iterator[None]:
    """Hide the caller's main module while a process of the fork server starts:
    multiprocessing would run it again in that process (a Ray worker's main module imports Ray:
    about a second per job)."""
    main = sys.modules["__main__"]
    spec, path = getattr(main, "__spec__", None), main.__dict__.pop("__file__", None)
    main.__spec__ = None
    try:
        yield
    finally:
        main.__spec__ = spec
        if path is not None:
            main.__file__ = path


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
