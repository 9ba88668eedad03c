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

``--compare`` measures instead, side by side in one run, the acquire+release p50 of each lock-server lease
(with its durable token) and of the raw lock it is built on, on the same server: ``redis+*`` against
redis-py's ``Lock`` (``acquire(blocking=False)`` + ``release()``), ``mysql+mariadb`` against ``SELECT
GET_LOCK(name, 0)`` + ``SELECT RELEASE_LOCK(name)``, ``postgresql+postgres`` against ``SELECT
pg_try_advisory_lock(key)`` + ``SELECT pg_advisory_unlock(key)`` (one connection each, as the backends
keep theirs). The two alternate in ``--rounds`` slices of ``--seconds``, so a change of the machine's load
hits both; it prints their ratio and the target of issue 16 (Redis at most 2x, the SQL locks at most 3x).
Measured in the same slices: the lease without its keep-alive (``keepalive=False``), the durable
token alone (``TokenStore.issue``), the one statement a lease adds to its raw lock, and that statement's
SQL on a bare driver connection (no SQLAlchemy, pool or retry): the floor column is the ratio a lease
would have if it cost its raw lock plus that bare token and nothing else. The last two columns measure, in
the same slices, the token scheme we do not use: ``nextval`` of a database sequence on a bare driver
connection (MariaDB and PostgreSQL; SQLite has no sequences), and the ratio a lease would have at its raw
lock plus that ``nextval``. Such a token is not recorded against the name when it is issued, so it refuses
an old holder's writes only after the new holder's first write (docs/locks.md, "Why a token is a committed
bump").

Usage::

    .venv/bin/python -m bench.locks [--backends table-sqlite,redis+postgres,...] [--seconds 3]
                                    [--processes 1,4,16]
    .venv/bin/python -m bench.locks --compare [--seconds 6] [--rounds 6]

(from the repository's top folder). Servers come from ``SSTEST_MYSQL_URL``, ``SSTEST_POSTGRES_URL`` and
``SSTEST_REDIS_URL`` (defaults: the loopback servers).

Prints a Markdown table. Timings are never a test.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import psycopg
import pymysql
import redis
from sqlalchemy.engine import make_url

from bench.machine import load_average, machine
from scrapesched import locks
from scrapesched.config.log_setup import configure_logging
from scrapesched.db.engine import connect_engine
from scrapesched.locks.base import POLL_FIRST_S, POLL_MAX_S
from scrapesched.locks.postgres import advisory_key
from scrapesched.locks.tokens import ISSUE, TokenStore
from scrapesched.testing.scratch import ServerUrls, migrated_database

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
# --compare: (lease backend, the raw lock it is built on, target ratio of their acquire+release p50s)
PAIRS = (
    ("redis+mariadb", "redis-py Lock", 2.0),
    ("redis+postgres", "redis-py Lock", 2.0),
    ("redis+sqlite", "redis-py Lock", 2.0),
    ("mysql+mariadb", "raw GET_LOCK", 3.0),
    ("postgresql+postgres", "raw advisory", 3.0),
)
TOKEN_ONLY = "token only"  # --compare: TokenStore.issue alone, the part of a lease its raw lock lacks
TOKEN_RAW = "token raw"  # --compare: the same statement on a bare driver connection: the durable token's floor
TOKEN_SEQUENCE = "sequence"  # --compare: nextval of a sequence on a bare driver connection (the scheme not used)
SEQUENCE = "bench_token_sequence"


@dataclass(frozen=True)
class Setup:
    """What a benchmark process needs to make its own backend."""

    lock_url: str
    db_url: str  # empty for redis-only and the raw locks
    raw: str = ""  # a raw lock of PAIRS instead of a backend
    keepalive: bool = True


@contextmanager
def tokens_database(backend: str, servers: ServerUrls) -> Iterator[str]:
    """A fresh database for the backend's fencing tokens (and lease table), migrated to head and dropped
    afterwards; none ("") for ``redis-only``."""
    if backend == "redis-only":
        yield ""
        return
    with (
        tempfile.TemporaryDirectory() as tmp,
        migrated_database(token_db(backend), Path(tmp), servers, prefix="bench_") as (url, engine),
    ):
        engine.dispose()  # each measuring process opens its own
        yield url


def lock_url(backend: str, servers: ServerUrls, tag: str) -> str:
    server = backend.split("+")[0]
    if server.startswith("table"):
        return "table"
    return servers.lock_url("redis" if server == "redis-only" else server, f"bench-{tag}:")


def token_db(backend: str) -> str:
    return backend.split("-", 1)[1] if backend.startswith("table-") else backend.split("+")[1]


class _RedisOnly:
    """The bare Redis lock protocol (no fencing token), as a reference for the Redis backend's round trips."""

    def __init__(self, url: str) -> None:
        from scrapesched.locks.redis import RedisBackend

        base, _, prefix = url.partition("?prefix=")
        self.prefix = unquote(prefix)
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


class _RawLock:
    """A lock server's own lock, without lease or token (``--compare``): one try to take, then a release."""

    def __init__(self, kind: str, url: str) -> None:
        self.kind = kind
        base, _, prefix = url.partition("?prefix=")
        self.prefix = unquote(prefix)
        self.conn: Any
        if kind == "redis-py Lock":
            self.conn = redis.Redis.from_url(base, socket_timeout=2)
            return
        parsed = make_url(base)
        if kind == "raw GET_LOCK":
            self.conn = pymysql.connect(
                host=parsed.host,
                port=parsed.port or 3306,
                user=parsed.username or "root",
                password=parsed.password or "",
                autocommit=True,
            )
        else:
            self.conn = psycopg.connect(
                host=parsed.host,
                port=parsed.port or 5432,
                user=parsed.username,
                password=parsed.password,
                dbname=parsed.database,
                autocommit=True,
            )

    def cycle(self, name: str, wait: float) -> bool:
        name = self.prefix + name
        if self.kind == "redis-py Lock":
            lock = self.conn.lock(name, timeout=TTL)
            if not lock.acquire(blocking=False):
                return False
            lock.release()
            return True
        if self.kind == "raw GET_LOCK":
            with self.conn.cursor() as cur:
                cur.execute("SELECT GET_LOCK(%s, 0)", (name,))
                got: bool = cur.fetchone()[0] == 1
                if got:
                    cur.execute("SELECT RELEASE_LOCK(%s)", (name,))
                    cur.fetchone()
            return got
        key = advisory_key(name, "")
        row = self.conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
        if not row or not row[0]:
            return False
        self.conn.execute("SELECT pg_advisory_unlock(%s)", (key,)).fetchone()
        return True


class _BareConnection:
    """A bare driver connection to the tokens' database (PyMySQL, psycopg in autocommit; sqlite3), for the
    token statements timed without SQLAlchemy's execution path, pool or retry (``--compare``)."""

    def __init__(self, db_url: str) -> None:
        self.engine = connect_engine(db_url)
        self.dialect = self.engine.dialect.name
        self.conn = self.engine.raw_connection()
        driver: Any = self.conn.driver_connection
        if self.dialect in ("mysql", "mariadb"):
            driver.autocommit(True)
        elif self.dialect == "postgresql":
            driver.autocommit = True

    def close(self) -> None:
        self.conn.close()
        self.engine.dispose()


class _RawToken(_BareConnection):
    """The token statement of ``TokenStore.issue``, compiled once, run on a bare driver connection (a commit
    after it on SQLite): what a durable token costs on this database whatever the code around it."""

    def __init__(self, db_url: str) -> None:
        super().__init__(db_url)
        statement: Any = ISSUE.statement(self.dialect)  # an INSERT: a ClauseElement, typed Executable there
        self.compiled = statement.compile(dialect=self.engine.dialect)
        self.sql = str(self.compiled)

    def cycle(self, name: str, wait: float) -> bool:
        params = self.compiled.construct_params({"lease_name": name, "lease_holder": "bench", "ttl": TTL})
        args: Any = [params[k] for k in self.compiled.positiontup or ()] if self.compiled.positional else params
        cur = self.conn.cursor()
        cur.execute(self.sql, args)
        issued = bool(cur.lastrowid) if self.dialect in ("mysql", "mariadb") else cur.fetchone() is not None
        cur.close()
        if self.dialect == "sqlite":
            self.conn.commit()
        return issued


class _RawSequence(_BareConnection):
    """``nextval`` of a sequence of the tokens' database on a bare driver connection: what a token that is
    not recorded against its name would cost (MariaDB and PostgreSQL only)."""

    def __init__(self, db_url: str) -> None:
        super().__init__(db_url)
        quoted = f"'{SEQUENCE}'" if self.dialect == "postgresql" else SEQUENCE
        self.sql = f"SELECT nextval({quoted})"
        cur = self.conn.cursor()
        cur.execute(f"CREATE SEQUENCE IF NOT EXISTS {SEQUENCE}")
        cur.close()

    def cycle(self, name: str, wait: float) -> bool:
        cur = self.conn.cursor()
        cur.execute(self.sql)
        issued = cur.fetchone() is not None
        cur.close()
        return issued


@contextmanager
def opened(setup: Setup) -> Iterator[Any]:
    """A callable ``cycle(name, wait) -> bool``: one acquire+release."""
    kinds: dict[str, type[_RawToken] | type[_RawSequence]] = {TOKEN_RAW: _RawToken, TOKEN_SEQUENCE: _RawSequence}
    statement_kind = kinds.get(setup.raw)
    if statement_kind is not None:
        statement = statement_kind(setup.db_url)
        yield statement.cycle
        statement.close()
        return
    if setup.raw == TOKEN_ONLY:
        engine = connect_engine(setup.db_url)
        store = TokenStore(engine)
        yield lambda name, wait: store.issue(name, "bench", TTL) > 0
        getattr(store, "close", lambda: None)()
        engine.dispose()
        return
    if setup.raw:
        raw = _RawLock(setup.raw, setup.lock_url)
        yield raw.cycle
        raw.conn.close()
        return
    if not setup.db_url:
        bare = _RedisOnly(setup.lock_url)
        yield bare.cycle
        bare.client.close()
        return
    engine = connect_engine(setup.db_url)
    backend = locks.connect(setup.lock_url, engine=engine, holder_id=f"bench:{os.getpid()}")

    def cycle(name: str, wait: float) -> bool:
        lease = backend.acquire(name, TTL, wait=wait, keepalive=setup.keepalive)
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
        _cycles(cycle, name, seconds, samples)
    return samples


def _cycles(cycle: Any, name: str, seconds: float, samples: list[float]) -> None:
    """Uncontended acquire+release of ``name`` for ``seconds``; their durations appended to ``samples``."""
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        started = time.perf_counter()
        if not cycle(name, 0):
            raise RuntimeError("an uncontended acquire failed")
        samples.append(time.perf_counter() - started)


def side_by_side(setups: list[Setup], seconds: float, rounds: int) -> list[list[float]]:
    """Acquire+release durations of each setup (its own name), measured in alternating slices."""
    samples: list[list[float]] = [[] for _ in setups]
    with ExitStack() as stack:
        cycles = [stack.enter_context(opened(setup)) for setup in setups]
        names = [f"latency-{i}-{uuid.uuid4().hex[:8]}" for i in range(len(setups))]
        for _ in range(50):  # warm up all: connections, statement caches, the name's row
            for cycle, name in zip(cycles, names, strict=True):
                cycle(name, 0)
        for _ in range(rounds):
            for cycle, name, durations in zip(cycles, names, samples, strict=True):
                _cycles(cycle, name, seconds / rounds, durations)
    return samples


def compare(servers: ServerUrls, seconds: float, rounds: int) -> None:
    """The ``--compare`` table: each lock-server lease against its raw lock, p50s, ratio and target."""
    header = ["lease", "tokens in", "lease p50", "raw lock", "raw p50", "ratio", "target", "met"]
    header += ["lease p50 without keep-alive", "its ratio", "token alone p50", "token on the bare driver p50"]
    header += ["floor: (raw lock + bare token) / raw lock"]
    header += ["sequence nextval on the bare driver p50 (not used)", "(raw lock + nextval) / raw lock"]
    rows: list[list[str]] = []
    for backend, raw_kind, target in PAIRS:
        with tokens_database(backend, servers) as db_url:
            tag = uuid.uuid4().hex[:8]
            lease = Setup(lock_url(backend, servers, tag), db_url)
            bare = Setup(lock_url(backend, servers, tag + "-bare"), db_url, keepalive=False)
            raw = Setup(lock_url(backend, servers, tag + "-raw"), "", raw_kind)
            token = Setup("", db_url, TOKEN_ONLY)
            token_raw = Setup("", db_url, TOKEN_RAW)
            setups = [lease, raw, bare, token, token_raw]
            if token_db(backend) != "sqlite":
                setups.append(Setup("", db_url, TOKEN_SEQUENCE))
            p50s = [statistics.median(s) * 1000 for s in side_by_side(setups, seconds, rounds)]
        lease_p50, raw_p50, bare_p50, token_p50, token_raw_p50 = p50s[:5]
        ratio = lease_p50 / raw_p50
        row = [backend, token_db(backend), f"{lease_p50:.2f} ms", raw_kind, f"{raw_p50:.2f} ms"]
        row += [f"{ratio:.1f}x", f"<= {target:.0f}x", "yes" if ratio <= target else "no"]
        row += [f"{bare_p50:.2f} ms", f"{bare_p50 / raw_p50:.1f}x", f"{token_p50:.2f} ms"]
        row += [f"{token_raw_p50:.2f} ms", f"{(raw_p50 + token_raw_p50) / raw_p50:.1f}x"]
        sequence = p50s[5:]
        row += [f"{sequence[0]:.2f} ms", f"{(raw_p50 + sequence[0]) / raw_p50:.1f}x"] if sequence else ["n/a", "n/a"]
        rows.append(row)
        print(" | ".join(row), f"(load average {load_average()})", file=sys.stderr, flush=True)
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" for _ in header) + "|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", default=",".join(BACKENDS), help="comma-separated, from: " + ", ".join(BACKENDS))
    parser.add_argument("--seconds", type=float, default=3.0, help="duration of each measurement")
    parser.add_argument("--processes", default="1,4,16", help="contending process counts")
    parser.add_argument("--compare", action="store_true", help="each lease against its raw lock, side by side")
    parser.add_argument("--rounds", type=int, default=6, help="--compare: alternating slices per pair")
    args = parser.parse_args()
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = [b for b in backends if b not in BACKENDS]
    if unknown:
        parser.error(f"unknown backends {unknown}: use {', '.join(BACKENDS)}")
    counts = [int(n) for n in args.processes.split(",")]
    configure_logging("warning", stream=sys.stderr)
    servers = ServerUrls.from_env()

    print(f"machine: {machine()}", file=sys.stderr)
    if args.compare:
        compare(servers, args.seconds, args.rounds)
        print(f"load average at the end: {load_average()}", file=sys.stderr)
        return
    header = ["backend", "tokens in", "acquire+release p50", "p99"] + [f"{n} proc acq/s" for n in counts]
    rows: list[list[str]] = []
    for backend in backends:
        with tokens_database(backend, servers) as db_url:
            setup = Setup(lock_url(backend, servers, uuid.uuid4().hex[:8]), db_url)
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
