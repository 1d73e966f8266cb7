"""Shared helpers: write a suite file and read a results store."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]


def write_suite(folder: Path, **fields: Any) -> Path:
    suite = {
        "name": "test",
        "seeds": [0],
        "cv_folds": 3,
        "grace_seconds": 1,
        "budget": {"wall_seconds": 4, "cores": 1, "memory_mb": 2048, "max_trials": 5},
        "datasets": [{"name": "breast-cancer", "source": "sklearn:breast_cancer"}],
        "systems": ["constant"],
    }
    suite.update(fields)
    path = folder / "suite.yaml"
    path.write_text(yaml.safe_dump(suite))
    return path


def runs(out: Path) -> list[dict[str, Any]]:
    conn = sqlite3.connect(out / "results.sqlite")
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute("SELECT * FROM runs ORDER BY dataset, system, seed")]
    finally:
        conn.close()


@pytest.fixture
def suite_factory(tmp_path: Path):
    return lambda **fields: write_suite(tmp_path, **fields)
