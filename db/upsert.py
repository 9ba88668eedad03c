"""The one upsert path: ``upsert(conn, table, rows)`` writes rows by their natural key on every backend.

MariaDB/MySQL get ``INSERT ... ON DUPLICATE KEY UPDATE``, PostgreSQL and SQLite ``INSERT ... ON CONFLICT
(key) DO UPDATE``, all built with SQLAlchemy's dialect constructs. One single-row statement is compiled
once (and cached by SQLAlchemy) and sent with each batch of rows as an executemany, which the drivers
turn into multi-row inserts (PyMySQL) or pipelined statements (psycopg). Rows are sent in batches,
collapsed by key inside a batch (last wins, counters summed) and sorted by key so that concurrent writers
lock rows in the same order. Counters are added to in the database (``count = count + new``), never read
and written back. A ``newer`` column makes the write a version guard: a row is only replaced by a row whose
``newer`` value is at least as new as the stored one.

Large writes on PostgreSQL (``COPY_MIN_ROWS`` rows or more, psycopg) take the server's fast path instead:
the rows are streamed with ``COPY`` into a temporary staging table of the same column types, and one
``INSERT ... SELECT ... ORDER BY key ON CONFLICT DO UPDATE`` (the same statement, from a SELECT) moves them
in. The staging table lives in the session (``ON COMMIT DELETE ROWS``) and is emptied after each use.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Table, UniqueConstraint, func, literal_column, or_, select
from sqlalchemy import column as sa_column
from sqlalchemy import table as sa_table
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.sql.elements import ColumnElement

from scrapesched.config.errors import SchemaError
from scrapesched.db.schema import natural_key

COPY_MIN_ROWS = 2000
"""From this many rows (after collapsing by key) a PostgreSQL upsert goes through COPY and a staging table."""


@dataclass(frozen=True)
class UpsertResult:
    """What an upsert did. ``inserted``/``updated`` are None where the backend cannot tell them apart."""

    rows: int
    statements: int
    inserted: int | None
    updated: int | None


@dataclass(frozen=True)
class _Plan:
    table: Table
    key: tuple[str, ...]
    columns: tuple[str, ...]
    overwrite: tuple[str, ...]
    increment: tuple[str, ...]
    greatest: tuple[str, ...]
    least: tuple[str, ...]
    newer: str | None


def unique_keys(table: Table) -> list[frozenset[str]]:
    """Column sets the table declares unique: primary key, UNIQUE constraints, unique indexes."""
    keys = [frozenset(c.name for c in table.primary_key.columns)]
    keys += [frozenset(c.name for c in con.columns) for con in table.constraints if isinstance(con, UniqueConstraint)]
    keys += [frozenset(c.name for c in ix.columns) for ix in table.indexes if ix.unique]
    return [k for k in keys if k]


def _plan(
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    key: Sequence[str] | None,
    update: Sequence[str] | None,
    increment: Sequence[str],
    greatest: Sequence[str],
    least: Sequence[str],
    newer: str | None,
) -> _Plan:
    key_cols = tuple(key) if key is not None else natural_key(table)
    if frozenset(key_cols) not in unique_keys(table):
        raise SchemaError(
            f"cannot upsert into {table.name} on ({', '.join(key_cols)}): "
            "no UNIQUE constraint or unique index has exactly these columns"
        )
    columns = tuple(rows[0].keys())
    unknown = [c for c in columns if c not in table.c]
    if unknown:
        raise SchemaError(f"table {table.name} has no column {', '.join(unknown)}")
    for row in rows:
        if tuple(row.keys()) != columns and set(row.keys()) != set(columns):
            raise SchemaError(f"upsert into {table.name}: every row must name the same columns")
    missing_key = [c for c in key_cols if c not in columns and table.c[c].default is None]
    if missing_key:
        raise SchemaError(f"upsert into {table.name}: rows lack key column {', '.join(missing_key)}")
    columns = columns + tuple(c for c in key_cols if c not in columns)
    special = set(increment) | set(greatest) | set(least)
    for name in special | ({newer} if newer else set()):
        if name not in columns:
            raise SchemaError(f"upsert into {table.name}: column {name} is not in the rows")
    if update is None:
        overwrite = tuple(c for c in columns if c not in key_cols and c not in special)
    else:
        overwrite = tuple(update)
    if newer and newer in overwrite:  # the guard column is written last, after the columns it guards
        overwrite = (*(c for c in overwrite if c != newer), newer)
    return _Plan(table, key_cols, columns, overwrite, tuple(increment), tuple(greatest), tuple(least), newer)


def _normalise(plan: _Plan, row: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(row) if len(row) == len(plan.columns) else {c: row.get(c) for c in plan.columns}
    for c in plan.key:  # optional key parts are stored as their default, never NULL
        if out.get(c) is None:
            default = plan.table.c[c].default
            if default is not None and getattr(default, "is_scalar", False):
                out[c] = default.arg  # type: ignore[attr-defined]
            else:
                out[c] = None
    return out


def _sort_value(value: Any) -> tuple[int, Any]:
    return (0, "") if value is None else (1, value)


def _collapse(plan: _Plan, rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One row per key, sorted by key: last wins (or the newest by ``newer``), counters summed."""
    merged: dict[tuple[Any, ...], dict[str, Any]] = {}
    for raw in rows:
        row = _normalise(plan, raw)
        k = tuple(row[c] for c in plan.key)
        old = merged.get(k)
        if old is None:
            merged[k] = row
            continue
        if plan.newer and _sort_value(row[plan.newer]) < _sort_value(old[plan.newer]):
            new = dict(old)
        else:
            new = dict(row)
        for c in plan.increment:
            new[c] = (old[c] or 0) + (row[c] or 0)
        for c in plan.greatest:
            new[c] = max((v for v in (old[c], row[c]) if v is not None), default=None)
        for c in plan.least:
            new[c] = min((v for v in (old[c], row[c]) if v is not None), default=None)
        merged[k] = new
    try:
        order = sorted(merged)
    except TypeError:  # a NULL among key values: sort NULLs first
        order = sorted(merged, key=lambda k: tuple(_sort_value(v) for v in k))
    return [merged[k] for k in order]


