"""Statistics across datasets and seeds, checked against scipy and scikit-posthocs computed
independently here: on synthetic tables, and on a real 4 systems × 5 datasets × 3 seeds suite."""

from __future__ import annotations

import csv
import json
import math
import re
import shutil
from collections.abc import Callable
from dataclasses import replace
from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scikit_posthocs as sp
from scipy import stats
from statsmodels.stats.multitest import multipletests

from adapters.metrics import get_metric
from auditor.cli import main
from auditor.report.sentences import executive
from auditor.stats.compare import NOT_ENOUGH, Observation, compare, holm, mean_ci
from auditor.store.records import StoredDataset, StoredRun
from reports import fmt_p
from tests.conftest import COMPARISON_DATASETS, COMPARISON_SYSTEMS, open_store

RNG = np.random.default_rng(7)


def _table(scores: dict[str, list[float]], datasets: list[str], seeds: int = 3,
           lower: tuple[str, ...] = ()) -> list[Observation]:
    """Observations with seed noise around per-(dataset, system) centres."""
    obs = []
    for system, centres in scores.items():
        for d, centre in zip(datasets, centres, strict=True):
            obs += [Observation(d, str(s), system, centre + RNG.normal(0, 0.01), d not in lower)
                    for s in range(seeds)]
    return obs


def _block_means(obs: list[Observation]) -> pd.DataFrame:
    """Datasets × systems of oriented (higher is better) mean scores."""
    frame = pd.DataFrame([o.__dict__ for o in obs])
    frame["oriented"] = np.where(frame["greater_is_better"], frame["score"], -frame["score"])
    return frame.groupby(["dataset", "system"])["oriented"].mean().unstack()


def test_holm_and_mean_ci_match_statsmodels_and_scipy() -> None:
    p = [0.01, 0.04, 0.03, 0.2, 0.001]
    assert holm(p) == pytest.approx(list(multipletests(p, method="holm")[1]))
    values = [0.8, 0.82, 0.79, 0.85]
    i = mean_ci(values)
    lo, hi = stats.t.interval(0.95, len(values) - 1, loc=np.mean(values),
                              scale=stats.sem(values))
    assert (i.mean, i.lo, i.hi, i.n) == pytest.approx((np.mean(values), lo, hi, 4))
    assert mean_ci([0.5]).lo is None
    # two seeds give t(0.975, 1) = 12.7 standard errors: cut to the range an AUC can take
    near_one = mean_ci([0.99, 0.93], bounds=(0.0, 1.0))
    assert near_one.hi == 1.0 and near_one.lo == pytest.approx(0.96 - 12.706 * 0.03, abs=1e-3)
    assert mean_ci([0.5, 0.5]).lo == mean_ci([0.5, 0.5]).hi == 0.5


