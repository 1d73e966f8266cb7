"""A job's cgroup on this machine's real kernel (v1 or v2, whichever `cgroups.hierarchies` finds):
its memory limit counts /dev/shm pages and ends in an OOM kill it records, its pids limit refuses
forks, its CPU quota is one core's, its CPU seconds and peak memory are the kernel's, and `kill`
leaves nothing alive, a detached grandchild included (`tests/test_cgroup_v2.py` runs it on v2)."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import psutil
import pytest

from auditor.execution import cgroups

JOB = """
import os, sys, time
report = open(sys.argv[1], "w", buffering=1)
while time.process_time() < 0.3:
    pass
if os.fork() == 0:  # a detached grandchild, its parent gone at once
    os.setsid()
    if os.fork() == 0:
        time.sleep(600)
    os._exit(0)
os.wait()
refused = 0
for _ in range(30):
    try:
        if os.fork() == 0:
            time.sleep(600)
    except BlockingIOError:
        refused += 1
report.write(f"refused {refused}\\n")
with open(sys.argv[2], "wb") as shm:  # tmpfs pages: only the cgroup can count them
    for _ in range(400):
        shm.write(b"x" * 2**20)
        shm.flush()
report.write("wrote all\\n")
"""


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_a_job_cgroup_limits_measures_and_kills_everything(tmp_path: Path,
                                                           monkeypatch) -> None:
    groups = cgroups.hierarchies()
    if groups is None:
        pytest.skip("this machine gives the harness no writable cgroup")
    monkeypatch.setattr(cgroups, "PIDS_MAX", 20)
    cell = cgroups.JobCgroup.create(groups, 200, 1, sorted(os.sched_getaffinity(0))[:1])
    quota = {n: (f / n).read_text().strip() for f in cell.folders
             for n in ("cpu.max", "cpu.cfs_quota_us") if (f / n).exists()}
    assert quota in ({"cpu.max": "100000 100000"}, {"cpu.cfs_quota_us": "100000"}), quota
    shm = Path("/dev/shm") / f"auditor-test-{uuid.uuid4().hex}"
    handles = cell.handles()
    try:
        job = subprocess.Popen(
            [sys.executable, "-c", JOB, str(tmp_path / "report"), str(shm)],
            pass_fds=handles, preexec_fn=lambda: [os.write(fd, b"0") for fd in handles])
        assert job.wait(timeout=300) == -9  # the kernel's OOM killer, at 200 MB
        # 20 pids: the job and its grandchild, and 18 of its 30 forks
        assert (tmp_path / "report").read_text() == "refused 12\n"
        pids = cell.pids()
        assert len(pids) == 19, pids  # the grandchild and the sleepers outlive the job
        assert cell.oom_killed()
        assert 150 <= cell.peak_mb() <= 200 * 1.05, cell.peak_mb()
        assert cell.cpu_s() >= 0.3
        cell.kill()
        assert cell.pids() == [] and not any(_alive(p) for p in pids)
    finally:
        shm.unlink(missing_ok=True)
        for fd in handles:
            os.close(fd)
        cell.remove()
    assert not any(f.exists() for f in cell.folders)
