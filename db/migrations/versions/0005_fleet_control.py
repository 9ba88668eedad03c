"""Fleet control and replica heartbeats (issue 13): ``scrapesched_pauses``, ``scrapesched_triggers`` and
``scrapesched_replicas``. New tables only; nothing existing changes.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import scrapesched.db.types

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _id() -> sa.Column[int]:
    return sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False)


def upgrade() -> None:
    op.create_table(
        "scrapesched_pauses",
        _id(),
        sa.Column("job_name", scrapesched.db.types.KeyString(length=100), nullable=False),
        sa.Column("shard", scrapesched.db.types.KeyString(length=255), server_default="", nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("paused_by", sa.String(length=255), nullable=False),
        sa.Column("paused_at", scrapesched.db.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scrapesched_pauses")),
        sa.UniqueConstraint("job_name", "shard", name=op.f("uq_scrapesched_pauses")),
    )
    op.create_table(
        "scrapesched_triggers",
        _id(),
        sa.Column("job_name", scrapesched.db.types.KeyString(length=100), nullable=False),
        sa.Column("shard", scrapesched.db.types.KeyString(length=255), server_default="", nullable=False),
        sa.Column("requested_at", scrapesched.db.types.UTCDateTime(), nullable=False),
        sa.Column("params", sa.Text(), nullable=True),
        sa.Column("requested_by", sa.String(length=255), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scrapesched_triggers")),
        sa.UniqueConstraint("job_name", "shard", "requested_at", name=op.f("uq_scrapesched_triggers")),
    )
    op.create_table(
        "scrapesched_replicas",
        _id(),
        sa.Column("instance_id", scrapesched.db.types.KeyString(length=255), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("started_at", scrapesched.db.types.UTCDateTime(), nullable=False),
        sa.Column("last_seen", scrapesched.db.types.UTCDateTime(), nullable=False),
        sa.Column("stopped_at", scrapesched.db.types.UTCDateTime(), nullable=True),
        sa.Column("heartbeat_s", sa.Double(), nullable=False),
        sa.Column("running", sa.Integer(), server_default="0", nullable=False),
        sa.Column("running_runs", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scrapesched_replicas")),
        sa.UniqueConstraint("instance_id", name=op.f("uq_scrapesched_replicas")),
    )
    op.create_index("ix_scrapesched_replicas_last_seen", "scrapesched_replicas", ["last_seen"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_scrapesched_replicas_last_seen", table_name="scrapesched_replicas")
    op.drop_table("scrapesched_replicas")
    op.drop_table("scrapesched_triggers")
    op.drop_table("scrapesched_pauses")
