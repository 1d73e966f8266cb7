"""Execution: run jobs in confined processes (locally or on Ray) under the matched budget."""
