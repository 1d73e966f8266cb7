"""A dataset read from a local file records the sha256 of the file's bytes
(`datasets.file_sha256`), which a client can check with `sha256sum`; other datasets, and those
recorded before, are NULL.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # a store that lost its alembic_version may have the column already
    if "file_sha256" in {c["name"] for c in sa.inspect(op.get_bind()).get_columns("datasets")}:
        return
    with op.batch_alter_table("datasets") as batch:
        batch.add_column(sa.Column("file_sha256", sa.Text, nullable=True))
