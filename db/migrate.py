"""Applying the shipped Alembic migrations: upgrade to head (serialised across processes), print the DDL,
and check that a database is at head before a scheduler starts on it.

Replicas that start together all run ``migrate``: each takes a database-wide lock first (MySQL
``GET_LOCK``, PostgreSQL ``pg_advisory_lock``, SQLite ``BEGIN IMMEDIATE``), so one applies the
migrations and the others find the schema at head and do nothing.

``require_head`` runs before every command that uses the database, so on a database at head it costs one
query and no Alembic: the database's ``alembic_version`` row is compared with ``HEAD_REVISION``, a constant a
test checks against the migration scripts. Alembic (about 0.1 s of imports) is loaded only to migrate, to
print DDL, or to explain a database that is not at head.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError

from scrapesched.config.errors import SchemaError

if TYPE_CHECKING:
    from alembic.config import Config

    from scrapesched.db import adopt

SCRIPT_LOCATION = "scrapesched.db:migrations"
HEAD_REVISION = "0008"
"""The newest revision in ``db/migrations/versions``; a test fails when a migration is added without updating it."""
LOCK_WAIT_S = 120


def _config(connection: Connection | None = None, url: str | None = None) -> Config:
    from alembic.config import Config

    cfg = Config(output_buffer=io.StringIO())
    cfg.set_main_option("script_location", SCRIPT_LOCATION)
    if url:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str:
    """The newest revision this version of scrapesched ships, read from the migration scripts by Alembic."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_config()).get_current_head()
    if head is None:  # pragma: no cover - the package always ships migrations
        raise SchemaError("no migrations are shipped")
    return head


def current_revision(conn: Connection) -> str | None:
    """The revision the database is at (None for an empty database)."""
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(conn).get_current_revision()


def _lock_key(conn: Connection) -> str:
    return "scrapesched.migrate." + (conn.engine.url.database or "")


@contextmanager
def _migration_lock(conn: Connection) -> Iterator[None]:
    dialect = conn.dialect.name
    if dialect in ("mysql", "mariadb"):
        name = _lock_key(conn)[:64]
        got = conn.execute(text("SELECT GET_LOCK(:n, :t)"), {"n": name, "t": LOCK_WAIT_S}).scalar()
        conn.commit()
        if got != 1:
            raise SchemaError(f"another process held the migration lock for {LOCK_WAIT_S} s")
        try:
            yield
        finally:
            conn.execute(text("SELECT RELEASE_LOCK(:n)"), {"n": name})
            conn.commit()
    elif dialect == "postgresql":
        key = int.from_bytes(hashlib.sha256(_lock_key(conn).encode()).digest()[:8], "big", signed=True)
        # the session's short lock_timeout (db/engine.py) would cancel the wait for another replica's migrate
        conn.execute(text(f"SET LOCAL lock_timeout = '{LOCK_WAIT_S}s'"))
        try:
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": key})
        except DBAPIError as exc:
            raise SchemaError(f"another process held the migration lock for {LOCK_WAIT_S} s") from exc
        conn.commit()
        try:
            yield
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
            conn.commit()
    else:  # SQLite: the engine begins every transaction with BEGIN IMMEDIATE, a file-wide write lock
        yield


def upgrade(
    engine: Engine, *, adopt_repo: str | None = None, on_step: adopt.StepHook | None = None
) -> tuple[str | None, str]:
    """Upgrade the database to head; returns (revision before, revision after). Idempotent.

    A database with our tables but no revision (seed 000's legacy tables, or a first migrate that
    MariaDB's non-transactional DDL left half done) is adopted (``db/adopt.py``), then stamped at head.
    ``on_step`` is called after each committed adoption step. A failure is one line (SchemaError), and no
    empty ``alembic_version`` table is left behind."""
    from alembic import command

    from scrapesched.db import adopt

    with engine.connect() as conn, _migration_lock(conn):
        before = current_revision(conn)
        try:
            existing = adopt.pending(conn) if before is None else []
            conn.commit()
            if existing:
                adopt.adopt(conn, existing, adopt_repo, on_step)
                with conn.begin():
                    command.stamp(_config(conn), "head")
            elif before != head_revision():
                with conn.begin():
                    command.upgrade(_config(conn), "head")
            after = current_revision(conn)
            conn.commit()
        except DBAPIError as exc:
            _forget_empty_version_table(conn, before)
            lines = str(exc.orig).strip().splitlines() or [type(exc.orig).__name__]
            raise SchemaError(f"migrate failed: {lines[0]}") from exc
        except BaseException:
            _forget_empty_version_table(conn, before)
            raise
    return before, after or ""


def _forget_empty_version_table(conn: Connection, before: str | None) -> None:
    """Drop an ``alembic_version`` that a failed first migrate created (MariaDB DDL commits at once)."""
    if before is not None:
        return
    try:
        conn.rollback()
        if sa.inspect(conn).has_table("alembic_version") and current_revision(conn) is None:
            conn.execute(text("DROP TABLE alembic_version"))
        conn.commit()
    except DBAPIError:  # the connection is gone: the next migrate finds the table empty and adopts
        pass


def _sqlite_head_sql() -> str:
    """SQLite: the head schema's CREATE statements and the Alembic stamp.

    Alembic cannot render SQLite's table-copying ALTERs (``batch_alter_table``) without a database to
    read, and on an empty database the migrations end exactly at the head schema (a test compares
    them), so the head schema is printed directly.
    """
    from sqlalchemy.dialects import sqlite
    from sqlalchemy.schema import CreateIndex, CreateTable

    from scrapesched.db.schema import metadata

    dialect = sqlite.dialect()
    out = ["BEGIN;"]
    for table in metadata.sorted_tables:
        out.append(str(CreateTable(table).compile(dialect=dialect)).strip() + ";")
        for index in sorted(table.indexes, key=lambda i: i.name or ""):
            out.append(str(CreateIndex(index).compile(dialect=dialect)).strip() + ";")
    out.append("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY);")
    out.append(f"INSERT INTO alembic_version (version_num) VALUES ('{head_revision()}');")
    out.append("COMMIT;")
    return "\n\n".join(out) + "\n"


def upgrade_sql(url: str) -> str:
    """The DDL that ``upgrade`` would run on an empty database of the URL's kind (nothing is applied)."""
    if url.startswith("sqlite"):
        return _sqlite_head_sql()
    from alembic import command

    cfg = _config(url=url)
    command.upgrade(cfg, "head", sql=True)
    buffer = cfg.output_buffer
    assert isinstance(buffer, io.StringIO)
    return buffer.getvalue()


def _at_head(engine: Engine) -> bool:
    """True when the database's one ``alembic_version`` row is ``HEAD_REVISION`` (one query, no Alembic);
    False for anything else, a missing table included."""
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    except DBAPIError:  # no such table (an empty database): the slow path says so
        return False
    return rows == [HEAD_REVISION]


def require_head(engine: Engine) -> None:
    """Raise SchemaError with what to do when the database is not at the shipped head revision."""
    if _at_head(engine):
        return
    with engine.connect() as conn:
        current = current_revision(conn)
    head = head_revision()
    if current != head:
        state = "empty" if current is None else f"at revision {current}"
        raise SchemaError(f"database schema is {state}, this version needs {head}: run `scrapesched migrate`")
