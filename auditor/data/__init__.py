"""Data: load a source into a typed `Dataset`, then seal its holdout split."""
