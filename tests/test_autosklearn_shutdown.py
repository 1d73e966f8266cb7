"""auto-sklearn 0.15's `UnboundLocalError` at shutdown (no ensemble job was submitted), met for
real in its environment (tests/autosklearn_shutdown.py) and mended by the adapter: a finished
model is kept and predicts, and without one the run is an honest budget failure.

Needs the auto-sklearn environment (`auditor systems install auto-sklearn`): without it the test
fails on CI and is skipped elsewhere.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

from adapters.systems import environments
from adapters.systems.autosklearn import AutoSklearn
from tests.conftest import REPO, require_environment


def _cases(folder: Path) -> dict[str, dict[str, Any]]:
    require_environment(AutoSklearn.env)
    python = environments.ready(AutoSklearn.env)["python_path"]
    lib = folder / "lib"  # only the `adapters` package joins its path, as for the worker
    lib.mkdir()
    (lib / "adapters").symlink_to(REPO / "adapters")
    done = subprocess.run(
        [python, str(REPO / "tests" / "autosklearn_shutdown.py"), str(folder)],
        env={**os.environ, "PYTHONPATH": str(lib), "PYTHONNOUSERSITE": "1"},
        capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = [json.loads(x) for x in done.stdout.splitlines() if x.startswith('{"case"')]
    return {line["case"]: line for line in lines}


def test_the_mend_keeps_a_finished_model_or_fails_saying_why(tmp_path: Path) -> None:
    cases = _cases(tmp_path)
    starved, stopped = cases["starved"], cases["stopped"]
    # SMAC under 6 s: no run started, no ensemble job, auto-sklearn raised at shutdown
    assert starved["cause"] == "UnboundLocalError"
    assert starved["runs"] and set(starved["runs"]) == {"STOP"}
    assert starved["ensemble_history"] == 0
    assert "evaluated no model" in starved["failure"]
    assert f"{len(starved['runs'])} STOP" in starved["failure"]
    # one finished model and no ensemble job: loaded, with the labels mapped back
    assert stopped["mended"] is True
    assert stopped["runs"] == ["SUCCESS"] and stopped["ensemble_history"] == 0
    assert stopped["models"] == 1
    assert stopped["classes"] == ["benign", "malignant"]
    assert stopped["predicted"] == ["benign", "malignant"]
    assert stopped["holdout_auc"] > 0.95