def test_statistics_match_scipy_and_scikit_posthocs() -> None:
    datasets = [f"d{i}" for i in range(8)]
    scores = {
        "a": [0.90, 0.80, 0.70, 0.95, 0.60, 30.0, 0.85, 0.75],
        "b": [0.88, 0.79, 0.72, 0.93, 0.58, 31.0, 0.84, 0.74],
        "c": [0.80, 0.70, 0.69, 0.90, 0.50, 35.0, 0.80, 0.70],
        "d": [0.70, 0.60, 0.60, 0.85, 0.45, 40.0, 0.60, 0.65],
    }
    obs = _table(scores, datasets, lower=("d5",))  # d5: an error metric, lower is better
    c = compare(obs, baseline="d", reference="b", random="c")
    means = _block_means(obs)
    ranks = means.rank(axis=1, ascending=False).mean()
    assert c.mean_ranks == pytest.approx(ranks.to_dict())
    assert c.systems == list(ranks.sort_values().index)
    friedman = stats.friedmanchisquare(*(means[s] for s in means.columns))
    assert (c.friedman.statistic, c.friedman.p_value) == pytest.approx(friedman)
    nemenyi = sp.posthoc_nemenyi_friedman(means)
    for (a, b), p in c.nemenyi.p_values.items():
        assert p == pytest.approx(nemenyi.loc[a, b])
    k, n = len(scores), len(datasets)
    assert c.nemenyi.q_alpha == pytest.approx(2.569, abs=1e-3)  # Demšar (2006), table 5
    assert c.nemenyi.critical_difference == pytest.approx(2.569 * math.sqrt(k * (k + 1) / (6 * n)),
                                                          abs=1e-3)
    melted = means.reset_index().melt(id_vars="dataset", var_name="system", value_name="v")
    wilcoxon = sp.posthoc_wilcoxon(melted, val_col="v", group_col="system", p_adjust="holm")
    for p in c.pairs:
        assert p.p_holm == pytest.approx(wilcoxon.loc[p.a, p.b])
        diff = means[p.a] - means[p.b]
        assert (p.wins, p.ties, p.losses) == ((diff > 0).sum(), (diff == 0).sum(), (diff < 0).sum())
    amlb, bayesmark = c.normalized
    frame = pd.DataFrame([o.__dict__ for o in obs])
    raw = frame.groupby(["dataset", "system"])["score"].mean()
    by_split = frame.pivot_table(index=["dataset", "split"], columns="system", values="score")
    for d in datasets:
        # AMLB: normalized on each seed (task × fold), then averaged
        one = by_split.loc[d]
        expected = ((one["a"] - one["d"]) / (one["b"] - one["d"])).mean()
        assert amlb.per_dataset[d, "a"] == pytest.approx(expected)
        assert (amlb.per_dataset[d, "d"], amlb.per_dataset[d, "b"]) == (0.0, 1.0)
        assert bayesmark.per_dataset[d, "c"] == 0.0
    assert amlb.per_dataset["d5", "a"] > 1  # lower rmse than the reference: above 1
    best_d0 = max(o.score for o in obs if o.dataset == "d0")
    assert bayesmark.per_dataset["d0", "a"] == pytest.approx(
        100 * (raw["d0", "a"] - raw["d0", "c"]) / (best_d0 - raw["d0", "c"]))


def test_too_few_datasets_and_systems_are_said_plainly() -> None:
    one = compare(_table({"a": [0.9], "b": [0.8], "c": [0.7]}, ["only"]))
    assert one.friedman.p_value is None and one.friedman.note == NOT_ENOUGH
    assert one.nemenyi is None
    assert all(p.p_value is None and p.note == NOT_ENOUGH for p in one.pairs)
    text = " ".join(executive(one))
    assert "not enough datasets for a test" in text and "p =" not in text
    two = compare(_table({"a": [0.9, 0.8, 0.7], "b": [0.8, 0.7, 0.6]}, ["x", "y", "z"]))
    assert two.friedman.p_value is None and "3 or more systems" in two.friedman.note
    assert two.pairs[0].p_value is not None and two.pairs[0].wins == 3
    tied = compare([Observation(d, "0", s, 0.5, True) for d in "xyz" for s in "abc"])
    assert tied.friedman.p_value is None and all(p.ties == 3 for p in tied.pairs)
    assert all(p.note == "equal on every dataset" for p in tied.pairs)


def test_datasets_missing_a_system_are_left_out_of_the_ranks() -> None:
    obs = _table({"a": [0.9, 0.8, 0.7], "b": [0.8, 0.7, 0.6], "c": [0.7, 0.6, 0.5]},
                 ["x", "y", "z"])
    obs = [o for o in obs if not (o.dataset == "z" and o.system == "c")]
    c = compare(obs)
    assert c.blocks == ["x", "y"] and "no successful run of c" in c.excluded["z"]
    ab = next(p for p in c.pairs if {p.a, p.b} == {"a", "b"})
    assert ab.n_datasets == 3  # a pair uses every dataset both ran on
    assert c.cell("z", "a").rank is None and c.cell("x", "a").rank == 1


# -- the real suite ------------------------------------------------------------------------------


def _copy_store(src: Path, dst: Path, keep: Callable[[StoredRun], bool],
                change: Callable[[StoredDataset], StoredDataset] = lambda d: d) -> None:
    """A new store in `dst` with the data and audits of the store in `src`, and the runs it
    `keep`s."""
    with open_store(src) as old, open_store(dst) as new:
        for d in old.datasets():
            new.put_dataset(change(d))
        for s in old.splits():
            new.put_split(s)
        for r in filter(keep, old.runs()):
            new.put_run(r, old.trials(r.job_id), "copy/1/1.00")
        new.put_audits(old.audits())


