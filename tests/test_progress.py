"""The shared progress display: plain lines on stderr when it is not a terminal."""

from __future__ import annotations

import pytest

from auditor.config.progress import LOG, ProgressDisplay, logging_to_stderr


def test_plain_lines_when_stderr_is_no_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    with logging_to_stderr():
        LOG.info("[kept as written]")
        with ProgressDisplay("tables: configurations", 5, every=2) as progress:
            for _ in range(5):
                progress.advance()
        with ProgressDisplay("suite", 3, done=1) as progress:
            progress.advance("d · tpe · seed 0  holdout roc_auc 0.9")
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "[kept as written]"
    assert [line.split("  ")[0] for line in lines[1:4]] == [
        "[########------------] 2/5", "[################----] 4/5", "[####################] 5/5"]
    assert "tables: configurations, " in lines[1] and "left" in lines[1]
    assert lines[4] == "[#############-------] 2/3  d · tpe · seed 0  holdout roc_auc 0.9"
