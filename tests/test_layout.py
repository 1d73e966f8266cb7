"""The layout holds: imports go one way, modules stay short, and every name is used once.

`adapters` runs inside systems' own environments (Python 3.9, old scikit-learn) and must not pull
in the harness; `reports` renders plain data and must not depend on how it was produced. Inside
`auditor` the subpackages follow the pipeline, and a layer imports only from layers below it:
config → stats → data → execution → store → audit → report, with the workflows (pipeline, gate,
claims) on top, side by side, and the command line above everything.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("auditor", "adapters", "reports", "benchmarks")
FORBIDDEN = {"adapters": {"auditor", "reports"}, "reports": {"auditor", "adapters"}}
LAYERS = ["config", "stats", "data", "execution", "store", "audit", "report",
          ("pipeline", "gate", "claims"), "cli"]
MAX_LINES = 400


def _rank() -> dict[str, int]:
    return {name: i for i, layer in enumerate(LAYERS)
            for name in ((layer,) if isinstance(layer, str) else layer)}


def _imports(path: Path) -> set[str]:
    """Dotted names of the modules `path` imports (absolute imports only)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def _modules() -> list[Path]:
    return sorted(p for package in PACKAGES for p in (ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_imports_go_one_way(package: str) -> None:
    offenders = {str(p.relative_to(ROOT)): sorted({n.split(".")[0] for n in _imports(p)}
                                                  & FORBIDDEN[package])
                 for p in sorted((ROOT / package).rglob("*.py"))}
    assert {p: names for p, names in offenders.items() if names} == {}


def test_auditor_layers_import_downwards() -> None:
    rank = _rank()
    offenders = []
    for path in sorted((ROOT / "auditor").rglob("*.py")):
        parts = path.relative_to(ROOT / "auditor").with_suffix("").parts
        if parts[0] not in rank:
            continue
        for name in _imports(path):
            target = name.split(".")
            if target[0] != "auditor" or len(target) < 2 or target[1] not in rank:
                continue
            if target[1] != parts[0] and rank[target[1]] >= rank[parts[0]]:
                offenders.append(f"{'/'.join(parts)} imports {name}")
    assert offenders == []


def test_only_entry_files_at_the_top_of_auditor() -> None:
    top = {p.name for p in (ROOT / "auditor").glob("*.py")}
    assert top <= {"__init__.py", "__main__.py", "cli.py"}
    assert {p.name for p in (ROOT / "auditor").iterdir() if p.is_dir()} - {"__pycache__"} == {
        name for layer in LAYERS for name in ((layer,) if isinstance(layer, str) else layer)
    } - {"cli"}


def test_modules_stay_short() -> None:
    long = {str(p.relative_to(ROOT)): n for p in _modules()
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert long == {}


def test_module_names_are_unique() -> None:
    """A module's name (a package's folder name) says what it is, once across the packages."""
    seen: dict[str, list[str]] = defaultdict(list)
    for p in _modules():
        if p.name == "__init__.py":
            if p.parent.name not in PACKAGES:
                seen[p.parent.name].append(str(p.parent.relative_to(ROOT)))
        elif p.name != "__main__.py":
            seen[p.stem].append(str(p.relative_to(ROOT)))
    assert {name: where for name, where in seen.items() if len(where) > 1} == {}


def test_class_names_are_unique() -> None:
    seen: dict[str, list[str]] = defaultdict(list)
    for p in _modules():
        for node in ast.walk(ast.parse(p.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef):
                seen[node.name].append(str(p.relative_to(ROOT)))
    assert {name: where for name, where in seen.items() if len(where) > 1} == {}


def test_the_command_line_starts_without_the_heavy_libraries() -> None:
    """`auditor --help` comes before numpy, pandas, scipy or scikit-learn are imported (their
    import is most of a slow start)."""
    heavy = ("numpy", "pandas", "scipy", "sklearn", "sqlalchemy", "pydantic")
    code = f"import auditor.cli, sys; print([m for m in {heavy!r} if m in sys.modules])"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, check=True, timeout=300)
    assert done.stdout.strip() == "[]"


def test_a_runs_first_line_comes_before_scipy_sklearn_and_the_store() -> None:
    """Reading and checking a suite (after which `auditor run` prints its first line) imports
    neither scipy, scikit-learn, SQLAlchemy's store nor Alembic: a second of imports on an idle
    core, many at load 10."""
    late = ("scipy", "sklearn", "alembic", "auditor.store.database", "auditor.pipeline.plan")
    code = ("import sys; from pathlib import Path; from auditor.config.suite import load_suite; "
            "s = load_suite(Path(sys.argv[1])); "
            f"print(len(s.datasets), [m for m in {late!r} if m in sys.modules])")
    done = subprocess.run([sys.executable, "-c", code, str(ROOT / "benchmarks/quickstart.yaml")],
                          cwd=ROOT, capture_output=True, text=True, check=True, timeout=300)
    assert done.stdout.strip() == "4 []"