def _store_means(out: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Raw and oriented per-dataset mean holdout scores, from the store's runs table."""
    with open_store(out) as store:
        runs = pd.DataFrame([{"dataset": r.dataset, "system": r.system, "metric": r.metric,
                              "holdout_score": r.holdout_score}
                             for r in store.runs(status="ok")])
    lower = runs["metric"].isin(["log_loss", "rmse"])
    runs["oriented"] = np.where(lower, -runs["holdout_score"], runs["holdout_score"])
    grouped = runs.groupby(["dataset", "system"])
    return grouped["holdout_score"].mean().unstack(), grouped["oriented"].mean().unstack()


def _json(folder: Path, name: str) -> list[dict]:
    return json.loads((folder / f"{name}.json").read_text())


@pytest.fixture(scope="module")
def report(comparison_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("report") / "client.html"
    assert main(["report", str(comparison_run), "-o", str(path)]) == 0
    return path


def test_suite_statistics_match_an_independent_computation(comparison_run: Path,
                                                           report: Path) -> None:
    tables = report.with_name("client_tables")
    _, means = _store_means(comparison_run)
    assert means.shape == (len(COMPARISON_DATASETS), len(COMPARISON_SYSTEMS))
    assert not means.isna().any().any()  # every system succeeded at least once per dataset
    ranks = means.rank(axis=1, ascending=False).mean()
    assert {r["system"]: r["mean_rank"] for r in _json(tables, "ranks")} == pytest.approx(
        ranks.to_dict())
    [friedman] = _json(tables, "friedman")
    expected = stats.friedmanchisquare(*(means[s] for s in means.columns))
    assert (friedman["statistic"], friedman["p_value"]) == pytest.approx(expected)
    k, n = means.shape[1], means.shape[0]
    cd = stats.studentized_range.ppf(0.95, k, np.inf) / math.sqrt(2) * math.sqrt(
        k * (k + 1) / (6 * n))
    nemenyi = sp.posthoc_nemenyi_friedman(means)  # rows: blocks (datasets), columns: systems
    rows = _json(tables, "nemenyi")
    assert len(rows) == k * (k - 1) // 2
    for row in rows:
        assert row["p_value"] == pytest.approx(nemenyi.loc[row["a"], row["b"]])
        assert row["critical_difference"] == pytest.approx(cd)
        assert row["rank_difference"] == pytest.approx(abs(ranks[row["a"]] - ranks[row["b"]]))
    melted = means.reset_index().melt(id_vars="dataset", var_name="system", value_name="v")
    wilcoxon = sp.posthoc_wilcoxon(melted, val_col="v", group_col="system", p_adjust="holm")
    pairs = _json(tables, "wilcoxon")
    assert {frozenset((p["a"], p["b"])) for p in pairs} == {
        frozenset(pair) for pair in combinations(COMPARISON_SYSTEMS, 2)}
    for p in pairs:
        diff = means[p["a"]] - means[p["b"]]
        assert (p["wins"], p["ties"], p["losses"]) == (
            (diff > 0).sum(), (diff == 0).sum(), (diff < 0).sum())
        if p["p_holm"] is not None:
            assert p["p_holm"] == pytest.approx(wilcoxon.loc[p["a"], p["b"]])
            assert p["p_value"] == pytest.approx(stats.wilcoxon(means[p["a"]], means[p["b"]])[1])
    with open_store(comparison_run) as store:
        seeds = pd.DataFrame([{"dataset": r.dataset, "system": r.system, "seed": r.seed,
                               "score": r.holdout_score} for r in store.runs(status="ok")]
                             ).pivot_table(index=["dataset", "seed"], columns="system",
                                           values="score")
    for row in _json(tables, "normalized_amlb"):
        if row["dataset"] != "mean":
            one = seeds.loc[row["dataset"]]
            assert row["score"] == pytest.approx(((one[row["system"]] - one["constant"])
                                                  / (one["tpe"] - one["constant"])).mean())


def test_report_tables_and_summary(comparison_run: Path, report: Path) -> None:
    tables = report.with_name("client_tables")
    with open(tables / "wilcoxon.csv", newline="") as fh:
        assert len(list(csv.DictReader(fh))) == len(_json(tables, "wilcoxon"))
    seeds = _json(tables, "dataset_summary")
    # the churn case study's columns: a searcher on a binary dataset, with 2 or more seeds
    row = next(r for r in seeds if r["system"] in ("random", "tpe") and r["ok"] >= 2
               and r["top_decile_mean"] is not None)
    assert row["holdout_n"] == row["top_decile_n"] == row["ok"]
    assert row["holdout_lo"] < row["holdout_mean"] < row["holdout_hi"]
    assert row["top_decile_lo"] <= row["top_decile_mean"] <= row["top_decile_hi"]
    assert row["n_configs"] == row["full_fidelity_evals"] == 2 and row["compute_cpu_s"] > 0
    assert all(r["top_decile_mean"] is None for r in seeds if r["dataset"] == "diabetes")
    html = report.read_text()
    [friedman] = _json(tables, "friedman")
    summary = [r["sentence"] for r in _json(tables, "summary")]
    # the first screen: what was compared under which budget, then the ranking
    assert summary[0].startswith(f"Compared {len(COMPARISON_SYSTEMS)} systems (")
    assert "1 core," in summary[0] and "at most 2 trials" in summary[0]
    ranking = next(s for s in summary if "average rank" in s)
    assert (f"Friedman test {fmt_p(friedman['p_value'], named=True)}" in ranking
            or "Without the constant baseline" in ranking)
    assert any("after Holm correction" in s for s in summary)
    assert all(s in html.replace("&#39;", "'") for s in summary[:3])
    # where a system leads clearly and where none does, as the datasets' findings say it
    leads = re.findall(r'<p class="finding">On ([\w-]+), ([\w-]+) had the best[^<]*— (a|not a) '
                       r"clear lead", html)
    assert len(leads) == len(COMPARISON_DATASETS)
    clear = "; ".join(f"{s} on {d}" for d, s, a in leads if a == "a")
    assert (f"A clear lead (the paired 95 % interval over the runner-up excludes 0): {clear}"
            if clear else f"No system leads clearly on any of the {len(leads)} datasets"
            ) in " ".join(summary)
    assert {r["system"] for r in _json(tables, "compliance")} == set(COMPARISON_SYSTEMS)
    assert len(_json(tables, "anytime")) >= 60  # at least one point per successful run


def test_merged_folders_give_the_same_statistics(comparison_run: Path, report: Path,
                                                 tmp_path: Path, capsys) -> None:
    halves = []
    for name, keep in (("a", ("constant", "lgbm-default")), ("b", ("random", "tpe"))):
        folder = tmp_path / name
        shutil.copytree(comparison_run, folder, ignore=shutil.ignore_patterns(
            "report*", "results.sqlite*"))
        _copy_store(comparison_run, folder, lambda r, keep=keep: r.system in keep)
        halves.append(folder)
    merged = tmp_path / "merged.html"
    assert main(["report", *map(str, halves), "-o", str(merged)]) == 0
    for name in ("ranks", "friedman", "nemenyi", "wilcoxon", "normalized_amlb"):
        assert _json(merged.with_name("merged_tables"), name) == _json(
            report.with_name("client_tables"), name), name
    page = merged.read_text()
    assert "Merged results stores" in page and "a/results.sqlite" in page
    assert str(tmp_path) not in page  # no local folder
    # the same dataset name over different data is refused in one line
    clash = tmp_path / "clash"
    shutil.copytree(halves[0], clash, ignore=shutil.ignore_patterns("results.sqlite*"))
    _copy_store(halves[0], clash, lambda r: True, lambda d: replace(
        d, fingerprint="f00d") if d.name == "iris" else d)
    capsys.readouterr()
    assert main(["report", str(halves[1]), str(clash), "-o", str(tmp_path / "x.html")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "'iris'" in err[0] and err[0].startswith("error:")
    assert not (tmp_path / "x.html").exists()


def test_intervals_across_seeds_stay_in_the_metrics_range() -> None:
    auc, rmse = get_metric("roc_auc"), get_metric("rmse")
    obs = [Observation("auc", str(seed), "a", score, True, auc.bounds)
           for seed, score in enumerate([0.99, 0.93])]
    obs += [Observation("err", str(seed), "a", score, False, rmse.bounds)
            for seed, score in enumerate([0.1, 3.0])]
    c = compare(obs)
    assert c.cell("auc", "a").score.hi == 1.0 and c.cell("auc", "a").score.lo < 0.93
    assert c.cell("err", "a").score.lo == 0.0 and c.cell("err", "a").score.hi > 3.0
    # Bayesmark-style means cannot pass 100 (the best single run); AMLB style has no ceiling
    obs = [Observation(d, str(seed), system, score, True, auc.bounds)
           for d, a_scores in (("x", [0.9, 0.9]), ("y", [0.9, 0.7]))
           for system, scores in (("r", [0.5, 0.5]), ("a", a_scores))
           for seed, score in enumerate(scores)]
    bayesmark = compare(obs, random="r").normalized[-1]
    assert bayesmark.per_dataset["x", "a"] == 100 and bayesmark.per_dataset["y", "a"] == 75
    assert bayesmark.summary["a"].mean == 87.5 and bayesmark.summary["a"].hi == 100


def test_failing_a_seed_never_helps_and_small_samples_are_said() -> None:
    # b fails the hard seed 1 of every dataset; on the seeds it finished it is worse than a
    obs = [Observation(d, str(seed), system, score, True)
           for d in ("x", "y", "z")
           for system, scores in (("a", [0.80, 0.60]), ("b", [0.79, None]), ("c", [0.5, 0.5]))
           for seed, score in enumerate(scores) if score is not None]
    c = compare(obs)
    assert c.cell("x", "b").score.mean > c.cell("x", "a").score.mean  # all-seed means mislead
    assert c.cell("x", "b").paired.mean < c.cell("x", "a").paired.mean  # same seeds do not
    assert c.systems[0] == "a" and c.complete == {"x": 1, "y": 1, "z": 1}
    ab = next(p for p in c.pairs if {p.a, p.b} == {"a", "b"})
    assert (ab.wins, ab.losses) == ((3, 0) if ab.a == "a" else (0, 3))
    # 3 datasets, 3 pairs: Holm-corrected Wilcoxon cannot reach 0.05 before 7 datasets
    assert c.min_datasets == 7
    text = " ".join(executive(c))
    assert "no pair can be significant after Holm correction" in text and "at least 7" in text


def test_bayesmark_is_not_applicable_where_random_search_is_the_best() -> None:
    obs = [Observation(d, str(seed), system, score, True)
           for d, top in (("x", 0.9), ("y", 0.70))
           for system, scores in (("random", [0.70, 0.71]), ("a", [top, top - 0.01]))
           for seed, score in enumerate(scores)]
    bayesmark = compare(obs, random="random").normalized[-1]
    assert ("x", "a") in bayesmark.per_dataset and ("y", "a") not in bayesmark.per_dataset
    assert "n/a on y" in bayesmark.note


def test_a_datasets_lead_is_a_t_interval_over_the_seeds_both_finished(comparison_run: Path,
                                                                      report: Path) -> None:
    from auditor.report.context import paired_difference
    from auditor.report.results import load_results
    from auditor.stats.lead import lead

    results = load_results([comparison_run])
    with open_store(comparison_run) as store:
        ok = [r for r in store.runs(status="ok")]
    checked = 0
    for d in COMPARISON_DATASETS:
        metric = next(r.metric for r in ok if r.dataset == d["name"])
        sign = -1.0 if metric in ("log_loss", "rmse") else 1.0
        score = {(r.system, r.seed): r.holdout_score for r in ok if r.dataset == d["name"]}
        shared = sorted(s for (system, s) in score if system == "tpe" and ("random", s) in score)
        ahead = paired_difference(results, d["name"], metric, "tpe", "random")
        assert ahead is not None and ahead.splits == len(shared)
        diffs = [sign * (score["tpe", s] - score["random", s]) for s in shared]
        if len(diffs) >= 2 and np.std(diffs) > 0:
            expected = stats.t.interval(0.95, len(diffs) - 1, np.mean(diffs), stats.sem(diffs))
            assert (ahead.lo, ahead.hi) == pytest.approx(expected)
            assert ahead.clear == (expected[0] > 0)
            checked += 1
    assert checked >= 3
    assert "t-interval across the 3 seeds both finished" in report.read_text()
    # one shared split: the holdout alone cannot say whether the lead holds on other seeds
    y = np.array([0, 1] * 50)
    good = np.column_stack([1 - (0.8 * y + 0.1), 0.8 * y + 0.1])
    prior = np.full((100, 2), 0.5)
    one = lead(get_metric("roc_auc"), [(y, good, prior, 0)], True)
    assert one.lo > 0 and one.splits == 1 and not one.clear
