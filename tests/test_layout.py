"""The packages import one way: adapters ← auditor → reports. `adapters` runs inside systems'
own environments (Python 3.9, old scikit-learn) and must not pull in the harness; `reports` renders
plain data and must not depend on how it was produced."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = {"adapters": {"auditor", "reports"}, "reports": {"auditor", "adapters"}}


def _imported_packages(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_imports_go_one_way(package: str) -> None:
    offenders = {str(p.relative_to(ROOT)): sorted(_imported_packages(p) & FORBIDDEN[package])
                 for p in sorted((ROOT / package).rglob("*.py"))}
    assert {p: names for p, names in offenders.items() if names} == {}
