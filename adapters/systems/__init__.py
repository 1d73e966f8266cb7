"""Third-party systems, one folder each (adapter module + pinned requirement files), run in their
own environments through `adapters.systems.worker`."""
