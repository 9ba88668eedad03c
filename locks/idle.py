"""The few idle connections a session-lock backend (MySQL ``GET_LOCK``, PostgreSQL advisory locks) keeps
for its next acquire. A connection that holds a lock is never in here: a backend checks one in only after
it released its lock (or failed to take one), and closes connections that broke or held a lost lock.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar


class _Closable(Protocol):
    def close(self) -> None: ...


class SessionConn(Protocol):
    """What the pool needs of a backend's connection wrapper."""

    @property
    def raw(self) -> _Closable: ...


C = TypeVar("C", bound=SessionConn)


def close_quietly(conn: SessionConn) -> None:
    """Close a connection that may already be closed or broken: either way it is gone."""
    with contextlib.suppress(Exception):
        conn.raw.close()


class IdleConnections(Generic[C]):
    """At most ``max_idle`` idle connections; ``usable(conn, idle_seconds)`` says whether one is still
    worth reusing (e.g. not past the server's idle timeout)."""

    def __init__(self, open_conn: Callable[[], C], usable: Callable[[C, float], bool], max_idle: int = 4) -> None:
        self._open = open_conn
        self._usable = usable
        self._max_idle = max_idle
        self._idle: list[tuple[C, float]] = []
        self._lock = threading.Lock()
        self._closed = False

    def checkout(self) -> tuple[C, bool]:
        """An idle connection (True) still usable, or a newly opened one (False)."""
        now = time.monotonic()
        with self._lock:
            while self._idle:
                conn, since = self._idle.pop()
                if self._usable(conn, now - since):
                    return conn, True
                close_quietly(conn)
        return self._open(), False

    def checkin(self, conn: C) -> None:
        """Keep a connection that holds no lock for the next acquire (or close it if there are enough)."""
        with self._lock:
            if not self._closed and len(self._idle) < self._max_idle:
                self._idle.append((conn, time.monotonic()))
                return
        close_quietly(conn)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn, _ in idle:
            close_quietly(conn)
