"""The sandbox's seal against hostile systems: one system per escape route (the harness's
/proc, the store, other jobs, the environment, the network, a detached grandchild, /dev/shm, the
disk, CPU affinity, a linked stderr) finds it shut with cgroups, and with namespaces alone; the
levels are stated and recorded, and `strict` refuses naming only the fixes of what is missing; the
cgroup v2 files, the sweep of folders a killed process left, a job that cannot enter its sandbox,
and a fork server that dies mid-run. What the systems hand back is tests/test_hostile.py."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from auditor.cli import main
from auditor.config.errors import UsageError
from auditor.execution import entry, sandbox
from auditor.store.records import StoredRun
from tests.conftest import runs
from tests.test_hostile import H, _isolated, _suite

# label: (adapter, failure class or None for a sealed run, suite entry fields)
ESCAPES = {
    "harness-proc": ("HarnessProc", None),
    "store-scan": ("StoreScan", None),
    "neighbours": ("Neighbours", None),
    "environ": ("Environ", None),
    "store-write": ("StoreWrite", None),
    "network": ("Network", None),
    "own-loopback": ("OwnLoopback", None),
    "detached": ("Detached", None),
    "shm-hog": ("ShmHog", "oom"),
    "disk-filler": ("DiskFiller", "disk"),
    "affinity": ("Affinity", None),
    "linked-stderr": ("LinkedStderr", "crash"),
}


def _namespaced() -> sandbox.Isolation:
    """What this machine gives at `auto`; skip, in one line, where it has no namespaces."""
    found = sandbox.probe("auto")
    if "namespaces" in found.missing:
        pytest.skip("the sandbox lacks namespaces here")
    return found


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.settimeout(0.1)
        yield server


def _hostile_run(tmp_path: Path, suite_factory, listener: socket.socket,
                 monkeypatch: pytest.MonkeyPatch) -> tuple[dict[str, StoredRun], str]:
    """Every escape route and a network-allowed system in one sandboxed run: its runs by label,
    and the marker of the detached grandchild."""
    out, port = tmp_path / "out", listener.getsockname()[1]
    marker, secret = f"3600.{os.getpid()}", tmp_path / "secret"
    secret.write_text("TOPSECRET")
    secret.chmod(0o600)
    token = f"token-{os.getpid()}-never-in-a-job"
    monkeypatch.setenv("CLOUD_API_TOKEN", token)  # a credential the harness's user happens to hold
    sandbox._serving.clear()  # restart the fork server now
    options = {"harness": os.getpid(), "store": str(out / "results.sqlite"), "port": port,
               "marker": marker, "secret": str(secret), "token": token}
    systems = [{"system": H + adapter, "label": label, "options": options}
               for label, (adapter, _) in ESCAPES.items()]
    systems.append({"system": H + "Network", "label": "network-allowed", "options": options,
                    "network": True})
    suite = suite_factory(budget={"wall_seconds": 60, "cores": 1, "memory_mb": 512,
                                  "disk_mb": 300}, systems=["constant", *systems])
    try:
        assert main(["run", str(suite), "--out", str(out), "--workers", "2"]) == 0
    finally:
        sandbox._serving.clear()  # the next run starts its own
    return {r.system: r for r in runs(out)}, marker


def _nothing_leaked(rows: dict[str, StoredRun], marker: str, listener: socket.socket) -> None:
    """Nothing of the detached grandchild, nothing in the store rewritten, no secret in a
    failure, one connection only (the allowed system's), every job folder removed."""
    assert not [p for p in psutil.process_iter(["cmdline"]) if marker in (p.info["cmdline"] or [])]
    assert all(r.holdout_score != 1.0 for r in rows.values())
    assert not [r for r in rows.values() if "TOPSECRET" in (r.failure_detail or "")]
    allowed = rows["network-allowed"]
    assert "leaked: connected" in allowed.failure_message
    listener.accept()[0].close()  # the allowed system's connection
    with pytest.raises(TimeoutError):
        listener.accept()
    assert not list(sandbox.jobs_root().glob(f"{os.getpid()}-*"))


def test_a_sandboxed_system_cannot_reach_the_store_the_harness_or_other_jobs(
        tmp_path: Path, suite_factory, listener: socket.socket,
        monkeypatch: pytest.MonkeyPatch) -> None:
    _isolated()
    rows, marker = _hostile_run(tmp_path, suite_factory, listener, monkeypatch)
    for label, (_, failure) in ESCAPES.items():
        row = rows[label]
        assert (row.failure_class, row.isolation) == (failure, "sandbox"), (
            label, row.failure_message)
        if failure is None:
            assert row.model_description.startswith(("sealed", "cpus")), label
    assert rows["shm-hog"].peak_rss_mb <= 512 * 1.05
    assert "300 MB on disk" in rows["disk-filler"].failure_message
    assert len(json.loads(rows["affinity"].model_description[5:])) == 1  # its slot's CPU
    assert rows["affinity"].cpu_s <= 1.3 * rows["affinity"].wall_s  # one core's quota
    assert rows["network-allowed"].isolation == "sandbox, network allowed"
    _nothing_leaked(rows, marker, listener)


def test_without_cgroups_the_namespaces_still_seal_everything_but_cpu_affinity(
        tmp_path: Path, suite_factory, listener: socket.socket,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """An unprivileged user's sandbox: bubblewrap's namespaces, no cgroups. The routes to the
    store, the harness, other jobs and the network stay shut, the detached grandchild dies with
    its PID namespace, /dev/shm counts against `memory_mb` (sampled, and capped in size); only
    CPU affinity is the job's to reset, as the README's table says."""
    monkeypatch.setattr(sandbox.cgroups, "hierarchies", lambda: None)
    found = _namespaced()
    rows, marker = _hostile_run(tmp_path, suite_factory, listener, monkeypatch)
    for label, (_, failure) in ESCAPES.items():
        row = rows[label]
        assert row.isolation == found.label(), (label, row.isolation)
        if label != "shm-hog":
            assert row.failure_class == failure, (label, row.failure_message)
    hog = rows["shm-hog"]  # killed by the sampler, or refused by its 512 MB /dev/shm
    assert hog.failure_class in ("oom", "crash"), hog.failure_message
    assert hog.failure_class == "oom" or "No space left" in (hog.failure_detail or ""), hog
    assert len(json.loads(rows["affinity"].model_description[5:])) == os.cpu_count()
    _nothing_leaked(rows, marker, listener)


def test_sandbox_levels_are_stated_and_recorded(tmp_path: Path, suite_factory, monkeypatch,
                                                capsys) -> None:
    suite = _suite(suite_factory, [])
    monkeypatch.setattr(sandbox, "_bwrap_works", lambda: False)
    assert main(["run", str(suite), "--out", str(tmp_path / "strict"), "--sandbox",
                 "strict"]) == 2
    assert not (tmp_path / "strict").exists()
    assert "--sandbox strict: this machine lacks working bubblewrap" in capsys.readouterr().err
    assert main(["run", str(suite), "--out", str(tmp_path / "auto")]) == 0
    warnings = [line for line in capsys.readouterr().err.splitlines()  # the machine's load
                if "warning" in line and "load average" not in line]  # may add its own line
    assert len(warnings) == 1 and "namespaces" in warnings[0]
    # what is left without namespaces: "partial (no namespaces...)", or "none" for a user who
    # has no cgroups and job users either
    assert runs(tmp_path / "auto")[0].isolation == sandbox.probe("auto").label()
    assert main(["run", str(suite), "--out", str(tmp_path / "off"), "--sandbox", "off"]) == 0
    assert runs(tmp_path / "off")[0].isolation == "none"
    assert "not isolated" in (tmp_path / "off" / "report.html").read_text()


def test_cgroup_v2_figures_and_limits(tmp_path: Path, monkeypatch) -> None:
    """The v2 file names, on a stand-in folder (this machine may mount v1)."""
    from auditor.execution import cgroups

    monkeypatch.setattr(cgroups, "_own_paths", lambda: {"": "/"})
    monkeypatch.setattr(cgroups, "ROOT", tmp_path)
    (tmp_path / "cgroup.controllers").write_text("cpuset cpu io memory pids")
    (tmp_path / "cgroup.subtree_control").write_text("")
    (groups,) = [cgroups.hierarchies()]
    assert groups == [tmp_path / "auditor"]
    assert (tmp_path / "auditor" / "cgroup.subtree_control").read_text() == "+memory +pids +cpu"
    # the kernel makes a cgroup's files with its folder: here they are made first
    monkeypatch.setattr(cgroups.secrets, "token_hex", lambda n: "job")
    (groups[0] / f"{os.getpid()}-job").mkdir()
    for name in ("memory.max", "pids.max", "cpu.max"):
        (groups[0] / f"{os.getpid()}-job" / name).write_text("max")
    monkeypatch.setattr(cgroups.Path, "mkdir", lambda self, **kw: None)
    cell = cgroups.JobCgroup.create(groups, 512, 2, [0, 1])
    f = cell.folders[0]
    assert [(f / n).read_text() for n in ("memory.max", "pids.max", "cpu.max")] == [
        str(512 * 2**20), "512", "200000 100000"]
    (f / "cpu.stat").write_text("usage_usec 2500000\nuser_usec 2000000\n")
    (f / "memory.current").write_text(str(100 * 2**20))
    (f / "memory.peak").write_text(str(300 * 2**20))
    (f / "memory.events").write_text("low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n")
    assert (cell.cpu_s(), cell.memory_mb(), cell.peak_mb(), cell.oom_killed()) == (
        2.5, 100.0, 300.0, True)


def test_folders_left_by_a_killed_process_are_swept(tmp_path: Path, monkeypatch) -> None:
    """A harness or Ray worker killed mid-job leaves its job folder, and one killed while its
    fork server started leaves the wrapper's: the next one removes those, and only those."""
    monkeypatch.setenv("AUDITOR_JOBS", str(tmp_path / "jobs"))
    monkeypatch.setattr(sandbox.tempfile, "tempdir", str(tmp_path))
    gone = subprocess.Popen(["true"])
    gone.wait()
    left = [tmp_path / "jobs" / f"{gone.pid}-j1-ab", tmp_path / f"auditor-sandbox-{gone.pid}-x"]
    kept = [tmp_path / "jobs" / f"{os.getpid()}-j2-cd",
            tmp_path / f"auditor-sandbox-{os.getpid()}-y", tmp_path / "jobs" / "notes"]
    for folder in left + kept:
        folder.mkdir(parents=True)
    new = sandbox.job_folder("j3")
    script = sandbox.wrapper(tmp_path / "jobs")
    assert [folder.exists() for folder in left + kept] == [False, False, True, True, True]
    assert new.parent == tmp_path / "jobs" and new.name.startswith(f"{os.getpid()}-j3-")
    assert script.parent.parent == tmp_path
    assert script.parent.name.startswith(f"auditor-sandbox-{os.getpid()}-")


def test_a_job_that_cannot_enter_its_sandbox_is_the_machinerys_fault(
        tmp_path: Path, suite_factory, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    """The job's cgroup is gone before the job joins it (a real ENODEV from the kernel): the job
    says so before any system code runs, and is retried, then recorded `infrastructure`."""
    _isolated()
    made = entry.Entry.for_job

    def gone(found, cell, *rest):
        entering = made(found, cell, *rest)
        for f in cell.folders:
            f.rmdir()
        return entering

    monkeypatch.setattr(entry.Entry, "for_job", staticmethod(gone))
    suite = suite_factory(budget={"wall_seconds": 60, "cores": 1, "memory_mb": 512},
                          systems=["constant"])
    assert main(["run", str(suite), "--out", str(tmp_path / "out")]) == 0
    (row,) = runs(tmp_path / "out")
    assert (row.status, row.failure_class) == ("failed", "infrastructure"), row.failure_message
    assert row.failure_message.startswith("entering the sandbox: ")
    assert capsys.readouterr().err.count("  retry  ") == 2


def test_a_fork_server_that_dies_mid_run_is_started_again_in_its_sandbox(
        tmp_path: Path, suite_factory, monkeypatch: pytest.MonkeyPatch) -> None:
    """The fork server is killed before the second job: the job starts from a new server in the
    same sandbox, holding none of the harness's environment (multiprocessing alone would start
    one outside it, with the harness's whole environment)."""
    found = _namespaced()
    token = f"token-{os.getpid()}-never-in-a-job"
    monkeypatch.setenv("CLOUD_API_TOKEN", token)
    ensure, pids = sandbox.ensure_served, []

    def killed_first() -> None:
        pids.append(sandbox.server_pid())
        if len(pids) == 2:
            os.kill(pids[-1], signal.SIGKILL)
            while sandbox._running(pids[-1]):
                time.sleep(0.01)
        ensure()

    monkeypatch.setattr(sandbox, "ensure_served", killed_first)
    options = {"harness": os.getpid(), "token": token}
    suite = suite_factory(
        budget={"wall_seconds": 60, "cores": 1, "memory_mb": 512},
        systems=["constant", *({"system": H + adapter, "label": adapter, "options": options}
                               for adapter in ("Environ", "HarnessProc"))])
    sandbox._serving.clear()
    try:
        assert main(["run", str(suite), "--out", str(tmp_path / "out"), "--workers", "1"]) == 0
        now = sandbox.server_pid()
        assert now != pids[1] and Path(f"/proc/{now}/cmdline").read_bytes().startswith(b"bwrap")
        assert token.encode() not in Path(f"/proc/{now}/environ").read_bytes()
    finally:
        sandbox._serving.clear()
    rows = {r.system: r for r in runs(tmp_path / "out")}
    assert len(pids) == 3 and len(set(pids[1:])) == 2
    for label in ("Environ", "HarnessProc"):
        assert (rows[label].status, rows[label].isolation) == ("ok", found.label()), (
            rows[label].failure_message)
        assert rows[label].model_description == f"sealed: {label}"


@pytest.mark.parametrize(("bwrap", "groups", "root", "says", "not_says"), [
    (True, None, True, "delegated cgroups", "bubblewrap"),
    (False, [Path("/sys/fs/cgroup")], True, "install bubblewrap", "run as root"),
    (True, [Path("/sys/fs/cgroup")], False, "run as root", "bubblewrap"),
])
def test_strict_refusal_names_only_the_fixes_of_what_is_missing(
        monkeypatch, bwrap: bool, groups, root: bool, says: str, not_says: str) -> None:
    monkeypatch.setattr(sandbox, "_bwrap_works", lambda: bwrap)
    monkeypatch.setattr(sandbox.cgroups, "hierarchies", lambda: groups)
    monkeypatch.setattr(sandbox.os, "geteuid", lambda: 0 if root else 1000)
    with pytest.raises(UsageError) as refused:
        sandbox.probe("strict")
    message = str(refused.value)
    assert says in message and not_says not in message
    assert message.endswith("or use --sandbox auto") and "\n" not in message
