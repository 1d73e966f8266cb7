"""Real reports in Debian's headless Chromium: the comparison suite's, and one whose dataset,
target, feature, file and system are named like markup. Screenshots go to tests/artifacts/."""

from __future__ import annotations

import os
import re
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from auditor.cli import main
from tests.browser import PageReport, chromium_available, open_page
from tests.conftest import COMPARISON_DATASETS, WALL_CAP, write_suite

EVIL = "<script>alert(1)</script>"
NEGATIVE_ZERO = re.compile(r"-0(\.0+)?(?![.\d])")
ARTIFACTS = Path(__file__).parent / "artifacts"

pytestmark = pytest.mark.browser


@pytest.fixture(autouse=True)
def _chromium() -> None:
    if not chromium_available():
        message = "Debian's chromium is not installed (run .ci/services)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


def _clean(page: PageReport) -> None:
    assert page.console_errors == [] and page.page_errors == [] and page.failed_requests == []
    assert not page.alert_fired and page.script_count == 0
    assert page.svgs and all(svg.has_shapes and svg.has_box for svg in page.svgs)


def _laid_out(page: PageReport) -> None:
    """Nothing sticks out of its container or clips its text either way, no chart label leaves
    its chart or covers another, on screen at 1280 px and printed on A4 landscape and portrait,
    and every chart's value axis stays within its metric's range."""
    assert page.layout == {"screen": [], "print": [], "portrait": []}
    assert page.domains and page.axes_outside_bounds() == []


def test_comparison_report_renders(comparison_run: Path) -> None:
    page = open_page(comparison_run / "report.html", ARTIFACTS / "comparison_report.png")
    _clean(page)
    _laid_out(page)
    # one critical-difference diagram, and per dataset the anytime curves and the scatter
    assert page.svg_count == 1 + 2 * len(COMPARISON_DATASETS)
    for words in ("Executive summary", "Friedman test", "after Holm correction",
                  "Pairwise comparisons", "Normalized scores, AMLB style", "Budget compliance",
                  "Anytime performance", "Audit checks", "Provenance"):
        assert words in page.text, words
    # the constant baseline ranks no top decile; counts are whole numbers
    assert "n/a" in page.text and "1 cores" not in page.text
    assert not NEGATIVE_ZERO.search(page.text)
    assert not re.search(r"CONFIGS?\s+\d+\.\d", page.text, re.I)


@pytest.fixture(scope="module")
def evil_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("evil")
    rng = np.random.default_rng(0)
    x = rng.normal(size=240)
    data = pd.DataFrame({"x1": x, "<img src=x onerror=alert(2)>": rng.normal(size=240),
                         EVIL: np.where(x + rng.normal(scale=0.7, size=240) > 0, "yes", "no")})
    csv = folder / "<img src=x onerror=alert(3)>.csv"
    data.to_csv(csv, index=False)
    suite = write_suite(
        folder, name=EVIL, seeds=[0, 1], cv_folds=2, grace_seconds=2,
        budget={"wall_seconds": WALL_CAP, "cores": 1, "memory_mb": 2048, "max_trials": 2},
        datasets=[{"name": EVIL, "source": f"file:{csv}", "target": EVIL},
                  {"name": "breast-cancer", "source": "sklearn:breast_cancer"}],
        systems=[{"system": "constant", "label": EVIL}, "lgbm-default", "random"])
    out = folder / "out"
    assert main(["run", str(suite), "--out", str(out)]) == 0
    return out


def test_markup_in_names_shows_as_text_and_runs_nothing(evil_run: Path) -> None:
    page = open_page(evil_run / "report.html", ARTIFACTS / "markup_names_report.png")
    _clean(page)
    assert page.svg_count == 1 + 2 * 2
    assert page.text.count(EVIL) >= 10  # title, dataset, system in tables, legends and sentences
    assert "<img src=x onerror=alert(3)>.csv" in page.text
    html = (evil_run / "report.html").read_text()
    assert "<script" not in html and "<img" not in html
    assert EVIL in (evil_run / "report_tables" / "runs.csv").read_text()


@pytest.fixture(scope="module")
def mixed_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A suite with a system that crashes on every run, a regression and a multiclass task."""
    folder = tmp_path_factory.mktemp("mixed")
    suite = write_suite(
        folder, name="mixed", seeds=[0, 1], cv_folds=2, grace_seconds=2,
        budget={"wall_seconds": WALL_CAP, "cores": 1, "memory_mb": 2048, "max_trials": 2},
        datasets=[{"name": "diabetes", "source": "sklearn:diabetes"},
                  {"name": "iris", "source": "sklearn:iris"}],
        systems=["constant", "lgbm-default", "random",
                 {"system": "tests.fault_adapters:Crasher", "label": "crasher"}])
    out = folder / "out"
    assert main(["run", str(suite), "--out", str(out)]) == 0
    return out


def test_failed_system_regression_and_multiclass_lay_out(mixed_run: Path) -> None:
    page = open_page(mixed_run / "report.html", ARTIFACTS / "mixed_report.png")
    _clean(page)
    _laid_out(page)
    summary = page.text.split("By dataset")[0]
    scope = summary.split("Compared 4 systems (")[1].split(")")[0]
    assert sorted(scope.split(", ")) == ["constant", "crasher", "lgbm-default", "random"]
    assert "on 2 datasets (1 multiclass, 1 regression) over 2 seeds" in summary
    assert "crasher: 4 of 4 runs failed (crash), so it is not in the ranking" in summary
    assert "{}" not in page.text and "1 cores" not in page.text
    # every system that finished validated by k-fold CV: the crasher, which validated nothing,
    # does not make the ways differ
    assert "Budget compliance, and here it differed" not in page.text
    assert not NEGATIVE_ZERO.search(page.text)


def test_failures_show_no_local_folder(mixed_run: Path) -> None:
    """The crasher's traceback names the code it ran through (tests/fault_adapters.py), not the
    folders of the machine it ran on; the store keeps the whole text for the operator."""
    html = (mixed_run / "report.html").read_text(encoding="utf-8")
    tables = "".join(p.read_text(encoding="utf-8")
                     for p in (mixed_run / "report_tables").iterdir())
    repo = str(Path(__file__).resolve().parents[1])
    assert "tests/fault_adapters.py" in html
    assert repo not in html and repo not in tables and str(mixed_run) not in html
    store = sqlite3.connect(mixed_run / "results.sqlite")
    details = [d for (d,) in store.execute("SELECT failure_detail FROM runs") if d]
    store.close()
    assert details and any(repo in d for d in details)
