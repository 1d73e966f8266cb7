"""automl-auditor: data → sealed split → isolated, budget-enforced runs → store → audit → report."""

__version__ = "0.1.0"
