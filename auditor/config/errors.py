"""User-facing errors: one line naming the problem and the fix; the CLI exits with status 2."""

from adapters.failures import FailureClass


class UsageError(Exception):
    """Bad input from the user (files, suite fields, arguments)."""


# The store's name for a job lost to the machinery (see `FailureClass.INFRASTRUCTURE`)
INFRASTRUCTURE = FailureClass.INFRASTRUCTURE.value
