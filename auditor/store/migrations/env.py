"""Alembic's environment for the results store: migrations run on the connection (and inside
the transaction) that `auditor.store.database.migrate` hands over; there is no alembic.ini."""

from __future__ import annotations

from alembic import context

from auditor.store.schema import METADATA

context.configure(connection=context.config.attributes["connection"],
                  target_metadata=METADATA)
with context.begin_transaction():
    context.run_migrations()
