"""The results store: schema, records, job leases and in-place upgrades of older stores."""
