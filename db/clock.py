"""The database's clock, as a SQL expression: every expiry and staleness decision uses it, never a
replica's own clock, so replicas with skewed clocks still agree.

``db_now(dialect)`` is naive UTC, comparable with how ``UTCDateTime`` columns are stored.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Connection, literal_column, select
from sqlalchemy.sql.elements import ColumnElement

from db.types import UTCDateTime

_NOW = {
    "mysql": "UTC_TIMESTAMP(6)",
    "mariadb": "UTC_TIMESTAMP(6)",
    "postgresql": "(now() AT TIME ZONE 'utc')",
    # SQLite has milliseconds; pad to the microsecond text SQLAlchemy stores, so values written with
    # db_now compare equal (as text) to the same instant bound from Python.
    "sqlite": "(strftime('%Y-%m-%d %H:%M:%f', 'now') || '000')",
}


def db_now(dialect_name: str) -> ColumnElement[datetime]:
    """SQL for "now" on the database server, in UTC."""
    return literal_column(_NOW[dialect_name], type_=UTCDateTime())


def server_time(conn: Connection) -> datetime:
    """The database server's current time (aware UTC)."""
    value = conn.execute(select(db_now(conn.dialect.name))).scalar_one()
    if isinstance(value, str):  # pragma: no cover - SQLite literal columns may skip result processing
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
