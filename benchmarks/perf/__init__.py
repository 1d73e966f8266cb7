"""Performance benchmarks of the harness; each prints measured ratios."""
