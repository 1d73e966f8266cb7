"""The searcher regression gate: tabular benchmarks, candidate strategies, the gate, its summary."""
