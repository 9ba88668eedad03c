"""Column types that behave the same on SQLite, MariaDB/MySQL and PostgreSQL.

- ``KeyString``: text that takes part in a natural key. On MariaDB/MySQL it is ``VARCHAR`` in ``utf8mb4``
  with a NO PAD binary collation (MariaDB ``utf8mb4_nopad_bin``, MySQL 8 ``utf8mb4_0900_bin``), so keys
  differing only in letter case or trailing spaces stay different rows (the default collations, even
  ``utf8mb4_bin``, compare with PAD SPACE) and drivers return ``str``. MySQL before 8.0 has no NO PAD
  collation: there it stays ``VARBINARY`` (exact, but read as bytes by other clients). Its length is
  bounded so a whole key fits MariaDB's 3072-byte and PostgreSQL's 2704-byte index entry limits, and a
  longer value is refused, not cut.
- ``UTCDateTime``: every timestamp is stored as naive UTC and read back as an aware UTC datetime.
- ``BigId``: BIGINT ids (INTEGER on SQLite, where only INTEGER PRIMARY KEY autoincrements).
- ``LongBlob``: bytes of any size (``LONGBLOB`` on MariaDB/MySQL, whose ``BLOB`` stops at 64 KiB).

SQLAlchemy's MySQL dialect is imported when a MariaDB/MySQL type is asked for, not with this module: a
command on SQLite or PostgreSQL never loads it.

``KeyString`` and ``UTCDateTime`` also convert a whole column at once (``process_bind_column``, used by the
upsert): the same values as ``process_bind_param`` value by value, checked by C loops where every value is
of the common kind, or None to say "convert value by value" (which raises the per-value error).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from functools import partial
from operator import attrgetter, is_not
from typing import Any

from sqlalchemy import BigInteger, DateTime, Integer, LargeBinary, String
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

BigId = BigInteger().with_variant(Integer(), "sqlite")

# utf8mb4 takes up to four bytes a character.
_BYTES_PER_CHAR = 4


MARIADB_KEY_COLLATION = "utf8mb4_nopad_bin"
MYSQL8_KEY_COLLATION = "utf8mb4_0900_bin"


def key_collation(dialect: Dialect) -> str | None:
    """The NO PAD binary collation of key columns on this MariaDB/MySQL server; None on MySQL < 8 (no
    such collation: VARBINARY). Offline (``migrate --sql``, no server version) MariaDB's is assumed."""
    if getattr(dialect, "is_mariadb", False):
        return MARIADB_KEY_COLLATION
    version = dialect.server_version_info
    if version is None:
        return MARIADB_KEY_COLLATION
    return MYSQL8_KEY_COLLATION if version >= (8,) else None


def key_column_type(dialect: Dialect, length: int) -> TypeEngine[Any]:
    """The MariaDB/MySQL column type of a ``KeyString(length)``."""
    from sqlalchemy.dialects import mysql

    collation = key_collation(dialect)
    if collation is None:
        return mysql.VARBINARY(length * _BYTES_PER_CHAR)
    return mysql.VARCHAR(length, charset="utf8mb4", collation=collation)


_not_none = partial(is_not, None)
_tzinfo = attrgetter("tzinfo")


class KeyTooLong(ValueError):
    """A natural-key value is longer than its column allows."""


class KeyString(TypeDecorator[str]):
    """Bounded, case- and space-exact text for natural-key columns."""

    impl = String
    cache_ok = True

    def __init__(self, length: int) -> None:
        super().__init__(length)
        self.length = length

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name in ("mysql", "mariadb"):
            return dialect.type_descriptor(key_column_type(dialect, self.length))
        return dialect.type_descriptor(String(self.length))

    def process_bind_param(self, value: str | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if len(value) > self.length:
            raise KeyTooLong(f"value of {len(value)} characters exceeds the key column's {self.length}")
        if dialect.name in ("mysql", "mariadb") and key_collation(dialect) is None:
            return value.encode("utf-8")
        return value

    def process_bind_column(self, values: Sequence[Any], dialect: Dialect) -> Sequence[Any] | None:
        """``values`` themselves where ``process_bind_param`` would return each unchanged (every one None or
        no longer than the column), else None."""
        if dialect.name in ("mysql", "mariadb") and key_collation(dialect) is None:
            return None
        try:
            longest = max(map(len, filter(_not_none, values)), default=0)
        except TypeError:  # a value without a length: value by value
            return None
        return values if longest <= self.length else None

    def process_result_value(self, value: Any, dialect: Dialect) -> str | None:
        if isinstance(value, bytes | bytearray | memoryview):
            return bytes(value).decode("utf-8")
        return value  # type: ignore[no-any-return]


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored as naive UTC (microseconds kept) and returned as an aware UTC datetime."""

    impl = DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name in ("mysql", "mariadb"):
            from sqlalchemy.dialects import mysql

            return dialect.type_descriptor(mysql.DATETIME(fsp=6))
        return dialect.type_descriptor(DateTime(timezone=False))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: scrapesched stores only aware (UTC) timestamps")
        if value.tzinfo is not UTC:  # most values are UTC already: skip the conversion (it runs per row)
            value = value.astimezone(UTC)
        return value.replace(tzinfo=None)

    def process_bind_column(self, values: Sequence[Any], dialect: Dialect) -> Sequence[Any] | None:
        """The naive UTC values where every value is a datetime in ``UTC`` (the common case), else None."""
        try:
            if set(map(_tzinfo, values)) != {UTC}:
                return None
            # value.replace(tzinfo=None), five times faster: the date and the (naive) time put together
            return list(map(datetime.combine, map(datetime.date, values), map(datetime.time, values)))
        except (AttributeError, TypeError):  # None or not a datetime: value by value
            return None

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):  # SQLite aggregates (MAX/MIN) come back as text
            value = datetime.fromisoformat(value)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)  # type: ignore[no-any-return]


class LongBlob(TypeDecorator[bytes]):
    """Bytes of any size: ``LONGBLOB`` on MariaDB/MySQL, the dialect's ``LargeBinary`` elsewhere."""

    impl = LargeBinary
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name in ("mysql", "mariadb"):
            from sqlalchemy.dialects import mysql

            return dialect.type_descriptor(mysql.LONGBLOB())
        return dialect.type_descriptor(LargeBinary())
