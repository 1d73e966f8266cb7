"""Systems and reference searchers behind one small contract (`adapters.contract`), named in
`adapters.registry`. Runs inside systems' own environments too, so it stays light and imports
nothing of the harness."""
