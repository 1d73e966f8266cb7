"""Verify a vendor's claim against the labels it never saw (`auditor claim`).

`auditor claim DIR --predictions FILE --claimed-score X` validates the predictions (CSV or
Parquet, never a pickle; or a scikit-learn model saved with skops, loaded with an explicit list of
trusted types), scores them on the sealed labels with a bootstrap CI, and renders a claim report.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from adapters.contract import prediction_problem
from adapters.metrics import get_metric, metric_problem
from auditor.audit.checks import shared_rows_effect
from auditor.audit.score import score_with_boot
from auditor.claims.seal import ROW_ID, Sealed, file_sha256, open_seal, read_table
from auditor.config.errors import UsageError
from auditor.stats.gap import ZERO_WIDTH, reported_spread, zero_width

TRUSTED_SKOPS_TYPES = [
    "sklearn.pipeline.Pipeline", "sklearn.compose._column_transformer.ColumnTransformer",
    "sklearn.preprocessing._encoders.OneHotEncoder", "sklearn.preprocessing._data.StandardScaler",
    "sklearn.impute._base.SimpleImputer", "sklearn.linear_model._logistic.LogisticRegression",
    "sklearn.ensemble._forest.RandomForestClassifier",
    "sklearn.ensemble._forest.RandomForestRegressor",
    "sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingClassifier",
    "sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingRegressor",
    "sklearn.tree._classes.DecisionTreeClassifier", "sklearn.tree._classes.DecisionTreeRegressor",
    "sklearn.linear_model._ridge.Ridge", "sklearn.linear_model._base.LinearRegression",
    "sklearn.compose._column_transformer._RemainderColsList", "numpy.dtype",
]


def predictions_from_model(sealed: Sealed, model_path: Path) -> pd.DataFrame:
    """Predictions of a vendor's scikit-learn model saved with skops (never pickle)."""
    try:
        import skops.io as sio
    except ImportError:
        raise UsageError("reading a model needs skops; install it with "
                         "`pip install 'automl-auditor[vendor]'`") from None
    if not model_path.is_file():
        raise UsageError(f"model file {model_path} not found")
    try:
        untrusted = set(sio.get_untrusted_types(file=model_path)) - set(TRUSTED_SKOPS_TYPES)
    except Exception as exc:
        raise UsageError(f"model file {model_path} is not a skops file: {exc}") from None
    if untrusted:
        raise UsageError(f"model file {model_path} holds types outside the trusted list: "
                         f"{', '.join(sorted(untrusted))}; send predictions instead")
    model = sio.load(model_path, trusted=TRUSTED_SKOPS_TYPES)
    X = pd.read_csv(sealed.folder / "vendor" / "holdout_features.csv", dtype={ROW_ID: str})
    ids = X.pop(ROW_ID)
    m = sealed.manifest
    if m["task_type"] == "regression":
        return pd.DataFrame({ROW_ID: ids, "prediction": model.predict(X)})
    proba = model.predict_proba(X)
    cols = {str(c): proba[:, i] for i, c in enumerate(model.classes_)}
    return pd.DataFrame({ROW_ID: ids, **cols})


def check_predictions(sealed: Sealed, table: pd.DataFrame, name: str) -> np.ndarray:
    """Predictions in the holdout's row order, validated; one-line errors otherwise."""
    m = sealed.manifest
    if ROW_ID not in table.columns:
        raise UsageError(f"{name} has no '{ROW_ID}' column; {m['predictions_format']}")
    # ids compare as text: a token, or a position in folders sealed before ids were tokens
    table = table.assign(**{ROW_ID: table[ROW_ID].astype(str)})
    ids = table[ROW_ID]
    if ids.duplicated().any():
        raise UsageError(f"{name} repeats {int(ids.duplicated().sum())} row ids; give each "
                         "holdout row once")
    unknown = set(ids) - set(sealed.ids.tolist())
    if unknown:
        raise UsageError(f"{name} has {len(unknown)} row ids that are not holdout rows "
                         f"(e.g. {sorted(unknown)[0]}); predict only holdout_features.csv")
    if len(table) != len(sealed.ids):
        raise UsageError(f"{name} has {len(table)} rows but the holdout has {len(sealed.ids)}; "
                         "predict every row of holdout_features.csv")
    table = table.set_index(ROW_ID).loc[sealed.ids]
    words = [c for c in table.columns if not pd.api.types.is_numeric_dtype(table[c])]
    if words:
        raise UsageError(f"{name} holds values that are not numbers in {', '.join(map(str, words))}"
                         f"; {m['predictions_format']}")
    if m["task_type"] == "regression":
        cols = ["prediction"]
    else:
        classes = [str(c) for c in m["classes"]]
        present = [c for c in classes if c in table.columns]
        if len(classes) == 2 and present == [classes[1]]:
            table = table.assign(**{classes[0]: 1.0 - table[classes[1]]})
        elif present != classes:
            raise UsageError(f"{name} lacks probability columns for classes "
                             f"{', '.join(c for c in classes if c not in present)}; "
                             f"{m['predictions_format']}")
        cols = classes
    if missing := [c for c in cols if c not in table.columns]:
        raise UsageError(f"{name} has no column {missing[0]!r}; {m['predictions_format']}")
    values = table[cols].to_numpy(dtype=float)
    if not np.isfinite(values).all():
        raise UsageError(f"{name} has {int((~np.isfinite(values)).sum())} missing or infinite "
                         "predictions; predict every row")
    if m["task_type"] == "regression":
        values = values[:, 0]
    if problem := prediction_problem(values, len(sealed.ids), m["task_type"], len(cols)):
        raise UsageError(f"{name}: {problem}; give one probability per class, rows summing to 1")
    return values


