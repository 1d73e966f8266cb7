"""Hostile and buggy systems' answers: whatever they hand back is checked before it reaches the
store (the result, the search space's schema, the numbers, the predictions' header), each run is
recorded with the right class (or with notes on what was dropped), a store written before the
checks is cleaned on opening, and `run`, the audit and `report` finish. The machinery's own faults
(a full disk) are `infrastructure`: not charged to the system, retried, and run again by the next
`auditor run`. The sandbox's seal against the same systems is tests/test_sandbox_sealing.py."""

from __future__ import annotations

import errno
import json
import resource
import sqlite3
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from adapters import protocol
from auditor.cli import main
from auditor.execution import recording, sandbox
from auditor.execution.outputs import check_result, space_problem
from tests.conftest import WALL_CAP, audits, runs, trials

H = "tests.hostile_adapters:"
# label: (adapter, status, failure class, words in the failure message or the notes)
HOSTILE = {
    "string-score": ("StringScore", "ok", None, "reported score '0.99'"),
    "many-configs": ("ManyConfigs", "ok", None, "n_configs 'many'"),
    "no-dimension": ("NoDimension", "ok", None, "'dimension'"),
    "verbose": ("Verbose", "ok", None, "cut to 10,000"),
    "wrong-dtype": ("WrongDtype", "failed", "invalid-output", "dtype int64"),
    "wrong-shape": ("WrongShapeFile", "failed", "invalid-output", "shape"),
    "huge": ("Huge", "failed", "invalid-output", "(1000000000, 2)"),
    "padded": ("Padded", "failed", "invalid-output", "bytes where its shape needs"),
    "forged-error": ("ForgedError", "failed", "crash", "12345"),
    "noisy": ("Noisy", "failed", "crash", "noisy search"),
    # says its disk is full, but it is not: the system's own failure, not the machinery's
    "disk-full-in-job": ("DiskFullInJob", "failed", "crash", "the disk is not full"),
}


def _suite(suite_factory, labels: list[str]) -> Path:
    return suite_factory(
        budget={"wall_seconds": WALL_CAP, "cores": 1, "memory_mb": 2048, "max_trials": 2},
        systems=["constant", *({"system": H + HOSTILE[label][0], "label": label}
                               for label in labels)])


def _isolated() -> None:
    """Skip, in one line, where this machine cannot sandbox jobs fully."""
    found = sandbox.probe("auto")
    if found.missing:
        pytest.skip(f"the sandbox lacks {', '.join(found.missing)} here")


def test_hostile_answers_are_recorded_and_nothing_crashes(tmp_path: Path, suite_factory,
                                                          capsys) -> None:
    out = tmp_path / "out"
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert main(["run", str(_suite(suite_factory, list(HOSTILE))), "--out", str(out),
                 "--workers", "2"]) == 0
    # the 16 GB and 2 GB predictions files were never loaded into the harness
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak < 1_000_000  # kB
    err = capsys.readouterr().err
    assert "  retry  " not in err  # no failure here is the machinery's
    rows = {r.system: r for r in runs(out)}
    assert set(rows) == {"constant", *HOSTILE}
    for label, (_, status, failure, words) in HOSTILE.items():
        row = rows[label]
        assert (row.status, row.failure_class) == (status, failure), (label, row)
        said = row.failure_message if failure else row.notes
        assert words in said, (label, said)
    assert rows["string-score"].reported_score is None
    assert rows["string-score"].holdout_score is not None
    assert rows["many-configs"].n_configs is None and "1 trial(s)" in rows["many-configs"].notes
    assert len([t for t in trials(out) if t.job_id == rows["many-configs"].job_id]) == 1
    assert rows["no-dimension"].search_space is None
    verbose = rows["verbose"]
    assert len(verbose.model_description) == len(verbose.reported_on) == 10_000
    assert verbose.reported_on.startswith("CV \ufffd?") and verbose.n_configs is None
    traceback, stderr = rows["noisy"].failure_detail.split("-- stderr --\n")
    assert "RuntimeError: gave up after a noisy search" in traceback
    stderr = stderr.splitlines()
    assert len(stderr) == 100 and stderr[-1] == "<script>alert('stderr')</script>"
    assert stderr[0] == "progress line 101"
    assert rows["constant"].status == "ok"
    assert {rows[k].job_id for k in ("string-score", "many-configs", "no-dimension",
                                     "verbose")} <= {a.job_id for a in audits(out)}
    html = (out / "report.html").read_text()
    assert "<script>alert" not in html and "&lt;script&gt;alert" in html
    assert "<details><summary>last lines of traceback and stderr" in html
    assert "harness notes" in html and "<b>model</b>" not in html
    # a rerun and a report of the folder work too
    assert main(["run", str(_suite(suite_factory, list(HOSTILE))), "--out", str(out)]) == 0
    assert "12 already recorded" in capsys.readouterr().err
    assert main(["report", str(out)]) == 0


def test_disk_full_on_the_harness_side_is_infrastructure_and_rerun(
        tmp_path: Path, suite_factory, monkeypatch, capsys) -> None:
    def full(path: Path, array: np.ndarray) -> None:
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    out, suite = tmp_path / "out", _suite(suite_factory, [])
    monkeypatch.setattr(recording, "write_npy", full)
    assert main(["run", str(suite), "--out", str(out)]) == 0
    assert capsys.readouterr().err.count("  retry  ") == 2
    (row,) = runs(out)
    assert (row.status, row.failure_class) == ("failed", "infrastructure")
    assert "could not save the predictions" in row.failure_message
    assert "ENOSPC" in row.failure_detail or "No space left" in row.failure_detail
    assert not list((out / "predictions").glob("*"))
    monkeypatch.undo()
    assert main(["run", str(suite), "--out", str(out)]) == 0
    assert "0 already recorded" in capsys.readouterr().err
    (row,) = runs(out)
    assert row.status == "ok" and row.failure_detail is None
    assert (out / row.predictions_path).is_file()


