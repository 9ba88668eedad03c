"""Upserts in a few fixed statement shapes, so SQLAlchemy's statement cache is hit.

A multi-row ``INSERT ... ON CONFLICT`` is cached by its number of rows: writing 173 rows, then 58, then 211
compiles a new statement every time, and compiling one with thousands of parameters costs more than
running it. ``upsert_in_shapes`` sorts the rows by the table's natural key (so concurrent writers still
lock rows in one order) and sends them through ``db.upsert`` in chunks of 256, 64, 16, 4 and 1 rows: at
most five shapes per table, compiled once per process.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Table

from db.schema import natural_key
from db.upsert import upsert

SHAPES = (256, 64, 16, 4, 1)


def _sort_value(value: Any) -> tuple[int, Any]:
    return (0, "") if value is None else (1, value)


def chunks(count: int) -> list[int]:
    """Chunk sizes (largest first) adding up to ``count``."""
    out = []
    for size in SHAPES:
        while count >= size:
            out.append(size)
            count -= size
    return out


def upsert_in_shapes(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]], **options: Any) -> int:
    """``db.upsert`` of ``rows`` (same options) in cache-friendly chunks; returns the rows written."""
    if not rows:
        return 0
    key = tuple(options.get("key") or natural_key(table))
    ordered = sorted(rows, key=lambda row: tuple(_sort_value(row.get(c)) for c in key))
    written, start = 0, 0
    for size in chunks(len(ordered)):
        written += upsert(conn, table, ordered[start : start + size], **options).rows
        start += size
    return written
