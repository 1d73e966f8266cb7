"""Each run records how long its job's threads were ready to run but waited for a CPU
(`runs.cpu_wait_s`, from the kernel's schedstat); runs recorded before are NULL.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # a store that lost its alembic_version (or was written by a build with this column before
    # the revision existed) may have it already
    if "cpu_wait_s" in {c["name"] for c in sa.inspect(op.get_bind()).get_columns("runs")}:
        return
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("cpu_wait_s", sa.Float, nullable=True))
