"""What the database's catalog says about our natural keys: which declared UNIQUE keys are missing, and
which tables hold rows that share a natural key (legacy databases where the key was never created).

Read-only; ``scrapesched check`` reports the results. A key counts as present when a UNIQUE constraint,
a unique index (how MariaDB/MySQL report their constraints) or the primary key covers exactly its columns.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection, Engine, Table

from scrapesched.db.schema import metadata, natural_key

EXAMPLES = 3


@dataclass(frozen=True)
class Duplicates:
    """Rows of a table that share a natural key."""

    table: str
    key: tuple[str, ...]
    keys: int
    rows: int
    examples: list[tuple[Any, ...]]


def keyed_tables() -> list[Table]:
    """Every table of our schema that declares a natural key."""
    return [t for t in metadata.sorted_tables if t.info.get("key")]


def missing_keys(engine: Engine, tables: Iterable[Table]) -> list[tuple[str, tuple[str, ...]]]:
    """(table, key columns) of every declared natural key the catalog has no UNIQUE key for."""
    inspector = sa.inspect(engine)
    missing: list[tuple[str, tuple[str, ...]]] = []
    for table in tables:
        key = natural_key(table)
        present: set[frozenset[str]] = set()
        for uc in inspector.get_unique_constraints(table.name):
            present.add(frozenset(c for c in uc["column_names"] if c))
        for ix in inspector.get_indexes(table.name):
            if ix.get("unique"):
                present.add(frozenset(c for c in ix["column_names"] if c))
        pk = inspector.get_pk_constraint(table.name).get("constrained_columns") or []
        present.add(frozenset(pk))
        if frozenset(key) not in present:
            missing.append((table.name, key))
    return missing


def duplicate_keys(conn: Connection, table: Table, examples: int = EXAMPLES) -> Duplicates | None:
    """How many natural keys of the table are held by more than one row, and the first few; None if none."""
    key = natural_key(table)
    cols = [table.c[name] for name in key]
    grouped = sa.select(*cols, sa.func.count().label("n")).group_by(*cols).having(sa.func.count() > 1)
    sub = grouped.subquery()
    keys, rows = conn.execute(sa.select(sa.func.count(), sa.func.sum(sub.c.n))).one()
    if not keys:
        return None
    first = conn.execute(grouped.order_by(*cols).limit(examples)).all()
    return Duplicates(table.name, key, int(keys), int(rows), [tuple(r)[:-1] for r in first])
