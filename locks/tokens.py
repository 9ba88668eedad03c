"""The durable fencing-token counter that every backend shares, and ``fenced``: the one helper that turns a
write into a fenced write.

Tokens live in the lease table (``scrapesched_leases``) of the main database: one row per lease name,
inserted (token 0) the first time a name is seen and never deleted, whose ``token`` is bumped by one for
each new holder in the statement (and transaction) that records the claim (``TokenBump``). So tokens keep
growing across lock-server restarts, a Redis ``FLUSHALL``, and backend changes. Redis, MySQL, PostgreSQL
and memory leases take theirs with ``TokenStore.issue`` once their lock server granted the name; the
``table`` backend's take (``locks/table.py``) is itself a conditional token bump.

A holder passes its token to ``fenced(conn, name, token)`` inside the transaction of each write it makes on
the lease's behalf. That UPDATE succeeds only while no newer token has been issued, and it row-locks the
name's row until the transaction ends, so a new holder's token bump waits for the write to commit. A
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
from sqlalchemy import ColumnElement, Connection, Engine, Update, func, select, update
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.sql.elements import BindParameter

from scrapesched.config.redact import redact_url
from scrapesched.db.clock import db_now, db_now_plus
from scrapesched.db.engine import describe_target
from scrapesched.db.retry import transaction
from scrapesched.db.schema import leases
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

# Statements are built once (their compiled form is cached by SQLAlchemy) and run with these parameters:
# lease_name, lease_holder, lease_token, ttl.
_c = leases.c
_NAME = sa.bindparam("lease_name", type_=_c.name.type)
_TTL: BindParameter[float] = sa.bindparam("ttl", type_=sa.Double())
_ROW_EXISTS = select(_c.token).where(_c.name == _NAME)
_FENCE = update(leases).where(_c.name == _NAME, _c.token <= sa.bindparam("lease_token")).values(token=_c.token)
_NEWEST = select(_c.token, _c.holder).where(_c.name == _NAME)


class TokenBump:
    """ONE UPDATE of a name's row that issues its next token to a holder (and sets ``lock_until = now + ttl``,
    ``locked_at = now``) where ``conditions`` also hold. The new token is read back from the same statement:
    RETURNING, or on MariaDB/MySQL ``token = LAST_INSERT_ID(token + 1)``, which the OK packet carries.

    Build one per kind of claim, as a module constant: the statements are compiled once per dialect.
    """

    def __init__(self, *conditions: ColumnElement[bool]) -> None:
        self._returning = self._statement(conditions, mysql=False)
        self._mysql = self._statement(conditions, mysql=True)

    @staticmethod
    def _statement(conditions: tuple[ColumnElement[bool], ...], *, mysql: bool) -> Update:
        next_token: Any = func.last_insert_id(_c.token + 1) if mysql else _c.token + 1
        stmt = (
            update(leases)
            .where(_c.name == _NAME, *conditions)
            .values(
                holder=sa.bindparam("lease_holder", type_=_c.holder.type),
                token=next_token,
                lock_until=db_now_plus(_TTL),
                locked_at=db_now(),
            )
        )
        return stmt if mysql else stmt.returning(_c.token)

    def execute(self, conn: Connection, name: str, holder: str, ttl: float) -> int | None:
        """The new token, or None when no row matched (the conditions failed, or the row is missing)."""
        params = {"lease_name": name, "lease_holder": holder, "ttl": ttl}
        if conn.dialect.name in ("mysql", "mariadb"):
            result = conn.execute(self._mysql, params)
            return int(result.lastrowid) if result.rowcount == 1 else None
        row = conn.execute(self._returning, params).first()
        return int(row[0]) if row is not None else None


# For a holder that won the name on another lock server: the token goes to it unconditionally.
_ISSUE = TokenBump()


def _ensure_row(conn: Connection, name: str) -> None:
    """Insert the name's row (token 0, free) unless it exists."""
    upsert(conn, leases, [{"name": name, "holder": "", "token": 0, "lock_until": NEVER, "locked_at": NEVER}], update=())


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
    """The token rows of one database: each operation one retried transaction, database failures mapped
    to lease errors (LockUnavailable, LockConfigError)."""

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

    def claim(self, bump: TokenBump, name: str, holder: str, ttl: float) -> int | None:
        """``bump`` the name's row for ``holder``: its new token, or None when the bump's conditions failed.

        The first time this process sees a name the row is inserted if absent; after that a claim is the
        bump alone (and a row deleted behind our back is recreated).
        """
        with self._known_lock:
            known = name in self._known

        def work(conn: Connection) -> int | None:
            if not known:
                _ensure_row(conn, name)
            token = bump.execute(conn, name, holder, ttl)
            if token is None and known and conn.execute(_ROW_EXISTS, {"lease_name": name}).first() is None:
                _ensure_row(conn, name)
                token = bump.execute(conn, name, holder, ttl)
            return token

        token = self.run(work, "lease token")
        if not known:
            with self._known_lock:
                if len(self._known) >= KNOWN_NAMES_MAX:
                    self._known.clear()
                self._known.add(name)
        return token

    def issue(self, name: str, holder: str, ttl: float) -> int:
        """A new token for a holder that won the name on another lock server (Redis, GET_LOCK, advisory)."""
        token = self.claim(_ISSUE, name, holder, ttl)
        if token is None:  # pragma: no cover - the row was just ensured
            raise LockError(f"no token row for lease {name!r}")
        return token

    def row(self, name: str) -> LeaseInfo | None:
        """The name's row as recorded: holder, latest token, lock_until (informational for other backends)."""

        def work(conn: Connection) -> LeaseInfo | None:
            found = conn.execute(select(_c.holder, _c.token, _c.lock_until).where(_c.name == name)).first()
            if found is None:
                return None
            return LeaseInfo(name, found.holder or "", int(found.token), found.lock_until)

        return self.run(work, "lease lookup")


def current_token(conn: Connection, name: str) -> int:
    """The newest fencing token issued for ``name`` (0 if none has been)."""
    token = conn.execute(select(_c.token).where(_c.name == validate_name(name))).scalar()
    return int(token) if token is not None else 0


def fenced(conn: Connection, name: str, token: int) -> None:
    """Refuse the surrounding write (FencedOut) if a token newer than ``token`` was issued for ``name``.

    Call it inside the write's transaction (``db.transaction``), ideally last, just before commit. It is one
    conditional UPDATE of the name's lease row (``WHERE name = :name AND token <= :token``) that also
    row-locks it until commit, so a new holder cannot be issued a token between this check and the write's
    commit.
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
