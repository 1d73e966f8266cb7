"""Budget enforcement: limits applied inside a job's process, measurements taken from outside.

The harness never trusts a system's own time limit. Inside the child: thread caps (env vars and
threadpoolctl), CPU affinity, and death with the parent. Outside: the parent samples the child's
process tree (RSS, CPU seconds), sends SIGTERM at the budget and SIGKILL after the grace period,
and kills on the memory limit; where the machine allows, a cgroup per job does the measuring and
the limiting instead (`auditor.execution.cgroups`). A job's budget starts when its system has
started (`Startup`): imports, data and servers are not charged to it, up to `STARTUP_CAP_S`.
"""

from __future__ import annotations

import bisect
import contextlib
import ctypes
import fcntl
import math
import os
import signal
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from adapters.contract import STARTUP_CAP_S

THREAD_VARS = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "BLIS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)
PR_SET_PDEATHSIG = 1


def thread_env(cores: int) -> dict[str, str]:
    return {var: str(cores) for var in THREAD_VARS}


def _lock_folder() -> Path:
    """The CPU locks' folder, shared by every user of the machine (mode 1777, like /tmp); a
    user who cannot write in it (made by an older version for one user) gets one of its own."""
    locks = Path(tempfile.gettempdir()) / "auditor-cpus"
    with contextlib.suppress(FileExistsError):
        locks.mkdir()
    with contextlib.suppress(OSError):
        if locks.stat().st_uid == os.geteuid():
            locks.chmod(0o1777)
    if not os.access(locks, os.W_OK | os.X_OK):
        locks = locks.with_name(f"auditor-cpus-{os.geteuid()}")
        locks.mkdir(mode=0o700, exist_ok=True)
    return locks


def _open_lock(path: Path) -> int | None:
    """A read-only descriptor of a lock file (enough for flock, and open to every user), made
    when missing; None when this user may not (not coordinated, never a failure)."""
    try:
        return os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        with contextlib.suppress(OSError):
            return os.open(path, os.O_CREAT | os.O_RDONLY, 0o444)
    except OSError:
        pass
    return None


# CPUs this process has handed to its running jobs (`node_cpus`), with how many jobs each
_handed: Counter[int] = Counter()


@contextlib.contextmanager
def node_cpus(cores: int) -> Iterator[list[int]]:
    """CPUs for one job, held by file locks while it runs, so that the jobs of one run, of other
    runs and of Ray workers on this machine take different CPUs (a lock goes with its process,
    so a killed harness or worker frees its CPUs); wraps around when every CPU is taken, to the
    CPUs this process's other jobs use least (not every job onto the first CPU)."""
    # looked up here, not at import: the fork server imports this module, and a temp folder
    # looked up there would be cached as every job's (Entry.enter resets it too)
    locks = _lock_folder()
    cpus = sorted(os.sched_getaffinity(0))
    held: list[tuple[int, int]] = []
    try:
        for cpu in cpus:
            if len(held) == cores:
                break
            if (fd := _open_lock(locks / f"cpu{cpu}.lock")) is None:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                continue
            held.append((cpu, fd))
        taken = [cpu for cpu, _ in held]
        # held by others: shared, not waited for
        shared = sorted((cpu for cpu in cpus if cpu not in taken), key=lambda c: _handed[c])
        picked = taken + shared[:cores - len(taken)]
        picked += [cpus[i % len(cpus)] for i in range(cores - len(picked))]
        _handed.update(picked)
        try:
            yield picked
        finally:
            _handed.subtract(picked)
    finally:
        for _, fd in held:
            os.close(fd)


def confine(cores: int, cpus: list[int]) -> None:
    """Called first thing in a job's process."""
    os.environ.update(thread_env(cores))
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    os.sched_setaffinity(0, cpus)
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=cores)


