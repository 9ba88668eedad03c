"""The one upsert path: ``upsert(conn, table, rows)`` writes rows by their natural key on every backend.

MariaDB/MySQL get ``INSERT ... ON DUPLICATE KEY UPDATE``, PostgreSQL and SQLite ``INSERT ... ON CONFLICT
(key) DO UPDATE``, all built with SQLAlchemy's dialect constructs. One single-row statement is compiled
for the connection's dialect (once per column set and options, kept in ``Connection.info``) and its SQL
sent with each batch of rows as one driver executemany (``Connection.exec_driver_sql``: events, error
wrapping and the transaction stay SQLAlchemy's), which the drivers turn into multi-row inserts (PyMySQL)
or pipelined statements (psycopg).
The rows are plain tuples in the statement's parameter order: each column's bind processor for the
dialect (the ``db.types`` conversions: UTC timestamps, bounded keys) is looked up once per call and applied
to every row before the first statement is sent; a value it refuses raises ``StatementError`` as
SQLAlchemy's own execution would. Rows are collapsed by key (last wins, counters summed) and, on the
server databases, sorted by key so that concurrent writers lock rows in the same order (an SQLite writer
holds the whole file's write lock, so there the sort would buy nothing). Counters are added to in the database
(``count = count + new``), never read and written back. A ``newer`` column makes the write a version guard:
a row is only replaced by a row whose ``newer`` value is at least as new as the stored one.

Large writes on PostgreSQL (``COPY_MIN_ROWS`` rows or more, psycopg) take the server's fast path instead:
the rows are streamed with ``COPY`` into a temporary staging table of the same column types, and one
``INSERT ... SELECT ... ORDER BY key ON CONFLICT DO UPDATE`` (the same statement, from a SELECT) moves them
in. The staging table lives in the session (``ON COMMIT DELETE ROWS``) and is emptied after each use.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import repeat
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection, Table, UniqueConstraint, func, literal_column, or_, select
from sqlalchemy import column as sa_column
from sqlalchemy import table as sa_table
from sqlalchemy.dialects import mysql, postgresql, sqlite
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

COMPILED_KEY = "scrapesched.upsert.compiled"
"""Key of the compiled statements in ``Connection.info`` (the DBAPI connection's dict for user data)."""


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
    ``fill``. Rows travel as tuples in ``columns`` order."""

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


def _getter(indexes: Sequence[Any]) -> Callable[[Any], tuple[Any, ...]]:
    """``row -> tuple(row[i] for i in indexes)``, in C."""
    if not indexes:
        return lambda row: ()
    if len(indexes) == 1:
        (only,) = indexes
        return lambda row: (row[only],)
    return itemgetter(*indexes)


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


def _collapse(plan: _Plan, rows: Sequence[Mapping[str, Any]]) -> list[tuple[Any, ...]]:
    """One tuple per key in ``plan.columns`` order: last wins (or the newest by ``newer``), counters summed.
    A key part given as None becomes its default (optional key parts are never NULL). The per-row work is
    done by C loops (``map``, ``itemgetter``, ``dict(zip())``) where it can be."""
    given = plan.columns[: len(plan.columns) - len(plan.fill)]
    try:
        tuples = list(map(_getter(given), rows))
    except KeyError:
        tuples = []
    if len(tuples) < len(rows) or set(map(len, rows)) != {len(given)}:  # so the same names as the first row
        raise SchemaError(f"upsert into {plan.table.name}: every row must name the same columns")
    if plan.fill:
        tuples = [row + plan.fill for row in tuples]
    for c, i in zip(plan.key, plan.index(plan.key), strict=True):
        column = plan.table.c[c]
        if _constant_default(column) and None in map(itemgetter(i), tuples):
            default = column.default.arg  # type: ignore[union-attr]
            tuples = [row if row[i] is not None else (*row[:i], default, *row[i + 1 :]) for row in tuples]
    key_of = _getter(plan.index(plan.key))
    keys = map(key_of, tuples)
    merged: dict[tuple[Any, ...], tuple[Any, ...]]
    if plan.increment or plan.greatest or plan.least or plan.newer:
        merged = {}
        for k, row in zip(keys, tuples, strict=True):
            old = merged.get(k)
            merged[k] = row if old is None else _merge(plan, old, row)
    else:
        merged = dict(zip(keys, tuples, strict=True))  # the last row of a key wins
    return list(merged.values())


def _in_key_order(plan: _Plan, rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """The rows sorted by key, so that concurrent writers lock rows in the same order."""
    key_of = _getter(plan.index(plan.key))
    try:
        return sorted(rows, key=key_of)
    except TypeError:  # a NULL among key values: sort NULLs first
        return sorted(rows, key=lambda row: tuple(_sort_value(v) for v in key_of(row)))


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


def _processors(plan: _Plan, dialect: Dialect) -> list[Callable[[Any], Any] | None]:
    """Each column's bind processor for the dialect (TypeDecorator conversions included), as SQLAlchemy
    would apply it to the column's parameter."""
    return [plan.table.c[c].type.dialect_impl(dialect).bind_processor(dialect) for c in plan.columns]


def _bound(
    plan: _Plan, rows: list[tuple[Any, ...]], dialect: Dialect, names: Sequence[str], sql: str
) -> list[tuple[Any, ...]]:
    """The rows as the driver takes them: processed values in the order of ``names`` (column names),
    converted column by column. A value a processor refuses raises ``StatementError`` before anything is
    sent."""
    if not rows:
        return []
    processors = _processors(plan, dialect)
    columns = list(zip(*rows, strict=True))
    try:
        out: list[Iterable[Any]] = []
        for i in plan.index(names):
            process = processors[i]
            out.append(columns[i] if process is None else map(process, columns[i]))
        return list(zip(*out, strict=True))
    except (TypeError, ValueError) as exc:
        raise StatementError(f"({type(exc).__module__}.{type(exc).__name__}) {exc}", sql, None, exc) from exc


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


def _driver(conn: Connection, plan: _Plan) -> _Driver:
    """The plan's statement compiled for the connection's dialect, once per plan and DBAPI connection (kept
    in ``conn.info``, as SQLAlchemy keeps its compiled cache on the engine)."""
    compiled: dict[_Plan, _Driver] = conn.info.setdefault(COMPILED_KEY, {})
    try:
        found = compiled.get(plan)
    except TypeError:  # a default value that cannot be hashed: compile every time
        return _compile(conn, plan)
    if found is None:
        found = compiled[plan] = _compile(conn, plan)
    return found


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


def _stage_name(plan: _Plan) -> str:
    digest = hashlib.sha1(",".join(plan.columns).encode()).hexdigest()[:8]
    return f"scrapesched_stage_{plan.table.name}_{digest}"[:63]


def _copy_upsert(conn: Connection, plan: _Plan, rows: list[tuple[Any, ...]], count: bool) -> tuple[int, int, int]:
    """PostgreSQL: COPY the rows into a session staging table, then one INSERT ... SELECT ... ON CONFLICT.
    Returns (statements, inserted, updated); the counts are exact only with ``count``."""
    name = _stage_name(plan)
    quote = conn.dialect.identifier_preparer.quote
    columns = ", ".join(quote(c) for c in plan.columns)
    copy_sql = f"COPY {quote(name)} ({columns}) FROM STDIN"
    values = _bound(plan, rows, conn.dialect, plan.columns, copy_sql)
    raw: Any = conn.connection.driver_connection
    with raw.cursor() as cur:
        cur.execute(
            f"CREATE TEMPORARY TABLE IF NOT EXISTS {quote(name)} ON COMMIT DELETE ROWS AS "
            f"SELECT {columns} FROM {quote(plan.table.name)} WITH NO DATA"
        )
        with cur.copy(copy_sql) as stream:
            for row in values:
                stream.write_row(row)
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
    collapsed = _collapse(plan, rows)
    if dialect == "postgresql" and len(collapsed) >= COPY_MIN_ROWS and conn.dialect.driver == "psycopg":
        # its INSERT ... SELECT sorts the rows by key in the server
        statements, inserted, updated = _copy_upsert(conn, plan, collapsed, count)
        return UpsertResult(
            rows=len(collapsed),
            statements=statements,
            inserted=inserted if exact else None,
            updated=updated if exact else None,
        )
    if dialect != "sqlite":  # an SQLite writer holds the whole file's write lock: no row order can deadlock
        collapsed = _in_key_order(plan, collapsed)
    if exact:  # RETURNING from an executemany: SQLAlchemy's "insertmanyvalues" batches, from dicts
        stmt = _on_conflict_statement(plan, dialect, count)
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
        params: list[Any] = _bound(plan, collapsed, conn.dialect, driver.names, driver.sql)
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
        rows=len(collapsed),
        statements=statements,
        inserted=inserted if exact else None,
        updated=updated if mysql_like or exact else None,
    )
