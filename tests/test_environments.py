"""System environments: a failed install is one line, leaves nothing behind, and a run with that
system records a setup failure instead of crashing."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from adapters.contract import SetupFailure
from adapters.systems.environments import EnvSpec, find_python, install, ready, unavailable
from auditor.cli import main
from tests.conftest import require_environment, runs

BROKEN = "tests.fault_adapters:BrokenInstall"


def test_failed_install_is_one_line_and_leaves_no_environment(tmp_path: Path, capsys) -> None:
    envs = tmp_path / "envs"
    assert main(["systems", "install", BROKEN, "--envs", str(envs)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    errors = [line for line in err if line.startswith("error:")]
    assert len(errors) == 1
    assert "broken-requirements.txt" in errors[0] and "flaml==0.0.999" in errors[0]
    assert sorted(p.name for p in envs.iterdir()) == [
        "broken-install.install-failed", "broken-install.install.log"]
    with pytest.raises(SetupFailure, match="failed to install"):
        ready(EnvSpec("broken-install", "", (), ""), envs)


def test_run_records_setup_failure_and_goes_on(tmp_path: Path, suite_factory) -> None:
    suite = suite_factory(systems=["constant", {"system": BROKEN, "label": "broken"}])
    out = tmp_path / "out"
    assert main(["run", str(suite), "--out", str(out), "--envs", str(tmp_path / "envs")]) == 0
    rows = {r.system: r for r in runs(out)}
    assert rows["constant"].status == "ok"
    assert rows["broken"].status == "failed"
    assert rows["broken"].failure_class == "setup"
    assert "flaml==0.0.999" in rows["broken"].failure_message
    assert "setup" in (out / "report.html").read_text()


def test_a_job_finds_the_default_environments_folder(tmp_path: Path, suite_factory,
                                                     monkeypatch) -> None:
    """With neither `AUDITOR_ENVS` nor `XDG_CACHE_HOME` set, the harness's default folder (under
    its HOME) is the one a job finds, though the job's own HOME is its job folder."""
    monkeypatch.delenv("AUDITOR_ENVS", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    envs = tmp_path / "home" / ".cache" / "automl-auditor" / "envs"
    (envs / "probe").mkdir(parents=True)
    suite = suite_factory(systems=[{"system": "tests.fault_adapters:SeesEnvironments",
                                    "label": "sees"}])
    out = tmp_path / "out"
    assert main(["run", str(suite), "--out", str(out)]) == 0
    [row] = runs(out)
    assert row.status == "ok", row.failure_message
    assert row.model_description == f"{envs.resolve()} ['probe']"
    assert row.isolation.startswith(("sandbox", "partial"))


def test_missing_interpreter_says_how_to_get_one(tmp_path: Path) -> None:
    spec = EnvSpec("needs-old", "2.5", (), "")
    with pytest.raises(SetupFailure, match=r"pyenv install 2\.5.*--python"):
        install(spec, tmp_path)
    with pytest.raises(SetupFailure, match="not an executable"):
        install(spec, tmp_path, python=str(tmp_path / "nope"))
    assert not (tmp_path / "needs-old").exists()


def test_python_39_is_found_where_pyenv_has_one() -> None:
    root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    if not list(root.glob("versions/3.9.*/bin/python")):
        pytest.skip("no Python 3.9 under pyenv on this machine")
    assert find_python("3.9") is not None


def test_missing_prerequisites_are_named_with_their_fix(tmp_path: Path, capsys) -> None:
    assert unavailable(EnvSpec("needs-old", "2.5", (), "")).endswith("`pyenv install 2.5`)")
    no_program = EnvSpec("needs-tool", "", (), "", programs=(("no-such-program-x", "it"),))
    assert unavailable(no_program) == "needs-tool needs `no-such-program-x` on PATH; install it"
    assert unavailable(EnvSpec("fine", "", (), "", programs=(("sh", "a shell"),))) is None
    # `--skip-unavailable` says why in one line and goes on: exit 0, nothing built
    assert main(["systems", "install", "--skip-unavailable", "tests.fault_adapters:NeedsOld",
                 "--envs", str(tmp_path)]) == 0
    assert capsys.readouterr().err.strip() == (
        "tests.fault_adapters:NeedsOld: skipped: needs-old needs CPython 2.5, not found on PATH "
        "or under pyenv; install one (e.g. `pyenv install 2.5`)")
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("system", ["flaml"])
def test_installed_environment_records_freeze_hash(system: str) -> None:
    from auditor.execution.installs import env_spec

    spec = env_spec(system)
    require_environment(spec)
    marker = ready(spec)
    saved = json.loads((Path(marker["python_path"]).parents[1] / "auditor-env.json").read_text())
    assert len(saved["freeze_sha256"]) == 64 and saved["freeze"]
    assert main(["systems", "check", system]) == 0


def test_a_system_in_its_own_environment_through_the_harness(tmp_path: Path,
                                                              suite_factory) -> None:
    """FLAML through `auditor run`: its start-up is recorded apart from its budget, it validates
    with the suite's folds, and the harness measures its CPU (FLAML reports none per trial)."""
    from auditor.execution.installs import env_spec

    require_environment(env_spec("flaml"))
    out = tmp_path / "out"
    assert main(["run", str(suite_factory(systems=["flaml"])), "--out", str(out),
                 "--no-install"]) == 0
    (row,) = runs(out)
    assert row.status == "ok", row.failure_message
    assert row.startup_s is not None and 0 < row.startup_s < row.wall_s and not row.overrun
    assert "3-fold CV" in row.reported_on  # the suite's cv_folds
    assert row.compute_cpu_s is not None and 0 < row.compute_cpu_s <= row.cpu_s
    cpu = [r[1] for r in row.trajectory]
    assert cpu and cpu == sorted(cpu) and cpu[-1] <= row.cpu_s
