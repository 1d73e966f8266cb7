"""Each run records its start-up (`runs.startup_s`): the seconds from its job's start to its
budget's start, which the system's imports, data and servers took; runs recorded before are NULL.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # a store that lost its alembic_version (or was written by a build with this column before
    # the revision existed) may have it already
    if "startup_s" in {c["name"] for c in sa.inspect(op.get_bind()).get_columns("runs")}:
        return
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("startup_s", sa.Float, nullable=True))
