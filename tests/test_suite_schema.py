"""`auditor suite schema`: valid JSON that the bundled suites pass and bad fields fail (checked
with `jsonschema` where it is installed, else by the pydantic model the schema comes from)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from auditor.cli import main
from auditor.config.suite_models import SuiteFile
from tests.conftest import REPO

SUITES = sorted((REPO / "benchmarks").glob("*.yaml"))
GOOD = {"budget": {"wall_seconds": 3}, "systems": ["constant", {"system": "tpe", "label": "t"}],
        "datasets": [{"name": "d", "source": "sklearn:iris"}]}


def _valid(suite: Any, capsys: pytest.CaptureFixture[str]) -> bool:
    assert main(["suite", "schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema["title"] == "automl-auditor suite"
    try:
        import jsonschema
    except ImportError:
        try:
            SuiteFile.model_validate(suite)
        except ValidationError:
            return False
        return True
    return jsonschema.Draft202012Validator(schema).is_valid(suite)


@pytest.mark.parametrize("suite", SUITES, ids=lambda p: p.name)
def test_bundled_suites_validate(suite: Path, capsys) -> None:
    assert _valid(yaml.safe_load(suite.read_text(encoding="utf-8")), capsys)


@pytest.mark.parametrize("change", [{"sistems": ["constant"]}, {"budget": {"wall_seconds": 0}},
                                    {"systems": [{"system": "tpe", "lable": "x"}]},
                                    {"metric": {"binary": "nope"}}, {"datasets": []}])
def test_bad_fields_fail(change: dict, capsys) -> None:
    assert _valid(GOOD, capsys)
    assert not _valid(GOOD | change, capsys)
