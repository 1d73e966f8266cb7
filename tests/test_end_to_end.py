"""A small suite through the whole pipeline, and its report in headless Chromium."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from auditor.cli import main
from auditor.config.suite import load_suite
from auditor.pipeline.plan import plan
from auditor.stats.gap import ZERO_WIDTH
from tests.browser import chromium_available, open_page
from tests.conftest import REPO, WALL_CAP, runs, trials

SYSTEMS = ["constant", "lgbm-default", "random", "tpe"]


def test_quickstart_suite_plans_on_bundled_data() -> None:
    p = plan(load_suite(REPO / "benchmarks" / "quickstart.yaml"))
    tasks = {name: d.task_type for name, d in p.datasets.items()}
    assert tasks == {"telco-churn": "binary", "breast-cancer": "binary", "diabetes": "regression",
                     "credit-client-csv": "binary"}
    telco = p.datasets["telco-churn"]
    assert len(telco.y) == 7043 and telco.n_missing == 11
    assert "categorical" in telco.feature_types.values()
    assert [s.label for s in p.systems] == SYSTEMS
    assert all(s.options["cv_folds"] == p.suite.cv_folds for s in p.systems)


@pytest.fixture(scope="module")
def small_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.conftest import write_suite

    folder = tmp_path_factory.mktemp("e2e")
    suite = write_suite(
        folder,
        seeds=[0],
        budget={"wall_seconds": WALL_CAP, "cores": 1, "memory_mb": 3000, "max_trials": 8},
        datasets=[
            {"name": "breast-cancer", "source": "sklearn:breast_cancer"},
            {"name": "diabetes", "source": "sklearn:diabetes"},
            {"name": "credit-client-csv", "source": f"file:{REPO}/benchmarks/data/credit_data.csv",
             "target": "Status"},
        ],
        systems=SYSTEMS,
    )
    out = folder / "out"
    assert main(["run", str(suite), "--out", str(out)]) == 0
    return out


def test_store_holds_audited_runs(small_run: Path) -> None:
    rows = runs(small_run)
    assert len(rows) == 3 * len(SYSTEMS)
    assert all(r.status == "ok" for r in rows), [r.failure_message for r in rows]
    for r in rows:
        assert r.holdout_lo <= r.holdout_score <= r.holdout_hi
        # a constant predictor's ROC AUC is 0.5 in every resample: no verdict from that interval
        zero_width = r.holdout_lo == r.holdout_hi
        assert r.verdict in ({ZERO_WIDTH} if zero_width else {"consistent", "optimistic",
                                                                 "pessimistic"})
        uncertainty = r.extra_metrics["reported_uncertainty"]
        assert "Nadeau–Bengio" in uncertainty["method"] and len(uncertainty["fold_scores"]) >= 2
        assert r.wall_s > 0 and r.peak_rss_mb > 0 and r.cpu_s >= 0
        # the budget started once the job was in its sandbox: its start-up is recorded apart
        assert r.startup_s is not None and 0 <= r.startup_s < r.wall_s and not r.overrun
        assert r.dataset_fingerprint and r.split_fingerprint
    by = {(r.dataset, r.system): r for r in rows}
    # the searchers beat the constant baseline on the holdout, on every dataset
    assert by[("breast-cancer", "tpe")].holdout_score > 0.9
    assert by[("breast-cancer", "constant")].holdout_score == pytest.approx(0.5)
    diabetes = {s: by[("diabetes", s)].holdout_score for s in SYSTEMS}
    assert diabetes["random"] < diabetes["constant"]
    n_trials = len(trials(small_run))
    assert n_trials >= sum(r.n_configs for r in rows)


def test_report_has_every_dataset_and_system(small_run: Path) -> None:
    html = (small_run / "report.html").read_text()
    for name in ["breast-cancer", "diabetes", "credit-client-csv", *SYSTEMS]:
        assert name in html
    assert "http://" not in html and "https://" not in html
    # the client's file by its name and the sha256 of its bytes, its folder only in the store
    csv = REPO / "benchmarks" / "data" / "credit_data.csv"
    assert hashlib.sha256(csv.read_bytes()).hexdigest() in html
    assert "file credit_data.csv" in html and str(csv.parent) not in html


@pytest.mark.browser
def test_report_loads_in_chromium_without_errors(small_run: Path) -> None:
    if not chromium_available():
        if os.environ.get("CI"):
            pytest.fail("chromium is missing; .ci/services installs it")
        pytest.skip("chromium not installed (run .ci/services)")
    artifacts = REPO / "tests" / "artifacts"
    artifacts.mkdir(exist_ok=True)
    page = open_page(small_run / "report.html", screenshot=artifacts / "end_to_end_report.png")
    assert page.console_errors == [] and page.page_errors == [] and page.failed_requests == []
    assert page.svg_count == 1 + 2 * 3  # critical differences; per dataset anytime and scatter
    assert all(svg.has_shapes and svg.has_box for svg in page.svgs)
    # laid out at 1280 px and at A4 print width, every chart's axis within its metric's range
    assert page.layout == {"screen": [], "print": [], "portrait": []}
    assert page.domains and page.axes_outside_bounds() == []
