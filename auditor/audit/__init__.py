"""Audit: re-score runs on the sealed holdout and check the protocol, budget and search."""