# claim verdicts, from best to worst (no verdict from a zero-width interval stands apart)
VERDICTS = ("confirmed", "optimistic", "not reproduced")


def fails(verdict_: str, fail_on: str) -> bool:
    """True when a claim's verdict is at least as bad as `fail_on` (a verdict, or its CLI spelling
    with a hyphen: not-reproduced); no verdict never fails."""
    return verdict_ in VERDICTS and (
        VERDICTS.index(verdict_) >= VERDICTS.index(fail_on.replace("-", " ")))


def verdict(claimed: float, holdout: float, lo: float, hi: float, greater: bool,
            claim_sd: float = 0.0) -> str:
    """confirmed: the claim lies inside the holdout's 95 % CI (or below it); optimistic: beyond
    the CI's better end by at most the CI's half-width; not reproduced: farther than that.
    `claim_sd`, the claim's own standard error, widens the better end to the 95 % half-width of
    the difference. A zero-width CI gives no verdict."""
    if zero_width(lo, hi):
        return ZERO_WIDTH
    sign = 1.0 if greater else -1.0
    half = (hi - lo) / 2
    widen = float(np.hypot(half, 1.96 * claim_sd)) - half
    beyond = sign * claimed - max(sign * lo, sign * hi) - widen
    if beyond <= 0:
        return "confirmed"
    return "optimistic" if beyond <= (hi - lo) / 2 else "not reproduced"


def score_claim(sealed: Sealed, predictions: np.ndarray, claimed: float, metric_name: str | None,
                validation_rows: int | None = None) -> dict[str, Any]:
    """The claim against the sealed holdout; `validation_rows`: the rows the vendor measured its
    claim on, whose size gives the claim's own uncertainty."""
    name = metric_name or sealed.manifest["metric"]
    if problem := metric_problem(name, sealed.manifest["task_type"]):
        raise UsageError(f"--metric: {problem}")
    metric = get_metric(name)
    stratified = sealed.manifest["task_type"] != "regression"
    holdout, lo, hi, boot = score_with_boot(metric, sealed.y, predictions, stratified)
    spread = reported_spread((), validation_rows, boot, len(sealed.y))
    shared = None
    if sealed.shared is not None and sealed.shared.any() and not sealed.shared.all():
        f = shared_rows_effect(metric, sealed.y, predictions, sealed.shared, stratified,
                               (hi - lo) / 2)
        shared = {"flag": f.flag, "summary": f.summary, **f.detail}
    return {"metric": name, "greater_is_better": metric.greater_is_better, "claimed": claimed,
            "holdout": holdout, "holdout_lo": lo, "holdout_hi": hi,
            "gap": (1 if metric.greater_is_better else -1) * (claimed - holdout),
            "verdict": verdict(claimed, holdout, lo, hi, metric.greater_is_better, spread.sd),
            "claim_sd": spread.sd, "claim_uncertainty": spread.method,
            "n_holdout": len(sealed.y), "shared": shared}


def _read_trials(path: Path, greater: bool) -> tuple[list[float], list[float]]:
    table = read_table(path, "trials")
    if "score" not in table.columns:
        raise UsageError(f"trials file {path} needs a 'score' column (one row per evaluated "
                         "configuration, in the order they finished; optional 'end' seconds)")
    scores = pd.to_numeric(table["score"], errors="coerce")
    ends = (pd.to_numeric(table["end"], errors="coerce") if "end" in table.columns
            else pd.Series(np.arange(1, len(table) + 1), dtype=float))
    keep = scores.notna() & ends.notna()
    return scores[keep].tolist(), ends[keep].tolist()


def _read_space(path: Path) -> dict[str, Any]:
    try:
        space = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read search-space file {path} as JSON: {exc}") from None
    if not isinstance(space, dict) or not isinstance(space.get("hyperparameters"), list):
        raise UsageError(f"search-space file {path} needs a 'hyperparameters' list of "
                         "{name, type, range or choices, log, condition}")
    return space


def claim(folder: Path, claimed: float, predictions: Path | None = None,
          model: Path | None = None, metric: str | None = None, trials: Path | None = None,
          space: Path | None = None, validation_rows: int | None = None) -> dict[str, Any]:
    """Everything the claim report shows, as a plain dict."""
    from auditor.audit.adequacy import assess

    sealed = open_seal(folder)
    if (predictions is None) == (model is None):
        raise UsageError("give exactly one of --predictions FILE or --model FILE.skops")
    given = predictions if predictions is not None else model
    assert given is not None  # exactly one of the two, checked above
    if predictions is not None:
        table, name = read_table(predictions, "predictions"), predictions.name
    else:
        table, name = predictions_from_model(sealed, given), given.name
    digest = file_sha256(given)
    result = score_claim(sealed, check_predictions(sealed, table, name), claimed, metric,
                         validation_rows)
    adequacy = None
    if trials is not None:
        scores, ends = _read_trials(trials, result["greater_is_better"])
        a = assess(scores, ends, result["greater_is_better"], len(scores),
                   _read_space(space) if space is not None else None, "vendor", None)
        adequacy = {"verdict": a.verdict, "reasons": a.reasons,
                    "recommended_trials": a.recommended_trials,
                    "figures": {k: v for k, v in a.figures.items() if k != "expected_max"},
                    "expected_max": a.figures.get("expected_max", [])}
    elif space is not None:
        raise UsageError("--space needs --trials: adequacy is judged from the trial log")
    return {"manifest": sealed.manifest, "predictions": name, "predictions_sha256": digest,
            "claim": result, "adequacy": adequacy}
