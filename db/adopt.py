"""Adopting a database that has our tables but no Alembic revision: seed 000's legacy single-repository
tables (no ``repo`` column, missing or old UNIQUE keys, other types), or a first ``migrate`` that MariaDB's
non-transactional DDL left half done.

``adopt`` first checks, reading only, what would stop it (no ``SCRAPESCHED_ADOPT_REPO`` for tables without
``repo``; duplicate natural keys; key values too long or NULL) and raises with one line per table and the
``scrapesched dedupe`` command to run, having changed nothing. Then, table by table, each step reads the
catalog before it acts, so a migrate killed at any step completes when run again: add missing columns
(``repo`` filled with the adopted repository), give optional key parts '' for NULL, drop legacy UNIQUE keys
that are stricter than ours (e.g. lacking ``repo``, or on column prefixes), convert column types where ours
differ, add our UNIQUE key; then create our missing tables. The caller stamps the revision last.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Column, Connection, Table

from scrapesched.config.errors import ConfigError, SchemaError
from scrapesched.db.dedupe import count, format_key, keyed_table
from scrapesched.db.schema import metadata, natural_key
from scrapesched.db.types import KeyString

MYSQL = ("mysql", "mariadb")
StepHook = Callable[[str], None]


class DuplicateKeys(SchemaError):
    """Adoption cannot add a UNIQUE key: rows share the key. The message has one line per table."""


@dataclass(frozen=True)
class _Actual:
    """A column as the catalog has it."""

    type: str  # normalised, comparable with _expected_type
    nullable: bool


def pending(conn: Connection) -> list[str]:
    """Names of our tables that already exist in a database without an Alembic revision."""
    existing = set(sa.inspect(conn).get_table_names())
    return [t.name for t in metadata.sorted_tables if t.name in existing]


def legacy_tables(conn: Connection, names: list[str]) -> list[str]:
    """Of ``names``, the tables that lack the NOT NULL ``repo`` column ours have (seed 000's single-repo
    tables, or ones whose adoption was interrupted before ``repo`` was filled)."""
    inspector = sa.inspect(conn)
    out = []
    for name in names:
        repo = next((c for c in inspector.get_columns(name) if c["name"] == "repo"), None)
        if "repo" in metadata.tables[name].c and (repo is None or repo["nullable"]):  # nullable: not yet filled
            out.append(name)
    return out


def _q(conn: Connection, name: str) -> str:
    return str(conn.dialect.identifier_preparer.quote(name))


def _actual_columns(conn: Connection, table: str) -> dict[str, _Actual]:
    if conn.dialect.name in MYSQL:
        rows = conn.execute(
            sa.text(
                "SELECT COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, CHARACTER_SET_NAME, COLLATION_NAME "
                "FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = :t"
            ),
            {"t": table},
        )
        return {
            r[0]: _Actual(_norm(r[1] + (f" character set {r[3]} collate {r[4]}" if r[4] else "")), r[2] == "YES")
            for r in rows
        }
    rows = conn.execute(
        sa.text(
            "SELECT column_name, data_type, character_maximum_length, is_nullable FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = :t"
        ),
        {"t": table},
    )
    out = {}
    for name, data_type, length, nullable in rows:
        kind = f"varchar({length})" if data_type == "character varying" and length else data_type
        out[name] = _Actual(_norm(kind), nullable == "YES")
    return out


def _norm(ddl: str) -> str:
    s = ddl.lower().strip()
    s = re.sub(r"^(bigint|int|integer|smallint|mediumint)\(\d+\)", r"\1", s)
    s = re.sub(r"^integer\b", "int", s)
    return "tinyint(1)" if s == "bool" else s  # MySQL's BOOL is TINYINT(1)


def _expected_type(conn: Connection, column: Column[Any]) -> str:
    return _norm(str(column.type.compile(dialect=conn.dialect)))


def _same_type(expected: str, actual: str) -> bool:
    if "collate" not in expected:  # our non-key text: charset and collation are the table's business
        actual = actual.split(" character set ")[0]
    return expected == actual


def _default_sql(conn: Connection, column: Column[Any]) -> str | None:
    default = column.server_default
    if default is None:
        return None
    arg = getattr(default, "arg", None)
    if isinstance(arg, str):
        return "'" + arg.replace("'", "''") + "'"
    if isinstance(arg, sa.ClauseElement):
        return str(arg.compile(dialect=conn.dialect))  # true() / false()
    return None


def _is_optional_key_part(table: Table, column: Column[Any]) -> bool:
    return column.name in natural_key(table) and column.server_default is not None


def check(conn: Connection, names: list[str], adopt_repo: str | None) -> None:
    """Raise (changing nothing) if adoption of these tables could not finish: no repository for tables
    without ``repo`` (ConfigError), duplicate natural keys (DuplicateKeys), key values that are NULL or
    longer than our columns (SchemaError)."""
    legacy = legacy_tables(conn, names)
    if legacy and not adopt_repo:
        raise ConfigError(
            f"legacy tables without a repo column ({', '.join(legacy)}): set SCRAPESCHED_ADOPT_REPO=owner/name "
            "to the repository their rows belong to, then run `scrapesched migrate` again"
        )
    problems: list[str] = []
    duplicated: list[str] = []
    for name in names:
        table = metadata.tables[name]
        actual = _actual_columns(conn, name)
        for key_col in natural_key(table):
            column = table.c[key_col]
            if key_col not in actual:
                if column.server_default is None and key_col != "repo":
                    problems.append(f"{name}: has no {key_col} column, which our natural key needs")
                continue
            if actual[key_col].nullable and column.server_default is None and key_col != "repo":
                nulls = conn.execute(
                    sa.select(sa.func.count()).select_from(sa.table(name)).where(sa.column(key_col).is_(None))
                ).scalar_one()
                if nulls:
                    problems.append(f"{name}: {nulls} rows have no {key_col} (NULL); fill or delete them")
            if isinstance(column.type, KeyString):
                too_long = _count_longer(conn, name, key_col, column.type.length)
                if too_long:
                    problems.append(
                        f"{name}: {too_long} rows have a {key_col} longer than {column.type.length} characters"
                    )
        if not problems:
            found = count(conn, keyed_table(conn, name))
            if found.keys:
                examples = ", ".join(format_key(e) for e in found.examples)
                duplicated.append(
                    f"{name}: {found.keys} keys ({', '.join(found.key)}) held by more than one row "
                    f"({found.surplus} rows to delete), e.g. {examples}: run `scrapesched dedupe {name} --apply`"
                )
    if problems:
        raise SchemaError("cannot adopt the existing tables (nothing was changed): " + "; ".join(problems))
    if duplicated:
        raise DuplicateKeys(
            "cannot add the UNIQUE keys, duplicate natural keys (nothing was changed; dedupe, then migrate again):\n"
            + "\n".join(duplicated)
        )


def _count_longer(conn: Connection, table: str, column: str, length: int) -> int:
    too_long = sa.func.char_length(sa.column(column)) > length
    query = sa.select(sa.func.count()).select_from(sa.table(table)).where(too_long)
    return int(conn.execute(query).scalar_one())


def adopt(conn: Connection, names: list[str], adopt_repo: str | None, on_step: StepHook | None = None) -> list[str]:
    """Bring the existing tables ``names`` to our schema and create the missing ones; returns the steps
    taken. Each step is committed on its own and checks the catalog first (idempotent)."""
    if conn.dialect.name not in (*MYSQL, "postgresql"):
        raise SchemaError(
            f"tables {', '.join(names)} exist but the database has no schema revision; adopting an existing "
            "database is supported on MariaDB/MySQL and PostgreSQL"
        )
    check(conn, names, adopt_repo)
    conn.commit()
    steps: list[str] = []

    def step(what: str, sql: str, params: dict[str, Any] | None = None) -> None:
        conn.execute(sa.text(sql), params or {})
        conn.commit()
        steps.append(what)
        if on_step is not None:
            on_step(what)

    for name in names:
        _adopt_table(conn, metadata.tables[name], adopt_repo, step)
    existing = set(sa.inspect(conn).get_table_names())
    for table in metadata.sorted_tables:
        if table.name not in existing:
            table.create(conn)
            conn.commit()
            steps.append(f"create {table.name}")
            if on_step is not None:
                on_step(f"create {table.name}")
    return steps


def _adopt_table(conn: Connection, table: Table, adopt_repo: str | None, step: Callable[..., None]) -> None:
    name, qt = table.name, _q(conn, table.name)
    mysql = conn.dialect.name in MYSQL
    actual = _actual_columns(conn, name)
    # 1. missing columns; ``repo`` is filled with the adopted repository, then made NOT NULL below
    added: list[str] = []
    for column in table.columns:
        if column.name in actual:
            continue
        ddl = f"ADD COLUMN {_q(conn, column.name)} {column.type.compile(dialect=conn.dialect)}"
        default = _default_sql(conn, column)
        added.append(ddl + (f" NOT NULL DEFAULT {default}" if default is not None and not column.nullable else " NULL"))
    if added:  # one statement: all of them or none
        missing = [c.name for c in table.columns if c.name not in actual]
        step(f"{name}: add columns {', '.join(missing)}", f"ALTER TABLE {qt} " + ", ".join(added))
    if "repo" in table.c:
        filled = conn.execute(
            sa.select(sa.func.count()).select_from(sa.table(name)).where(sa.column("repo").is_(None))
        ).scalar_one()
        if filled:
            step(f"{name}: set repo", f"UPDATE {qt} SET repo = :r WHERE repo IS NULL", {"r": adopt_repo})
    # 2. optional key parts: '' where the legacy table has NULL
    for column in table.columns:
        if _is_optional_key_part(table, column):
            q = _q(conn, column.name)
            nulls = conn.execute(sa.text(f"SELECT COUNT(*) FROM {qt} WHERE {q} IS NULL")).scalar_one()
            if nulls:
                step(f"{name}: '' for NULL {column.name}", f"UPDATE {qt} SET {q} = '' WHERE {q} IS NULL")
    # 3. legacy UNIQUE keys stricter than ours (a subset of our key's columns, or on column prefixes)
    for index_name, is_constraint in _stricter_keys(conn, table):
        if mysql:
            step(f"{name}: drop legacy key {index_name}", f"ALTER TABLE {qt} DROP INDEX {_q(conn, index_name)}")
        elif is_constraint:
            step(f"{name}: drop legacy key {index_name}", f"ALTER TABLE {qt} DROP CONSTRAINT {_q(conn, index_name)}")
        else:
            step(f"{name}: drop legacy key {index_name}", f"DROP INDEX {_q(conn, index_name)}")
    # 4. types and NOT NULL where ours differ (one ALTER TABLE: one table rebuild on MariaDB)
    actual = _actual_columns(conn, name)
    clauses: list[str] = []
    for column in table.columns:
        have = actual[column.name]
        want = _expected_type(conn, column)
        same_type = _same_type(want, have.type)
        nullable = column.nullable or (have.nullable and not _can_be_not_null(conn, table, column))
        if same_type and nullable == have.nullable:
            continue
        if not same_type and isinstance(column.type, sa.String | KeyString) and column.name not in natural_key(table):
            length = getattr(column.type, "length", None)
            if length and _count_longer(conn, name, column.name, length):
                continue  # a wider legacy column with longer values: kept as it is
        clauses.extend(_alter_column(conn, column, nullable=nullable))
    if clauses:
        step(f"{name}: convert column types", f"ALTER TABLE {qt} " + ", ".join(clauses))
    # 5. our UNIQUE key, after counting duplicates again (a legacy writer may still be running)
    if not _has_our_key(conn, table):
        found = count(conn, keyed_table(conn, name))
        if found.keys:
            check(conn, [name], adopt_repo)
        cols = ", ".join(_q(conn, c) for c in natural_key(table))
        step(f"{name}: add key uq_{name}", f"ALTER TABLE {qt} ADD CONSTRAINT {_q(conn, 'uq_' + name)} UNIQUE ({cols})")


def _can_be_not_null(conn: Connection, table: Table, column: Column[Any]) -> bool:
    """Whether the column may become NOT NULL: it holds no NULL (non-key columns with NULLs stay nullable)."""
    q = _q(conn, column.name)
    return not conn.execute(sa.text(f"SELECT 1 FROM {_q(conn, table.name)} WHERE {q} IS NULL LIMIT 1")).first()


def _alter_column(conn: Connection, column: Column[Any], *, nullable: bool) -> list[str]:
    q = _q(conn, column.name)
    ddl = str(column.type.compile(dialect=conn.dialect))
    if conn.dialect.name in MYSQL:
        clause = f"MODIFY COLUMN {q} {ddl}{' NULL' if nullable else ' NOT NULL'}"
        if column.primary_key and column.autoincrement:
            clause += " AUTO_INCREMENT"
        default = _default_sql(conn, column)
        return [clause + (f" DEFAULT {default}" if default is not None else "")]
    null = "DROP NOT NULL" if nullable else "SET NOT NULL"
    return [f"ALTER COLUMN {q} TYPE {ddl} USING {q}::{ddl}", f"ALTER COLUMN {q} {null}"]


def _unique_keys(conn: Connection, table: str) -> list[tuple[str, tuple[str, ...], bool, bool]]:
    """(name, columns, on a column prefix, is a constraint) of every UNIQUE key but the primary key."""
    inspector = sa.inspect(conn)
    out: dict[str, tuple[str, tuple[str, ...], bool, bool]] = {}
    for uc in inspector.get_unique_constraints(table):
        if uc["name"]:
            out[uc["name"]] = (uc["name"], tuple(c for c in uc["column_names"] if c), False, True)
    for ix in inspector.get_indexes(table):
        if ix.get("unique") and ix["name"] and ix["name"] not in out:
            prefixed = bool(ix.get("dialect_options", {}).get("mysql_length"))
            out[ix["name"]] = (ix["name"], tuple(c for c in ix["column_names"] if c), prefixed, False)
    if conn.dialect.name in MYSQL:  # MySQL reports its UNIQUE keys as both: look prefixes up on the index
        for ix in inspector.get_indexes(table):
            if ix["name"] in out and ix.get("dialect_options", {}).get("mysql_length"):
                n, cols, _, constraint = out[ix["name"]]
                out[ix["name"]] = (n, cols, True, constraint)
    return list(out.values())


def _stricter_keys(conn: Connection, table: Table) -> list[tuple[str, bool]]:
    key = set(natural_key(table))
    return [
        (name, constraint)
        for name, cols, prefixed, constraint in _unique_keys(conn, table.name)
        if set(cols) <= key and (set(cols) != key or prefixed)
    ]


def _has_our_key(conn: Connection, table: Table) -> bool:
    key = set(natural_key(table))
    return any(set(cols) == key and not prefixed for _, cols, prefixed, _c in _unique_keys(conn, table.name))
