"""A corpus of bad input: data files, suite files, prediction files and command-line arguments.
Each case is refused with exactly one line on stderr naming the problem, exit status 2, and leaves
nothing behind (no output folder, no report)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from auditor.cli import main
from tests.refusals import error_line

RNG = np.random.default_rng(0)
N = 200
BASE = pd.DataFrame({"a": RNG.normal(size=N), "b": RNG.choice(list("xyz"), N),
                     "y": RNG.integers(0, 2, N)})


def _csv(frame: pd.DataFrame, **kw) -> bytes:
    return frame.to_csv(index=False, **kw).encode()


# name: (file name, its bytes, suite `target`, words the error must contain)
DATA: dict[str, tuple[str, bytes, str, str]] = {
    "UTF-16 text": ("u16.csv", BASE.to_csv(index=False).encode("utf-16"), "y", "UTF-8"),
    "Latin-1 text": ("l1.csv", BASE.assign(b="é").to_csv(index=False).encode("latin-1"), "y",
                     "UTF-8"),
    "binary bytes": ("bin.csv", bytes(range(256)) * 8, "y", "UTF-8"),
    "empty file": ("empty.csv", b"", "y", "empty"),
    "blank lines only": ("blank.csv", b"\n\n\n", "y", "empty"),
    "header only": ("header.csv", b"a,b,y\n", "y", "no data rows"),
    "ragged rows": ("ragged.csv", b"a,b,y\n1,2,0\n3,4,5,6\n7,8,1\n", "y", "well-formed"),
    "pipe delimiter": ("pipe.csv", _csv(BASE, sep="|"), "y", "a|b|y"),
    "duplicate header": ("dup.csv", b"a,a,y\n1,2,0\n3,4,1\n", "y", "duplicate column"),
    "identifier column": ("ids.csv", _csv(BASE.assign(id=[f"c{i}" for i in range(N)])), "y",
                          "'id'"),
    "huge cardinality": ("card.csv", _csv(pd.DataFrame({
        "a": RNG.normal(size=3000), "zip": [f"z{i % 1500}" for i in range(3000)],
        "y": RNG.integers(0, 2, 3000)})), "y", "1,500 distinct values"),
    "constant numeric target": ("const.csv", _csv(BASE.assign(y=3.5)), "y", "single value"),
    "single-class target": ("one.csv", _csv(BASE.assign(y="k")), "y", "single class"),
    "class with one row": ("rare.csv", _csv(BASE.assign(y=["r"] + ["s"] * (N // 2 - 1)
                                                        + ["t"] * (N // 2))), "y", "'r'"),
    "infinite feature": ("inf.csv", _csv(BASE.assign(a=np.where(np.arange(N) % 9 == 0, np.inf,
                                                                BASE["a"]))), "y", "infinite"),
    "infinite target": ("inft.csv", _csv(BASE.assign(y=np.where(np.arange(N) % 9 == 0, -np.inf,
                                                                BASE["a"]))), "y", "infinite"),
    "numbers mixed with text": ("mixed.csv", _csv(BASE.assign(a=[
        "?" if i in (5, 60) else f"{v:.3f}" for i, v in enumerate(BASE["a"])])), "y",
        "mixes numbers and text"),
    "target missing everywhere": ("nan.csv", _csv(BASE.assign(y=np.nan)), "y", "missing"),
    "target not a column": ("ok.csv", _csv(BASE), "label", "'label'"),
    "unsupported suffix": ("data.txt", _csv(BASE), "y", ".txt"),
    "corrupt parquet": ("bad.parquet", b"PAR1 but not really", "y", "cannot parse"),
}

# name: (suite YAML text, words)
SUITES: dict[str, tuple[str, str]] = {
    "invalid YAML": ("name: x\nbudget: {wall_seconds: 3\n", "line"),
    "empty suite file": ("", "suite"),
    "a list, not a mapping": ("- constant\n- random\n", "mapping"),
    "unknown top-level field": ("budget: {wall_seconds: 3}\nsistems: [constant]\n"
                                "datasets: [{name: d, source: 'sklearn:iris'}]\n", "sistems"),
    "no datasets": ("budget: {wall_seconds: 3}\nsystems: [constant]\n", "datasets"),
    "no systems": ("budget: {wall_seconds: 3}\nsystems: []\n"
                   "datasets: [{name: d, source: 'sklearn:iris'}]\n", "systems"),
    "duplicate dataset names": ("budget: {wall_seconds: 3}\nsystems: [constant]\ndatasets: "
                                "[{name: d, source: 'sklearn:iris'}, {name: d, source: "
                                "'sklearn:wine'}]\n", "'d'"),
    "zero cores": ("budget: {wall_seconds: 3, cores: 0}\nsystems: [constant]\n"
                   "datasets: [{name: d, source: 'sklearn:iris'}]\n", "budget.cores"),
    "holdout fraction above 1": ("holdout_fraction: 1.5\nbudget: {wall_seconds: 3}\n"
                                 "systems: [constant]\n"
                                 "datasets: [{name: d, source: 'sklearn:iris'}]\n",
                                 "holdout_fraction"),
    "unknown search space": ("budget: {wall_seconds: 3}\nsystems: [{system: random, options: "
                             "{space: nope}}]\ndatasets: [{name: d, source: 'sklearn:iris'}]\n",
                             "nope"),
    "metric a system does not claim": ("budget: {wall_seconds: 3}\n"
                                       "metric: {binary: top_decile_precision}\n"
                                       "systems: [flaml]\n"
                                       "datasets: [{name: d, source: 'sklearn:breast_cancer'}]\n",
                                       "cannot optimise 'top_decile_precision'"),
    "system that is not an adapter": ("budget: {wall_seconds: 3}\n"
                                      "systems: ['adapters.contract:Budget']\n"
                                      "datasets: [{name: d, source: 'sklearn:iris'}]\n",
                                      "not an adapter"),
    "unknown data source scheme": ("budget: {wall_seconds: 3}\nsystems: [constant]\n"
                                   "datasets: [{name: d, source: 'ftp:x'}]\n", "ftp:x"),
}

GOOD = ("name: ok\nseeds: [0]\nbudget: {wall_seconds: 3, cores: 1, memory_mb: 2048}\n"
        "systems: [constant]\ndatasets: [{name: d, source: 'sklearn:iris'}]\n")

# name: (arguments after `auditor`, with {suite} and {out} filled in; words)
ARGS: dict[str, tuple[list[str], str]] = {
    "zero workers": (["run", "{suite}", "--out", "{out}", "--workers", "0"], "--workers"),
    "unknown executor": (["run", "{suite}", "--out", "{out}", "--executor", "dask"], "dask"),
    "address without Ray": (["run", "{suite}", "--out", "{out}", "--address", "127.0.0.1:1"],
                            "--executor ray"),
    "unsupported store": (["run", "{suite}", "--out", "{out}", "--store", "mysql://u@h/db"],
                          "postgresql"),
    "store that is no URL": (["run", "{suite}", "--out", "{out}", "--store", "::"], "URL"),
    "unreachable store": (["run", "{suite}", "--out", "{out}", "--store",
                           "postgresql://nobody@127.0.0.1:1/none"], "127.0.0.1:1"),
    "no Ray cluster there": (["run", "{suite}", "--out", "{out}", "--executor", "ray",
                             "--address", "127.0.0.1:1"], "127.0.0.1:1"),
    "Ray address without port": (["run", "{suite}", "--out", "{out}", "--executor", "ray",
                                  "--address", "somewhere"], "HOST:PORT"),
    "missing suite file": (["run", "{out}.yaml", "--out", "{out}"], ".yaml"),
    "unknown command": (["frobnicate"], "frobnicate"),
    "report of an empty folder": (["report", "{empty}"], "results.sqlite"),
    "report of a store URL without -o": (["report", "postgresql://u@127.0.0.1:1/db"], "-o FILE"),
    "output path is a file": (["run", "{suite}", "--out", "{suite}"], "is a file"),
}

def _one_error_line(capsys: pytest.CaptureFixture[str], words: str) -> None:
    captured = capsys.readouterr()
    assert words in error_line(captured.err), captured.err
    assert "Traceback" not in captured.out


def _nothing_in(folder: Path, keep: set[str]) -> None:
    assert {p.name for p in folder.iterdir()} == keep


@pytest.mark.parametrize("case", sorted(DATA))
def test_bad_data_file(case: str, tmp_path: Path, capsys) -> None:
    name, content, target, words = DATA[case]
    (tmp_path / name).write_bytes(content)
    (tmp_path / "suite.yaml").write_text(GOOD.replace(
        "{name: d, source: 'sklearn:iris'}", f"{{name: d, source: 'file:{name}', "
        f"target: {target}}}"))
    assert main(["run", str(tmp_path / "suite.yaml"), "--out", str(tmp_path / "out")]) == 2
    _one_error_line(capsys, words)
    _nothing_in(tmp_path, {name, "suite.yaml"})


@pytest.mark.parametrize("case", sorted(SUITES))
def test_bad_suite_file(case: str, tmp_path: Path, capsys) -> None:
    text, words = SUITES[case]
    (tmp_path / "suite.yaml").write_text(text)
    assert main(["run", str(tmp_path / "suite.yaml"), "--out", str(tmp_path / "out")]) == 2
    _one_error_line(capsys, words)
    _nothing_in(tmp_path, {"suite.yaml"})


@pytest.mark.parametrize("case", sorted(ARGS))
def test_bad_arguments(case: str, tmp_path: Path, capsys) -> None:
    args, words = ARGS[case]
    (tmp_path / "suite.yaml").write_text(GOOD)
    (tmp_path / "empty").mkdir()
    fill = {"suite": str(tmp_path / "suite.yaml"), "out": str(tmp_path / "out"),
            "empty": str(tmp_path / "empty")}
    assert main([a.format(**fill) for a in args]) == 2
    _one_error_line(capsys, words)
    _nothing_in(tmp_path, {"suite.yaml", "empty"})
    _nothing_in(tmp_path / "empty", set())


@pytest.fixture(scope="module")
def sealed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("sealed") / "pkg"
    assert main(["seal", "sklearn:breast_cancer", "--target", "target", "--out",
                 str(folder)]) == 0
    return folder


def _good_predictions(sealed: Path) -> pd.DataFrame:
    ids = pd.read_csv(sealed / "vendor" / "holdout_features.csv")["row_id"]
    return pd.DataFrame({"row_id": ids, "1": np.linspace(0.1, 0.9, len(ids))})


# name: (writes the bad file into the folder and returns its path, words)
PREDICTIONS: dict[str, tuple[Callable[[Path, pd.DataFrame], Path], str]] = {
    "empty prediction file": (lambda d, t: _write(d / "p.csv", b""), "p.csv"),
    "prediction file not UTF-8": (lambda d, t: _write(d / "p.csv", t.to_csv(
        index=False).encode("utf-16")), "p.csv"),
    "prediction file missing": (lambda d, t: d / "absent.csv", "absent.csv"),
    "prediction ids shifted": (lambda d, t: _write(d / "p.csv", _csv(
        t.assign(row_id=t["row_id"] + "0"))), "not holdout rows"),
    "infinite probabilities": (lambda d, t: _write(d / "p.csv", _csv(
        t.assign(**{"1": np.inf}))), "infinite"),
    "probabilities as words": (lambda d, t: _write(d / "p.csv", _csv(
        t.assign(**{"1": "high"}))), "not numbers"),
    "a pickle": (lambda d, t: _pickle(d / "p.pkl", t), "never loaded"),
}


def _write(path: Path, content: bytes) -> Path:
    path.write_bytes(content)
    return path


def _pickle(path: Path, table: pd.DataFrame) -> Path:
    table.to_pickle(path)
    return path


@pytest.mark.parametrize("case", sorted(PREDICTIONS))
def test_bad_prediction_file(case: str, sealed: Path, tmp_path: Path, capsys) -> None:
    make, words = PREDICTIONS[case]
    path = make(tmp_path, _good_predictions(sealed))
    before = {p.name for p in tmp_path.iterdir()}
    report = tmp_path / "claim.html"
    assert main(["claim", str(sealed), "--predictions", str(path), "--claimed-score", "0.9",
                 "-o", str(report)]) == 2
    _one_error_line(capsys, words)
    _nothing_in(tmp_path, before)
    assert not (sealed / "claim-report.html").exists()


def test_the_corpus_is_large() -> None:
    assert len(DATA) + len(SUITES) + len(ARGS) + len(PREDICTIONS) >= 30
