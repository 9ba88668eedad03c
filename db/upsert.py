"""The one upsert path: ``upsert(conn, table, rows)`` writes rows by their natural key on every backend.

MariaDB/MySQL get ``INSERT ... ON DUPLICATE KEY UPDATE``, PostgreSQL and SQLite ``INSERT ... ON CONFLICT
(key) DO UPDATE``, all built with SQLAlchemy's dialect constructs. One single-row statement is compiled
for the connection's dialect (once per column set and options, kept in ``Connection.info``) and its SQL
sent with each batch of rows as one driver executemany (``Connection.exec_driver_sql``: events, error
wrapping and the transaction stay SQLAlchemy's), which the drivers turn into multi-row inserts (PyMySQL)
or pipelined statements (psycopg).
The rows are sent as plain tuples in the statement's parameter order: each column's bind processor for the
dialect (the ``db.types`` conversions: UTC timestamps, bounded keys) is applied to the whole column before
the first statement is sent (a type's ``process_bind_column`` where it has one: the same values, checked
by C loops); a value it refuses raises ``StatementError`` as SQLAlchemy's own execution would. Rows are
collapsed by key (last wins, counters summed) and, on the server databases, sorted by key in Python so
that concurrent writers, large and small, lock rows in the same order (an SQLite writer holds the whole
file's write lock, so there the sort would buy nothing). Counters are added to in the database
(``count = count + new``), never read and written back. A ``newer`` column makes the write a version guard:
a row is only replaced by a row whose ``newer`` value is at least as new as the stored one.

Large writes on PostgreSQL (``COPY_MIN_ROWS`` rows or more, psycopg) take the server's fast path instead:
the sorted rows are streamed with ``COPY`` (binary where every column's values allow it, see
``_binary_copy``) into a temporary staging table of the same column types, each with its position in key
order, and one ``INSERT ... SELECT ... ORDER BY position ON CONFLICT DO UPDATE`` (the same statement, from a
SELECT) moves them in, in that order. The staging table lives in the session (``ON COMMIT DELETE ROWS``); one
still holding an earlier upsert's rows of the same transaction is emptied first. On a connection in
autocommit mode the path runs in a transaction of its own (else the COPY's commit would empty the table).
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from itertools import repeat
from operator import attrgetter, is_not, itemgetter
from typing import Any, TypeVar

from sqlalchemy import Connection, Table, UniqueConstraint, func, literal_column, or_, select
from sqlalchemy import column as sa_column
from sqlalchemy import table as sa_table
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import StatementError
from sqlalchemy.sql.elements import ColumnElement

from scrapesched.config.errors import SchemaError
from scrapesched.db.schema import natural_key

COPY_MIN_ROWS = 2000
"""From this many rows (after collapsing by key) a PostgreSQL upsert goes through COPY and a staging table."""
# Rows per statement unless the caller says otherwise (``db_batch_size``): large enough that a MariaDB/MySQL
# upsert goes at the driver's multi-row pace (PyMySQL cuts its statements at about 1 MB itself), where 500-row
# statements reached 0.75 of it.
DEFAULT_BATCH_SIZE = 5000

T = TypeVar("T")

COMPILED_KEY = "scrapesched.upsert.compiled"
"""Key of the compiled statements in ``Connection.info`` (the DBAPI connection's dict for user data)."""

ORDINAL = "scrapesched_ordinal"
"""The staging table's extra column: each row's position in key order."""


@dataclass(frozen=True)
class UpsertResult:
    """What an upsert did. ``inserted``/``updated`` are None where the backend cannot tell them apart."""

    rows: int
    statements: int
    inserted: int | None
    updated: int | None


@dataclass(frozen=True)
class _Plan:
    """What one upsert writes. ``columns`` are the given columns in the table's order, then ``filled``
    columns the rows lack (key parts and columns with a Python-side constant default), whose values are
    ``fill``. Rows travel as one sequence of values per column, in ``columns`` order (see ``_columns``)."""

    table: Table
    key: tuple[str, ...]
    columns: tuple[str, ...]
    fill: tuple[Any, ...]
    overwrite: tuple[str, ...]
    increment: tuple[str, ...]
    greatest: tuple[str, ...]
    least: tuple[str, ...]
    newer: str | None

    def index(self, names: Sequence[str]) -> tuple[int, ...]:
        return tuple(self.columns.index(c) for c in names)


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
    first = rows[0].keys()
    unknown = [c for c in first if c not in table.c]
    if unknown:
        raise SchemaError(f"table {table.name} has no column {', '.join(unknown)}")
    missing_key = [c for c in key_cols if c not in first and table.c[c].default is None]
    if missing_key:
        raise SchemaError(f"upsert into {table.name}: rows lack key column {', '.join(missing_key)}")
    given = tuple(c.name for c in table.c if c.name in first)
    special = set(increment) | set(greatest) | set(least)
    for name in special | ({newer} if newer else set()):
        if name not in given and name not in key_cols:
            raise SchemaError(f"upsert into {table.name}: column {name} is not in the rows")
    if update is None:
        overwrite = tuple(c for c in given if c not in key_cols and c not in special)
    else:
        overwrite = tuple(update)
    if newer and newer in overwrite:  # the guard column is written last, after the columns it guards
        overwrite = (*(c for c in overwrite if c != newer), newer)
    # What SQLAlchemy would send for a column the rows lack: a key part its default (or NULL), any other
    # column its constant Python-side default; columns without one are left to the server.
    filled = [c for c in table.c if c.name not in first and (c.name in key_cols or _constant_default(c))]
    fill = tuple(c.default.arg if _constant_default(c) else None for c in filled)  # type: ignore[union-attr]
    columns = given + tuple(c.name for c in filled)
    return _Plan(table, key_cols, columns, fill, overwrite, tuple(increment), tuple(greatest), tuple(least), newer)


def _constant_default(column: Any) -> bool:
    return column.default is not None and bool(getattr(column.default, "is_scalar", False))


def _sort_value(value: Any) -> tuple[int, Any]:
    return (0, "") if value is None else (1, value)


def _merge(plan: _Plan, old: tuple[Any, ...], row: tuple[Any, ...]) -> tuple[Any, ...]:
    """Two rows of one key: the later (or the newer by ``newer``) wins, counters summed."""
    keep_old = False
    if plan.newer:
        (at,) = plan.index([plan.newer])
        keep_old = _sort_value(row[at]) < _sort_value(old[at])
    new = list(old if keep_old else row)
    for i in plan.index(plan.increment):
        new[i] = (old[i] or 0) + (row[i] or 0)
    for i in plan.index(plan.greatest):
        new[i] = max((v for v in (old[i], row[i]) if v is not None), default=None)
    for i in plan.index(plan.least):
        new[i] = min((v for v in (old[i], row[i]) if v is not None), default=None)
    return tuple(new)


def _columns(plan: _Plan, rows: Sequence[Mapping[str, Any]]) -> list[Sequence[Any]]:
    """The rows' values, one sequence per column of ``plan.columns``, built by C loops (``map``,
    ``itemgetter``, ``zip``; each row read once). A key part given as None becomes its default (optional key
    parts are never NULL)."""
    given = plan.columns[: len(plan.columns) - len(plan.fill)]
    columns: list[Sequence[Any]] = []
    try:
        if len(given) == 1:
            columns = [list(map(itemgetter(*given), rows))]
        elif given:
            columns = list(zip(*map(itemgetter(*given), rows), strict=True))
    except KeyError:
        columns = []
    if len(columns) < len(given) or set(map(len, rows)) != {len(given)}:  # so the same names as the first row
        raise SchemaError(f"upsert into {plan.table.name}: every row must name the same columns")
    columns += [[value] * len(rows) for value in plan.fill]
    for c, i in zip(plan.key, plan.index(plan.key), strict=True):
        column = plan.table.c[c]
        if _constant_default(column) and None in columns[i]:
            default = column.default.arg  # type: ignore[union-attr]
            columns[i] = [default if v is None else v for v in columns[i]]
    return columns


def _collapse(plan: _Plan, columns: list[Sequence[Any]]) -> tuple[list[Sequence[Any]], list[tuple[Any, ...]]]:
    """One row per key: last wins (or the newest by ``newer``), counters summed; the columns and the rows'
    keys. Rows whose keys are all different (the common case, told by one ``dict(zip())``) stay as they are."""
    keys = list(zip(*(columns[i] for i in plan.index(plan.key)), strict=True))
    last = dict(zip(keys, range(len(keys)), strict=True))  # each key's last row
    if len(last) == len(keys):
        return columns, keys
    if not (plan.increment or plan.greatest or plan.least or plan.newer):
        picked = list(last.values())
        return [list(map(column.__getitem__, picked)) for column in columns], list(last)
    merged: dict[tuple[Any, ...], tuple[Any, ...]] = {}
    for k, row in zip(keys, zip(*columns, strict=True), strict=True):
        old = merged.get(k)
        merged[k] = row if old is None else _merge(plan, old, row)
    return list(zip(*merged.values(), strict=True)), list(merged)


def _key_order(keys: list[tuple[Any, ...]]) -> list[int]:
    """The rows' indexes sorted by their keys (NULLs first): the order in which the server databases write,
    and so lock, rows, the same for every writer (rows stay where they are: only indexes are sorted)."""
    try:
        return sorted(range(len(keys)), key=keys.__getitem__)
    except TypeError:  # a NULL among key values: sort NULLs first
        return sorted(range(len(keys)), key=lambda i: tuple(map(_sort_value, keys[i])))


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
    from sqlalchemy.dialects import mysql  # here, not at the top: see _on_conflict_statement

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
    # Only this database's dialect is imported, and only when a statement is built: a command that never
    # upserts imports none, and a process on SQLite never PostgreSQL's (which pulls in asyncpg's and asyncio).
    if dialect == "postgresql":
        from sqlalchemy.dialects import postgresql as module
    else:
        from sqlalchemy.dialects import sqlite as module  # type: ignore[no-redef]
    stmt: Any = module.insert(plan.table)
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


def _binder(column: Any, dialect: Dialect) -> Callable[[Sequence[Any]], Sequence[Any]] | None:
    """A column's bind processing for the dialect, as SQLAlchemy would apply it to each of the column's
    parameters (TypeDecorator conversions included), over a whole column of values; None where there is
    none. A type with ``process_bind_column`` converts the column at once where it can."""
    typ = column.type.dialect_impl(dialect)
    process = typ.bind_processor(dialect)
    if process is None:
        return None
    bulk = getattr(typ, "process_bind_column", None)
    if bulk is None:
        return lambda values: list(map(process, values))
    inner = typ.impl_instance.bind_processor(dialect)

    def bind(values: Sequence[Any]) -> Sequence[Any]:
        out = bulk(values, dialect)
        if out is None:  # value by value (and the value's own error)
            return list(map(process, values))
        return out if inner is None else list(map(inner, out))

    return bind


def _bound(
    plan: _Plan, columns: list[Sequence[Any]], dialect: Dialect, names: Sequence[str], sql: str
) -> list[Sequence[Any]]:
    """The processed values of the columns named ``names``, in that order, converted column by column. A
    value a processor refuses raises ``StatementError`` before anything is sent."""
    out: list[Sequence[Any]] = []
    try:
        for i in plan.index(names):
            bind = _binder(plan.table.c[plan.columns[i]], dialect)
            out.append(columns[i] if bind is None else bind(columns[i]))
    except Exception as exc:  # as SQLAlchemy wraps a processor's error
        raise StatementError(f"({type(exc).__module__}.{type(exc).__name__}) {exc}", sql, None, exc) from exc
    return out


@dataclass(frozen=True)
class _Driver:
    """A statement compiled for one dialect: its SQL and its parameters' names in order."""

    sql: str
    names: tuple[str, ...]
    positional: bool


def _positional(dialect: Dialect) -> Dialect:
    """A dialect that renders ``%s`` where this one renders ``%(name)s`` (PyMySQL, psycopg: both drivers
    read either, and format a tuple of values faster than a dict), otherwise this one."""
    if dialect.paramstyle != "pyformat":
        return dialect
    twin = copy.copy(dialect)
    twin.paramstyle, twin.positional = "format", True
    return twin


def _once(conn: Connection, key: Any, build: Callable[[], T]) -> T:
    """``build()`` once per key and DBAPI connection (kept in ``conn.info``, as SQLAlchemy keeps its compiled
    cache on the engine)."""
    compiled: dict[Any, Any] = conn.info.setdefault(COMPILED_KEY, {})
    try:
        found = compiled.get(key)
    except TypeError:  # a default value that cannot be hashed: compile every time
        return build()
    if found is None:
        found = compiled[key] = build()
    return found


def _driver(conn: Connection, plan: _Plan) -> _Driver:
    """The plan's statement compiled for the connection's dialect, once per plan and DBAPI connection."""
    return _once(conn, plan, partial(_compile, conn, plan))


def _compile(conn: Connection, plan: _Plan) -> _Driver:
    name = conn.dialect.name
    stmt = _mysql_statement(plan) if name in ("mysql", "mariadb") else _on_conflict_statement(plan, name, False)
    dialect = _positional(conn.dialect)
    compiled = stmt.compile(dialect=dialect, column_keys=list(plan.columns), for_executemany=True)
    positional = bool(dialect.positional)
    names = tuple(compiled.positiontup) if positional else tuple(compiled.bind_names.values())
    strays = [n for n in names if n not in plan.columns]
    if strays:  # e.g. a column whose Python-side default is a function: SQLAlchemy would call it per row
        raise SchemaError(
            f"upsert into {plan.table.name}: the rows must give column {', '.join(strays)} "
            "(its default is not a constant)"
        )
    return _Driver(compiled.string, names, positional)


@dataclass(frozen=True)
class _Stage:
    """PostgreSQL's COPY path for one plan: the session's staging table and the statements that use it."""

    table: str  # quoted name
    prepare: str  # create the table if absent; then one row of it (is it empty?) and its column types
    copy: str
    insert: str


def _stage_name(plan: _Plan) -> str:
    digest = hashlib.sha1(",".join((*plan.columns, ORDINAL)).encode()).hexdigest()[:8]
    return f"scrapesched_stage_{plan.table.name}_{digest}"[:63]


def _compile_stage(conn: Connection, plan: _Plan, count: bool) -> _Stage:
    name = _stage_name(plan)
    preparer = conn.dialect.identifier_preparer
    table, columns = preparer.quote(name), ", ".join(map(preparer.quote, plan.columns))
    prepare = (
        f"CREATE TEMPORARY TABLE IF NOT EXISTS {table} ON COMMIT DELETE ROWS AS SELECT {columns}, "
        f"0 AS {preparer.quote(ORDINAL)} FROM {preparer.format_table(plan.table)} WITH NO DATA; "
        f"SELECT * FROM {table} LIMIT 1"
    )
    copy_sql = f"COPY {table} ({columns}, {preparer.quote(ORDINAL)}) FROM STDIN"
    stage = sa_table(name, *(sa_column(c) for c in (*plan.columns, ORDINAL)))
    source = select(*(stage.c[c] for c in plan.columns)).order_by(stage.c[ORDINAL])
    insert = _on_conflict_statement(plan, "postgresql", count, source).compile(dialect=conn.dialect).string
    return _Stage(table, prepare, copy_sql, insert)


# PostgreSQL type OIDs whose binary COPY psycopg writes from these Python types (None aside) so that the server
# stores what it would read from their text form, and refuses what it would refuse: bool, int2, int4, int8,
# float8, text, varchar, timestamp (naive datetimes only; ints within the type's range, see _INT_BOUNDS).
_BINARY_KINDS: dict[int, frozenset[type]] = {
    16: frozenset({bool}),
    21: frozenset({int}),
    23: frozenset({int}),
    20: frozenset({int}),
    701: frozenset({float, int}),
    25: frozenset({str}),
    1043: frozenset({str}),
    1114: frozenset({datetime}),
}
_INT_BOUNDS = {21: 1 << 15, 23: 1 << 31, 20: 1 << 63}  # -bound <= value < bound
_TIMESTAMP = 1114
_not_none = partial(is_not, None)
_tzinfo = attrgetter("tzinfo")


def _binary_copy(oids: Sequence[int], columns: Sequence[Sequence[Any]]) -> bool:
    """Whether every column's values can go in binary COPY (faster to write and to read than text) into
    columns of these types, see ``_BINARY_KINDS``; checked column by column in C loops."""
    for oid, values in zip(oids, columns, strict=True):
        kinds = set(map(type, values))
        present = list(filter(_not_none, values)) if type(None) in kinds else values
        kinds.discard(type(None))
        if not kinds <= _BINARY_KINDS.get(oid, frozenset()):
            return False
        if not present:
            continue
        bound = _INT_BOUNDS.get(oid)
        if bound is not None and not (-bound <= min(present) and max(present) < bound):
            return False
        if oid == _TIMESTAMP and set(map(_tzinfo, present)) != {None}:
            return False
    return True


def _copy_upsert(
    conn: Connection, plan: _Plan, columns: list[Sequence[Any]], order: Sequence[int], count: bool
) -> tuple[int, int, int]:
    """PostgreSQL: COPY the rows into the session's staging table, each with its position in ``order`` (key
    order), then one INSERT ... SELECT ... ORDER BY position ON CONFLICT, so rows are written and locked in
    key order. Returns (statements, inserted, updated); the counts are exact only with ``count``."""
    stage = _once(conn, ("copy", plan, count), partial(_compile_stage, conn, plan, count))
    columns = _bound(plan, columns, conn.dialect, plan.columns, stage.copy)
    position = [0] * len(order)
    for at, i in enumerate(order):
        position[i] = at
    raw: Any = conn.connection.driver_connection
    # In autocommit mode the COPY would commit, and so empty the table (ON COMMIT DELETE ROWS), on its own.
    with raw.transaction() if raw.autocommit else nullcontext():
        with raw.cursor() as cur:
            cur.execute(stage.prepare, prepare=False)  # two statements: never a prepared one
            cur.nextset()
            oids = [d.type_code for d in cur.description]
            if cur.fetchone() is not None:  # an earlier upsert's rows, of this same transaction
                cur.execute(f"TRUNCATE {stage.table}")
            binary = _binary_copy(oids[:-1], columns)  # the last column, the position: an int4 from 0 up
            columns.append(position)
            with cur.copy(stage.copy + (" (FORMAT BINARY)" if binary else "")) as stream:
                if binary:
                    stream.set_types(oids)
                for row in zip(*columns, strict=True):
                    stream.write_row(row)
        result = conn.exec_driver_sql(stage.insert)
        inserted = updated = 0
        if count:
            flags = [bool(r[0]) for r in result]
            inserted, updated = sum(flags), len(flags) - sum(flags)
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
    batch_size: int = DEFAULT_BATCH_SIZE,
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
    dialect = conn.dialect.name
    per_batch = max(1, batch_size)
    statements, inserted, updated = 0, 0, 0
    mysql_like = dialect in ("mysql", "mariadb")
    exact = dialect == "postgresql" and count
    columns, keys = _collapse(plan, _columns(plan, rows))
    # An SQLite writer holds the whole file's write lock: no row order can deadlock, rows go as given.
    order = range(len(keys)) if dialect == "sqlite" else _key_order(keys)
    if dialect == "postgresql" and len(keys) >= COPY_MIN_ROWS and conn.dialect.driver == "psycopg":
        statements, inserted, updated = _copy_upsert(conn, plan, columns, order, count)
        return UpsertResult(
            rows=len(keys),
            statements=statements,
            inserted=inserted if exact else None,
            updated=updated if exact else None,
        )
    if exact:  # RETURNING from an executemany: SQLAlchemy's "insertmanyvalues" batches, from dicts
        stmt = _on_conflict_statement(plan, dialect, count)
        collapsed = list(map(list(zip(*columns, strict=True)).__getitem__, order))
        for start in range(0, len(collapsed), per_batch):
            result = conn.execute(
                stmt, [dict(zip(plan.columns, r, strict=True)) for r in collapsed[start : start + per_batch]]
            )
            flags = [bool(r[0]) for r in result]
            inserted += sum(flags)
            updated += len(flags) - sum(flags)
            statements += 1
    else:
        driver = _driver(conn, plan)
        params: list[Any] = list(zip(*_bound(plan, columns, conn.dialect, driver.names, driver.sql), strict=True))
        params = list(map(params.__getitem__, order))
        if not driver.positional:  # a driver that takes only named parameters
            params = list(map(dict, map(zip, repeat(driver.names), params)))
        for start in range(0, len(params), per_batch):
            batch = params[start : start + per_batch]
            result = conn.exec_driver_sql(driver.sql, batch)
            if mysql_like:
                # With CLIENT_FOUND_ROWS: 1 per insert or unchanged row, 2 per changed row.
                updated += max(0, result.rowcount - len(batch))
            statements += 1
    return UpsertResult(
        rows=len(keys),
        statements=statements,
        inserted=inserted if exact else None,
        updated=updated if mysql_like or exact else None,
    )
