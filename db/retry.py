"""The one retry policy of the code base: bounded exponential backoff with jitter, each retry logged.

``retrying`` builds it for any predicate (the HTTP client uses it too); ``transaction`` applies it to a
whole database transaction: on a deadlock, lock wait timeout, serialization failure, lost connection or
SQLite "database is locked" the transaction is rolled back and re-run from its start, never half of it.
``read`` to reads outside a write transaction (the server engines do not ping pooled connections, so a
replica's reads are retried when the server closed one); ``single`` to one statement of an engine, run on
its autocommit sibling (``db.engine.autocommit_engine``), or in a transaction on SQLite.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, wait_random_exponential

from scrapesched.config.log_setup import get_logger
from scrapesched.db.engine import HeldConnection, autocommit_engine

T = TypeVar("T")
log = get_logger("db.retry")

MYSQL_RETRYABLE = {1213: "deadlock", 1205: "lock wait timeout", 2006: "server gone", 2013: "connection lost"}
POSTGRES_RETRYABLE = {
    "40001": "serialization failure",
    "40P01": "deadlock",
    "55P03": "lock wait timeout",
    "25P03": "idle transaction ended by the server",
}
SQLITE_RETRYABLE = ("database is locked", "database table is locked")


def retry_reason(exc: BaseException) -> str | None:
    """Why this error is worth a retry of the whole transaction, or None if it must be raised at once."""
    orig: Any = exc.orig if isinstance(exc, DBAPIError) else exc
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return "connection lost"
    code = orig.args[0] if getattr(orig, "args", None) and isinstance(orig.args[0], int) else None
    if code in MYSQL_RETRYABLE and type(orig).__module__.startswith("pymysql"):
        return MYSQL_RETRYABLE[code]
    sqlstate = getattr(orig, "sqlstate", None)
    if sqlstate in POSTGRES_RETRYABLE:
        return POSTGRES_RETRYABLE[sqlstate]
    if isinstance(orig, sqlite3.OperationalError) and any(m in str(orig) for m in SQLITE_RETRYABLE):
        return "database is locked"
    return None


def is_retryable(exc: BaseException) -> bool:
    """True for the transient database errors listed in ``retry_reason``."""
    return retry_reason(exc) is not None


def retrying(
    predicate: Callable[[BaseException], bool],
    *,
    attempts: int = 6,
    first_wait: float = 0.05,
    max_wait: float = 2.0,
    what: str = "operation",
) -> Retrying:
    """The project's retry policy for ``predicate``: jittered exponential backoff, ``attempts`` in all."""

    def _log(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        reason = retry_reason(exc) if exc is not None else None
        log.warning(
            "retrying",
            what=what,
            attempt=state.attempt_number,
            of=attempts,
            reason=reason or (type(exc).__name__ if exc else None),
            wait_s=round(state.next_action.sleep, 3) if state.next_action else None,
        )

    return Retrying(
        stop=stop_after_attempt(attempts),
        wait=wait_random_exponential(multiplier=first_wait, max=max_wait),
        retry=retry_if_exception(predicate),
        before_sleep=_log,
        reraise=True,
    )


def _retried(once: Callable[[], T], attempts: int, what: str) -> T:
    """``once()``, run again under the policy on transient errors. The first attempt runs outside tenacity,
    so a statement that succeeds (nearly every one) does not pay for building and stepping the policy (about
    10 us); its failure, if retryable, is replayed as the policy's first attempt, so the log lines, the
    waits and the count of attempts are the policy's own."""
    try:
        return once()
    except Exception as exc:
        if attempts < 2 or not is_retryable(exc):
            raise
        first_failure: list[BaseException] = [exc]
    for attempt in retrying(is_retryable, attempts=attempts, what=what):
        with attempt:
            if first_failure:
                raise first_failure.pop()
            return once()
    raise AssertionError("unreachable")  # pragma: no cover


def transaction(engine: Engine, work: Callable[[Connection], T], *, attempts: int = 6, what: str = "transaction") -> T:
    """Run ``work(conn)`` in one transaction, re-running the whole transaction on transient errors."""

    def once() -> T:
        with engine.begin() as conn:
            return work(conn)

    return _retried(once, attempts, what)


def read(engine: Engine, work: Callable[[Connection], T], *, attempts: int = 6, what: str = "read") -> T:
    """Run ``work(conn)``, which only reads, on a connection of ``engine``, re-run from its start on the
    transient errors of ``transaction``, among them a pooled connection the server has closed: the server
    engines do not ping a connection at every checkout, so every read on a long-lived replica goes
    through here or ``transaction`` (a command's fresh process may use ``engine.connect()``)."""

    def once() -> T:
        with engine.connect() as conn:
            return work(conn)

    return _retried(once, attempts, what)


def single(
    engine: Engine,
    work: Callable[[Connection], T],
    *,
    attempts: int = 6,
    what: str = "statement",
    held: HeldConnection | None = None,
) -> T:
    """Run ``work(conn)``, ONE statement (or statements that need no atomicity), safe to run again, committed
    by itself: on the autocommit sibling of a MariaDB/MySQL or PostgreSQL ``engine`` (one round trip: no
    ping, BEGIN or COMMIT), or on ``held``, one of its connections a hot caller keeps; in a transaction of
    ``engine`` on SQLite (local, where a transaction costs no round trip). Retried like ``transaction``."""
    if engine.dialect.name == "sqlite":
        return transaction(engine, work, attempts=attempts, what=what)
    connect = autocommit_engine(engine).connect if held is None else held.connection  # each statement commits itself

    def once() -> T:
        with connect() as conn:
            return work(conn)

    return _retried(once, attempts, what)