def _combine(plan: _Plan, old: Any, new: Any, dialect: str) -> dict[str, ColumnElement[Any]]:
    """SET expressions: ``old`` is the stored row, ``new`` the proposed one (excluded / VALUES())."""
    out: dict[str, ColumnElement[Any]] = {}
    for c in plan.increment:
        out[c] = old[c] + new[c]
    pick_max, pick_min = (func.max, func.min) if dialect == "sqlite" else (func.greatest, func.least)
    for c in plan.greatest:
        out[c] = pick_max(func.coalesce(old[c], new[c]), func.coalesce(new[c], old[c]))
    for c in plan.least:
        out[c] = pick_min(func.coalesce(old[c], new[c]), func.coalesce(new[c], old[c]))
    return out


def _guard(plan: _Plan, old: Any, new: Any) -> ColumnElement[bool] | None:
    if not plan.newer:
        return None
    return or_(old[plan.newer].is_(None), new[plan.newer] >= old[plan.newer])


def _mysql_statement(plan: _Plan) -> Any:
    stmt = mysql.insert(plan.table)
    old, new = plan.table.c, stmt.inserted
    guard = _guard(plan, old, new)
    sets: list[tuple[str, Any]] = []
    for c in plan.overwrite:  # MySQL assigns left to right: the guard column comes last (see _plan)
        sets.append((c, new[c] if guard is None else func.if_(guard, new[c], old[c])))
    sets += list(_combine(plan, old, new, "mysql").items())
    if not sets:  # nothing to update: a no-op assignment keeps "insert if absent" semantics
        sets = [(plan.key[0], old[plan.key[0]])]
    return stmt.on_duplicate_key_update(sets)


def _on_conflict_statement(plan: _Plan, dialect: str, count: bool, source: Any = None) -> Any:
    module: Any = postgresql if dialect == "postgresql" else sqlite
    stmt = module.insert(plan.table)
    if source is not None:  # INSERT ... SELECT from the staging table, in key order
        stmt = stmt.from_select(list(plan.columns), source)
    old, new = plan.table.c, stmt.excluded
    sets: dict[str, Any] = {c: new[c] for c in plan.overwrite}
    sets.update(_combine(plan, old, new, dialect))
    if not sets:
        stmt = stmt.on_conflict_do_nothing(index_elements=list(plan.key))
    else:
        stmt = stmt.on_conflict_do_update(index_elements=list(plan.key), set_=sets, where=_guard(plan, old, new))
    if dialect == "postgresql" and count:
        stmt = stmt.returning(literal_column("(xmax = 0)").label("inserted"))
    return stmt


def _stage_name(plan: _Plan) -> str:
    digest = hashlib.sha1(",".join(plan.columns).encode()).hexdigest()[:8]
    return f"scrapesched_stage_{plan.table.name}_{digest}"[:63]


