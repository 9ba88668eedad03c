"""The ``mysql://`` backend (MariaDB and MySQL): ``GET_LOCK`` on a dedicated connection per held lease.

- The lock lives as long as its connection: a connection that drops (``KILL``, server restart, network)
  takes the lock with it, and the keep-alive (``SELECT IS_USED_LOCK(name) = CONNECTION_ID()`` every
  ``ttl / 3``) reports the lease lost at its next run.
- The connection's ``wait_timeout`` is set to the lease's ttl (whole seconds, at least 1), so the server
  itself ends the lease of a holder that stops talking (paused, hung, partitioned): session locks get the
  same server-judged expiry as the other backends, and the keep-alive keeps an idle connection well inside
  ``wait_timeout`` instead of letting the server silently drop it (and the lock).
- A connection is never returned to the idle list while it holds a lock; only after ``RELEASE_LOCK`` (or a
  failed attempt) is it kept for the next acquire. Idle connections close before their ``wait_timeout``.
- Lock names are server-wide and may compare case- and accent-insensitively, and MySQL refuses names over
  64 characters: a name is used as ``<prefix><name>`` only when it is short lower-case ASCII, otherwise as
  ``<prefix>#<sha256 hex>``, cut to 64 characters. Stable, never truncated into another name.
- Fencing tokens come from the main database's lease table (``scrapesched_leases``), bumped after
  ``GET_LOCK`` succeeded.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pymysql
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from scrapesched.locks.base import Lease, LeaseInfo, LockBackend, name_digest
from scrapesched.locks.errors import LockConfigError, LockNotOwned, LockUnavailable
from scrapesched.locks.idle import IdleConnections, close_quietly
from scrapesched.locks.tokens import TokenStore

DEFAULT_PREFIX = "scrapesched:"
MAX_LOCK_NAME = 64
CONNECT_TIMEOUT_S = 2
IO_TIMEOUT_S = 3  # also bounds the handshake with a server that accepts and never answers
MAX_IDLE = 4
_PLAIN = re.compile(r"[a-z0-9_.:/@=+-]+")


def lock_name(name: str, prefix: str = DEFAULT_PREFIX) -> str:
    """The ``GET_LOCK`` name of a lease name: readable when that is unambiguous, otherwise a stable hash."""
    if len(prefix) + len(name) <= MAX_LOCK_NAME and _PLAIN.fullmatch(name):
        return prefix + name
    head = prefix + "#"
    if len(head) >= MAX_LOCK_NAME - 16:
        raise LockConfigError(f"MySQL lock prefix {prefix!r} is too long (at most {MAX_LOCK_NAME - 18} characters)")
    return head + name_digest(name)[: MAX_LOCK_NAME - len(head)]


@dataclass
class _Conn:
    raw: Any  # pymysql.connections.Connection
    conn_id: int
    wait_timeout: int | None = None


@dataclass
class _Held:
    conn: _Conn
    lock_name: str


class MySQLBackend(LockBackend):
    """Leases as MySQL/MariaDB user locks (``GET_LOCK``), one dedicated connection per held lease."""

    kind = "mysql"

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
        lock_name("x" * 65, self.prefix)  # checks the prefix leaves room for a hash
        self._params: dict[str, Any] = {
            "host": parsed.host or "localhost",
            "port": parsed.port or 3306,
            "user": parsed.username or "root",
            "password": parsed.password or "",
            "database": parsed.database or None,
            "unix_socket": query.get("unix_socket"),
        }
        self._target = f"{self._params['host']}:{self._params['port']}"
        self._tokens = TokenStore(engine)
        self._pool: IdleConnections[_Conn] = IdleConnections(self._open, _usable, MAX_IDLE)

    @property
    def description(self) -> str:
        return f"MySQL GET_LOCK at {self._target}"

    def lock_name(self, name: str) -> str:
        """The server-side lock name of a lease name."""
        return lock_name(name, self.prefix)

    # -- connections -------------------------------------------------------------------------------

    def _open(self) -> _Conn:
        try:
            raw = pymysql.connect(
                **self._params,
                connect_timeout=CONNECT_TIMEOUT_S,
                read_timeout=IO_TIMEOUT_S,
                write_timeout=IO_TIMEOUT_S,
                autocommit=True,
                charset="utf8mb4",
                program_name=self.holder_id[:64],
            )
        except pymysql.err.MySQLError as exc:
            raise LockUnavailable(f"cannot connect to the MySQL lock server at {self._target}: {exc}") from exc
        return _Conn(raw, int(raw.thread_id()))  # type: ignore[no-untyped-call]

    def _query(self, conn: _Conn, sql: str, *args: Any) -> Any:
        with conn.raw.cursor() as cur:
            cur.execute(sql, args)
            row = cur.fetchone()
        return row[0] if row else None

    # -- the hooks ---------------------------------------------------------------------------------

    def _try_acquire(self, name: str, ttl: float) -> Lease | None:
        server_name = self.lock_name(name)
        timeout = max(1, math.ceil(ttl))
        for attempt in (1, 2):
            conn, pooled = self._pool.checkout()
            try:
                if conn.wait_timeout != timeout:
                    self._query(conn, "SET SESSION wait_timeout = %s", timeout)
                    conn.wait_timeout = timeout
                started = time.monotonic()
                got = self._query(conn, "SELECT GET_LOCK(%s, 0)", server_name)
                break
            except pymysql.err.MySQLError as exc:
                close_quietly(conn)
                if pooled and attempt == 1:
                    continue  # an idle connection the server had closed: try a new one
                raise LockUnavailable(f"MySQL lock server at {self._target} failed: {exc}") from exc
        if got != 1:
            self._pool.checkin(conn)
            return None
        try:
            token = self._tokens.issue(name, self.holder_id, ttl)
        except Exception:
            close_quietly(conn)  # closing the connection releases the lock
            raise
        return self._new_lease(name, token, ttl, _Held(conn, server_name), started)

    def _renew(self, lease: Lease, handle: object) -> None:
        assert isinstance(handle, _Held)
        try:
            ours = self._query(handle.conn, "SELECT IS_USED_LOCK(%s) = CONNECTION_ID()", handle.lock_name)
        except pymysql.err.MySQLError as exc:
            close_quietly(handle.conn)
            raise LockNotOwned(
                f"lock connection {handle.conn.conn_id} to {self._target} dropped ({exc}): "
                "the server released the lock with it"
            ) from exc
        if ours != 1:
            close_quietly(handle.conn)
            raise LockNotOwned(f"lease {lease.name!r} (token {lease.token}) is no longer held by its connection")

    def _release(self, lease: Lease, handle: object) -> None:
        assert isinstance(handle, _Held)
        try:
            released = self._query(handle.conn, "SELECT RELEASE_LOCK(%s)", handle.lock_name)
        except pymysql.err.MySQLError as exc:
            close_quietly(handle.conn)
            raise LockNotOwned(
                f"lock connection {handle.conn.conn_id} to {self._target} dropped ({exc}): "
                "the server had released the lock with it"
            ) from exc
        if released != 1:
            close_quietly(handle.conn)
            raise LockNotOwned(f"lease {lease.name!r} (token {lease.token}) was not held by its connection")
        self._pool.checkin(handle.conn)

    def _holder(self, name: str) -> LeaseInfo | None:
        conn, _ = self._pool.checkout()
        try:
            used_by = self._query(conn, "SELECT IS_USED_LOCK(%s)", self.lock_name(name))
        except pymysql.err.MySQLError as exc:
            close_quietly(conn)
            raise LockUnavailable(f"MySQL lock server at {self._target} failed: {exc}") from exc
        self._pool.checkin(conn)
        if used_by is None:
            return None
        row = self._tokens.row(name)
        holder = row.holder if row is not None else f"mysql connection {used_by}"
        return LeaseInfo(name, holder, row.token if row is not None else 0, None)

    def _close(self) -> None:
        self._pool.close()
        self._tokens.close()


def _usable(conn: _Conn, idle_seconds: float) -> bool:
    """Not about to reach its ``wait_timeout`` (the server would drop it)."""
    return idle_seconds < (conn.wait_timeout or 28800) - 0.5
