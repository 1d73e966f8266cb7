"""Statistics shared by every layer above the data: bootstrap intervals and comparisons."""
