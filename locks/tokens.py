"""The durable fencing-token counter that every backend shares, and ``fenced``: the one helper that turns a
write into a fenced write.

Tokens live in the lease table (``scrapesched_leases``) of the main database: one row per lease name,
never deleted, whose ``token`` is bumped by one for each new holder by ONE statement (``TokenBump``): an
upsert that also creates the row (token 1) the first time a name is seen. So tokens keep growing across
lock-server restarts, a Redis ``FLUSHALL``, and backend changes. Redis, MySQL, PostgreSQL and memory leases
take theirs with ``TokenStore.issue`` once their lock server granted the name; the ``table`` backend's take
(``locks/table.py``) is itself a conditional token bump.

On MariaDB/MySQL and PostgreSQL every ``TokenStore`` statement runs on the main engine's small autocommit
sibling (``db.retry.single``, ``db.engine.autocommit_engine``): one round trip, no BEGIN/COMMIT and no ping
at checkout (a connection found dead fails its statement, which the one retry policy runs again once on a
new connection). Each store keeps one of the sibling's connections checked out (``db.engine.HeldConnection``)
for its statements, so a token pays no pool checkout and return.
On SQLite, which is local, each runs in a transaction of the main engine.

A holder passes its token to ``fenced(conn, name, token)`` inside the transaction of each write it makes on
the lease's behalf. That UPDATE succeeds only while no newer token has been issued, and it row-locks the
name's row until the transaction ends, so a new holder's token bump waits for the write to commit. A
paused-then-resumed old holder therefore gets FencedOut (and its transaction rolls back) instead of
overwriting the newer holder's results.

Times are the database's clock in SQL (``db.clock.db_now``/``db_now_plus``), naive UTC like ``UTCDateTime`` stores them.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import ColumnElement, Connection, Engine, Executable, and_, case, func, select, update
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.sql.elements import BindParameter
from sqlalchemy.sql.visitors import iterate

from scrapesched.config.redact import redact_url
from scrapesched.db.clock import db_now, db_now_plus
from scrapesched.db.engine import HeldConnection, autocommit_engine, describe_target
from scrapesched.db.retry import single
from scrapesched.db.schema import leases
from scrapesched.locks.base import LeaseInfo, validate_name
from scrapesched.locks.errors import FencedOut, InvalidLockArgument, LockConfigError, LockError, LockUnavailable

T = TypeVar("T")

# Lock operations retry transient database errors a few times only: an acquire must fail fast.
LOCK_DB_ATTEMPTS = 2
_MISSING_TABLE = ("no such table", "doesn't exist", "does not exist", "undefinedtable")

# Statements are built once (their compiled form is cached by SQLAlchemy) and run with these parameters:
# lease_name, lease_holder, lease_token, ttl.
_c = leases.c
_NAME = sa.bindparam("lease_name", type_=_c.name.type)
_TTL: BindParameter[float] = sa.bindparam("ttl", type_=sa.Double())
_FENCE = update(leases).where(_c.name == _NAME, _c.token <= sa.bindparam("lease_token")).values(token=_c.token)
_NEWEST = select(_c.token, _c.holder).where(_c.name == _NAME)
_TOKEN_NOW = select(_c.token).where(_c.name == _NAME)
_NEWEST_READ = _TOKEN_NOW.scalar_subquery() <= sa.bindparam("lease_token")
_NEWEST_LOCKED = _TOKEN_NOW.with_for_update(read=True).scalar_subquery() <= sa.bindparam("lease_token")


class TokenBump:
    """ONE upsert of a name's row that issues its next token to a holder (and sets ``lock_until = now + ttl``,
    ``locked_at = now``) where ``conditions`` also hold; a missing row is inserted with token 1. The new
    token is read back from the same statement:

    - PostgreSQL, SQLite: ``INSERT ... ON CONFLICT (name) DO UPDATE SET token = token + 1, ... WHERE
      conditions RETURNING token`` (no row returned: the conditions failed);
    - MariaDB/MySQL: ``INSERT ... VALUES (..., LAST_INSERT_ID(1), ...) ON DUPLICATE KEY UPDATE token =
      CASE WHEN conditions THEN LAST_INSERT_ID(token + 1) ELSE token + LAST_INSERT_ID(0) END, ...``: the OK
      packet's insert id is the new token, 0 when the conditions failed. Assignments run left to right
      there, so ``lock_until`` is set last and ``conditions`` may read ``name`` and ``lock_until`` only.

    Build one per kind of claim, as a module constant: the statements are compiled once per dialect.
    """

    def __init__(self, *conditions: ColumnElement[bool]) -> None:
        read = {el.name for cond in conditions for el in iterate(cond) if isinstance(el, sa.Column)}
        if not read <= {"name", "lock_until"}:
            raise ValueError(f"token bump conditions may read name and lock_until only, not {sorted(read)}")
        self._when = and_(*conditions) if conditions else None

    # Built on first use, for the database in use only: a process on SQLite never imports PostgreSQL's dialect.
    @cached_property
    def _postgres(self) -> Executable:
        from sqlalchemy.dialects import postgresql

        return self._on_conflict(postgresql.insert(leases), self._when)

    @cached_property
    def _sqlite(self) -> Executable:
        from sqlalchemy.dialects import sqlite

        return self._on_conflict(sqlite.insert(leases), self._when)

    @cached_property
    def _mysql(self) -> Executable:
        return self._on_duplicate_key(self._when)

    @staticmethod
    def _values(token: Any) -> dict[str, Any]:
        return {
            "name": _NAME,
            "holder": sa.bindparam("lease_holder", type_=_c.holder.type),
            "token": token,
            "lock_until": db_now_plus(_TTL),
            "locked_at": db_now(),
        }

    @classmethod
    def _on_conflict(cls, insert: Any, when: ColumnElement[bool] | None) -> Executable:
        new = insert.excluded
        stmt = insert.values(cls._values(1)).on_conflict_do_update(
            index_elements=[_c.name],
            set_={
                "holder": new.holder,
                "token": _c.token + 1,
                "lock_until": new.lock_until,
                "locked_at": new.locked_at,
            },
            where=when,
        )
        return stmt.returning(_c.token)  # type: ignore[no-any-return]

    @classmethod
    def _on_duplicate_key(cls, when: ColumnElement[bool] | None) -> Executable:
        from sqlalchemy.dialects import mysql

        insert = mysql.insert(leases).values(cls._values(func.last_insert_id(1)))
        new = insert.inserted

        def pick(claimed: Any, kept: Any) -> Any:
            return claimed if when is None else case((when, claimed), else_=kept)

        return insert.on_duplicate_key_update(
            [
                ("token", pick(func.last_insert_id(_c.token + 1), _c.token + func.last_insert_id(0))),
                ("holder", pick(new.holder, _c.holder)),
                ("locked_at", pick(new.locked_at, _c.locked_at)),
                ("lock_until", pick(new.lock_until, _c.lock_until)),  # last: ``when`` reads it
            ]
        )

    def statement(self, dialect: str) -> Executable:
        """The bump for a database of this dialect name; its parameters are lease_name, lease_holder, ttl."""
        if dialect in ("mysql", "mariadb"):
            return self._mysql
        return self._postgres if dialect == "postgresql" else self._sqlite

    def execute(self, conn: Connection, name: str, holder: str, ttl: float) -> int | None:
        """The new token, or None when the conditions failed."""
        params = {"lease_name": name, "lease_holder": holder, "ttl": ttl}
        result = conn.execute(self.statement(conn.dialect.name), params)
        if conn.dialect.name in ("mysql", "mariadb"):
            return int(result.lastrowid) if result.lastrowid else None
        row = result.first()
        return int(row[0]) if row is not None else None


# For a holder that won the name on another lock server: the token goes to it unconditionally.
ISSUE = TokenBump()


def lock_db_error(engine: Engine, exc: BaseException, what: str) -> LockError:
    """The lease error for a database failure: the table is missing, or the database is unreachable."""
    orig = getattr(exc, "orig", None) or exc
    text = str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__
    where = describe_target(engine.url)
    if any(marker in f"{type(orig).__name__} {text}".lower() for marker in _MISSING_TABLE) and leases.name in text:
        return LockConfigError(
            f"the database at {where} has no locks table: run `scrapesched migrate` (it creates {leases.name})"
        )
    if isinstance(exc, DBAPIError) and not isinstance(exc, sa.exc.OperationalError | sa.exc.InterfaceError):
        return LockError(f"{what} failed on the database at {where}: {redact_url(text)}")
    return LockUnavailable(f"{what}: cannot reach the database at {where}: {redact_url(text)}")


class TokenStore:
    """The token rows of one database: each operation ONE retried statement (``db.retry.single``: on
    MariaDB/MySQL and PostgreSQL on the engine's autocommit sibling, see the module's docstring), database
    failures mapped to lease errors (LockUnavailable, LockConfigError), on a connection the store keeps
    (one thread at a time; another thread meanwhile takes a pooled one). ``close`` disposes the sibling's
    connections."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._held = HeldConnection(engine) if engine.dialect.name != "sqlite" else None

    def run(self, work: Callable[[Connection], T], what: str) -> T:
        """``work`` (one statement, safe to run again) retried; database failures become
        LockUnavailable/LockConfigError."""
        try:
            return single(self.engine, work, attempts=LOCK_DB_ATTEMPTS, what=what, held=self._held)
        except SQLAlchemyError as exc:
            raise lock_db_error(self.engine, exc, what) from exc

    def claim(self, bump: TokenBump, name: str, holder: str, ttl: float) -> int | None:
        """``bump`` the name's row (inserting it if absent) for ``holder``: its new token, or None when the
        bump's conditions failed."""
        return self.run(lambda conn: bump.execute(conn, name, holder, ttl), "lease token")

    def issue(self, name: str, holder: str, ttl: float) -> int:
        """A new token for a holder that won the name on another lock server (Redis, GET_LOCK, advisory)."""
        token = self.claim(ISSUE, name, holder, ttl)
        if token is None:  # pragma: no cover - an unconditional bump always issues one
            raise LockError(f"no token issued for lease {name!r}")
        return token

    def row(self, name: str) -> LeaseInfo | None:
        """The name's row as recorded: holder, latest token, lock_until (informational for other backends)."""

        def work(conn: Connection) -> LeaseInfo | None:
            found = conn.execute(select(_c.holder, _c.token, _c.lock_until).where(_c.name == name)).first()
            if found is None:
                return None
            return LeaseInfo(name, found.holder or "", int(found.token), found.lock_until)

        return self.run(work, "lease lookup")

    def close(self) -> None:
        """Close the autocommit sibling's connections (it reconnects if used again)."""
        if self._held is not None:
            self._held.close()
            autocommit_engine(self.engine).dispose()


