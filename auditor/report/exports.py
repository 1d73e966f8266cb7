"""The report's tables as plain {columns, rows}; writing the report with its tables beside it."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from adapters.protocol import write_atomic
from reports import report_files
from reports.tables import tables_dir


def export_tables(ctx: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Every table of the report as {columns, rows} for the CSV and JSON exports."""
    def table(columns: Sequence[str], rows: list[dict[str, Any]]) -> dict[str, Any]:
        return {"columns": list(columns), "rows": [{k: r.get(k) for k in columns} for r in rows]}

    def flat(prefix: str, i: dict[str, Any] | None) -> dict[str, Any]:
        i = i or {}
        return {f"{prefix}_{k}": i.get(k) for k in ("mean", "lo", "hi", "n")}

    runs, seeds, trajectories = [], [], []
    for ds in ctx["datasets"]:
        for r in ds["runs"]:
            top = r["top_decile"] or {}
            runs.append({**r, "dataset": ds["name"], "metric": ds["metric"],
                         "top_decile_precision": top.get("value"),
                         "top_decile_lo": top.get("lo"), "top_decile_hi": top.get("hi")})
            trajectories += [{"dataset": ds["name"], "system": r["system"], "seed": r["seed"],
                              "repeat": r["repeat"], "fold": r["fold"], "wall_s": p[0],
                              "cpu_s": p[1], "evaluations": p[2], "incumbent_score": p[3]}
                             for p in r["trajectory"]]
        seeds += [{"dataset": ds["name"], "metric": ds["metric"], **s,
                   **flat("holdout", s["holdout"]), **flat("top_decile", s["top_decile"])}
                  for s in ds["across_seeds"]]
    cmp = ctx["comparison"] or {}
    measures = ("mean", "lo", "hi", "n")
    out = {
        "summary": table(["sentence"], [{"sentence": s} for s in ctx["summary"]]),
        "runs": table(["dataset", "metric", "system", "seed", "repeat", "fold", "status",
                       "failure_class", "holdout", "holdout_lo", "holdout_hi", "reported",
                       "reported_on", "gap", "gap_lo", "gap_hi", "verdict",
                       "top_decile_precision", "top_decile_lo", "top_decile_hi", "n_configs",
                       "full_fidelity_evals", "compute_cpu_s", "wall_s", "cpu_s", "peak_rss_mb",
                       "search_s", "overrun"], runs),
        "dataset_summary": table(
            ["dataset", "metric", "system", "runs", "ok", "rank",
             *(f"holdout_{k}" for k in measures), *(f"top_decile_{k}" for k in measures),
             "n_configs", "full_fidelity_evals", "compute_cpu_s", "wall_s"], seeds),
        "ranks": table(["system", "mean_rank", "n_datasets"], cmp.get("ranks", [])),
        "friedman": table(["n_datasets", "n_systems", "statistic", "p_value", "note"],
                          [cmp["friedman"]] if cmp else []),
        "nemenyi": table(["a", "b", "rank_difference", "p_value", "significant",
                          "critical_difference", "q_alpha", "alpha"],
                         [{**p, **(cmp["nemenyi"] or {})} for p in
                          (cmp["nemenyi"] or {}).get("pairs", [])] if cmp else []),
        "wilcoxon": table(["a", "b", "n_datasets", "wins", "ties", "losses",
                           "median_difference", "statistic", "p_value", "p_holm", "significant",
                           "note"], cmp.get("pairs", [])),
        "anytime": table(["dataset", "system", "seed", "repeat", "fold", "wall_s", "cpu_s",
                          "evaluations", "incumbent_score"], trajectories),
        "compliance": table(["system", "runs", "ok", "max_wall_ratio", "median_wall_ratio",
                             "overruns", "max_memory_ratio", "median_cpu_share",
                             "max_cpu_wait", "starved", "median_startup_s", "max_startup_s",
                             "validation", "failures"],
                            [{**r, "failures": "; ".join(f"{k} {v}" for k, v in
                                                         r["failures"].items())}
                             for r in ctx["compliance"]]),
        "configurations": table(
            ["dataset", "system", "seed", "repeat", "fold", "status", "system_version",
             "model_description", "best_config", "python", "freeze_sha256", "worker"],
            [{**r, "best_config": json.dumps(r["best_config"], sort_keys=True, default=str)
              if r["best_config"] else None, "python": (r["environment"] or {}).get("python"),
              "freeze_sha256": (r["environment"] or {}).get("freeze_sha256"),
              "worker": (r["environment"] or {}).get("worker")} for r in runs]),
        "failures": table(["dataset", "system", "seed", "repeat", "fold", "failure_class",
                           "failure_message"], [r for r in runs if r["status"] != "ok"]),
        "audits": table(["dataset", "system", "seed", "check", "flag", "verdict", "detail"],
                        ctx["audits"]),
        "fingerprints": table(["dataset", "seed", "repeat", "fold", "fingerprint", "n_search",
                               "n_holdout"],
                              [{"dataset": ds["name"], "fingerprint": ds["fingerprint"]}
                               for ds in ctx["datasets"]]
                              + [{"dataset": ds["name"], **s}
                                 for ds in ctx["datasets"] for s in ds["splits"]]),
        "versions": table(["package", "version"], [{"package": k, "version": v}
                                                   for k, v in sorted(ctx["versions"].items())]),
    }
    for n in cmp.get("normalized", []):
        out[f"normalized_{n['style']}"] = table(
            ["dataset", "system", "score"],
            [{"dataset": row["dataset"], "system": s, "score": v}
             for row in n["by_dataset"] for s, v in row["scores"].items()]
            + [{"dataset": "mean", "system": s, "score": i["mean"]}
               for s, i in n["summary"].items()])
    return out


def write_report(context: Mapping[str, Any], path: Path) -> None:
    """Write the report of a plain context (`ReportContext.plain`) and its tables (key `tables`)
    beside it, each file atomically; files of tables no longer in the report are removed."""
    files = report_files(context, path)
    for target, text in files.items():
        write_atomic(target, text)
    if context.get("tables"):
        folder = tables_dir(path)
        for stale in (*folder.glob("*.csv"), *folder.glob("*.json")):
            if stale not in files:
                stale.unlink()
