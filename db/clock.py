"""The database's clock, as SQL: every expiry and staleness decision uses it, never a replica's own clock,
so replicas with skewed clocks still agree.

``db_now()`` and ``db_now_plus(seconds)`` compile per dialect to naive UTC with microseconds, comparable
with how ``UTCDateTime`` columns are stored (on SQLite even as text: SQLite's milliseconds are padded to
the six digits SQLAlchemy writes). ``server_time(conn)`` reads it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import BindParameter
from sqlalchemy.sql.functions import FunctionElement

from scrapesched.db.types import UTCDateTime


class _DbNow(FunctionElement[datetime]):
    """The database server's current time, naive UTC with microseconds."""

    type = UTCDateTime()
    inherit_cache = True


class _DbNowPlus(FunctionElement[datetime]):
    """The database server's current time plus a number of seconds, naive UTC with microseconds."""

    type = UTCDateTime()
    inherit_cache = True

    def __init__(self, seconds: float | BindParameter[float]) -> None:
        if not isinstance(seconds, BindParameter):
            seconds = sa.bindparam(None, float(seconds), type_=sa.Double())
        super().__init__(seconds)


@compiles(_DbNow, "sqlite")
def _now_sqlite(element: _DbNow, compiler: SQLCompiler, **kw: Any) -> str:
    # strftime's %f has milliseconds; pad to the six digits SQLAlchemy writes, so text comparison is exact.
    return "(strftime('%Y-%m-%d %H:%M:%f', 'now') || '000')"


@compiles(_DbNowPlus, "sqlite")
def _now_plus_sqlite(element: _DbNowPlus, compiler: SQLCompiler, **kw: Any) -> str:
    seconds = compiler.process(element.clauses, **kw)
    return f"(strftime('%Y-%m-%d %H:%M:%f', 'now', printf('%+.3f seconds', {seconds})) || '000')"


@compiles(_DbNow, "mysql")
@compiles(_DbNow, "mariadb")
def _now_mysql(element: _DbNow, compiler: SQLCompiler, **kw: Any) -> str:
    return "UTC_TIMESTAMP(6)"


@compiles(_DbNowPlus, "mysql")
@compiles(_DbNowPlus, "mariadb")
def _now_plus_mysql(element: _DbNowPlus, compiler: SQLCompiler, **kw: Any) -> str:
    seconds = compiler.process(element.clauses, **kw)
    return f"TIMESTAMPADD(MICROSECOND, ROUND({seconds} * 1000000), UTC_TIMESTAMP(6))"


@compiles(_DbNow, "postgresql")
def _now_postgresql(element: _DbNow, compiler: SQLCompiler, **kw: Any) -> str:
    return "(now() AT TIME ZONE 'UTC')"


@compiles(_DbNowPlus, "postgresql")
def _now_plus_postgresql(element: _DbNowPlus, compiler: SQLCompiler, **kw: Any) -> str:
    seconds = compiler.process(element.clauses, **kw)
    return f"((now() AT TIME ZONE 'UTC') + make_interval(secs => {seconds}))"


def db_now() -> _DbNow:
    """SQL for the database server's "now" (naive UTC), comparable with ``UTCDateTime`` columns."""
    return _DbNow()


def db_now_plus(seconds: float | BindParameter[float]) -> _DbNowPlus:
    """SQL for the database server's "now" plus ``seconds`` (a number or a bound parameter)."""
    return _DbNowPlus(seconds)


def server_time(conn: Connection) -> datetime:
    """The database server's current time (aware UTC)."""
    value = conn.execute(select(db_now())).scalar_one()
    if isinstance(value, str):  # pragma: no cover - SQLite expressions may skip result processing
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