def current_token(conn: Connection, name: str) -> int:
    """The newest fencing token issued for ``name`` (0 if none has been)."""
    token = conn.execute(_TOKEN_NOW, {"lease_name": validate_name(name)}).scalar()
    return int(token) if token is not None else 0


def not_superseded(*, lock: bool) -> ColumnElement[bool]:
    """The condition "no token newer than the holder's has been issued for the name", for a statement that
    is fenced by itself (one conditional UPDATE instead of ``fenced`` and the write in a transaction); run
    it with ``fence_params(name, token)`` among its parameters.

    With ``lock`` the lease row is share-locked (``FOR SHARE`` / ``LOCK IN SHARE MODE``; SQLite's writer
    holds the whole file) until the statement's transaction ends: a new holder's token bump waits for it,
    and a statement that waited for a bump sees the bumped token and does nothing. Without ``lock`` it is a
    plain read (a heartbeat: it writes no effect). A name without a token fails the condition.
    """
    return _NEWEST_LOCKED if lock else _NEWEST_READ


def fence_params(name: str, token: int) -> dict[str, object]:
    """The bound parameters of ``not_superseded`` for a holder of ``name`` at ``token`` (both checked)."""
    name = validate_name(name)
    if isinstance(token, bool) or not isinstance(token, int) or token < 1:
        raise InvalidLockArgument(f"fencing token must be a positive int, got {token!r}")
    return {"lease_name": name, "lease_token": token}


def fenced(conn: Connection, name: str, token: int) -> None:
    """Refuse the surrounding write (FencedOut) if a token newer than ``token`` was issued for ``name``.

    Call it inside the write's transaction (``db.transaction``), ideally last, just before commit. It is one
    conditional UPDATE of the name's lease row (``WHERE name = :name AND token <= :token``) that also
    row-locks it until commit, so a new holder cannot be issued a token between this check and the write's
    commit.
    """
    params = fence_params(name, token)
    if conn.execute(_FENCE, params).rowcount == 1:
        return
    newest = conn.execute(_NEWEST, params).first()
    if newest is None:
        raise FencedOut(f"write under lease {name!r} refused: no token was ever issued for that name")
    raise FencedOut(
        f"write under lease {name!r} refused: token {token} is stale, "
        f"token {newest.token} was issued since (holder {newest.holder or 'unknown'})"
    )