def test_a_disk_that_really_fills_in_a_job_is_the_machinerys_fault(
        tmp_path: Path, suite_factory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Job folders on a 4 MB file system, less than the budget's disk_mb: a system that fills it
    within its budget cannot save its result, and that is the machinery's fault."""
    _isolated()
    jobs = tmp_path / "jobs"
    jobs.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(jobs)],
                             capture_output=True)
    if mounted.returncode:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    try:
        monkeypatch.setenv("AUDITOR_JOBS", str(jobs))
        suite = suite_factory(budget={"wall_seconds": WALL_CAP, "cores": 1, "memory_mb": 1024,
                                      "disk_mb": 300},
                              systems=[{"system": H + "FillsDisk", "label": "fills-disk"}])
        out = tmp_path / "out"
        assert main(["run", str(suite), "--out", str(out)]) == 0
        [row] = runs(out)
        assert (row.status, row.failure_class) == ("failed", "infrastructure"), row
        assert "no space left" in row.failure_message.lower()
    finally:
        subprocess.run(["umount", "-l", str(jobs)], check=False)


def test_predictions_header_is_checked_before_loading(tmp_path: Path) -> None:
    path = tmp_path / protocol.PREDICTIONS
    with open(path, "wb") as f:
        np.lib.format.write_array_header_1_0(
            f, {"descr": "<f8", "fortran_order": False, "shape": (10**9, 2)})
        f.truncate(16 * 10**9 + 128)
    started = time.process_time()
    with pytest.raises(ValueError, match="shape"):
        protocol.read_predictions(path, (100, 2))
    assert time.process_time() - started < 5  # nothing read: far below loading 16 GB
    np.save(path, np.full((3, 2), 0.5))
    assert protocol.read_predictions(path, (3, 2)).shape == (3, 2)
    np.save(path, np.array([["a", "b"]] * 3))
    with pytest.raises(ValueError, match="dtype"):
        protocol.read_predictions(path, (3, 2))


@pytest.mark.parametrize(("space", "why"), [
    ({"name": "x"}, "dimension"),
    ({"name": "x", "dimension": -1}, "dimension"),
    ({"name": "x", "dimension": 2.5}, "dimension"),
    ({"dimension": 1}, "name"),
    ({"name": "x", "dimension": 1, "hyperparameters": [{"name": "a", "type": "float"}]}, "range"),
    ({"name": "x", "dimension": 1, "hyperparameters": [{"name": "a", "type": "color"}]}, "type"),
    ({"name": "x", "dimension": 2, "hyperparameters": []}, "hyperparameters"),
    ({"name": "x", "dimension": 1, "conditional": "some"}, "conditional"),
    ("everything", "not an object"),
])
def test_search_space_schema(space: object, why: str) -> None:
    assert why in (space_problem(space) or "")


def test_well_formed_answers_pass_unchanged() -> None:
    from adapters.contract import RunResult, Trial
    from adapters.spaces import GBM11

    result = RunResult(np.zeros(3), 0.9, "3-fold CV", 2.0, {"a": 1},  # type: ignore[arg-type]
                       [Trial(0, {"a": 1}, 0.9, 0.0, 1.0)], "model", GBM11.as_dict(),
                       {"python": "3.11"})
    checked, extra, notes = check_result(result, {"search_s": 1.5, "cpu_s": "x", "other": 1})
    assert notes == [] and checked.n_configs == 2 and checked.search_space == GBM11.as_dict()
    assert extra == {"search_s": 1.5}
    assert json.dumps(checked.search_space)


def test_a_store_written_before_the_checks_is_cleaned_on_opening(tmp_path: Path, suite_factory,
                                                                  capsys) -> None:
    """Values an earlier version stored unchecked no longer crash the audit or the report."""
    out, suite = tmp_path / "out", _suite(suite_factory, [])
    assert main(["run", str(suite), "--out", str(out)]) == 0
    conn = sqlite3.connect(out / "results.sqlite")
    conn.execute("UPDATE runs SET reported_score = 'high', n_configs = 'many', "
                 "search_space = '{\"name\": \"x\"}'")
    conn.execute("UPDATE meta SET value = '4' WHERE key = 'schema_version'")
    conn.execute("DROP TABLE alembic_version")  # as written before Alembic
    conn.execute("DELETE FROM audits")
    conn.commit()
    conn.close()
    assert main(["report", str(out)]) == 0
    (row,) = runs(out)
    assert (row.reported_score, row.n_configs, row.search_space) == (None, None, None)
    assert "n_configs 'many' dropped" in row.notes
    assert main(["run", str(suite), "--out", str(out)]) == 0  # the audit runs again
    assert [a for a in audits(out) if a.job_id is not None]


def test_numbers_a_system_may_hand_back() -> None:
    from auditor.execution.outputs import count, real

    assert [real(v) for v in (0.9, 1, "0.99", True, float("nan"), float("inf"), 10**400)] == [
        0.9, 1.0, None, None, None, None, None]
    assert [count(v) for v in (3, 3.0, 3.5, -1, "many", False, 2**31, 10**5000)] == [
        3, 3, None, None, None, None, None, None]
