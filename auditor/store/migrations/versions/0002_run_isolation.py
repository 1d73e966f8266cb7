"""Each run records how its job was isolated (`runs.isolation`: `sandbox`, `sandbox, network
allowed`, `partial (no ...)` or `none`); runs recorded before are NULL.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # a store that lost its alembic_version (or was written by a build with this column before
    # the revision existed) may have it already
    if "isolation" in {c["name"] for c in sa.inspect(op.get_bind()).get_columns("runs")}:
        return
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("isolation", sa.Text, nullable=True))
