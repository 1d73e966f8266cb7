"""auto-sklearn 0.15's `UnboundLocalError` at shutdown, met for real, through the adapter's `_fit`:

    python tests/autosklearn_shutdown.py FOLDER      (the auto-sklearn environment's Python)

Two real searches on breast cancer in which no ensemble job is submitted. "starved": SMAC gets
3 s, so every run it would start comes back STOP, as when a starved start-up leaves it under 6 s.
"stopped": a callback ahead of the ensemble builder's stops SMAC at its first result, a finished
LDA model, as a STOP ahead of a finished model does with several workers. Prints one JSON line a
case: what `_fit` did, SMAC's runs, the holdout ROC AUC of the model it kept.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import autosklearn.metrics
import numpy as np
from autosklearn.classification import AutoSklearnClassifier
from autosklearn.smbo import get_smac_object
from sklearn.datasets import load_breast_cancer
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split
from smac.callbacks import IncorporateRunResultCallback

from adapters.contract import BudgetFailure
from adapters.systems.autosklearn import _fit


class StopAtFirstResult(IncorporateRunResultCallback):
    def __call__(self, smbo: Any, run_info: Any, result: Any, time_left: float) -> bool:
        return False


def stopping_smac(**kwargs: Any) -> Any:
    smac = get_smac_object(**kwargs)
    smac.register_callback(StopAtFirstResult())  # registered before auto-sklearn's own
    return smac


def search(folder: Path, **settings: Any) -> AutoSklearnClassifier:
    return AutoSklearnClassifier(
        time_left_for_this_task=120, per_run_time_limit=60, n_jobs=1, seed=0, memory_limit=4096,
        metric=autosklearn.metrics.roc_auc, initial_configurations_via_metalearning=0,
        include={"classifier": ["lda"]}, tmp_folder=str(folder),
        delete_tmp_folder_after_terminate=False, **settings)


def case(name: str, automl: AutoSklearnClassifier, X: Any, y: np.ndarray, X_holdout: Any,
         y_holdout: np.ndarray) -> None:
    out: dict[str, Any] = {"case": name}
    try:
        out["mended"] = _fit(automl, X, y)
    except BudgetFailure as exc:
        out.update(failure=str(exc), cause=type(exc.__cause__).__name__)
    inner = automl.automl_
    out["runs"] = [run.status.name for run in inner.runhistory_.data.values()]
    out["ensemble_history"] = len(inner.ensemble_performance_history)
    if "mended" in out:
        out["models"] = len(automl.get_models_with_weights())
        out["classes"] = [str(c) for c in automl.classes_]
        proba = automl.predict_proba(X_holdout)
        positive = list(automl.classes_).index("benign")
        out["holdout_auc"] = roc_auc_score(y_holdout == "benign", proba[:, positive])
        out["predicted"] = sorted(set(map(str, automl.predict(X_holdout))))
    print(json.dumps(out), flush=True)


def main() -> None:
    folder = Path(sys.argv[1])
    data = load_breast_cancer(as_frame=True)
    y = np.asarray(data.target_names)[data.target]  # string labels: classes_ must map them
    X, X_holdout, y, y_holdout = train_test_split(data.data, y, test_size=0.3, random_state=0,
                                                  stratify=y)
    case("starved", search(folder / "starved", smac_scenario_args={"wallclock_limit": 3}),
         X, y, X_holdout, y_holdout)
    case("stopped", search(folder / "stopped", get_smac_object_callback=stopping_smac),
         X, y, X_holdout, y_holdout)


if __name__ == "__main__":
    main()
