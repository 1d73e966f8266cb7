"""The audit flags engineered problems — a leaky feature, rows duplicated across the split, a
5-trial search over gbm11, an overtuned incumbent — and flags nothing on an honest run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer

from adapters.metrics import get_metric
from auditor.audit.checks import shared_rows_effect
from auditor.cli import main
from tests.conftest import WALL_CAP, audits, write_suite


def flagged(out: Path) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for a in audits(out):
        if a.flag:
            found.setdefault(a.check_name, []).append(a.summary)
    return found


def _csv(folder: Path, name: str, frame: pd.DataFrame) -> str:
    path = folder / name
    frame.to_csv(path, index=False)
    return f"file:{path}"


def _run(folder: Path, **fields) -> Path:
    out = folder / "out"
    assert main(["run", str(write_suite(folder, **fields)), "--out", str(out)]) == 0
    return out


def _cancer() -> pd.DataFrame:
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    return X.assign(diagnosis=np.where(y == 1, "benign", "malignant"))


@pytest.fixture(scope="module")
def honest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Breast cancer as it is, a long random search over linear3 that has plateaued."""
    folder = tmp_path_factory.mktemp("honest")
    return _run(folder, budget={"wall_seconds": WALL_CAP, "cores": 1, "memory_mb": 3000,
                                "max_trials": 80},
                datasets=[{"name": "cancer", "source": _csv(folder, "c.csv", _cancer()),
                           "target": "diagnosis"}],
                systems=[{"system": "random", "options": {"space": "linear3"}}])


def test_honest_run_is_flagged_by_nothing(honest: Path) -> None:
    assert flagged(honest) == {}
    checks = {a.check_name: a for a in audits(honest)}
    assert {"leakage screen", "duplicate rows across the split", "budget adequacy",
            "overtuning", "selection bias", "reported score measured on"} <= set(checks)
    adequacy = checks["budget adequacy"].detail
    assert adequacy["verdict"] == "adequate", checks["budget adequacy"].summary
    assert adequacy["evaluations"] == 80 and adequacy["p_top5"] > 0.95


def test_leaky_feature_is_flagged(tmp_path: Path) -> None:
    frame = _cancer()
    rng = np.random.default_rng(0)
    frame["days_since_diagnosis"] = np.where(frame["diagnosis"] == "malignant", 0.0,
                                             rng.uniform(30, 400, len(frame)))
    out = _run(tmp_path, datasets=[{"name": "leaky", "source": _csv(tmp_path, "l.csv", frame),
                                    "target": "diagnosis"}])
    leaks = flagged(out)["leakage screen"]
    assert len(leaks) == 1 and "days_since_diagnosis" in leaks[0]
    assert "duplicate rows across the split" not in flagged(out)


def test_rows_duplicated_across_the_split_are_flagged(tmp_path: Path) -> None:
    """Every row twice, with a third of the labels flipped: a random forest that memorizes its
    training rows scores far better on the holdout rows it has seen than on the unseen ones."""
    frame = _cancer()
    flip = np.random.default_rng(0).random(len(frame)) < 0.3
    frame["diagnosis"] = np.where(flip, np.where(frame["diagnosis"] == "benign", "malignant",
                                                 "benign"), frame["diagnosis"])
    frame = pd.concat([frame] * 2, ignore_index=True)
    out = _run(tmp_path, datasets=[{"name": "dup", "source": _csv(tmp_path, "d.csv", frame),
                                    "target": "diagnosis"}],
               budget={"wall_seconds": WALL_CAP, "cores": 1, "memory_mb": 3000, "max_trials": 8},
               systems=["constant", {"system": "random", "options": {"space": "rf6"}}])
    [summary] = flagged(out)["duplicate rows across the split"]
    by_check = {(a.check_name, a.system): a for a in audits(out)}
    detail = by_check["duplicate rows across the split", None].detail
    assert detail["shared_rows"] > 0.5 * 0.2 * len(frame) and "not fully unseen" in summary
    # the forest is flattered by the rows it has seen; the constant baseline cannot be
    [flattered] = flagged(out)["shared holdout rows"]
    assert "they flatter the score" in flattered
    effect = by_check["shared holdout rows", "random"].detail
    assert effect["effect_lo"] > 0 and effect["unseen_score"] < 0.8
    assert not by_check["shared holdout rows", "constant"].flag


