"""Why a job failed, as the store records it, and the environment variable naming the systems'
environments folder: light names the command line needs before anything heavy is imported."""

from __future__ import annotations

from enum import Enum

ENVS_VAR = "AUDITOR_ENVS"  # folder of the third-party systems' environments


class FailureClass(str, Enum):  # noqa: UP042 (runs on Python 3.9)
    """Why a job failed, as the store records it (a `str` enum: Python 3.9 has no StrEnum)."""

    CRASH = "crash"
    OOM = "oom"
    TIMEOUT = "timeout"
    INVALID_OUTPUT = "invalid-output"
    SETUP = "setup"
    # lost to the machinery (a worker died, the harness's disk filled): not charged to the
    # system, and run again by the next `auditor run`
    INFRASTRUCTURE = "infrastructure"
    DISK = "disk"  # the job folder passed the budget's disk_mb
    # nothing usable within the budget: no configuration finished, or the system refused the
    # budget as too small. The system's failure under this budget, recorded once, not retried
    BUDGET = "budget"

    __str__ = str.__str__

    def __format__(self, format_spec: str) -> str:
        return str.__format__(self, format_spec)