@dataclass
class Usage:
    """What the parent measured of a job's process tree."""

    peak_rss_mb: float = 0.0
    cpu_s: float = 0.0
    samples: int = 0
    _seen: dict[int, float] = field(default_factory=dict)
    # per thread: seconds runnable but waiting for a CPU (the kernel's schedstat)
    _waited: dict[int, float] = field(default_factory=dict)
    # (time.monotonic(), cpu_s) now and then while the job runs (`mark`)
    series: list[tuple[float, float]] = field(default_factory=list)

    def mark(self) -> None:
        """Keep the tree's CPU seconds as of now, for the run's CPU clock (`cpu_clock`)."""
        self.series.append((time.monotonic(), self.cpu_s))

    def cpu_clock(self, start: float) -> list[list[float]]:
        """The tree's CPU seconds from `start` (a time.monotonic() value: the budget's start)
        on, as rows [seconds since `start`, CPU seconds since `start`], the CPU at `start`
        interpolated between the samples around it."""
        times = [t for t, _ in self.series]
        i = bisect.bisect_left(times, start)
        if i == len(times):
            return []
        base = self.series[i][1]
        if i > 0:
            (t0, c0), (t1, c1) = self.series[i - 1], self.series[i]
            base = c0 + (c1 - c0) * (start - t0) / (t1 - t0) if t1 > t0 else c1
        return [[t - start, max(0.0, c - base)] for t, c in self.series[i:]]

    @property
    def wait_s(self) -> float:
        """Seconds the tree's threads were ready to run but waited for a CPU (seen so far)."""
        return sum(self._waited.values())

    def sample_wait(self, proc: psutil.Process | None, also: list[int] | None = None) -> None:
        """Update the tree's CPU wait (with that of the processes `also`: a job's cgroup, which
        holds a warm worker that is no child of the job's process) from
        /proc/<pid>/task/<tid>/schedstat (both cgroup versions, no privilege; a thread that ended
        between samples keeps its last value)."""
        try:
            tree = [proc, *proc.children(recursive=True)] if proc else []
        except psutil.Error:
            return
        for pid in {p.pid for p in tree} | set(also or ()):
            with contextlib.suppress(OSError, ValueError, IndexError):
                for task in Path(f"/proc/{pid}/task").iterdir():
                    waited = int(task.joinpath("schedstat").read_text().split()[1]) / 1e9
                    self._waited[int(task.name)] = max(waited, self._waited.get(int(task.name), 0))

    def sample(self, proc: psutil.Process, own_tmpfs: bool = False) -> float:
        """Take one sample; return current tree RSS in MB (0 when the process is gone), with
        what the job holds in its own /tmp and /dev/shm (`own_tmpfs`: mounted in its mount
        namespace, seen through /proc/PID/root)."""
        rss = 0
        try:
            tree = [proc, *proc.children(recursive=True)]
        except psutil.Error:
            return 0.0
        for p in tree:
            try:
                with p.oneshot():
                    rss += p.memory_info().rss
                    t = p.cpu_times()
                    self._seen[p.pid] = t.user + t.system
            except psutil.Error:
                continue
        self.cpu_s = sum(self._seen.values())
        mb = (rss + (_tmpfs_used(proc.pid) if own_tmpfs else 0)) / 2**20
        self.peak_rss_mb = max(self.peak_rss_mb, mb)
        self.samples += 1
        return mb


def _tmpfs_used(pid: int) -> int:
    """Bytes used in the /tmp and /dev/shm of process `pid`'s mount namespace."""
    used = 0
    for folder in ("tmp", "dev/shm"):
        with contextlib.suppress(OSError):
            st = os.statvfs(f"/proc/{pid}/root/{folder}")
            used += (st.f_blocks - st.f_bfree) * st.f_frsize
    return used


@dataclass
class Startup:
    """When a job's budget started: the start-up its process reported (`RunContext.begin`
    writes it to `path`), never more than the harness saw pass before the file appeared, nor
    than `STARTUP_CAP_S`."""

    path: Path
    job_started: float  # time.monotonic() at the job's start
    seconds: float | None = None  # None until the harness has seen the file

    def allowance(self) -> float:
        """Seconds beyond the wall budget the job may run: its start-up once known; until then
        the cap, since it may still be starting."""
        if self.seconds is None and self.path.exists():
            seen = time.monotonic() - self.job_started
            try:
                said = float(self.path.read_text()[:32])
            except (OSError, ValueError, UnicodeDecodeError):
                said = seen
            said = said if math.isfinite(said) else seen
            self.seconds = min(max(said, 0.0), seen, STARTUP_CAP_S)
        return STARTUP_CAP_S if self.seconds is None else self.seconds


def load_warning(workers: int, cores: int, load: float | None = None,
                 cpus: int | None = None) -> str | None:
    """A warning when the machine's load (1-minute average) leaves fewer free CPUs than
    `workers` jobs of `cores` each ask for (a CPU less than half busy counts as free): their runs
    would share CPUs with other work."""
    load = os.getloadavg()[0] if load is None else load
    cpus = cpus or os.cpu_count() or 1
    wanted, free = workers * cores, cpus - load
    if free + 0.5 >= wanted:
        return None
    return (f"warning: load average {load:.1f} on {cpus} CPUs leaves about {max(free, 0):.1f} "
            f"free for the {wanted} this run asks ({workers} job{'s' * (workers != 1)} × {cores} "
            f"core{'s' * (cores != 1)}): runs may be "
            "starved of CPU (the report's budget compliance will say); use fewer --workers or a "
            "quieter machine")
