"""The repository is self-contained: no test, script, suite, benchmark or CI step reads anything
beside or above the clone (a user's clone has nothing there)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from tests.conftest import REPO

FOLDERS = ["auditor", "adapters", "benchmarks", "reports", "tests", ".ci"]
FILES = ["tox.ini", "pyproject.toml"]
# a path that climbs out of the clone, or names a folder that sits beside it on one machine only
OUTSIDE = re.compile(r"\.\./|parents\[[2-9]\]|[\"']shared[\"']\s*/|/work/|/home/\w")


def _texts() -> list[Path]:
    paths = [REPO / f for f in FILES]
    for folder in FOLDERS:
        paths += [p for p in (REPO / folder).rglob("*")
                  if p.is_file() and p.suffix in {".py", ".yaml", ".yml", ".ini", ".toml", ".j2",
                                                  ".txt", ""} and "__pycache__" not in p.parts]
    return [p for p in paths if p != Path(__file__)]


def test_no_file_reaches_outside_the_repository() -> None:
    hits = [f"{p.relative_to(REPO)}:{n}: {line.strip()}"
            for p in _texts() for n, line in enumerate(p.read_text().splitlines(), 1)
            if OUTSIDE.search(line)]
    assert hits == []


def test_bundled_suites_read_only_bundled_files() -> None:
    for suite in (REPO / "benchmarks").glob("*.yaml"):
        for entry in yaml.safe_load(suite.read_text())["datasets"]:
            source = str(entry.get("source", ""))
            if source.startswith("file:"):
                path = (suite.parent / source.removeprefix("file:")).resolve()
                assert path.is_relative_to(REPO) and path.is_file(), (suite.name, source)

