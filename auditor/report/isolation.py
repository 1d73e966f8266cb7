"""How the runs were sandboxed, and what that means for trusting their holdout scores."""

from __future__ import annotations

import re
from collections import Counter

from auditor.report.views import IsolationView

# what a sandbox without that part lets a system do, when namespaces still seal the holdout
LIMITS = {
    "cgroup": "their memory was only sampled (every 50 ms: a peak between samples can pass) and "
              "their CPU affinity was not enforced",
    "job users": "every job ran as the same user, one wall fewer between jobs",
}
_PARTIAL = re.compile(r"partial \(no ([^)]*)\)")


def _missing(label: str) -> list[str] | None:
    """The parts a run's sandbox lacked; None when it had no namespaces (or none is recorded)."""
    if label.startswith("sandbox"):
        return []
    found = _PARTIAL.match(label)
    parts = found.group(1).split(", ") if found else ["namespaces"]
    return None if "namespaces" in parts else parts


def isolation_view(labels: list[str | None]) -> IsolationView:
    """Runs per recorded isolation label (None: recorded before labels were), how many had no
    namespaces to seal their holdout, and a sentence on those sealed by namespaces that lacked
    another part."""
    levels = Counter(label or "not recorded" for label in labels)
    unsealed = partial = 0
    lacking: list[str] = []
    for label, n in levels.items():
        missing = _missing(label)
        if missing is None:
            unsealed += n
        elif missing:
            partial += n
            lacking += [part for part in missing if part not in lacking]
    limits = "; ".join(LIMITS[part] for part in lacking if part in LIMITS)
    note = (f"{partial} of {len(labels)} runs were sandboxed without {' and '.join(lacking)}: "
            f"their namespaces kept the harness's files and processes (the holdout labels among "
            f"them) out of their reach, but {limits}" if partial else "")
    return IsolationView(sorted(levels.items()), unsealed, len(labels), note)
