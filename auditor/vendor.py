"""The vendor workflow: seal a dataset, hand the vendor a package, check the claim it comes back
with against labels it never saw.

`auditor seal DATA --target COL --out DIR` writes
- `DIR/vendor/` — for the vendor: `search.csv` (row_id, features, target), `holdout_features.csv`
  (row_id, features; no labels) and `manifest.json` (task, metric, classes, hashes, and the format
  the predictions must come back in);
- `DIR/sealed/` — kept apart: `holdout_labels.csv` (row_id, label) and `seal.json` (fingerprints,
  and the ids of holdout rows whose features also appear among the search rows).

`auditor claim DIR --predictions FILE --claimed-score X` validates the predictions (CSV or
Parquet, never a pickle; or a scikit-learn model saved with skops, loaded with an explicit list of
trusted types), scores them on the sealed labels with a bootstrap CI, and renders a claim report.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from adapters.metrics import DEFAULT_METRIC, METRICS, get_metric
from auditor.audit import score_with_boot
from auditor.checks import shared_rows_effect
from auditor.datasets import load_dataset
from auditor.errors import UsageError
from auditor.gap import ZERO_WIDTH, reported_spread, zero_width
from auditor.splits import seal

ROW_ID = "row_id"
# scikit-learn types a vendor's skops file may contain; anything else is refused
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


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _row_tokens(n: int) -> np.ndarray:
    """n distinct random row ids from the OS's CSPRNG: they say nothing of a row's position. The
    leading letter keeps spreadsheet and CSV tools from reading one as a number."""
    tokens: dict[str, None] = {}
    while len(tokens) < n:
        tokens["r" + secrets.token_hex(8)] = None
    return np.array(list(tokens), dtype=object)


def _shuffled(n: int) -> np.ndarray:
    """A permutation of range(n) drawn from the OS's CSPRNG (not from the split's seed)."""
    return np.random.default_rng(secrets.randbits(128)).permutation(n)


def _labels(values: np.ndarray, classes: list[str]) -> np.ndarray:
    return np.asarray(classes, dtype=object)[values] if classes else values


def seal_dataset(data: str, target: str, out: Path, fraction: float = 0.2, seed: int = 0,
                 task: str | None = None, metric: str | None = None,
                 drop: list[str] | tuple[str, ...] = ()) -> dict[str, Any]:
    """Write the vendor package and the sealed labels; returns the manifest."""
    if out.exists() and any(out.iterdir()):
        raise UsageError(f"{out} already exists and is not empty; give a new folder with --out")
    source = data if ":" in data.split("/")[0] else f"file:{data}"
    dataset = load_dataset(Path(data).stem, source, target=target, task=task, drop=drop)
    metric = metric or DEFAULT_METRIC[dataset.task_type]
    if metric not in METRICS or dataset.task_type not in METRICS[metric].tasks:
        fitting = ", ".join(m for m, v in METRICS.items() if dataset.task_type in v.tasks)
        raise UsageError(f"metric {metric!r} does not apply to a {dataset.task_type} task; use "
                         f"one of {fitting}")
    split = seal(dataset, seed, fraction)
    out.parent.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix=".seal-", dir=out.parent))
    try:
        (building / "vendor").mkdir()
        (building / "sealed").mkdir()
        # random ids and shuffled rows: neither an id nor a row's place in a file tells where it
        # stood in the source, which may have been sorted by the target or by time
        n_search = len(split.search_idx)
        ids = _row_tokens(n_search + len(split.holdout_idx))
        search_ids, holdout_ids = ids[:n_search], ids[n_search:]
        search = split.search_X.assign(**{target: _labels(split.search_y, dataset.classes)})
        search.insert(0, ROW_ID, search_ids)
        search.iloc[_shuffled(len(search))].to_csv(building / "vendor" / "search.csv",
                                                   index=False)
        order = _shuffled(len(holdout_ids))
        holdout = split.holdout_X.copy()
        holdout.insert(0, ROW_ID, holdout_ids)
        holdout.iloc[order].to_csv(building / "vendor" / "holdout_features.csv", index=False)
        pd.DataFrame({ROW_ID: holdout_ids,
                      target: _labels(split.holdout_y, dataset.classes)}).iloc[order].to_csv(
            building / "sealed" / "holdout_labels.csv", index=False)
        # kept apart with the labels: where each id's row stood in the source
        pd.DataFrame({ROW_ID: ids, "part": ["search"] * n_search + ["holdout"] * len(holdout_ids),
                      "source_row": np.concatenate([split.search_idx, split.holdout_idx])}).to_csv(
            building / "sealed" / "row_ids.csv", index=False)
        columns = (["prediction"] if dataset.task_type == "regression"
                   else [str(c) for c in dataset.classes])
        manifest = {
            "target": target, "task_type": dataset.task_type, "metric": metric,
            "classes": dataset.classes, "n_search": len(split.search_idx),
            "n_holdout": len(split.holdout_idx), "holdout_fraction": fraction, "seed": seed,
            "files": {name: _sha256(building / "vendor" / name)
                      for name in ("search.csv", "holdout_features.csv")},
            "predictions_format": (
                f"CSV or Parquet with a '{ROW_ID}' column (every holdout row once) and "
                + ("a 'prediction' column" if dataset.task_type == "regression" else
                   "one probability column per class, named by the class label ("
                   + ", ".join(columns) + "); for two classes the positive class "
                   f"'{columns[-1]}' alone is enough")),
        }
        (building / "vendor" / "manifest.json").write_text(json.dumps(manifest, indent=1))
        (building / "sealed" / "seal.json").write_text(json.dumps({
            "source": dataset.source, "dataset_fingerprint": dataset.fingerprint(),
            "split_fingerprint": split.fingerprint(), "metric": metric,
            "labels_sha256": _sha256(building / "sealed" / "holdout_labels.csv"),
            # holdout rows whose features also appear among the search rows
            "shared_row_ids": holdout_ids[split.shared_holdout].tolist(),
        }, indent=1))
        shutil.rmtree(out, ignore_errors=True)
        os.replace(building, out)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    return manifest


def _read_table(path: Path, what: str) -> pd.DataFrame:
    if not path.is_file():
        raise UsageError(f"{what} file {path} not found; give the path to a CSV or Parquet file")
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            return pd.read_csv(path)
        if suffix == ".parquet":
            return pd.read_parquet(path)
    except (ValueError, OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read {what} file {path}: {str(exc).splitlines()[0]}") from None
    raise UsageError(f"{what} file {path} must be .csv or .parquet (pickles and other formats "
                     "are never loaded); convert it")


@dataclass
class Sealed:
    folder: Path
    manifest: dict[str, Any]
    ids: np.ndarray
    y: np.ndarray  # codes 0..K-1, or values
    shared: np.ndarray | None  # per holdout row: its features are also among the search rows


def open_seal(folder: Path) -> Sealed:
    manifest_path = folder / "vendor" / "manifest.json"
    labels_path = folder / "sealed" / "holdout_labels.csv"
    if not manifest_path.is_file() or not labels_path.is_file():
        raise UsageError(f"{folder} is not a sealed folder (no vendor/manifest.json or "
                         "sealed/holdout_labels.csv); create one with `auditor seal`")
    manifest = json.loads(manifest_path.read_text())
    labels = pd.read_csv(labels_path, dtype={ROW_ID: str})
    values = labels[manifest["target"]].to_numpy()
    if manifest["classes"]:
        index = {str(c): i for i, c in enumerate(manifest["classes"])}
        values = np.array([index[str(v)] for v in values])
    ids = labels[ROW_ID].to_numpy()
    seal_path = folder / "sealed" / "seal.json"
    info = json.loads(seal_path.read_text()) if seal_path.is_file() else {}
    shared_ids = info.get("shared_row_ids")  # absent from folders sealed before this check
    shared = None if shared_ids is None else np.isin(ids, [str(i) for i in shared_ids])
    return Sealed(folder, manifest, ids, values, shared)


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
        return values[:, 0]
    if values.min() < 0 or values.max() > 1:
        raise UsageError(f"{name} has probabilities outside [0, 1]")
    worst = float(np.abs(values.sum(axis=1) - 1).max())
    if worst > 1e-3:
        raise UsageError(f"{name}: class probabilities do not sum to 1 (off by up to "
                         f"{worst:.3g}); normalise each row")
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
    if name not in METRICS or sealed.manifest["task_type"] not in METRICS[name].tasks:
        raise UsageError(f"--metric {name!r} does not apply to a {sealed.manifest['task_type']} "
                         "task")
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
    table = _read_table(path, "trials")
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
    from auditor.adequacy import assess

    sealed = open_seal(folder)
    if (predictions is None) == (model is None):
        raise UsageError("give exactly one of --predictions FILE or --model FILE.skops")
    if predictions is not None:
        table, name = _read_table(predictions, "predictions"), predictions.name
    else:
        table, name = predictions_from_model(sealed, model), model.name
    digest = _sha256(predictions if predictions is not None else model)
    result = score_claim(sealed, check_predictions(sealed, table, name), claimed, metric,
                         validation_rows)
    adequacy = None
    if trials is not None:
        scores, ends = _read_trials(trials, result["greater_is_better"])
        a = assess(scores, ends, result["greater_is_better"], len(scores),
                   _read_space(space) if space is not None else None, "vendor")
        adequacy = {"verdict": a.verdict, "reasons": a.reasons,
                    "recommended_trials": a.recommended_trials,
                    "figures": {k: v for k, v in a.figures.items() if k != "expected_max"},
                    "expected_max": a.figures.get("expected_max", [])}
    elif space is not None:
        raise UsageError("--space needs --trials: adequacy is judged from the trial log")
    return {"manifest": sealed.manifest, "predictions": name, "predictions_sha256": digest,
            "claim": result, "adequacy": adequacy}
