"""Shared by the lock tests: lock environments (a lock URL plus the database that keeps the fencing tokens),
a private redis-server the tests may restart, servers that refuse or never answer, and the overlap check.

Every environment gets names, key prefixes and databases of its own, so tests run in parallel on the shared
MariaDB, PostgreSQL and Redis without seeing each other.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from conftest import REPO_ROOT, SERVERS
from scrapesched import locks
from scrapesched.db.engine import connect_engine
from scrapesched.db.schema import leases
from scrapesched.testing.local_servers import free_port
from scrapesched.testing.scratch import scratch_database

# Lock backend -> database that keeps its tokens (and, for ``table``, its leases).
LOCK_ENVS = {
    "table-sqlite": "sqlite",
    "table-mariadb": "mariadb",
    "table-postgres": "postgres",
    "redis": "sqlite",
    "mysql": "mariadb",
    "postgresql": "postgres",
    "memory": "sqlite",
}
SERVER_ENVS = [kind for kind in LOCK_ENVS if kind != "memory"]  # what OS processes can share
WORKER = REPO_ROOT / "tests" / "workers" / "lock_worker.py"


def server_url(kind: str, tag: str) -> str:
    """The lock URL of a backend kind, with a key prefix of its own."""
    if kind.startswith("table"):
        return "table"
    if kind == "memory":
        return "memory"
    return SERVERS.lock_url(kind, f"sst-{tag}:")


@dataclass
class LockEnv:
    """A lock URL and the engine of the database with its lease table."""

    kind: str
    lock_url: str
    db_url: str
    engine: sa.Engine

    def connect(self, holder_id: str = "A", clock: Callable[[], float] = time.time) -> locks.LockBackend:
        return locks.connect(self.lock_url, engine=self.engine, holder_id=holder_id, clock=clock)


@contextlib.contextmanager
def lock_env(kind: str, tmp_path: Path) -> Iterator[LockEnv]:
    """A fresh database with the lease table, and the lock URL of ``kind``; dropped afterwards."""
    backend = LOCK_ENVS[kind]
    with scratch_database(backend, tmp_path, SERVERS) as url:
        engine = connect_engine(url)
        leases.create(engine)
        try:
            yield LockEnv(kind, server_url(kind, uuid.uuid4().hex[:10]), url, engine)
        finally:
            engine.dispose()


def unique_name(label: str = "lease") -> str:
    return f"{label}-{uuid.uuid4().hex[:12]}"


Interval = tuple[float, float, str]


def overlaps(intervals: list[Interval]) -> list[tuple[Interval, Interval]]:
    """Pairs of (start, end, who) intervals that overlap; intervals are recorded inside each holding."""
    found = []
    latest: Interval | None = None
    for interval in sorted(intervals):
        if latest is not None and interval[0] < latest[1]:
            found.append((latest, interval))
        if latest is None or interval[1] > latest[1]:
            latest = interval
    return found


@contextlib.contextmanager
def silent_server() -> Iterator[int]:
    """A port that accepts TCP connections and never answers: a hung server."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            with contextlib.suppress(OSError):
                accepted.append(listener.accept()[0])

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield int(listener.getsockname()[1])
    finally:
        stop.set()
        thread.join()
        for conn in accepted:
            conn.close()
        listener.close()


def closed_port() -> int:
    """A port nothing listens on (connections are refused)."""
    return free_port()
