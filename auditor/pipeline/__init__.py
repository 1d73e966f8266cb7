"""`auditor run`: plan a suite, seal its splits, run, store and audit its jobs."""
