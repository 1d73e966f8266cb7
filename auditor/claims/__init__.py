"""Vendor claims: seal a dataset for a vendor, then verify the score the vendor claims."""
