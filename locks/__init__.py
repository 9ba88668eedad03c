"""Leases that let N replicas share one schedule: at most one holder per name, judged by the lock server's
clock, renewed in the background, with a lost signal and durable fencing tokens.

``connect(url)`` picks the backend named by ``SCRAPESCHED_LOCK_URL``:

- ``table`` (default): rows of the lease table (``scrapesched_leases``) in the main database (SQLite,
  MariaDB, PostgreSQL);
- ``redis://`` / ``rediss://``: ``SET NX PX`` with compare-and-set renew/release in Lua;
- ``mysql://``: ``GET_LOCK`` on a dedicated connection (MariaDB and MySQL);
- ``postgresql://``: session advisory locks on a dedicated connection;
- ``memory``: inside one process, for tests and ``run-once``.

Every backend takes its fencing tokens from the lease table of the main database (``engine``), so they
keep growing across lock-server restarts; ``fenced(conn, name, token)`` makes a write refuse to commit once
a newer holder exists. See docs/locks.md.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from sqlalchemy import Engine
from sqlalchemy.exc import ArgumentError

from scrapesched.config.errors import MissingDriver
from scrapesched.config.redact import redact_url
from scrapesched.locks.base import Lease, LeaseInfo, LockBackend
from scrapesched.locks.errors import (
    FencedOut,
    InvalidLockArgument,
    InvalidLockName,
    LockConfigError,
    LockError,
    LockNotOwned,
    LockUnavailable,
)
from scrapesched.locks.tokens import current_token, fence_params, fenced, not_superseded

__all__ = [
    "FencedOut",
    "InvalidLockArgument",
    "InvalidLockName",
    "Lease",
    "LeaseInfo",
    "LockBackend",
    "LockConfigError",
    "LockError",
    "LockNotOwned",
    "LockUnavailable",
    "connect",
    "current_token",
    "fence_params",
    "fenced",
    "not_superseded",
]

SCHEMES = "table, memory, redis://, rediss://, mysql:// (MariaDB/MySQL) or postgresql://"


def connect(
    url: str,
    *,
    engine: Engine | None = None,
    holder_id: str | None = None,
    clock: Callable[[], float] = time.time,
) -> LockBackend:
    """The lease backend named by ``url``; ``engine`` is the main database (the lease table).

    ``engine`` is required by every backend except ``memory`` (which then counts tokens in-process).
    ``holder_id`` defaults to ``hostname:pid``. ``clock`` only feeds ``Lease.acquired_at``: expiry is
    always judged by the lock server. Nothing is contacted yet; the first ``acquire`` or ``holder``
    raises LockUnavailable if the server cannot be reached.
    """
    if not isinstance(url, str) or not url.strip():
        raise LockConfigError(f"empty lock URL: use {SCHEMES}")
    url = url.strip()
    scheme = url.split("://", 1)[0].lower() if "://" in url else url.lower()
    if scheme == "memory":
        from scrapesched.locks.memory import MemoryBackend

        return MemoryBackend(engine=engine, holder_id=holder_id, clock=clock)
    known = {"table", "redis", "rediss", "mysql", "mysql+pymysql", "mariadb", "mariadb+pymysql"}
    known |= {"postgresql", "postgres", "postgresql+psycopg"}
    if scheme not in known:
        raise LockConfigError(f"unknown lock URL scheme {scheme!r}: use {SCHEMES}")
    if engine is None:
        raise LockConfigError(f"the {scheme} lock backend needs the main database (engine) for its fencing tokens")
    if scheme == "table":
        from scrapesched.locks.table import TableBackend

        return TableBackend(engine, holder_id=holder_id, clock=clock)
    try:
        if scheme in ("redis", "rediss"):
            from scrapesched.locks.redis import RedisBackend

            return RedisBackend(url, engine=engine, holder_id=holder_id, clock=clock)
        if scheme.startswith(("mysql", "mariadb")):
            from scrapesched.locks.mysql import MySQLBackend

            return MySQLBackend(url, engine=engine, holder_id=holder_id, clock=clock)
        from scrapesched.locks.postgres import PostgresBackend

        return PostgresBackend(url, engine=engine, holder_id=holder_id, clock=clock)
    except (ValueError, ArgumentError) as exc:
        raise LockConfigError(f"cannot parse the {scheme} lock URL {redact_url(url)!r}: {exc}") from None
    except ImportError:  # the backend's driver (redis, PyMySQL, psycopg) is not installed
        raise MissingDriver.for_backend("lock", scheme) from None
