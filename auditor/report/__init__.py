"""The report's context: results read back from stores, compared, put into plain sentences."""
