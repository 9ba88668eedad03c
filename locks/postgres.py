"""The ``postgresql://`` backend: session advisory locks (``pg_try_advisory_lock``) on a dedicated connection.

- The key is a stable 64-bit number: the first 8 bytes of SHA-256 of ``<prefix><name>`` as a signed int64
  (prefix ``scrapesched:lock:`` unless the URL says ``?prefix=...``). Advisory locks are per database:
  every replica must point at the same database.
- The lock lives as long as its connection. ``idle_session_timeout`` is set to the ttl, so the server ends
  the session (and the lock) of a holder that stops talking for a ttl; the keep-alive checks every
  ``ttl / 3`` that this very backend process still holds the lock (``pg_locks``), and a terminated or
  dropped connection makes the lease lost at that check.
- A connection holding a lock is never put back in the idle list; it is kept only after an unlock.
- Session advisory locks do NOT work through a transaction-pooling proxy (PgBouncer ``pool_mode =
  transaction``): the lock stays on whichever server connection ran the statement, which other clients
  then share. The backend compares ``pg_backend_pid()`` between statements and refuses (LockConfigError)
  when it changes; point the lock URL at PostgreSQL itself or a session-pooled port.
- Fencing tokens come from the main database's lease table (``scrapesched_leases``), bumped after the
  advisory lock was taken.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from scrapesched.locks.base import Lease, LeaseInfo, LockBackend
from scrapesched.locks.errors import LockConfigError, LockNotOwned, LockUnavailable
from scrapesched.locks.idle import IdleConnections, close_quietly
from scrapesched.locks.tokens import TokenStore

DEFAULT_PREFIX = "scrapesched:lock:"
CONNECT_TIMEOUT_S = 2
STATEMENT_TIMEOUT_MS = 5000
MAX_IDLE = 4
POOLER_HINT = (
    "session advisory locks do not survive a transaction-pooling proxy (PgBouncer pool_mode=transaction): "
    "point the lock URL at PostgreSQL directly or at a session-pooled port"
)

_HELD_SQL = """
SELECT pg_backend_pid(), EXISTS (
    SELECT 1 FROM pg_locks
    WHERE locktype = 'advisory' AND granted AND pid = pg_backend_pid()
      AND classid = %s::bigint::oid AND objid = %s::bigint::oid AND objsubid = 1
      AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
)"""
_USED_SQL = """
SELECT EXISTS (
    SELECT 1 FROM pg_locks
    WHERE locktype = 'advisory' AND granted
      AND classid = %s::bigint::oid AND objid = %s::bigint::oid AND objsubid = 1
      AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
)"""


def advisory_key(name: str, prefix: str = DEFAULT_PREFIX) -> int:
    """The advisory lock key of a lease name: a stable signed 64-bit integer."""
    return int.from_bytes(hashlib.sha256((prefix + name).encode("utf-8")).digest()[:8], "big", signed=True)


def lock_ids(key: int) -> tuple[int, int]:
    """``(classid, objid)`` under which ``pg_locks`` shows a bigint advisory key (``objsubid`` 1)."""
    unsigned = key & 0xFFFF_FFFF_FFFF_FFFF
    return unsigned >> 32, unsigned & 0xFFFF_FFFF


@dataclass
class _Conn:
    raw: psycopg.Connection[Any]
    pid: int
    idle_timeout_ms: int | None = None


@dataclass
class _Held:
    conn: _Conn
    key: int


class PostgresBackend(LockBackend):
    """Leases as PostgreSQL session advisory locks, one dedicated connection per held lease."""

    kind = "postgresql"

    def __init__(
        self,
        url: str,
        *,
        engine: Engine,
        holder_id: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(holder_id=holder_id, clock=clock)
        parsed = make_url(url)
        query = {k: v if isinstance(v, str) else v[-1] for k, v in parsed.query.items()}
        self.prefix = query.pop("prefix", DEFAULT_PREFIX)
        self._params: dict[str, Any] = {
            "host": parsed.host or query.pop("host", None),
            "port": parsed.port,
            "user": parsed.username,
            "password": parsed.password,
            "dbname": parsed.database,
            **query,
        }
        self._params = {k: v for k, v in self._params.items() if v is not None}
        self._target = f"{parsed.host or 'localhost'}:{parsed.port or 5432}/{parsed.database or ''}"
        self._tokens = TokenStore(engine)
        self._pool: IdleConnections[_Conn] = IdleConnections(self._open, _usable, MAX_IDLE)

    @property
    def description(self) -> str:
        return f"PostgreSQL advisory locks at {self._target}"

    def key(self, name: str) -> int:
        """The advisory lock key of a lease name."""
        return advisory_key(name, self.prefix)

    # -- connections -------------------------------------------------------------------------------

    def _open(self) -> _Conn:
        try:
            raw = psycopg.connect(
                **self._params,
                autocommit=True,
                connect_timeout=CONNECT_TIMEOUT_S,
                application_name=self.holder_id[:63],
                options=f"-c statement_timeout={STATEMENT_TIMEOUT_MS}",
                tcp_user_timeout=STATEMENT_TIMEOUT_MS,
            )
            row = raw.execute("SELECT pg_backend_pid()").fetchone()
        except psycopg.Error as exc:
            raise LockUnavailable(f"cannot connect to the PostgreSQL lock server at {self._target}: {exc}") from exc
        assert row is not None
        return _Conn(raw, int(row[0]))

    def _pooler_error(self, conn: _Conn, pid: int) -> LockConfigError:
        return LockConfigError(
            f"the PostgreSQL connection to {self._target} changed server process between statements "
            f"(pid {conn.pid}, then {pid}): {POOLER_HINT}"
        )

    # -- the hooks ---------------------------------------------------------------------------------

    def _try_acquire(self, name: str, ttl: float) -> Lease | None:
        key = self.key(name)
        timeout_ms = max(1, int(ttl * 1000))
        for attempt in (1, 2):
            conn, pooled = self._pool.checkout()
            try:
                if conn.idle_timeout_ms != timeout_ms:
                    # PostgreSQL < 14 has no idle_session_timeout: a silent holder's session then lives on.
                    with contextlib.suppress(psycopg.errors.UndefinedObject):
                        conn.raw.execute("SELECT set_config('idle_session_timeout', %s, false)", (str(timeout_ms),))
                    conn.idle_timeout_ms = timeout_ms
                started = time.monotonic()
                row = conn.raw.execute("SELECT pg_try_advisory_lock(%s), pg_backend_pid()", (key,)).fetchone()
                break
            except psycopg.Error as exc:
                close_quietly(conn)
                if pooled and attempt == 1:
                    continue  # an idle connection the server had closed: try a new one
                raise LockUnavailable(f"PostgreSQL lock server at {self._target} failed: {exc}") from exc
        assert row is not None
        got, pid = bool(row[0]), int(row[1])
        if pid != conn.pid:
            if got:
                # Best effort: through a pooler this may reach yet another server process.
                with contextlib.suppress(psycopg.Error):
                    conn.raw.execute("SELECT pg_advisory_unlock(%s)", (key,))
            close_quietly(conn)
            raise self._pooler_error(conn, pid)
        if not got:
            self._pool.checkin(conn)
            return None
        try:
            token = self._tokens.issue(name, self.holder_id, ttl)
        except Exception:
            close_quietly(conn)  # ending the session releases the lock
            raise
        return self._new_lease(name, token, ttl, _Held(conn, key), started)

    def _renew(self, lease: Lease, handle: object) -> None:
        assert isinstance(handle, _Held)
        try:
            row = handle.conn.raw.execute(_HELD_SQL, lock_ids(handle.key)).fetchone()
        except psycopg.Error as exc:
            close_quietly(handle.conn)
            raise LockNotOwned(
                f"lock connection (pid {handle.conn.pid}) to {self._target} dropped ({exc}): "
                "the server released the lock with it"
            ) from exc
        assert row is not None
        if int(row[0]) != handle.conn.pid:
            close_quietly(handle.conn)
            raise self._pooler_error(handle.conn, int(row[0]))
        if not row[1]:
            close_quietly(handle.conn)
            raise LockNotOwned(f"lease {lease.name!r} (token {lease.token}) is no longer held by its connection")

    def _release(self, lease: Lease, handle: object) -> None:
        assert isinstance(handle, _Held)
        try:
            row = handle.conn.raw.execute("SELECT pg_advisory_unlock(%s)", (handle.key,)).fetchone()
        except psycopg.Error as exc:
            close_quietly(handle.conn)
            raise LockNotOwned(
                f"lock connection (pid {handle.conn.pid}) to {self._target} dropped ({exc}): "
                "the server had released the lock with it"
            ) from exc
        if row is None or not row[0]:
            close_quietly(handle.conn)
            raise LockNotOwned(f"lease {lease.name!r} (token {lease.token}) was not held by its connection")
        self._pool.checkin(handle.conn)

    def _holder(self, name: str) -> LeaseInfo | None:
        conn, _ = self._pool.checkout()
        try:
            row = conn.raw.execute(_USED_SQL, lock_ids(self.key(name))).fetchone()
        except psycopg.Error as exc:
            close_quietly(conn)
            raise LockUnavailable(f"PostgreSQL lock server at {self._target} failed: {exc}") from exc
        self._pool.checkin(conn)
        if row is None or not row[0]:
            return None
        info = self._tokens.row(name)
        return LeaseInfo(name, info.holder if info else "unknown", info.token if info else 0, None)

    def _close(self) -> None:
        self._pool.close()
        self._tokens.close()


def _usable(conn: _Conn, idle_seconds: float) -> bool:
    """Still open and not about to reach its ``idle_session_timeout``."""
    limit = conn.idle_timeout_ms / 1000 if conn.idle_timeout_ms else float("inf")
    return not conn.raw.closed and idle_seconds < limit - 0.5
