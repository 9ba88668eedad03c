"""Engines for SQLite, MariaDB/MySQL and PostgreSQL, configured the same way everywhere.

- SQLite: WAL journal and a busy timeout so several local processes share one file; write transactions
  start with ``BEGIN IMMEDIATE`` so two writers queue on the busy timeout instead of failing on a lock
  upgrade.
- MariaDB/MySQL: utf8mb4, session time zone UTC, strict mode, READ COMMITTED (fewer gap-lock deadlocks
  for upserts).
- PostgreSQL: session time zone UTC.

No statement waits long on a frozen peer: every session gets a row-lock wait limit (``lock_timeout``:
MariaDB/MySQL ``innodb_lock_wait_timeout``, PostgreSQL ``lock_timeout``), after which the statement fails
and the one retry policy re-runs its transaction, and an idle-in-transaction limit
(``idle_transaction_timeout``: PostgreSQL ``idle_in_transaction_session_timeout``, MariaDB
``idle_transaction_timeout``), after which the server ends a transaction whose client went quiet (a
replica stopped by SIGSTOP inside a transaction) and frees its row locks. MySQL has no such limit; SQLite
is one file on one host, where a frozen writer holds the file's write lock: its busy timeout only bounds
how long the others wait before they retry.

``connect_engine`` checks the connection and turns "cannot connect" into one line naming the host.
``autocommit_engine`` gives a server engine its one small sibling for one-statement work (lease tokens, the
fleet tick, claims): same database and settings, every statement committing by itself, no ping at checkout.
``HeldConnection`` keeps one of the sibling's connections checked out for one hot statement (the lease
token), which then skips the pool's checkout and return.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from weakref import WeakKeyDictionary

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import DBAPIError

from scrapesched.config.errors import DatabaseUnavailable, MissingDriver
from scrapesched.config.redact import redact_url
from scrapesched.config.settings import normalize_database_url

SQLITE_BUSY_TIMEOUT_S = 30.0
LOCK_TIMEOUT_S = 2.0
IDLE_TRANSACTION_TIMEOUT_S = 10.0
AUTOCOMMIT_POOL_SIZE = 2
AUTOCOMMIT_MAX_OVERFLOW = 6

# The timeouts each engine of ``create_engine`` was made with, for its ``autocommit_engine`` sibling.
_TIMEOUTS: WeakKeyDictionary[Engine, dict[str, float]] = WeakKeyDictionary()
# The autocommit sibling of each engine, made on first use and shared by everything that uses that engine.
_SIBLINGS: WeakKeyDictionary[Engine, Engine] = WeakKeyDictionary()
_SIBLINGS_LOCK = threading.Lock()


def _sqlite_engine(url: URL, **kwargs: Any) -> Engine:
    engine = sa.create_engine(
        url,
        connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S, "check_same_thread": False},
        **kwargs,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        if url.database not in (None, "", ":memory:"):
            cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def create_engine(
    url: str,
    *,
    connect_timeout: float = 5.0,
    lock_timeout: float = LOCK_TIMEOUT_S,
    idle_transaction_timeout: float = IDLE_TRANSACTION_TIMEOUT_S,
    **kwargs: Any,
) -> Engine:
    """An engine for the URL (plain ``mysql://``/``postgresql://`` get our drivers); does not connect.

    Raises MissingDriver (naming the extra to install) when the URL's driver is not installed.
    """
    parsed = make_url(normalize_database_url(url))
    backend = parsed.get_backend_name()
    # No ping at every checkout (one round trip per transaction): a connection the server has closed fails
    # its first statement, SQLAlchemy invalidates the pool's older connections, and the retry policy
    # (``db.retry``: every read and write of a replica goes through it) runs the work again on a new one.
    kwargs.setdefault("pool_pre_ping", False)
    if backend == "sqlite":
        return _sqlite_engine(parsed, **kwargs)
    try:
        if backend in ("mysql", "mariadb"):
            engine = _mysql_engine(parsed, connect_timeout, lock_timeout, idle_transaction_timeout, **kwargs)
        else:
            engine = _postgres_engine(parsed, connect_timeout, lock_timeout, idle_transaction_timeout, **kwargs)
    except ImportError:  # SQLAlchemy imports the driver (PyMySQL, psycopg) when it builds the dialect
        raise MissingDriver.for_backend("database", backend) from None
    _TIMEOUTS[engine] = {
        "connect_timeout": connect_timeout,
        "lock_timeout": lock_timeout,
        "idle_transaction_timeout": idle_transaction_timeout,
    }
    return engine


def autocommit_engine(engine: Engine) -> Engine:
    """The small sibling of a MariaDB/MySQL or PostgreSQL ``engine``, on its database with its settings and
    timeouts, whose connections commit every statement by itself: no BEGIN, COMMIT or reset ROLLBACK round
    trips, and no ping at checkout. For work that is ONE statement, run with ``db.retry.single``: a pooled
    connection the server has closed fails that statement, which the retry runs again on a new connection.

    One sibling per engine, made on first use and shared by every caller (its pool is small); it is disposed
    with ``engine``. Disposing it as well is harmless: it opens new connections when used again.
    """
    if engine.dialect.name == "sqlite":
        raise ValueError("SQLite is local: use its engine's transactions")
    with _SIBLINGS_LOCK:
        sibling = _SIBLINGS.get(engine)
        if sibling is None:
            sibling = create_engine(
                engine.url.render_as_string(hide_password=False),
                **_TIMEOUTS.get(engine, {}),
                pool_pre_ping=False,
                isolation_level="AUTOCOMMIT",
                skip_autocommit_rollback=True,
                pool_size=AUTOCOMMIT_POOL_SIZE,
                max_overflow=AUTOCOMMIT_MAX_OVERFLOW,
            )
            event.listen(engine, "engine_disposed", lambda _engine, sibling=sibling: sibling.dispose())
            _SIBLINGS[engine] = sibling
    return sibling


class HeldConnection:
    """One connection of a server engine's autocommit sibling, kept checked out between uses by one caller
    whose ONE statement runs often on the lease hot path (``locks.tokens.TokenStore``): no pool checkout,
    return or ``Connection`` set-up per statement (about 0.05-0.1 ms of CPU each on this machine).

    ``connection()`` yields it to one thread at a time; a thread that finds it busy gets a pooled
    connection instead, never waits. A statement that fails on it closes it (the pool discards it if the
    failure invalidated it), so the caller's retry (``db.retry.single``) runs on a new one. It is replaced
    after the pool's recycle time, like a pooled connection. ``close`` returns it to the pool.
    """

    def __init__(self, engine: Engine) -> None:
        if engine.dialect.name == "sqlite":
            raise ValueError("SQLite is local: use its engine's transactions")
        self._engine = engine
        self._lock = threading.Lock()
        self._conn: Connection | None = None
        self._since = 0.0

    @contextmanager
    def connection(self) -> Iterator[Connection]:
        """The held connection (made on first use), or a pooled one while another thread uses it."""
        sibling = autocommit_engine(self._engine)
        if not self._lock.acquire(blocking=False):
            with sibling.connect() as pooled:
                yield pooled
            return
        try:
            conn = self._conn
            recycle = sibling.pool._recycle  # the pool's own setting, -1 when off
            if conn is not None and (conn.invalidated or 0 <= recycle < time.monotonic() - self._since):
                self._drop()
                conn = None
            if conn is None:
                self._conn = conn = sibling.connect()
                self._since = time.monotonic()
            try:
                yield conn
            except BaseException:
                self._drop()
                raise
        finally:
            self._lock.release()

    def _drop(self) -> None:
        if self._conn is not None:
            self._conn.close()
        self._conn = None

    def close(self) -> None:
        """Return the held connection to the pool (a later use checks out a new one)."""
        with self._lock:
            self._drop()


def _mysql_engine(parsed: URL, connect_timeout: float, lock: float, idle: float, **kwargs: Any) -> Engine:
    # The pool's own reset sends a ROLLBACK round trip on every return, after a COMMIT too: ``_on_reset``
    # below sends it only when the server's last reply says a transaction is still open.
    kwargs = {"isolation_level": "READ COMMITTED", "pool_recycle": 1800, "pool_reset_on_return": None, **kwargs}
    engine = sa.create_engine(
        parsed,
        connect_args={
            "connect_timeout": max(1, int(connect_timeout)),
            "charset": "utf8mb4",
            "init_command": "SET time_zone = '+00:00', "
            "SESSION sql_mode = 'STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION', "
            f"SESSION innodb_lock_wait_timeout = {max(1, round(lock))}",
        },
        **kwargs,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        if "mariadb" in dbapi_conn.get_server_info().lower():  # MySQL has no idle-transaction limit
            with dbapi_conn.cursor() as cur:
                cur.execute(f"SET SESSION idle_transaction_timeout = {max(1, round(idle))}")

    @event.listens_for(engine, "reset")
    def _on_reset(dbapi_conn: Any, _record: Any, state: Any) -> None:
        # PyMySQL keeps the status flags of the server's last OK packet; SERVER_STATUS_IN_TRANS is bit 1.
        if not state.terminate_only and not state.transaction_was_reset and dbapi_conn.server_status & 1:
            dbapi_conn.rollback()

    return engine


def _postgres_engine(parsed: URL, connect_timeout: float, lock: float, idle: float, **kwargs: Any) -> Engine:
    options = (
        f"-c timezone=UTC -c lock_timeout={max(1, round(lock * 1000))} "
        f"-c idle_in_transaction_session_timeout={max(1, round(idle * 1000))}"
    )
    return sa.create_engine(
        parsed,
        connect_args={"connect_timeout": max(1, int(connect_timeout)), "options": options},
        **kwargs,
    )


def describe_target(url: str | URL) -> str:
    """``host:port/database`` of a URL, for messages (never the password)."""
    parsed = make_url(url) if isinstance(url, str) else url
    if parsed.get_backend_name() == "sqlite":
        return f"sqlite file {parsed.database or ':memory:'}"
    port = f":{parsed.port}" if parsed.port else ""
    return f"{parsed.host or 'localhost'}{port}/{parsed.database or ''}"


def unavailable(url: str | URL, exc: BaseException) -> DatabaseUnavailable:
    """The one-line error for a database that cannot be reached."""
    orig = getattr(exc, "orig", None) or exc
    reason = redact_url(str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__)
    return DatabaseUnavailable(f"cannot connect to the database at {describe_target(url)}: {reason}")


def connect_engine(url: str, *, connect_timeout: float = 5.0, **kwargs: Any) -> Engine:
    """An engine whose database answered ``SELECT 1``; raises DatabaseUnavailable otherwise."""
    engine = create_engine(url, connect_timeout=connect_timeout, **kwargs)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except DBAPIError as exc:
        engine.dispose()
        raise unavailable(engine.url, exc) from None
    return engine
