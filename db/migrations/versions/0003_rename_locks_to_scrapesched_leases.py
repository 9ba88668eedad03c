"""Rename the lease table ``locks`` to ``scrapesched_leases``, with its primary key (``pk_<table>``).

Rows are kept as they are: held leases stay held and every name's fencing token keeps growing from where
it was. Replicas of an older version refuse to start on the renamed schema (it is past their head), and
ones still running lose their leases at the next renewal: stop them before migrating.

The primary key's name, by the naming convention ``pk_%(table_name)s``:

- PostgreSQL: ``ALTER TABLE ... RENAME CONSTRAINT`` (which renames its index too);
- SQLite: only in the table's CREATE statement, so the table is copied once more (Alembic's batch mode,
  from the definition below, so that ``migrate --sql`` works without a database);
- MariaDB/MySQL: a primary key is always named ``PRIMARY``, nothing to do.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import scrapesched.db.types

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD = "locks"
NEW = "scrapesched_leases"


def _as_created(table: str, pk_name: str) -> sa.Table:
    """The lease table as 0002 created it (the columns never changed), under ``table``."""
    return sa.Table(
        table,
        sa.MetaData(),
        sa.Column("name", scrapesched.db.types.KeyString(length=255), nullable=False),
        sa.Column("holder", sa.String(length=255), nullable=True),
        sa.Column("token", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("lock_until", scrapesched.db.types.UTCDateTime(), nullable=True),
        sa.Column("locked_at", scrapesched.db.types.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("name", name=pk_name),
    )


def _rename(old: str, new: str) -> None:
    op.rename_table(old, new)
    dialect = op.get_context().dialect.name
    if dialect == "postgresql":
        op.execute(f"ALTER TABLE {new} RENAME CONSTRAINT pk_{old} TO pk_{new}")
    elif dialect == "sqlite":
        with op.batch_alter_table(new, copy_from=_as_created(new, f"pk_{old}"), recreate="always") as batch_op:
            batch_op.drop_constraint(f"pk_{old}", type_="primary")
            batch_op.create_primary_key(f"pk_{new}", ["name"])


def upgrade() -> None:
    _rename(OLD, NEW)


def downgrade() -> None:
    _rename(NEW, OLD)
