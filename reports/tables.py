"""Export the report's tables beside it: NAME.csv and NAME.json per table, each written
atomically; files of tables no longer in the report are removed."""

from __future__ import annotations

import csv
import io
import json
import math
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any


def tables_dir(report: Path) -> Path:
    """`report.html` → `report_tables/` in the same folder."""
    return report.with_name(f"{report.stem}_tables")


def _plain(value: Any) -> Any:
    """JSON-safe: NaN and infinities become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _csv(columns: list[str], rows: list[Mapping[str, Any]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if row.get(c) is None else row[c] for c in columns])
    return buf.getvalue()


def write_atomic(path: Path, text: str) -> None:
    """A temp file in the same folder, then os.replace."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_tables(tables: Mapping[str, Mapping[str, Any]], folder: Path) -> list[Path]:
    """Write each table {columns, rows} as CSV and JSON (a list of row objects) into `folder`."""
    written = []
    for name, table in tables.items():
        columns, rows = list(table["columns"]), list(table["rows"])
        records = [{c: _plain(row.get(c)) for c in columns} for row in rows]
        for path, text in ((folder / f"{name}.csv", _csv(columns, rows)),
                           (folder / f"{name}.json", json.dumps(records, indent=1, default=str,
                                                                allow_nan=False) + "\n")):
            write_atomic(path, text)
            written.append(path)
    for stale in (*folder.glob("*.csv"), *folder.glob("*.json")):
        if stale not in written:
            stale.unlink()
    return written
