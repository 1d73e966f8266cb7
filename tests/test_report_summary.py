"""The executive summary's sentences and the wording of its statistics: the headline's ranking with
and without the constant baseline, the Nemenyi sentence when systems tie on the best rank, failed
systems and audit flags, clear leads and their absence, wide normalized intervals, the runs the
budget starved of CPU, and what each system validated on."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from auditor.audit import starvation
from auditor.report import headline, sentences
from auditor.report.results import AuditRow
from auditor.stats.compare import Interval, Normalized, Observation, compare


def _rotating(n_datasets: int = 6) -> list[Observation]:
    """a, b and c take turns winning; the constant baseline is last everywhere."""
    obs = []
    for d in range(n_datasets):
        scores = dict(zip("abc", np.roll([0.9, 0.8, 0.7], d), strict=True)) | {"constant": 0.5}
        obs += [Observation(f"d{d}", str(seed), s, v + 0.001 * seed, True, (0.0, 1.0))
                for s, v in scores.items() for seed in (0, 1)]
    return obs


def test_a_baseline_alone_is_not_the_headline() -> None:
    obs = _rotating()
    c = compare(obs, "constant")
    assert c.friedman.p_value < 0.05
    first, second = headline.ranking(c, obs, "constant", "seed")
    assert first.startswith("Without the constant baseline: ")
    assert "not significant" in first and "among 3 systems" in first
    assert "comes from the baseline" in second
    assert sentences.nemenyi(c, "constant").endswith(
        "better than constant only, the baseline: the test separates none of the other systems.")


def test_nemenyi_names_every_system_tied_on_the_best_rank() -> None:
    """random and tpe score alike on every dataset (as when each evaluated the same one
    configuration): both lead, and the sentence names both, not only the first."""
    obs = []
    for d in range(8):
        scores = {"random": 0.9 + 0.01 * d, "tpe": 0.9 + 0.01 * d, "constant": 0.5}
        obs += [Observation(f"d{d}", "0", s, v, True, (0.0, 1.0)) for s, v in scores.items()]
    c = compare(obs, "constant")
    assert c.mean_ranks["random"] == c.mean_ranks["tpe"] < c.mean_ranks["constant"]
    text = sentences.nemenyi(c, "constant")
    assert "random and tpe, tied on rank, each rank significantly better than constant only" \
        in text or "tpe and random, tied on rank, each rank significantly better than " \
        "constant only" in text, text


def test_a_ranking_that_holds_without_the_baseline_is_given_without_it() -> None:
    """a beats b beats c on every dataset: significant with or without the constant baseline,
    and the headline's ranking and test are those among a, b and c."""
    obs = [Observation(f"d{d}", str(seed), s, v, True, (0.0, 1.0)) for d in range(6)
           for seed in (0, 1)
           for s, v in {"a": 0.9, "b": 0.8, "c": 0.7, "constant": 0.5}.items()]
    first, second = headline.ranking(compare(obs, "constant"), obs, "constant", "seed")
    assert first.startswith("Without the constant baseline: ")
    assert "a had the best average rank: 1.00 among 3 systems" in first
    assert "p = 0.0025: the systems differ significantly" in first
    assert second.startswith("With constant included the Friedman test gives p < 0.001")
    assert second.endswith("constant ranks last on 6 of 6 datasets.")


def test_summary_names_failed_systems_and_audit_flags() -> None:
    runs = [SimpleNamespace(system=s, status=status, failure_class=cls, verdict=None)
            for s, status, cls in (("a", "ok", None), ("a", "ok", None), ("b", "failed", "crash"),
                                   ("b", "failed", "timeout"), ("c", "ok", None),
                                   ("c", "failed", "oom"))]
    assert headline.failed_systems(runs, ["a", "c"]) == [
        "b: 2 of 2 runs failed (crash 1, timeout 1), so it is not in the ranking.",
        "c: 1 of 2 runs failed (oom); it is ranked only on the seeds every system finished."]
    audits = [AuditRow("d", None, 0, "budget adequacy", f, v, "")
              for f, v in ((True, "inadequate"), (True, "inadequate"), (False, "adequate"))]
    audits += [AuditRow("d", "a", None, "seed stability: a vs c", True, "look at this", ""),
               AuditRow("d", "a", 0, "suspicious: check for leakage", True, "look at this", ""),
               AuditRow("d", "c", 0, "suspicious: check for leakage", False, "ok", "")]
    assert headline.audit_flags(audits, runs) == [
        "Audit flags (see Audit checks): suspiciously good holdout scores 1 of 2; budget "
        "adequacy 2 of 3 ('inadequate'); seed stability 1 of 1."]


