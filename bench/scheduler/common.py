"""What the scheduler benchmark's parts share: the combinations of database and lock backend, where a
trial runs (:class:`BenchEnv`: work directory and servers), fresh databases and lock URLs with prefixes
of their own, the canary's run rows, schedule arithmetic and the statistics of the report tables."""

from __future__ import annotations

import statistics
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis
import sqlalchemy as sa

from scrapesched.db.schema import job_runs
from scrapesched.scheduler.plan import INTERVAL_ANCHOR
from scrapesched.testing.fleet import Fleet, replica_env
from scrapesched.testing.scratch import ServerUrls, migrated_database

REPO_ROOT = Path(__file__).resolve().parents[2]

# name -> (database, lock backend)
COMBOS: dict[str, tuple[str, str]] = {
    "sqlite+table": ("sqlite", "table"),
    "mariadb+redis": ("mariadb", "redis"),
    "mariadb+mysql": ("mariadb", "mysql"),
    "mariadb+table": ("mariadb", "table"),
    "postgres+postgresql": ("postgres", "postgresql"),
    "postgres+table": ("postgres", "table"),
    # diagnostic: the same with the commit not waiting for the WAL flush (session setting, server untouched)
    "postgres+table:nosync": ("postgres", "table"),
}
POLL_S = 0.025
LEASE = "job:canary"  # runs.lease_name("canary", "")


@dataclass(frozen=True)
class BenchEnv:
    """Where the benchmark runs: its work directory (replica logs, config and SQLite files) and the servers."""

    workdir: Path
    servers: ServerUrls


def progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def parse_list(text: str, known: list[str]) -> list[str]:
    items = [t.strip() for t in text.split(",") if t.strip()]
    for item in items:
        if item not in known:
            raise SystemExit(f"unknown combination {item!r} (known: {', '.join(known)})")
    return items


# --- statistics -----------------------------------------------------------------------------------------------
def pct(values: list[float], q: float) -> float:
    """The q-th percentile (0..100), linear interpolation between closest ranks."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * q / 100
    lo = int(k)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f}"


def spread(values: list[float], unit: str = "s", digits: int = 2) -> str:
    """``median (min-max)`` of a list."""
    if not values:
        return "-"
    med = f"{statistics.median(values):.{digits}f}" + (f" {unit}" if unit else "")
    if len(values) == 1:
        return med
    return f"{med} ({min(values):.{digits}f}-{max(values):.{digits}f})"


# --- databases and lock URLs ----------------------------------------------------------------------------------
@contextmanager
def fresh_database(backend: str, env: BenchEnv) -> Iterator[tuple[str, sa.Engine]]:
    """(url, engine) of a new database ``bench_<random>`` migrated to head; dropped (or deleted) afterwards."""
    with migrated_database(backend, env.workdir, env.servers, prefix="bench_") as (url, engine):
        yield url, engine


def lock_url_for(lock: str, env: BenchEnv, tag: str) -> str:
    """The lock URL of a backend, with a prefix no one else uses (Redis keys, GET_LOCK and advisory names)."""
    return "table" if lock == "table" else env.servers.lock_url(lock, f"bench:{tag}:")


def clean_redis(lock: str, env: BenchEnv, tag: str) -> None:
    if lock != "redis":
        return
    client = redis.Redis.from_url(env.servers.redis)
    try:
        for key in client.scan_iter(match=f"bench:{tag}:*"):
            client.delete(key)
    finally:
        client.close()


@dataclass(frozen=True)
class Trial:
    """One trial with replica processes: its tag (the lock prefix is ``bench:<tag>:``), fresh database,
    lock URL and fleet."""

    tag: str
    engine: sa.Engine
    lock_url: str
    fleet: Fleet


@contextmanager
def replica_trial(combo: str, env: BenchEnv, name: str, config: str, **settings: str) -> Iterator[Trial]:
    """A fresh database for ``combo``, its lock URL and a fleet of ``scrapesched run`` replicas (none started
    yet) with the config file ``config`` (written as ``<name>-<tag>.toml`` in the work directory), JSON logs
    and ``settings``. On exit the replicas are stopped, their Redis keys removed and the database dropped."""
    db, lock = COMBOS[combo]
    tag = uuid.uuid4().hex[:10]
    config_path = env.workdir / f"{name}-{tag}.toml"
    config_path.write_text(config)
    with fresh_database(db, env) as (url, engine):
        lock_url = lock_url_for(lock, env, tag)
        environ = replica_env(database_url=url, lock_url=lock_url, log_format="json", **settings)
        try:
            with Fleet(env.workdir, environ, config=config_path, cwd=REPO_ROOT, stop_timeout=20) as fleet:
                yield Trial(tag, engine, lock_url, fleet)
        finally:
            clean_redis(lock, env, tag)


def canary_runs_rows(engine: sa.Engine) -> list[sa.Row[Any]]:
    with engine.connect() as conn:
        return list(conn.execute(sa.select(job_runs).where(job_runs.c.job_name == "canary").order_by(job_runs.c.id)))


# --- time -------------------------------------------------------------------------------------------------------
def utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def since(start: float, value: datetime | None) -> float | None:
    """Seconds from the Unix time ``start`` to a database timestamp (naive UTC)."""
    return None if value is None else utc(value).timestamp() - start


def next_fire(interval: float, after: float) -> float:
    """The first fire time (Unix seconds) of an interval schedule strictly after ``after``."""
    anchor = INTERVAL_ANCHOR.timestamp()
    n = int((after - anchor) // interval) + 1
    return anchor + n * interval
