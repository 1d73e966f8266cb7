"""Warm workers: a third-party system's worker is forked from its environment's server into its
job's own sandbox, a hostile job cannot use the server, and where the server cannot serve, the job
starts a fresh interpreter and the run says so. Needs FLAML's environment (skips in one line)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from adapters.systems.flaml import FLAML
from auditor.cli import main
from auditor.execution import sandbox
from auditor.store.records import StoredRun
from tests.conftest import WALL_CAP, require_environment, runs

W = "tests.warm_adapters:"
BUDGET = {"wall_seconds": WALL_CAP, "cores": 1, "memory_mb": 4096, "max_trials": 3}
ATTACKS = {  # attack -> words of the server's refusal
    "nothing": "0 descriptors sent",
    "files": "not a namespace",
    "swapped": "not a namespace",
    "garbage": "not a job folder",
    "own_userns": "another user namespace",
}


@pytest.fixture(autouse=True)
def _flaml() -> None:
    require_environment(FLAML.env)


def _run(tmp_path: Path, suite_factory, systems: list, *args: str) -> dict:
    suite = suite_factory(budget=BUDGET, systems=systems)
    out = tmp_path / "out"
    sandbox._serving.clear()  # a fork server of this sandbox
    try:
        assert main(["run", str(suite), "--out", str(out), "--workers", "1", *args]) == 0
    finally:
        sandbox._serving.clear()
    return {r.system: r for r in runs(out)}


def _sandboxed() -> None:
    found = sandbox.probe("auto")
    if found.missing:
        pytest.skip(f"the sandbox lacks {', '.join(found.missing)} here")


def test_a_warm_worker_runs_in_its_jobs_cgroup_namespaces_and_user(tmp_path: Path,
                                                                   suite_factory) -> None:
    _sandboxed()
    rows = _run(tmp_path, suite_factory, [{"system": W + "WarmProbe", "label": "probe"}, "flaml"])
    probe, plain = rows["probe"], rows["flaml"]
    assert probe.status == plain.status == "ok", (probe.failure_message, plain.failure_message)
    for row in (probe, plain):
        assert row.environment["worker"].startswith("warm: forked from the flaml server"), row
        assert row.startup_s is not None and row.startup_s >= 0
    assert "worker warm: forked from the flaml server" in (tmp_path / "out" / "report.html"
                                                           ).read_text()
    _alone_in_its_job(probe)


def _alone_in_its_job(probe: StoredRun) -> None:
    """The probe's worker ran in its job's PID namespace, with nothing else in view, as the job's
    user, in its cgroup, namespaces and CPUs."""
    view = json.loads(probe.model_description)
    own, seen = view["own"], view["seen"]
    workers = [p for p in seen.values() if "adapters.systems.warm" in p["cmdline"]]
    assert workers, seen  # the worker is in the job's PID namespace: its /proc shows it
    assert own["uid"] != "0"
    for p in seen.values():  # nothing else: no server, no fork server, no other job
        assert "adapters.systems.warm" in p["cmdline"] or "adapters.systems.worker" in p[
            "cmdline"], p["cmdline"]
        assert (p["cgroup"], p["ns"], p["uid"]) == (own["cgroup"], own["ns"], own["uid"]), p
        assert p["cpus"] == own["cpus"]


def test_the_first_job_starts_once_its_server_has_loaded_its_imports(tmp_path: Path,
                                                                    suite_factory, capsys) -> None:
    """The server's imports are not the first job's start-up: the run waits for them before it
    starts any job, and says so."""
    _sandboxed()
    rows = _run(tmp_path, suite_factory, ["constant", "flaml"])
    assert rows["flaml"].environment["worker"].startswith("warm: forked from the flaml server")
    said = capsys.readouterr().err.splitlines()
    loading = next(i for i, x in enumerate(said) if "warm servers of flaml: loading" in x)
    loaded = next(i for i, x in enumerate(said) if "warm server flaml: imports loaded in" in x)
    first = next(i for i, x in enumerate(said) if x.strip().startswith("start"))
    assert loading < loaded < first, said


def test_a_ray_job_is_forked_from_its_workers_server(tmp_path: Path, suite_factory,
                                                     ray_address) -> None:
    """On Ray, each worker process keeps a warm server per environment for its jobs, and the
    worker it forks is as sealed in its job as on the local runner."""
    _sandboxed()
    rows = _run(tmp_path, suite_factory, [{"system": W + "WarmProbe", "label": "probe"}, "flaml"],
                "--executor", "ray", "--address", ray_address)
    for row in rows.values():
        assert row.status == "ok", row.failure_message
        assert row.environment["worker"].startswith("warm: forked from the flaml server"), row
    _alone_in_its_job(rows["probe"])


def test_a_hostile_request_to_the_server_is_refused(tmp_path: Path, suite_factory) -> None:
    _sandboxed()
    systems = [{"system": W + "WarmIntruder", "label": attack, "options": {"attack": attack}}
               for attack in ATTACKS]
    rows = _run(tmp_path, suite_factory,
                [*systems, "flaml", {"system": "flaml", "label": "online", "network": True}])
    for attack, words in ATTACKS.items():
        row = rows[attack]
        said = row.model_description
        if attack == "own_userns" and said.startswith("unshare refused"):
            continue  # this kernel gives the job no user namespace to make one in
        assert "refused" in said and words in said, (attack, said)
    # the server still serves the next jobs, one of them in the sandbox's own network
    for label in ("flaml", "online"):
        assert rows[label].status == "ok", rows[label].failure_message
        assert rows[label].environment["worker"].startswith("warm:"), rows[label].environment


def test_a_server_that_dies_leaves_its_jobs_a_fresh_interpreter(tmp_path: Path,
                                                                suite_factory) -> None:
    _sandboxed()
    rows = _run(tmp_path, suite_factory, [{"system": W + "WarmDoomed", "label": "first"},
                                          {"system": W + "WarmDoomed", "label": "second"}])
    for label in ("first", "second"):
        row = rows[label]
        assert row.status == "ok", row.failure_message
        worker = row.environment["worker"]
        assert worker.startswith("fresh interpreter: ") and "server" in worker, worker
        assert row.startup_s is not None
    assert any("exit code 1): ModuleNotFoundError" in r.environment["worker"]
               for r in rows.values()), rows


def test_without_a_sandbox_the_worker_starts_fresh_and_says_why(tmp_path: Path,
                                                                suite_factory) -> None:
    rows = _run(tmp_path, suite_factory, ["flaml"], "--sandbox", "off")
    row = rows["flaml"]
    assert row.status == "ok", row.failure_message
    assert row.environment["worker"] == "fresh interpreter: no sandbox to fork a warm worker into"
    assert row.startup_s is not None


def test_without_a_cgroup_the_worker_starts_fresh_and_says_why(tmp_path: Path, suite_factory,
                                                               monkeypatch) -> None:
    """An unprivileged user's sandbox (namespaces, no cgroup): nothing would charge a warm
    worker's memory to its job, so the job starts a fresh interpreter, its own child."""
    monkeypatch.setattr(sandbox.cgroups, "hierarchies", lambda: None)
    if "namespaces" in sandbox.probe("auto").missing:
        pytest.skip("the sandbox lacks namespaces here")
    row = _run(tmp_path, suite_factory, ["flaml"])["flaml"]
    assert row.status == "ok", row.failure_message
    assert row.environment["worker"] == ("fresh interpreter: no cgroup to charge a warm "
                                         "worker's memory and CPU to")
