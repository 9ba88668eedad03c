"""Key text columns on MariaDB/MySQL become text with a NO PAD binary collation (issue 13).

``KeyString`` columns were ``VARBINARY`` so that case and trailing spaces stay distinct; other clients (the
team's dashboard) read them as bytes. They become ``VARCHAR ... CHARACTER SET utf8mb4`` with the server's NO
PAD binary collation (``db.types.key_collation``): just as exact, and read as ``str``. Converted in place,
one ``ALTER TABLE`` per table, so UNIQUE keys and the primary key stay as they are. Driven by the catalog:
only columns still ``VARBINARY`` are converted, so a migration interrupted between tables (MariaDB DDL is
not transactional) completes when run again. SQLite and PostgreSQL already store text: nothing to do.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op

from scrapesched.db.schema import metadata
from scrapesched.db.types import KeyString, key_column_type

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BYTES_PER_CHAR = 4


def _convert(to_text: bool) -> None:
    if context.is_offline_mode():
        return  # ``migrate --sql`` prints DDL for an empty database: 0001-0003 already create text keys
    bind = op.get_bind()
    if bind.dialect.name not in ("mysql", "mariadb"):
        return
    if to_text and isinstance(key_column_type(bind.dialect, 1), sa.VARBINARY):
        return  # MySQL < 8 has no NO PAD collation: key columns stay VARBINARY
    inspector = sa.inspect(bind)
    preparer = bind.dialect.identifier_preparer
    for name in inspector.get_table_names():
        table = metadata.tables.get(name)
        if table is None:
            continue
        actual = {c["name"]: c for c in inspector.get_columns(name)}
        changes = []
        for column in table.columns:
            found = actual.get(column.name)
            if found is None or not isinstance(column.type, KeyString):
                continue
            is_binary = isinstance(found["type"], sa.VARBINARY | sa.BINARY)
            if is_binary != to_text:
                continue
            length = column.type.length
            new_type = key_column_type(bind.dialect, length) if to_text else sa.VARBINARY(length * _BYTES_PER_CHAR)
            ddl = new_type.compile(dialect=bind.dialect)
            null = " NULL" if found["nullable"] else " NOT NULL"
            default = " DEFAULT ''" if column.server_default is not None else ""
            changes.append(f"MODIFY COLUMN {preparer.quote(column.name)} {ddl}{null}{default}")
        if changes:
            bind.exec_driver_sql(f"ALTER TABLE {preparer.quote(name)} " + ", ".join(changes))


def upgrade() -> None:
    _convert(to_text=True)


def downgrade() -> None:
    _convert(to_text=False)
