"""User-facing errors: one line naming the problem and the fix; the CLI exits with status 2."""


class UsageError(Exception):
    """Bad input from the user (files, suite fields, arguments)."""
