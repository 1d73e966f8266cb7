"""How a refused command's stderr must look: one line `error: ...`, last, naming the problem and
the fix; before it at most `auditor run`'s first progress line (what the suite holds, printed as
soon as the suite file is read, before the data that may be refused is loaded)."""

from __future__ import annotations

import re

PROGRESS = re.compile(r"^[\w.-]+: \d+ dataset\(s\) × \d+ system\(s\) × \d+ seed\(s\); ")


def error_line(err: str) -> str:
    """The one error line of `err` (a command's stderr); fails on anything else in it."""
    lines = err.strip().splitlines()
    assert lines and lines[-1].startswith("error: "), err
    assert len(lines) <= 2 and all(PROGRESS.match(line) for line in lines[:-1]), err
    assert "Traceback" not in err, err
    return lines[-1]