def _copy_upsert(conn: Connection, plan: _Plan, rows: list[dict[str, Any]], count: bool) -> tuple[int, int, int]:
    """PostgreSQL: COPY the rows into a session staging table, then one INSERT ... SELECT ... ON CONFLICT.
    Returns (statements, inserted, updated); the counts are exact only with ``count``."""
    name = _stage_name(plan)
    quote = conn.dialect.identifier_preparer.quote
    columns = ", ".join(quote(c) for c in plan.columns)
    processors = [plan.table.c[c].type.bind_processor(conn.dialect) for c in plan.columns]
    raw: Any = conn.connection.driver_connection
    with raw.cursor() as cur:
        cur.execute(
            f"CREATE TEMPORARY TABLE IF NOT EXISTS {quote(name)} ON COMMIT DELETE ROWS AS "
            f"SELECT {columns} FROM {quote(plan.table.name)} WITH NO DATA"
        )
        with cur.copy(f"COPY {quote(name)} ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(
                    [v if p is None else p(v) for v, p in zip((row[c] for c in plan.columns), processors, strict=True)]
                )
    stage = sa_table(name, *(sa_column(c) for c in plan.columns))
    source = select(*(stage.c[c] for c in plan.columns)).order_by(*(stage.c[c] for c in plan.key))
    result = conn.execute(_on_conflict_statement(plan, "postgresql", count, source))
    inserted = updated = 0
    if count:
        flags = [bool(r[0]) for r in result]
        inserted, updated = sum(flags), len(flags) - sum(flags)
    conn.exec_driver_sql(f"TRUNCATE {quote(name)}")
    return 3, inserted, updated


def upsert(
    conn: Connection,
    table: Table,
    rows: Iterable[Mapping[str, Any]],
    *,
    key: Sequence[str] | None = None,
    update: Sequence[str] | None = None,
    increment: Sequence[str] = (),
    greatest: Sequence[str] = (),
    least: Sequence[str] = (),
    newer: str | None = None,
    batch_size: int = 500,
    count: bool = False,
) -> UpsertResult:
    """Insert ``rows`` into ``table``, updating the row with the same ``key`` where one exists.

    - ``key``: conflict target; defaults to the table's natural key. It must be exactly the columns of a
      UNIQUE constraint, unique index or primary key, or SchemaError is raised before any SQL is sent.
    - ``update``: columns overwritten on conflict (default: every non-key column given, except those below).
    - ``increment``: ``col = col + new.col``; ``greatest``/``least``: the later/earlier of old and new.
    - ``newer``: version guard; a stored row is only changed by a row whose ``newer`` is >= the stored one.
    - ``count``: on PostgreSQL, tell inserted from updated rows exactly (``RETURNING``; costs about half the
      throughput). MariaDB/MySQL always report updated rows; SQLite reports neither.
    Runs inside the caller's transaction: wrap it in ``db.transaction`` for retries.
    """
    rows = list(rows)
    if not rows:
        return UpsertResult(rows=0, statements=0, inserted=0, updated=0)
    plan = _plan(table, rows, key, update, increment, greatest, least, newer)
    collapsed = _collapse(plan, rows)
    dialect = conn.dialect.name
    per_batch = max(1, batch_size)
    statements, inserted, updated = 0, 0, 0
    mysql_like = dialect in ("mysql", "mariadb")
    exact = dialect == "postgresql" and count
    if dialect == "postgresql" and len(collapsed) >= COPY_MIN_ROWS and conn.dialect.driver == "psycopg":
        statements, inserted, updated = _copy_upsert(conn, plan, collapsed, count)
        return UpsertResult(
            rows=len(collapsed),
            statements=statements,
            inserted=inserted if exact else None,
            updated=updated if exact else None,
        )
    stmt = _mysql_statement(plan) if mysql_like else _on_conflict_statement(plan, dialect, count)
    for start in range(0, len(collapsed), per_batch):
        batch = collapsed[start : start + per_batch]
        result = conn.execute(stmt, batch)
        if mysql_like:
            # With CLIENT_FOUND_ROWS: 1 per insert or unchanged row, 2 per changed row.
            updated += max(0, result.rowcount - len(batch))
        elif exact:
            flags = [bool(r[0]) for r in result]
            inserted += sum(flags)
            updated += len(flags) - sum(flags)
        statements += 1
    return UpsertResult(
        rows=len(collapsed),
        statements=statements,
        inserted=inserted if exact else None,
        updated=updated if mysql_like or exact else None,
    )
