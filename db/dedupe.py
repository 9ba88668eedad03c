"""Deleting rows that share a natural key, keeping one per key (``scrapesched dedupe``).

Works on our tables and on a legacy table from before adoption (seed 000's tables, whose key lacks ``repo``
and whose optional key parts may be NULL): the key is the declared natural key's columns that the table
has, with NULL and '' counted as the same optional key part, exactly as adoption will store them. Deletes
run in bounded batches, each its own (retried) transaction, so the command can be interrupted at any point
and run again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection, Engine

from scrapesched.config.errors import ConfigError, SchemaError
from scrapesched.db.catalog import EXAMPLES, keyed_tables
from scrapesched.db.retry import transaction
from scrapesched.db.schema import metadata, natural_key
from scrapesched.db.types import KeyString

DEFAULT_BATCH = 1000


class Keep(StrEnum):
    """Which row of a duplicated key survives: the highest id (newest) or the lowest (oldest)."""

    NEWEST = "newest"
    OLDEST = "oldest"


@dataclass(frozen=True)
class KeyedTable:
    """A table as the catalog has it, with the natural-key expressions to group its rows by."""

    name: str
    table: sa.TableClause
    key: tuple[str, ...]
    exprs: tuple[sa.ColumnElement[Any], ...]


@dataclass(frozen=True)
class DedupeCount:
    """How many keys of a table are held by more than one row, and how many rows deleting would remove."""

    table: str
    key: tuple[str, ...]
    keys: int
    surplus: int
    examples: list[tuple[Any, ...]]


def table_names() -> list[str]:
    """Names of the tables ``dedupe`` knows (every table with a natural key)."""
    return sorted(t.name for t in keyed_tables())


def keyed_table(conn: Connection, name: str) -> KeyedTable:
    """The table ``name`` as the catalog has it; ConfigError for a name that is not ours, SchemaError when
    the database has no such table or it has no ``id`` or no key column."""
    if name not in table_names():
        raise ConfigError(f"unknown table {name!r}; one of: {', '.join(table_names())}")
    inspector = sa.inspect(conn)
    if not inspector.has_table(name):
        raise SchemaError(f"the database has no table {name}")
    columns = {c["name"]: c for c in inspector.get_columns(name)}
    ours = metadata.tables[name]
    key = tuple(c for c in natural_key(ours) if c in columns)
    if "id" not in columns or not key:
        raise SchemaError(f"table {name} has no id column or none of its key columns {natural_key(ours)}")
    table = sa.table(name, *(sa.column(c) for c in ("id", *key)))
    exprs: list[sa.ColumnElement[Any]] = []
    for c in key:
        expr: sa.ColumnElement[Any] = table.c[c]
        if ours.c[c].server_default is not None and columns[c]["nullable"]:
            expr = sa.func.coalesce(expr, "")
        if conn.dialect.name in ("mysql", "mariadb") and isinstance(ours.c[c].type, KeyString):
            expr = sa.cast(expr, sa.LargeBinary)  # exact, as our keys compare, whatever a legacy collation says
        exprs.append(expr.label(c) if expr is not table.c[c] else expr)
    return KeyedTable(name, table, key, tuple(exprs))


def _groups(kt: KeyedTable, keep: Keep) -> sa.Subquery:
    pick = sa.func.max if keep is Keep.NEWEST else sa.func.min
    return (
        sa.select(*kt.exprs, pick(kt.table.c.id).label("keep_id"), sa.func.count().label("n"))
        .group_by(*kt.exprs)
        .having(sa.func.count() > 1)
        .subquery("dup")
    )


def count(conn: Connection, kt: KeyedTable, examples: int = EXAMPLES) -> DedupeCount:
    """How many keys are duplicated and how many rows a dedupe would delete (the first few keys too)."""
    dup = _groups(kt, Keep.NEWEST)
    keys, rows = conn.execute(sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(dup.c.n), 0))).one()
    first: list[tuple[Any, ...]] = []
    if keys:
        key_cols = [dup.c[c] for c in kt.key]
        first = [_text(r) for r in conn.execute(sa.select(*key_cols).order_by(*key_cols).limit(examples))]
    return DedupeCount(kt.name, kt.key, int(keys), int(rows) - int(keys), first)


def format_key(values: tuple[Any, ...]) -> str:
    """A key for a message: ``(1, 'test_a', '2025-01-01 00:00:00')``."""
    return "(" + ", ".join(repr(v) if isinstance(v, str) else str(v) for v in values) + ")"


def _text(values: Any) -> tuple[Any, ...]:
    return tuple(bytes(v).decode("utf-8", "replace") if isinstance(v, bytes | memoryview) else v for v in values)


def _delete_batch(conn: Connection, kt: KeyedTable, keep: Keep, batch: int) -> int:
    dup = _groups(kt, keep)
    match = sa.and_(*(expr.is_not_distinct_from(dup.c[c]) for expr, c in zip(_unlabelled(kt), kt.key, strict=True)))
    doomed = (
        sa.select(kt.table.c.id)
        .select_from(kt.table.join(dup, match))
        .where(kt.table.c.id != dup.c.keep_id)
        .order_by(kt.table.c.id)
        .limit(batch)
    )
    ids = [row[0] for row in conn.execute(doomed)]
    if not ids:
        return 0
    conn.execute(sa.delete(kt.table).where(kt.table.c.id.in_(ids)))
    return len(ids)


def _unlabelled(kt: KeyedTable) -> list[sa.ColumnElement[Any]]:
    return [e.element if isinstance(e, sa.Label) else e for e in kt.exprs]


def apply(
    engine: Engine,
    name: str,
    *,
    keep: Keep = Keep.NEWEST,
    batch: int = DEFAULT_BATCH,
    attempts: int = 6,
    on_batch: Callable[[int], None] | None = None,
) -> int:
    """Delete all but one row per natural key of table ``name``, ``batch`` rows per transaction; returns
    how many rows were deleted. ``on_batch(n)`` is called after each committed batch."""
    with engine.connect() as conn:
        kt = keyed_table(conn, name)
    deleted = 0
    while True:
        n = transaction(engine, lambda conn: _delete_batch(conn, kt, keep, batch), attempts=attempts, what="dedupe")
        if not n:
            return deleted
        deleted += n
        if on_batch is not None:
            on_batch(n)
