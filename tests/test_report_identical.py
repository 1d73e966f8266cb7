"""Two searchers that made the same predictions on some of the runs, on a real suite: the
executive summary says on how many, by the rule the charts mark them with, however few."""

from __future__ import annotations

import html
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from auditor.cli import main
from tests.conftest import WALL_CAP, runs, write_suite

SEEDS = [0, 1, 2]
DATASETS = [{"name": "breast-cancer", "source": "sklearn:breast_cancer"},
            {"name": "wine", "source": "sklearn:wine"},
            {"name": "diabetes", "source": "sklearn:diabetes"}]


@pytest.fixture(scope="module")
def partial_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """TPE's first configuration is random search's (the same seed); it models from its second
    on, so the two end on the same model only where that first one stayed the best of three."""
    folder = tmp_path_factory.mktemp("identical")
    suite = write_suite(
        folder, name="identical", seeds=SEEDS, cv_folds=2, grace_seconds=2,
        budget={"wall_seconds": WALL_CAP, "cores": 1, "memory_mb": 2048, "max_trials": 3},
        datasets=DATASETS,
        systems=["random", {"system": "tpe", "options": {"n_startup_trials": 1}}])
    out = folder / "out"
    assert main(["run", str(suite), "--out", str(out)]) == 0
    return out


def test_summary_names_series_identical_on_a_few_runs_as_the_charts_do(
        partial_run: Path) -> None:
    # which runs made the same holdout predictions, read from the stored prediction files
    predictions: dict[tuple[str, int], dict[str, np.ndarray]] = defaultdict(dict)
    for run in runs(partial_run):
        assert run.status == "ok" and run.predictions_path
        predictions[run.dataset, run.seed][run.system] = np.load(
            partial_run / run.predictions_path, allow_pickle=False)
    same = {key: np.array_equal(p["random"], p["tpe"]) for key, p in predictions.items()}
    n, k = len(same), sum(same.values())
    assert 0 < 2 * k < n  # fewer than half: a share the summary used to leave unsaid

    page = html.unescape((partial_run / "report.html").read_text(encoding="utf-8"))
    summary = page.split("<h3>By dataset</h3>")[0]
    assert (f"random and tpe were identical (the same reported and holdout scores) on {k} of "
            f"{n} dataset × seed pairs (each evaluated at most 3 configurations), so what tells "
            f"them apart rests on the other {n - k}.") in summary
    sections = page.split('<section class="dataset"')[1:]
    assert len(sections) == len(DATASETS)
    for d, section in zip(DATASETS, sections, strict=True):
        here = sum(same[d["name"], seed] for seed in SEEDS)
        note = ("random and tpe identical on "
                + ("every run" if here == len(SEEDS) else f"{here} of {len(SEEDS)} runs"))
        # both charts, the anytime curves and the reported-vs-holdout points, mark the same
        # runs, and no other
        assert section.count(note) == (2 if here else 0), d["name"]
        assert here or "identical on" not in section, d["name"]
