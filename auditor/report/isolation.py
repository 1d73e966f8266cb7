"""How the runs were sandboxed, and what that means for trusting their holdout scores."""

from __future__ import annotations

from collections import Counter

from auditor.execution.sandbox import Isolation
from auditor.report.views import IsolationView

# what a sandbox without that part lets a system do, when namespaces still seal the holdout
LIMITS = {
    "cgroup": "their memory was only sampled (every 50 ms: a peak between samples can pass) and "
              "their CPU affinity was not enforced",
    "job users": "every job ran as the same user, one wall fewer between jobs",
}


def isolation_view(labels: list[str | None]) -> IsolationView:
    """Runs per recorded isolation label (None: recorded before labels were), how many had no
    namespaces to seal their holdout, and a sentence on those sealed by namespaces that lacked
    another part."""
    unsealed = partial = 0
    lacking: list[str] = []
    for label in labels:
        missing = Isolation.lacked(label)
        if "namespaces" in missing:
            unsealed += 1
        elif missing:
            partial += 1
            lacking += [part for part in missing if part not in lacking]
    levels = Counter(label or "not recorded" for label in labels)
    limits = "; ".join(LIMITS[part] for part in lacking if part in LIMITS)
    note = (f"{partial} of {len(labels)} runs were sandboxed without {' and '.join(lacking)}: "
            f"their namespaces kept the harness's files and processes (the holdout labels among "
            f"them) out of their reach, but {limits}" if partial else "")
    return IsolationView(sorted(levels.items()), unsealed, len(labels), note)