def test_five_trial_search_over_gbm11_is_inadequate(tmp_path: Path) -> None:
    out = _run(tmp_path, budget={"wall_seconds": WALL_CAP, "cores": 1, "memory_mb": 3000,
                                 "max_trials": 5},
               systems=[{"system": "tpe", "options": {"space": "gbm11"}}])
    check = next(a for a in audits(out) if a.check_name == "budget adequacy")
    detail = check.detail
    assert check.flag == 1 and detail["verdict"] == "inadequate"
    assert "59" in check.summary and "110" in check.summary  # coverage and 10·d rules
    assert detail["recommended_trials"] >= 110
    assert detail["space"]["dimension"] == 11


def test_overtuned_incumbent_on_tiny_noisy_data_is_flagged(tmp_path: Path) -> None:
    frame = _cancer().sample(200, random_state=0).reset_index(drop=True)
    rng = np.random.default_rng(1)
    flip = rng.random(len(frame)) < 0.1
    frame.loc[flip, "diagnosis"] = np.where(frame.loc[flip, "diagnosis"] == "benign",
                                            "malignant", "benign")
    out = _run(tmp_path, holdout_fraction=0.5,
               datasets=[{"name": "tiny", "source": _csv(tmp_path, "t.csv", frame),
                          "target": "diagnosis"}],
               systems=[{"system": "tests.fault_adapters:Overtuner", "label": "overtuner"}])
    [summary] = flagged(out)["overtuning"]
    assert summary.startswith("overtuned") and "library default" in summary and "CI" in summary


def test_shared_rows_effect_says_when_it_cannot_be_measured() -> None:
    y = np.array([0, 0, 0, 1, 0, 1])
    p1 = np.array([0.1, 0.2, 0.3, 0.9, 0.4, 0.8])
    preds = np.column_stack([1 - p1, p1])  # class probabilities
    shared = np.array([False, False, False, True, True, True])  # the unseen rows: one class
    f = shared_rows_effect(get_metric("roc_auc"), y, preds, shared, True, half_width=0.05)
    assert not f.flag and "cannot be measured" in f.summary


def test_the_harness_cpu_clock_stands_in_for_trials_that_report_none() -> None:
    from adapters.contract import Trial
    from adapters.metrics import get_metric
    from auditor.audit.trajectory import compute, trajectory, tree_cpu

    clock = tree_cpu([[1.0, 0.8], [2.0, 1.8], [4.0, 3.8]])
    assert clock is not None and tree_cpu([]) is None
    assert [clock(t) for t in (0.0, 0.5, 1.0, 3.0, 9.0)] == pytest.approx([0, 0.4, 0.8, 2.8, 3.8])
    trials = [Trial(0, {}, 0.80, 0.0, 1.0), Trial(1, {}, 0.70, 1.0, 2.0),
              Trial(2, {}, 0.90, 2.0, 3.0)]
    rows = trajectory(trials, get_metric("roc_auc"), clock)
    assert rows == [[1.0, 0.8, 1.0, 0.80], [3.0, pytest.approx(2.8), 3.0, 0.90]]
    assert compute(trials, clock).cpu_s == pytest.approx(2.8)
    # a system that reports each trial's CPU keeps its own account
    own = [Trial(0, {}, 0.8, 0.0, 1.0, cpu_s=0.5), Trial(1, {}, 0.9, 1.0, 2.0, cpu_s=0.25)]
    assert compute(own, clock).cpu_s == 0.75
    assert [r[1] for r in trajectory(own, get_metric("roc_auc"), clock)] == [0.5, 0.75]
