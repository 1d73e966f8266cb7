"""A run starved of CPU by other work on its CPU is measured (the kernel's schedstat) and the
report says that its score is not comparable."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from auditor.execution.confinement import load_warning
from tests.conftest import audits, runs, trials

# competing work pinned to one CPU
HOG = "import os, sys; os.sched_setaffinity(0, {int(sys.argv[1])})\nwhile True: pass"


def test_a_starved_run_is_measured_and_said(tmp_path: Path, suite_factory) -> None:
    cpu = min(os.sched_getaffinity(0))
    suite = suite_factory(budget={"wall_seconds": 20, "cores": 1, "memory_mb": 2048},
                          systems=["random"],
                          datasets=[{"name": "breast-cancer", "source": "sklearn:breast_cancer"}])
    hogs = [subprocess.Popen([sys.executable, "-c", HOG, str(cpu)]) for _ in range(3)]
    try:
        # the harness, and so its one job, on the hogs' CPU: the job gets about a quarter of it
        # (less on a busy machine). Without the sandbox's cgroup the job and the hogs share one
        # scheduling group; the measurement is the same at every sandbox level.
        done = subprocess.run(
            [sys.executable, "-m", "auditor", "run", str(suite), "--out", str(tmp_path / "out"),
             "--sandbox", "off"], preexec_fn=lambda: os.sched_setaffinity(0, {cpu}),
            capture_output=True, text=True, timeout=1800)
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
    assert done.returncode == 0, done.stderr
    (run,) = runs(tmp_path / "out")
    assert run.cpu_wait_s is not None and run.cpu_s is not None
    assert run.cpu_wait_s / (run.cpu_wait_s + run.cpu_s) > 0.5, (run.cpu_wait_s, run.cpu_s)
    text = " ".join((tmp_path / "out" / "report.html").read_text().split())
    assert run.wall_s >= 10  # the budget bound it: a search without a trial cap, starved
    assert "1 run of 1 (random) was starved of CPU" in text
    assert "No system is compared: every run that finished was starved of CPU." in text
    assert "1 starved" in text
    (share,) = [a for a in audits(tmp_path / "out") if a.check_name == "CPU share"]
    assert share.flag and share.detail["verdict"] == "starved", share


def _searches(out: Path) -> dict[tuple[str, int], tuple]:
    """Per (system, seed): the configurations tried, in order, and the holdout score."""
    tried: dict[str, list] = {}
    for t in sorted(trials(out), key=lambda t: (t.job_id, t.number)):
        tried.setdefault(t.job_id, []).append((t.config, t.score))
    return {(r.system, r.seed): (tried[r.job_id], r.best_config, r.holdout_score)
            for r in runs(out)}


def test_searches_bound_on_trials_find_the_same_under_load(tmp_path: Path,
                                                           suite_factory) -> None:
    """As the quickstart does: a trial cap binds, the wall cap does not, so a run on a CPU that
    three busy loops share gives the configurations and holdout scores of a run beside none."""
    cpu = min(os.sched_getaffinity(0))
    suite = suite_factory(systems=[{"system": "random", "options": {"space": "gbm11"}},
                                   {"system": "tpe", "options": {"space": "gbm11"}}])

    def run(out: Path) -> None:
        done = subprocess.run(
            [sys.executable, "-m", "auditor", "run", str(suite), "--out", str(out),
             "--sandbox", "off"], preexec_fn=lambda: os.sched_setaffinity(0, {cpu}),
            capture_output=True, text=True, timeout=1800)
        assert done.returncode == 0, done.stderr

    run(tmp_path / "quiet")
    hogs = [subprocess.Popen([sys.executable, "-c", HOG, str(cpu)]) for _ in range(3)]
    try:
        run(tmp_path / "busy")
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
    quiet, busy = _searches(tmp_path / "quiet"), _searches(tmp_path / "busy")
    assert len(quiet) == 2 and all(len(q[0]) == 5 for q in quiet.values()), quiet
    assert busy == quiet
    waits = [r.cpu_wait_s / (r.cpu_wait_s + r.cpu_s) for r in runs(tmp_path / "busy")
             if r.cpu_wait_s is not None and r.cpu_s]
    assert waits and max(waits) > 0.5, waits  # the busy run did wait for its CPU


# another harness whose job holds one CPU (the last: the next job's first choice is the first)
HOLDER = ("import os, sys, time; from auditor.execution.confinement import node_cpus\n"
          "os.sched_setaffinity(0, {int(sys.argv[1])})\n"
          "with node_cpus(1) as cpus:\n    print(cpus[0], flush=True); time.sleep(600)")


def test_runs_on_one_machine_take_different_cpus() -> None:
    """Another harness's job holds a CPU: the next job takes a free one, and when every CPU is
    held it still gets one (wrapping around) rather than waiting."""
    from auditor.execution.confinement import node_cpus

    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        pytest.skip("needs two CPUs")
    other = subprocess.Popen([sys.executable, "-c", HOLDER, str(cpus[-1])],
                             stdout=subprocess.PIPE, text=True)
    try:
        held = int(other.stdout.readline())
        assert held == cpus[-1]
        with node_cpus(1) as mine:
            assert mine[0] != held
        with node_cpus(len(cpus)) as everything:
            assert sorted(everything) == cpus  # the held one shared, no CPU twice
    finally:
        other.kill()
        other.wait()


def test_when_others_hold_every_cpu_a_run_spreads_its_jobs(monkeypatch) -> None:
    """Every CPU lock is held by other runs: this run's jobs share CPUs with them, but not all
    the first one (where two jobs of one run would wait for each other)."""
    from auditor.execution.confinement import node_cpus

    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        pytest.skip("needs two CPUs")
    own = Path(tempfile.mkdtemp(prefix="auditor-test-cpus-"))
    monkeypatch.setattr(tempfile, "tempdir", str(own))
    others = [subprocess.Popen([sys.executable, "-c", HOLDER, str(cpu)], stdout=subprocess.PIPE,
                               text=True, env={**os.environ, "TMPDIR": str(own)}) for cpu in cpus]
    try:
        assert sorted(int(p.stdout.readline()) for p in others) == cpus  # all held
        with node_cpus(1) as first, node_cpus(1) as second:
            assert first != second
    finally:
        for p in others:
            p.kill()
            p.wait()
        shutil.rmtree(own)


def test_a_run_is_warned_when_the_load_leaves_too_few_free_cpus() -> None:
    assert load_warning(workers=2, cores=1, load=0.3, cpus=2) is None
    assert load_warning(workers=1, cores=2, load=0.0, cpus=2) is None
    line = load_warning(workers=2, cores=1, load=7.6, cpus=2)
    assert line is not None and line.startswith("warning: load average 7.6 on 2 CPUs")
    assert "about 0.0 free for the 2 this run asks (2 jobs × 1 core)" in line
    assert "0.5 free" in (load_warning(workers=1, cores=2, load=1.5, cpus=2) or "")
    assert load_warning(workers=1, cores=2, load=0.5, cpus=2) is None


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to act as a second user")
def test_another_user_takes_cpus_beside_the_locks_of_the_first(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The CPU locks' folder is shared by every user: a second user's run neither crashes on
    the first user's lock files nor takes the CPU the first holds. The locks live in a temp
    folder of this test's own, so that jobs of other runs on the machine hold none of them."""
    from auditor.execution.confinement import node_cpus

    own = Path(tempfile.mkdtemp(prefix="auditor-test-cpus-"))
    own.chmod(0o755)
    monkeypatch.setattr(tempfile, "tempdir", str(own))
    with node_cpus(1) as mine:
        pid = os.fork()
        if pid == 0:  # a user with no rights to root's files
            code = 1
            try:
                os.setgid(65534)
                os.setuid(65534)
                with node_cpus(1) as theirs:
                    code = 0 if theirs != mine or len(os.sched_getaffinity(0)) == 1 else 3
            finally:
                os._exit(code)
        code = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    shutil.rmtree(own)
    assert code == 0
