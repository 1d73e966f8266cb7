"""Suite definitions (YAML) and, in `benchmarks/perf/`, performance benchmarks of the harness."""
