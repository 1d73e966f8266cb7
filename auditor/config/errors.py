"""User-facing errors: one line naming the problem and the fix; the CLI exits with status 2."""


class UsageError(Exception):
    """Bad input from the user (files, suite fields, arguments)."""


# Failure class of a job lost to the machinery (a worker died, the harness's disk filled): not
# charged to the system, and run again by the next `auditor run`
INFRASTRUCTURE = "infrastructure"
