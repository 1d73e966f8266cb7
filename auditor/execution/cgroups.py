"""One cgroup per job, made by the harness under its own cgroup: memory (tmpfs and /dev/shm pages
included, no swap), a pids limit, a CPU quota of `cores` and, on v1, a cpuset. CPU seconds and peak
memory are read from it (every descendant counted); at the end every process in it is killed.

cgroup v2 (`/sys/fs/cgroup/cgroup.controllers`) is used where mounted, v1 otherwise. The job's
process joins its cgroup itself, first thing, by writing to `cgroup.procs` files the harness opened
(`handles`): it never sees the cgroup file system.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path("/sys/fs/cgroup")
V1 = ("memory", "pids", "cpu", "cpuacct", "cpuset")
V2 = ("memory", "pids", "cpu")
PIDS_MAX = 512
PERIOD_US = 100_000
GROUP = "auditor"
LEAF = "harness"  # v2: where the harness moves itself when its cgroup must hand controllers down


def _own_paths() -> dict[str, str]:
    """Controller (or "" for v2) -> this process's cgroup path, from /proc/self/cgroup."""
    out = {}
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, names, path = line.split(":", 2)
        for name in names.split(",") if names else [""]:
            out[name] = path
    return out


def hierarchies() -> list[Path] | None:
    """The job group's parent folders, one per hierarchy (v2: one), or None when this machine
    gives the harness no usable cgroup (not mounted, controllers missing, not writable)."""
    own = _own_paths()
    if (ROOT / "cgroup.controllers").exists():
        base = ROOT / own.get("", "/").lstrip("/")
        if base.name == LEAF and (base.parent / GROUP).is_dir():  # moved there by _enable_v2
            base = base.parent
        if not set(V2) <= set((base / "cgroup.controllers").read_text().split()):
            return None
        dirs = [base]
    else:
        if not all((ROOT / c).is_dir() and c in own for c in V1):
            return None
        dirs = list({(ROOT / c).resolve() / own[c].lstrip("/"): None for c in V1})
    try:
        groups = [_group(d) for d in dirs]
    except OSError:
        return None
    for group in groups:
        _remove_orphans(group)
    return groups


def _group(parent: Path) -> Path:
    """The folder that holds the job cgroups in `parent`'s hierarchy, made if missing."""
    group = parent / GROUP
    if (parent / "cgroup.subtree_control").exists():  # v2: controllers must be handed down
        _enable_v2(parent)
        group.mkdir(exist_ok=True)
        (group / "cgroup.subtree_control").write_text(" ".join(f"+{c}" for c in V2))
        return group
    group.mkdir(exist_ok=True)
    _copy_cpuset(group)
    return group


def _remove_orphans(group: Path) -> None:
    """Remove the job cgroups of harnesses that died (named after their pid) once empty."""
    for old in group.iterdir():
        pid = old.name.partition("-")[0]
        if old.is_dir() and pid.isdigit() and not Path(f"/proc/{pid}").exists():
            with contextlib.suppress(OSError):
                old.rmdir()


def _enable_v2(parent: Path) -> None:
    """Enable the controllers for `parent`'s children; a cgroup that holds processes cannot, so
    the harness first moves itself into a leaf beside the jobs."""
    control = parent / "cgroup.subtree_control"
    wanted = " ".join(f"+{c}" for c in V2)
    try:
        control.write_text(wanted)
    except OSError:
        leaf = parent / LEAF
        leaf.mkdir(exist_ok=True)
        for pid in (parent / "cgroup.procs").read_text().split():
            with contextlib.suppress(OSError):
                (leaf / "cgroup.procs").write_text(pid)
        control.write_text(wanted)


def _copy_cpuset(folder: Path, cpus: str | None = None) -> None:
    """A v1 cpuset starts empty: give it its parent's memory nodes and `cpus` (or the parent's)."""
    if not (folder / "cpuset.cpus").exists():
        return
    parent = folder.parent
    (folder / "cpuset.mems").write_text((parent / "cpuset.mems").read_text())
    (folder / "cpuset.cpus").write_text(cpus or (parent / "cpuset.cpus").read_text())


@dataclass
class JobCgroup:
    """A job's cgroup (one folder per hierarchy), from creation to removal."""

    folders: list[Path]

    @classmethod
    def create(cls, groups: list[Path], memory_mb: int, cores: int, cpus: list[int]
               ) -> JobCgroup:
        name = f"{os.getpid()}-{secrets.token_hex(4)}"
        cell = cls([g / name for g in groups])
        limit = str(memory_mb * 2**20)
        for f in cell.folders:
            f.mkdir()
            _copy_cpuset(f, ",".join(map(str, cpus)))
            cell._set(f, {  # v1 and v2 names; a file a hierarchy lacks is skipped
                "memory.limit_in_bytes": limit, "memory.memsw.limit_in_bytes": limit,
                "memory.swappiness": "0", "memory.max": limit, "memory.swap.max": "0",
                "pids.max": str(PIDS_MAX), "cpu.cfs_period_us": str(PERIOD_US),
                "cpu.cfs_quota_us": str(cores * PERIOD_US),
                "cpu.max": f"{cores * PERIOD_US} {PERIOD_US}"})
        return cell

    @staticmethod
    def _set(folder: Path, values: dict[str, str]) -> None:
        for key, value in values.items():
            if (folder / key).exists():
                with contextlib.suppress(OSError):  # swap files exist without swap accounting
                    (folder / key).write_text(value)

    def handles(self) -> list[int]:
        """Write-only descriptors of each `cgroup.procs`, for the job's process to join with."""
        return [os.open(f / "cgroup.procs", os.O_WRONLY) for f in self.folders]

    def _read(self, name: str) -> str | None:
        for f in self.folders:
            with contextlib.suppress(OSError):
                return (f / name).read_text()
        return None

    def _stat(self, name: str, key: str) -> int:
        for line in (self._read(name) or "").splitlines():
            k, _, v = line.partition(" ")
            if k == key:
                return int(v)
        return 0

    def pids(self) -> list[int]:
        return [int(p) for p in (self._read("cgroup.procs") or "").split()]

    def cpu_s(self) -> float:
        if (usage := self._read("cpuacct.usage")) is not None:
            return int(usage) / 1e9
        return self._stat("cpu.stat", "usage_usec") / 1e6

    def memory_mb(self) -> float:
        usage = self._read("memory.usage_in_bytes") or self._read("memory.current") or "0"
        return int(usage) / 2**20

    def peak_mb(self) -> float:
        peak = self._read("memory.max_usage_in_bytes") or self._read("memory.peak")
        return int(peak) / 2**20 if peak else self.memory_mb()  # no memory.peak before 5.19

    def oom_killed(self) -> bool:
        return (self._stat("memory.oom_control", "oom_kill")
                or self._stat("memory.events", "oom_kill")) > 0

    def kill(self) -> None:
        """SIGKILL every process in the cgroup until none is left (new forks included)."""
        for f in self.folders:
            with contextlib.suppress(OSError):
                (f / "cgroup.kill").write_text("1")
        for _ in range(200):
            pids = self.pids()
            if not pids:
                return
            for pid in pids:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.01)

    def remove(self) -> None:
        """Kill what is left, then remove the folders (retried while exiting tasks linger)."""
        self.kill()
        for f in self.folders:
            for _ in range(100):
                try:
                    f.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.02)
