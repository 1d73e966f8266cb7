"""The report's tables as files beside it: NAME.csv and NAME.json per table."""

from __future__ import annotations

import csv
import io
import json
import math
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


def _json_lines(records: list[dict[str, Any]]) -> str:
    """A JSON list with one row object a line (the C encoder: `indent` would run Python's)."""
    rows = ",\n".join(json.dumps(r, default=str, allow_nan=False) for r in records)
    return f"[\n{rows}\n]\n" if records else "[]\n"


def table_files(tables: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    """File name → text: each table {columns, rows} as CSV and as JSON (a list of row objects)."""
    files = {}
    for name, table in tables.items():
        columns, rows = list(table["columns"]), list(table["rows"])
        records = [{c: _plain(row.get(c)) for c in columns} for row in rows]
        files[f"{name}.csv"] = _csv(columns, rows)
        files[f"{name}.json"] = _json_lines(records)
    return files
