"""Build the report's context from a results store, with plain-word findings first."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from adapters.metrics import get_metric
from auditor.audit import LEVEL, bootstrap_indices
from auditor.store import RESULTS_DB, Store, npy_load

RUN_FIELDS = ("system", "seed", "repeat", "fold", "status", "failure_class", "failure_message",
              "reported_on", "verdict", "n_configs", "wall_s", "cpu_s", "peak_rss_mb", "search_s",
              "model_description", "system_version")


def _run_view(row: dict[str, Any]) -> dict[str, Any]:
    view = {k: row[k] for k in RUN_FIELDS}
    view.update({
        "holdout": row["holdout_score"], "holdout_lo": row["holdout_lo"],
        "holdout_hi": row["holdout_hi"], "reported": row["reported_score"], "gap": row["gap"],
        "gap_lo": row["gap_lo"], "gap_hi": row["gap_hi"], "overrun": bool(row["overrun"]),
        "best_config": json.loads(row["best_config"]) if row["best_config"] else {},
        "environment": json.loads(row["environment"] or "{}"),
        "search_space": json.loads(row["search_space"] or "null"),
    })
    return view


def paired_difference(out: Path, store: Store, dataset: str, metric: str, a: str, b: str
                      ) -> tuple[float, float, float] | None:
    """Mean over shared splits of score(a) − score(b) on the same holdout rows, with a paired
    bootstrap CI; positive means `a` is better. None when the two share no successful split."""
    m = get_metric(metric)
    sign = 1.0 if m.greater_is_better else -1.0
    rows = store.rows(
        "SELECT r.system, r.seed, r.split_fingerprint, r.predictions_path, s.holdout_y, "
        "d.task_type FROM runs r JOIN splits s ON s.dataset = r.dataset AND s.seed = r.seed "
        "AND s.fingerprint = r.split_fingerprint JOIN datasets d ON d.name = r.dataset "
        "WHERE r.dataset = ? AND r.status = 'ok' AND r.system IN (?, ?)", (dataset, a, b))
    by_split: dict[tuple[int, str], dict[str, Any]] = {}
    for r in rows:
        by_split.setdefault((r["seed"], r["split_fingerprint"]), {})[r["system"]] = r
    points, boots = [], []
    for (seed, _), pair in sorted(by_split.items()):
        if len(pair) != 2:
            continue
        y = npy_load(pair[a]["holdout_y"])
        pa, pb = (np.load(out / pair[s]["predictions_path"]) for s in (a, b))
        points.append(sign * (m(y, pa) - m(y, pb)))
        idx = bootstrap_indices(y, pair[a]["task_type"] != "regression", seed)
        boots.append(sign * (m.batch(y, pa, idx) - m.batch(y, pb, idx)))
    if not points:
        return None
    mean_boot = np.nanmean(np.vstack(boots), axis=0)
    alpha = (1 - LEVEL) / 2
    lo, hi = np.nanquantile(mean_boot, [alpha, 1 - alpha])
    return float(np.mean(points)), float(lo), float(hi)


def _dataset_summary(out: Path, store: Store, d: dict[str, Any], metric: str,
                     runs: list[dict[str, Any]]) -> str | None:
    ok: dict[str, list[float]] = {}
    for r in runs:
        if r["status"] == "ok":
            ok.setdefault(r["system"], []).append(r["holdout"])
    if not ok:
        return f"On {d['name']}, no system finished successfully."
    m = get_metric(metric)
    ranked = sorted(ok, key=lambda s: m.loss(float(np.mean(ok[s]))))
    best = ranked[0]
    unit = "seed" if d["openml_task_id"] is None else "split"
    text = (f"On {d['name']}, {best} had the best mean holdout {metric}: "
            f"{np.mean(ok[best]):.4g} over {len(ok[best])} {unit}(s)")
    if len(ranked) == 1:
        return text + "; no other system finished to compare with."
    runner_up = ranked[1]
    diff = paired_difference(out, store, d["name"], metric, best, runner_up)
    if diff is None:
        return text + f"; it shares no successful {unit} with {runner_up}, so no paired comparison."
    point, lo, hi = diff
    if lo == hi == 0:
        return text + f", tied with {runner_up} on every bootstrap resample of the holdout."
    clear = "a clear lead" if lo > 0 else "not a clear lead: the interval includes 0"
    return (text + f", ahead of {runner_up} by {point:.3g} (95 % CI {lo:.3g} to {hi:.3g}, "
            f"paired bootstrap over holdout rows) — {clear}.")


def _openml_view(d: dict[str, Any]) -> dict[str, int | None] | None:
    """OpenML data set id and version and task id, or None for other sources."""
    if d["openml_dataset_id"] is None:
        return None
    return {"dataset_id": d["openml_dataset_id"], "version": d["openml_dataset_version"],
            "task_id": d["openml_task_id"]}


def build_context(out: Path, title: str | None = None) -> dict[str, Any]:
    store = Store(out / RESULTS_DB)
    try:
        runs = store.rows("SELECT * FROM runs ORDER BY dataset, system, seed, repeat, fold")
        datasets = store.rows("SELECT * FROM datasets ORDER BY rowid")
        splits = store.rows("SELECT dataset, seed, fingerprint, n_search, n_holdout, "
                            "holdout_fraction, openml_task_id, repeat, fold FROM splits "
                            "ORDER BY dataset, seed, repeat, fold")
        summary, sections = [], []
        for d in datasets:
            d_runs = [r for r in runs if r["dataset"] == d["name"]]
            if not d_runs:
                continue
            metric = d_runs[0]["metric"]
            views = [_run_view(r) for r in d_runs]
            line = _dataset_summary(out, store, d, metric, views)
            if line:
                summary.append(line)
            sections.append({
                "name": d["name"], "source": d["source"], "task_type": d["task_type"],
                "metric": metric, "greater_is_better": get_metric(metric).greater_is_better,
                "n_rows": d["n_rows"], "n_features": d["n_features"],
                "n_categorical": d["n_categorical"], "n_missing": d["n_missing"],
                "fingerprint": d["fingerprint"], "openml": _openml_view(d),
                "splits": [{k: s[k] for k in ("seed", "fingerprint", "n_search", "n_holdout",
                                              "openml_task_id", "repeat", "fold")}
                           for s in splits if s["dataset"] == d["name"]],
                "runs": views,
            })
    finally:
        store.close()
    optimistic = sum(r["verdict"] == "optimistic" for r in runs)
    failed = [r for r in runs if r["status"] != "ok"]
    overruns = sum(bool(r["overrun"]) for r in runs)
    summary.append(f"{optimistic} of {len(runs) - len(failed)} successful runs reported a "
                   "validation score better than their holdout score beyond the 95 % CI "
                   "(verdict 'optimistic').")
    summary.append(f"{len(failed)} of {len(runs)} runs failed"
                   + (": " + ", ".join(sorted({f"{r['failure_class']}" for r in failed}))
                      if failed else "") + f"; {overruns} ran past the wall budget.")
    first = runs[0] if runs else {}
    seeds = sorted({r["seed"] for r in runs})
    return {
        "title": title or f"Audit report: {first.get('suite', out.name)}",
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "suite": {"name": first.get("suite", ""), "path": str(out)},
        "budget": json.loads(first["budget"]) if runs else {},
        "seeds": seeds,
        # the harness's own splits; an OpenML task's folds have the sizes the task gives them
        "holdout_fraction": next((s["holdout_fraction"] for s in splits
                                  if s["openml_task_id"] is None), None),
        "cv_folds": next((json.loads(r["options"])["cv_folds"] for r in runs
                          if "cv_folds" in json.loads(r["options"])), None),
        "versions": json.loads(first["versions"]) if runs else {},
        "summary": summary,
        "datasets": sections,
    }
