"""Holdout labels never leave the harness: not in the data a system gets, not in its job folders."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd

from auditor.cli import main
from auditor.data.sources import load_dataset
from auditor.data.split import seal
from auditor.execution import handoff
from tests.conftest import runs


def _numbers_in(path: Path) -> set[float]:
    """Every number stored in a file the harness handed over, decoded by its format."""
    if path.suffix == ".json":
        found: set[float] = set()

        def walk(x: object) -> None:
            if isinstance(x, bool):
                return
            if isinstance(x, int | float):
                found.add(float(x))
            elif isinstance(x, dict):
                for v in x.values():
                    walk(v)
            elif isinstance(x, list):
                for v in x:
                    walk(v)

        walk(json.loads(path.read_text()))
        return found
    if path.suffix == ".arrow":
        frame = handoff.read_frame(path)
        return {float(v) for _, col in frame.items() if col.dtype.kind == "f"
                for v in col.dropna()}
    if path.suffix == ".npy":
        return {float(v) for v in np.load(path)}
    if path.name in ("stderr.log", "startup.txt"):  # the job's own: every number written in it
        return {float(n) for n in re.findall(r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?",
                                              path.read_text(errors="replace"))}
    raise AssertionError(f"unexpected file handed to a system: {path.name}")


def test_holdout_labels_never_reach_the_system(tmp_path: Path, suite_factory) -> None:
    rng = np.random.default_rng(7)
    n = 400
    frame = pd.DataFrame({
        "a": rng.normal(size=n),
        "b": rng.choice(["x", "y", "z"], size=n),
        # unique, unmistakable target values: any copy of a holdout label would be found
        "target": np.round(rng.uniform(1000, 2000, size=n), 9),
    })
    data_file = tmp_path / "client.csv"
    frame.to_csv(data_file, index=False)
    out = tmp_path / "out"
    dump = tmp_path / "dump"
    suite = suite_factory(
        datasets=[{"name": "client", "source": f"file:{data_file}", "target": "target",
                   "task": "regression"}],
        systems=[{"system": "tests.fault_adapters:Spy",
                  "options": {"dump": str(dump), "work": str(out / "work")}}],
        seeds=[0, 1],
    )
    # what the harness hands over, sandbox aside (a sandboxed spy could write no dump; the sandbox
    # is tested in test_sandbox_sealing.py)
    assert main(["run", str(suite), "--out", str(out), "--workers", "1", "--sandbox", "off"]) == 0
    assert all(r.status == "ok" for r in runs(out))

    dataset = load_dataset("client", f"file:{data_file}", target="target", task="regression")
    for seed, spy in zip((0, 1), sorted(dump.iterdir(), key=lambda p: p.stat().st_mtime),
                         strict=True):
        split = seal(dataset, seed, 0.2)
        holdout = set(split.holdout_y.tolist())
        search = set(split.search_y.tolist())
        assert not holdout & search
        # what the system was handed in memory
        assert set(np.load(spy / "y.npy").tolist()) == search
        assert "target" not in pd.read_parquet(spy / "X_holdout.parquet").columns
        assert len(pd.read_parquet(spy / "X_holdout.parquet")) == len(split.holdout_idx)
        assert json.loads((spy / "attributes.json").read_text()) == [
            "X", "X_holdout", "classes", "metric", "task_type", "y"]
        # every file in the harness's work folder while the system ran: its job file, the
        # job's own stderr and its start-up (seconds) only; the data came from its split's
        # folder: search rows, search labels, holdout features
        handed = [p for p in (spy / "work").rglob("*") if p.is_file()]
        assert sorted(p.name for p in handed) == ["job.json", "startup.txt", "stderr.log"]
        shared = sorted((spy / "data").iterdir())
        assert [p.name for p in shared] == ["holdout_X.arrow", "search_X.arrow", "search_y.npy"]
        assert set(np.load(spy / "data" / "search_y.npy").tolist()) == search
        handed += shared
        for path in handed:
            leaked = _numbers_in(path) & holdout
            assert not leaked, f"{path.name} holds {len(leaked)} holdout labels"
    # the harness itself kept them: the audit scored the holdout
    assert all(r.holdout_score is not None for r in runs(out))
