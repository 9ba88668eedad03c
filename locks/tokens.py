"""Durable fencing tokens, and ``fenced``: the one helper that turns a write into a fenced write.

Every backend takes its tokens from the ``locks`` table of the main database: one row per lease name whose
``token`` is bumped by one conditional UPDATE for each new holder, in the statement (and transaction) that
records the claim. The row is never deleted, so tokens keep growing across lock-server restarts, a Redis
``FLUSHALL``, and backend changes.

A holder passes its token to ``fenced(conn, name, token)`` inside the transaction of each write it makes on
the lease's behalf. That UPDATE succeeds only while no newer token has been issued, and it row-locks the
``locks`` row until the transaction ends, so a new holder's token bump waits for the write to commit. A
paused-then-resumed old holder therefore gets FencedOut (and its transaction rolls back) instead of
overwriting the newer holder's results.

Times are the database's clock in SQL (``db.clock.db_now``/``db_now_plus``), naive UTC like ``UTCDateTime`` stores them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import Connection, Engine, func, or_, select, update
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.sql.elements import BindParameter

from scrapesched.config.redact import redact_url
from scrapesched.db.clock import db_now, db_now_plus
from scrapesched.db.engine import describe_target
from scrapesched.db.retry import transaction
from scrapesched.db.schema import locks as locks_table
from scrapesched.db.upsert import upsert
from scrapesched.locks.base import LeaseInfo, validate_name
from scrapesched.locks.errors import FencedOut, InvalidLockArgument, LockConfigError, LockError, LockUnavailable

T = TypeVar("T")

NEVER = datetime(1970, 1, 1, tzinfo=UTC)
# Lock operations retry transient database errors a few times only: an acquire must fail fast.
LOCK_DB_ATTEMPTS = 2
# Names known to have a row, so the steady state is one statement per operation.
KNOWN_NAMES_MAX = 10_000
_MISSING_TABLE = ("no such table", "doesn't exist", "does not exist", "undefinedtable")


def _is_mysql(conn: Connection) -> bool:
    return conn.dialect.name in ("mysql", "mariadb")


# Statements are built once (their compiled form is cached by SQLAlchemy) and run with these parameters:
# lease_name, lease_holder, lease_token, ttl.
_c = locks_table.c
_NAME = sa.bindparam("lease_name", type_=_c.name.type)
_TTL: BindParameter[float] = sa.bindparam("ttl", type_=sa.Double())
FREE = or_(_c.lock_until.is_(None), _c.lock_until <= db_now())
ROW_EXISTS = select(_c.token).where(_c.name == _NAME)


def _bump_statement(*, only_if_free: bool, mysql: bool) -> Any:
    stmt = update(locks_table).where(_c.name == _NAME)
    if only_if_free:
        stmt = stmt.where(FREE)
    next_token: Any = func.last_insert_id(_c.token + 1) if mysql else _c.token + 1
    stmt = stmt.values(
        holder=sa.bindparam("lease_holder", type_=_c.holder.type),
        token=next_token,
        lock_until=db_now_plus(_TTL),
        locked_at=db_now(),
    )
    return stmt if mysql else stmt.returning(_c.token)


# (only_if_free, mysql) -> the take/issue statement
_BUMP = {
    (free, mysql): _bump_statement(only_if_free=free, mysql=mysql) for free in (True, False) for mysql in (True, False)
}
_FENCE = update(locks_table).where(_c.name == _NAME, _c.token <= sa.bindparam("lease_token")).values(token=_c.token)
_NEWEST = select(_c.token, _c.holder).where(_c.name == _NAME)


def _ensure_row(conn: Connection, name: str) -> None:
    """Insert the name's row (token 0, free) unless it exists."""
    upsert(
        conn,
        locks_table,
        [{"name": name, "holder": "", "token": 0, "lock_until": NEVER, "locked_at": NEVER}],
        update=(),
    )


def _row_exists(conn: Connection, name: str) -> bool:
    return conn.execute(ROW_EXISTS, {"lease_name": name}).first() is not None


def _bump(conn: Connection, name: str, holder: str, ttl: float, *, only_if_free: bool) -> int | None:
    """ONE conditional UPDATE: a new token for ``holder`` (and lock_until = now + ttl), or None when
    ``only_if_free`` and the row's lease has not expired. The new token is read back from the same statement
    (RETURNING; on MariaDB/MySQL through LAST_INSERT_ID(expr), which the OK packet carries)."""
    mysql = _is_mysql(conn)
    params = {"lease_name": name, "lease_holder": holder, "ttl": ttl}
    result = conn.execute(_BUMP[(only_if_free, mysql)], params)
    if mysql:
        return int(result.lastrowid) if result.rowcount == 1 else None
    row = result.first()
    return int(row[0]) if row is not None else None


