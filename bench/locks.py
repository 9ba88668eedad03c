"""Benchmark of the lease backends: acquire+release latency, and acquisitions per second under contention.

For each backend it measures, on a fresh database (``bench_<random>``, dropped at the end; a temporary file
for SQLite) migrated to head:

- latency: one process acquires and releases a name of its own, over and over, for ``--seconds``
  (keep-alive on, as the scheduler uses it); p50 and p99 of one acquire+release;
- contention: 1, 4 and 16 processes (``--processes``) acquire+release ONE shared name for ``--seconds``,
  each waiting for it (``acquire(name, ttl, wait=...)``); total acquisitions per second.

Backends: ``table-sqlite``, ``table-mariadb``, ``table-postgres`` (the lease table), and the lock servers
with the database of their fencing tokens after ``+``: ``redis+sqlite``, ``redis+mariadb``,
``redis+postgres``, ``mysql+mariadb`` (GET_LOCK), ``postgresql+postgres`` (advisory locks). Every backend
takes a durable fencing token per acquisition from the ``locks`` table; ``redis-only`` is a reference row:
the bare Redis round trips (``SET NX PX`` + Lua release) without any token.

Usage::

    .venv/bin/python bench/locks.py [--backends table-sqlite,redis+postgres,...] [--seconds 3]
                                    [--processes 1,4,16]

Prints a Markdown table. Timings are never a test.
"""

from __future__ import annotations

import sys
from pathlib import Path

# This file is bench/locks.py, and a script's directory comes first on sys.path: drop it, so that
# ``import locks`` below is the package, not this file.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse  # noqa: E402
import multiprocessing as mp  # noqa: E402
import os  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from multiprocessing.queues import Queue  # noqa: E402
from multiprocessing.synchronize import Event  # noqa: E402
from typing import Any  # noqa: E402

import redis  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from scrapesched import locks  # noqa: E402
from scrapesched.config.log_setup import configure_logging  # noqa: E402
from scrapesched.db import connect_engine  # noqa: E402
from scrapesched.db.migrate import upgrade  # noqa: E402
from scrapesched.locks.base import POLL_FIRST_S, POLL_MAX_S  # noqa: E402
from scrapesched.testing.scratch import MYSQL_ADMIN, POSTGRES_ADMIN, scratch_database  # noqa: E402

REDIS_URL = os.environ.get("SSTEST_REDIS_URL", "redis://127.0.0.1:6379/0")
BACKENDS = (
    "table-sqlite",
    "table-mariadb",
    "table-postgres",
    "redis+sqlite",
    "redis+mariadb",
    "redis+postgres",
    "mysql+mariadb",
    "postgresql+postgres",
    "redis-only",
)
TTL = 30.0


@dataclass(frozen=True)
class Setup:
    """What a benchmark process needs to make its own backend."""

    lock_url: str
    db_url: str  # empty for redis-only


@contextmanager
def database(kind: str) -> Iterator[str]:
    """A fresh database of ``kind`` (sqlite, mariadb, postgres) migrated to head; dropped afterwards."""
    with tempfile.TemporaryDirectory() as tmp, scratch_database(kind, Path(tmp), prefix="bench_") as url:
        engine = connect_engine(url)
        upgrade(engine)
        engine.dispose()
        yield url


@contextmanager
def tokens_database(backend: str) -> Iterator[str]:
    """The database of the backend's fencing tokens (and lease table); none for ``redis-only``."""
    if backend == "redis-only":
        yield ""
        return
    with database(token_db(backend)) as url:
        yield url


def lock_url(backend: str, tag: str) -> str:
    server = backend.split("+")[0]
    if server.startswith("table"):
        return "table"
    if server in ("redis", "redis-only"):
        return f"{REDIS_URL}?prefix=bench-{tag}:"
    if server == "mysql":
        admin = make_url(MYSQL_ADMIN)
        return f"mysql://{admin.username}@{admin.host}:{admin.port or 3306}/?prefix=bench-{tag}:"
    admin = make_url(POSTGRES_ADMIN)
    return f"postgresql://{admin.username}@{admin.host}:{admin.port or 5432}/{admin.database}?prefix=bench-{tag}:"


def token_db(backend: str) -> str:
    return backend.split("-", 1)[1] if backend.startswith("table-") else backend.split("+")[1]


class _RedisOnly:
    """The bare Redis lock protocol (no fencing token), as a reference for the Redis backend's round trips."""

    def __init__(self, url: str) -> None:
        from scrapesched.locks.redis import RedisBackend

        base, _, prefix = url.partition("?prefix=")
        self.prefix = prefix
        self.client = redis.Redis.from_url(base, socket_timeout=2)
        self.release_script = self.client.register_script(RedisBackend.LUA_RELEASE)

    def cycle(self, name: str, wait: float) -> bool:
        key, value = self.prefix + name, uuid.uuid4().hex
        deadline = time.monotonic() + wait
        delay = POLL_FIRST_S
        while not self.client.set(key, value, nx=True, px=int(TTL * 1000)):
            if time.monotonic() > deadline:
                return False
            time.sleep(delay)
            delay = min(delay * 2, POLL_MAX_S)
        self.release_script(keys=[key], args=[value])
        return True


