"""The sandbox on a real cgroup v2 hierarchy, wherever this machine's own is v1 or hybrid: Debian's
user-mode Linux (`linux.uml`) boots a Linux kernel as a process, the host's file system as its
root (hostfs, read-write: the guest writes only in tmp_path, its tmpfs and its ext4 disk), cgroup2
mounted at /sys/fs/cgroup with cpu, memory and pids. The harness starts in a delegated cgroup that
holds another process, as a systemd session does. The chosen tests run there, then a strict `auditor
run`; the host asserts that every one passed, none skipped, and that the run found cgroup v2."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from adapters.systems.environments import envs_root

REPO = Path(__file__).resolve().parents[1]
CHOSEN = [
    "tests/test_cgroups.py",
    "tests/test_sandbox_sealing.py::test_a_sandboxed_system_cannot_reach_the_store_the_harness_or_other_jobs",
    "tests/test_sealed_holdout.py",
    "tests/test_warm.py::test_a_warm_worker_runs_in_its_jobs_cgroup_namespaces_and_user",
    "tests/test_cpus.py::test_a_starved_run_is_measured_and_said",
]
RUN = """
import json, sys
from pathlib import Path
from auditor.cli import main
from auditor.execution import cgroups
from tests.conftest import runs, write_suite
folder = Path(sys.argv[1])
suite = write_suite(folder, budget={"wall_seconds": 60, "cores": 1, "memory_mb": 1024,
                                    "max_trials": 2}, systems=["random"])
code = main(["run", str(suite), "--out", str(folder / "out"), "--sandbox", "strict"])
(row,) = runs(folder / "out")
json.dump({"code": code, "isolation": row.isolation, "cpu_s": row.cpu_s,
           "peak_mb": row.peak_rss_mb, "v2": (cgroups.ROOT / "cgroup.controllers").exists(),
           "groups": [str(g) for g in cgroups.hierarchies() or []],
           "cgroup": Path("/proc/self/cgroup").read_text()}, open(folder / "run.json", "w"))
"""


def _init(tmp: Path) -> Path:
    """The guest's init: its own proc, sys, cgroup2 and /dev/shm, then the tests. Its temp folder
    is an ext4 disk of its own: not tmpfs, whose pages a job's cgroup would count as memory, nor
    hostfs, which does not let the job users write in the folders they own."""
    q = shlex.quote
    path = os.pathsep.join([str(REPO), *(p for p in sys.path if p)])
    script = tmp / "init.sh"
    script.write_text(f"""#!/bin/sh
export PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 HOME={q(str(tmp / "guest"))}
export TMPDIR={q(str(tmp / "guest"))} PYTHONPATH={q(path)} AUDITOR_ENVS={q(str(envs_root(None)))}
mount -t proc proc /proc && mount -t sysfs sys /sys && mount -t cgroup2 none /sys/fs/cgroup
mkdir -p /dev/shm && mount -t tmpfs tmpfs /dev/shm && mount /dev/ubda "$TMPDIR"
ip link set lo up
echo "+cpu +memory +pids" > /sys/fs/cgroup/cgroup.subtree_control
mkdir /sys/fs/cgroup/session && echo $$ > /sys/fs/cgroup/session/cgroup.procs
sleep 3600 &
cd {q(str(REPO))}
{q(sys.executable)} -m pytest -p no:cacheprovider -q -rs -m '' \\
    --junitxml={q(str(tmp / "junit.xml"))} {" ".join(map(q, CHOSEN))} > {q(str(tmp / "log"))} 2>&1
mkdir "$TMPDIR/run" && {q(sys.executable)} -c {q(RUN)} "$TMPDIR/run" >> {q(str(tmp / "log"))} 2>&1
cp "$TMPDIR/run/run.json" {q(str(tmp))}
poweroff -f
""")
    script.chmod(0o755)
    (tmp / "guest").mkdir()
    return script


@pytest.mark.slow
def test_the_sandbox_on_a_real_cgroup_v2_kernel(tmp_path: Path) -> None:
    uml = shutil.which("linux.uml")
    if uml is None:
        pytest.skip("linux.uml (Debian's user-mode-linux) is not installed: no cgroup v2 kernel")
    init = _init(tmp_path)
    mkfs = shutil.which("mkfs.ext4") or pytest.skip("mkfs.ext4 (e2fsprogs) is not installed")
    disk = tmp_path / "disk.img"
    with disk.open("wb") as f:
        f.truncate(8 * 2**30)  # sparse
    subprocess.run([mkfs, "-q", "-F", str(disk)], check=True)
    subprocess.run([uml, "mem=2G", "root=/dev/root", "rootfstype=hostfs", "rootflags=/", "rw",
                    f"ubd0={disk}", f"init={init}", "con=null", "con0=fd:0,fd:1"],
                   stdin=subprocess.DEVNULL, capture_output=True, timeout=1800, check=False)
    log = (tmp_path / "log").read_text() if (tmp_path / "log").exists() else "no log"
    assert (tmp_path / "junit.xml").exists(), log
    suite = ET.parse(tmp_path / "junit.xml").getroot().find("testsuite")
    assert suite is not None, log
    counts = {k: int(suite.get(k, "0")) for k in ("tests", "failures", "errors", "skipped")}
    assert counts == {"tests": len(CHOSEN), "failures": 0, "errors": 0, "skipped": 0}, log
    found = json.loads((tmp_path / "run.json").read_text())
    assert found["code"] == 0 and found["isolation"] == "sandbox", (found, log)
    assert found["v2"] and found["cgroup"] == "0::/session/harness\n", found
    assert found["groups"] == ["/sys/fs/cgroup/session/auditor"], found
    assert found["cpu_s"] > 0 and found["peak_mb"] > 0, found