def lock_db_error(engine: Engine, exc: BaseException, what: str) -> LockError:
    """The lease error for a database failure: the table is missing, or the database is unreachable."""
    orig = getattr(exc, "orig", None) or exc
    text = str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__
    where = describe_target(engine.url)
    if any(marker in f"{type(orig).__name__} {text}".lower() for marker in _MISSING_TABLE) and "locks" in text:
        return LockConfigError(f"the database at {where} has no locks table: run `scrapesched migrate`")
    if isinstance(exc, DBAPIError) and not isinstance(exc, sa.exc.OperationalError | sa.exc.InterfaceError):
        return LockError(f"{what} failed on the database at {where}: {redact_url(text)}")
    return LockUnavailable(f"{what}: cannot reach the database at {where}: {redact_url(text)}")


class TokenStore:
    """The ``locks`` rows of one database: token issue, the table backend's statements, error mapping."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._known: set[str] = set()
        self._known_lock = threading.Lock()

    def run(self, work: Callable[[Connection], T], what: str) -> T:
        """``work`` in one retried transaction; database failures become LockUnavailable/LockConfigError."""
        try:
            return transaction(self.engine, work, attempts=LOCK_DB_ATTEMPTS, what=what)
        except SQLAlchemyError as exc:
            raise lock_db_error(self.engine, exc, what) from exc

    def _claim(self, name: str, holder: str, ttl: float, *, only_if_free: bool) -> int | None:
        with self._known_lock:
            known = name in self._known

        def work(conn: Connection) -> int | None:
            if not known:
                _ensure_row(conn, name)
            token = _bump(conn, name, holder, ttl, only_if_free=only_if_free)
            if token is None and known and not _row_exists(conn, name):  # deleted behind our back: recreate
                _ensure_row(conn, name)
                token = _bump(conn, name, holder, ttl, only_if_free=only_if_free)
            return token

        token = self.run(work, "lease token")
        if not known:
            with self._known_lock:
                if len(self._known) >= KNOWN_NAMES_MAX:
                    self._known.clear()
                self._known.add(name)
        return token

    def take(self, name: str, holder: str, ttl: float) -> int | None:
        """The table backend's acquire: a new token if the name's lease has expired, else None."""
        return self._claim(name, holder, ttl, only_if_free=True)

    def issue(self, name: str, holder: str, ttl: float) -> int:
        """A new token for a holder that won the name on another lock server (Redis, GET_LOCK, advisory)."""
        token = self._claim(name, holder, ttl, only_if_free=False)
        if token is None:  # pragma: no cover - the row was just ensured
            raise LockError(f"no token row for lease {name!r}")
        return token

    def row(self, name: str) -> LeaseInfo | None:
        """The name's row as recorded: holder, latest token, lock_until (informational for other backends)."""
        c = locks_table.c

        def work(conn: Connection) -> LeaseInfo | None:
            found = conn.execute(select(c.holder, c.token, c.lock_until).where(c.name == name)).first()
            if found is None:
                return None
            return LeaseInfo(name, found.holder or "", int(found.token), found.lock_until)

        return self.run(work, "lease lookup")


def current_token(conn: Connection, name: str) -> int:
    """The newest fencing token issued for ``name`` (0 if none has been)."""
    c = locks_table.c
    token = conn.execute(select(c.token).where(c.name == validate_name(name))).scalar()
    return int(token) if token is not None else 0


def fenced(conn: Connection, name: str, token: int) -> None:
    """Refuse the surrounding write (FencedOut) if a token newer than ``token`` was issued for ``name``.

    Call it inside the write's transaction (``db.transaction``), ideally last, just before commit. It is one
    conditional UPDATE of the ``locks`` row (``WHERE name = :name AND token <= :token``) that also row-locks it
    until commit, so a new holder cannot be issued a token between this check and the write's commit.
    """
    name = validate_name(name)
    if isinstance(token, bool) or not isinstance(token, int) or token < 1:
        raise InvalidLockArgument(f"fencing token must be a positive int, got {token!r}")
    if conn.execute(_FENCE, {"lease_name": name, "lease_token": token}).rowcount == 1:
        return
    newest = conn.execute(_NEWEST, {"lease_name": name}).first()
    if newest is None:
        raise FencedOut(f"write under lease {name!r} refused: no token was ever issued for that name")
    raise FencedOut(
        f"write under lease {name!r} refused: token {token} is stale, "
        f"token {newest.token} was issued since (holder {newest.holder or 'unknown'})"
    )