@contextmanager
def opened(setup: Setup) -> Iterator[Any]:
    """A callable ``cycle(name, wait) -> bool``: one acquire+release."""
    if not setup.db_url:
        bare = _RedisOnly(setup.lock_url)
        yield bare.cycle
        bare.client.close()
        return
    engine = connect_engine(setup.db_url)
    backend = locks.connect(setup.lock_url, engine=engine, holder_id=f"bench:{os.getpid()}")

    def cycle(name: str, wait: float) -> bool:
        lease = backend.acquire(name, TTL, wait=wait)
        if lease is None:
            return False
        lease.release()
        return True

    try:
        yield cycle
    finally:
        backend.close()
        engine.dispose()


def latency(setup: Setup, seconds: float) -> list[float]:
    """Acquire+release durations of one uncontended process."""
    samples: list[float] = []
    with opened(setup) as cycle:
        name = "latency-" + uuid.uuid4().hex[:8]
        for _ in range(20):  # warm up: connections, statement caches, the name's row
            cycle(name, 0)
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            if not cycle(name, 0):
                raise RuntimeError("an uncontended acquire failed")
            samples.append(time.perf_counter() - started)
    return samples


def _contender(setup: Setup, name: str, seconds: float, ready: Queue[int], go: Event, done: Queue[int]) -> None:
    configure_logging("warning", stream=sys.stderr)  # a spawned process starts unconfigured
    with opened(setup) as cycle:
        cycle(name + "-warm-" + uuid.uuid4().hex[:6], 0)
        ready.put(os.getpid())
        go.wait()
        count = 0
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if cycle(name, max(0.0, deadline - time.monotonic())):
                count += 1
    done.put(count)


def throughput(setup: Setup, processes: int, seconds: float) -> float:
    """Acquisitions per second of ``processes`` processes sharing one name."""
    ctx = mp.get_context("spawn")  # not fork: this process has run keep-alive threads
    ready: Queue[int] = ctx.Queue()
    done: Queue[int] = ctx.Queue()
    go = ctx.Event()
    name = "contended-" + uuid.uuid4().hex[:8]
    procs = [ctx.Process(target=_contender, args=(setup, name, seconds, ready, go, done)) for _ in range(processes)]
    for proc in procs:
        proc.start()
    for _ in procs:
        ready.get(timeout=120)
    started = time.monotonic()
    go.set()
    counts = [done.get(timeout=seconds + 120) for _ in procs]
    elapsed = time.monotonic() - started
    for proc in procs:
        proc.join(timeout=30)
    return sum(counts) / elapsed


def machine() -> str:
    cpu = "unknown CPU"
    with open("/proc/cpuinfo") as fh:
        for line in fh:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as fh:
        mem_kb = int(fh.readline().split()[1])
    return f"{os.cpu_count()} CPUs ({cpu}), {mem_kb / 1024 / 1024:.1f} GiB RAM, load average {os.getloadavg()[0]:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", default=",".join(BACKENDS), help="comma-separated, from: " + ", ".join(BACKENDS))
    parser.add_argument("--seconds", type=float, default=3.0, help="duration of each measurement")
    parser.add_argument("--processes", default="1,4,16", help="contending process counts")
    args = parser.parse_args()
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = [b for b in backends if b not in BACKENDS]
    if unknown:
        parser.error(f"unknown backends {unknown}: use {', '.join(BACKENDS)}")
    counts = [int(n) for n in args.processes.split(",")]
    configure_logging("warning", stream=sys.stderr)

    print(f"machine: {machine()}", file=sys.stderr)
    header = ["backend", "tokens in", "acquire+release p50", "p99"] + [f"{n} proc acq/s" for n in counts]
    rows: list[list[str]] = []
    for backend in backends:
        with tokens_database(backend) as db_url:
            setup = Setup(lock_url(backend, uuid.uuid4().hex[:8]), db_url)
            samples = latency(setup, args.seconds)
            p50 = statistics.median(samples) * 1000
            p99 = statistics.quantiles(samples, n=100)[98] * 1000
            rates = [throughput(setup, n, args.seconds) for n in counts]
        tokens_in = token_db(backend) if db_url else "none"
        row = [backend, tokens_in, f"{p50:.2f} ms", f"{p99:.2f} ms"] + [f"{r:,.0f}" for r in rates]
        rows.append(row)
        print(" | ".join(row), file=sys.stderr, flush=True)
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" for _ in header) + "|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