def test_clear_leads_and_their_absence_are_said_alike() -> None:
    lead = headline.DatasetLead
    assert headline.leads([lead("iris", "a", True), lead("wine", "a", False),
                           lead("diabetes", "b", True)]) == [
        "A clear lead (the paired 95 % interval over the runner-up excludes 0): a on iris; b on "
        "diabetes; none on the other dataset."]
    assert headline.leads([lead("iris", "a", False)]) == [
        "No system leads clearly on its one dataset: each best system's lead over the "
        "runner-up has a 95 % interval that includes 0."]
    assert headline.leads([]) == []


def test_wide_normalized_intervals_are_called_so() -> None:
    wide = Normalized("bayesmark", "random", "best seen", {}, {"a": Interval(57.5, 16.7, 98.4, 2)})
    assert sentences.normalized(wide).endswith("a 58 (95 % CI 17 to 98) — too wide to say much.")


def test_starved_runs_are_those_the_budget_bound() -> None:
    def run(system: str, wait: float | None, cpu: float, wall: float,
            startup: float | None = 0.5, cores: int = 1) -> SimpleNamespace:
        return SimpleNamespace(system=system, cpu_wait_s=wait, cpu_s=cpu, wall_s=wall,
                               startup_s=startup, budget={"wall_seconds": 60.0, "cores": cores})

    runs = [run("a", 45.0, 15.0, 61.0),  # a quarter of its core, waited 75 %: starved
            run("b", 3.0, 1.0, 4.0),  # waited 75 %, but ended early: it found what it finds
            run("c", 10.0, 50.0, 60.0),  # 84 % of its core
            run("d", None, 5.0, 60.0),  # recorded before the wait was measured: not judged
            # waited 75 %, but 40 s of its wall were start-up: 20 s in its budget ended early
            run("e", 45.0, 15.0, 60.0, startup=40.0),
            # one thread on two cores of an idle machine: under-used, not starved
            run("f", 1.0, 58.0, 60.5, cores=2),
            # 66 % of its core, waited 27 %: the CPU it waited for would have made it 91 %
            run("g", 15.0, 40.0, 60.5),
            # two threads on two cores, a quarter of them, waited 57 %
            run("h", 40.0, 30.0, 60.5, cores=2)]
    assert [starvation.is_starved(r) for r in runs] == [
        True, False, False, False, False, False, True, True]
    assert starvation.cpu_share(runs[0]) == pytest.approx(15 / 61)
    assert starvation.cpu_share(runs[5]) == pytest.approx(58 / 121)
    (line,) = headline.starved(runs)
    assert line.startswith("3 runs of 7 (a, g, h) were starved of CPU: under 80 % of their "
                           "cores' time")
    assert "left out of the ranking and the comparisons" in line


def test_what_each_system_validated_on_is_named_from_its_own_account() -> None:
    said = {
        "5-fold CV on search rows (best of 12 trials)": "5-fold CV",
        "FLAML best loss on its 3-fold CV on search rows, best of 4 configs": "3-fold CV",
        "auto-sklearn's internal holdout (33% of search rows)": "internal holdout (33 %)",
        "AutoGluon leaderboard score_val on its internal holdout of the search rows":
            "internal holdout",
        "its own cross-validation": "k-fold CV",
        "nothing": "—",
        None: "—",
    }
    assert {text: headline.validated_on(text) for text in said} == said
    runs = [SimpleNamespace(status=s, reported_on=r) for s, r in
            [("ok", "5-fold CV on search rows"), ("ok", "its internal holdout"),
             ("ok", "5-fold CV on search rows"), ("failed", None)]]
    assert headline.validation(runs) == "5-fold CV, internal holdout"
