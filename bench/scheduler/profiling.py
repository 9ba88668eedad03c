"""cProfile of no-op fires (``--profile``, default ``mariadb+redis``): each function's own time per fire,
summed by library, to show where the scheduler's per-fire overhead goes."""

from __future__ import annotations

import cProfile
import pstats
import uuid
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.scheduler.common import COMBOS, BenchEnv, clean_redis, fresh_database, lock_url_for
from bench.scheduler.overhead import NOOP
from scrapesched import locks
from scrapesched.config.redact import Redactor
from scrapesched.config.settings import load_settings
from scrapesched.scheduler.metrics import Metrics
from scrapesched.scheduler.plan import build_plan
from scrapesched.scheduler.plugins import load_registry
from scrapesched.scheduler.runner import Runner

# Where a profiled function's own time is counted: the first matching (module path part, category).
PROFILE_CATEGORIES = (
    ("recv", "socket reads: waiting for the database / lock server"),
    ("sendall", "socket writes"),
    ("/sqlalchemy/", "SQLAlchemy (pool, pre-ping, compile cache, result)"),
    ("/pymysql/", "PyMySQL"),
    ("/psycopg/", "psycopg"),
    ("/redis/", "redis-py"),
    ("/tenacity/", "tenacity (retry wrapper)"),
    ("/structlog/", "structlog"),
    ("/prometheus_client/", "prometheus-client"),
    ("threading.py", "threads: heartbeat and keep-alive start/stop"),
    ("_thread", "threads: heartbeat and keep-alive start/stop"),
    ("/bench/", "other (Python, stdlib)"),  # the benchmark's own no-op job, not the scheduler
    ("/scheduler/", "scrapesched (scheduler, locks, db)"),
    ("/locks/", "scrapesched (scheduler, locks, db)"),
    ("/db/", "scrapesched (scheduler, locks, db)"),
)


def profile_overhead(combo: str, fires: int, env: BenchEnv) -> list[tuple[str, float]]:
    """cProfile (wall clock) of ``fires`` no-op fires: milliseconds per fire by library, largest first."""
    db, lock = COMBOS[combo]
    tag = uuid.uuid4().hex[:10]
    with fresh_database(db, env) as (url, engine):
        settings = load_settings(
            None, database_url=url, lock_url=lock_url_for(lock, env, tag), instance_id=f"bench-{tag}"
        )
        plan = build_plan(settings, load_registry())
        noop_planned = replace(next(p for p in plan if p.name == "canary"), spec=NOOP, params={})
        backend = locks.connect(settings.lock_url, engine=engine, holder_id=settings.instance_id)
        runner = Runner(settings, engine, backend, object(), Metrics(), Redactor())
        base = datetime(2031, 1, 1, tzinfo=UTC)
        try:
            for i in range(20):  # warm-up
                runner.execute(noop_planned, "", base + timedelta(seconds=i), "schedule")
            profiler = cProfile.Profile()
            profiler.enable()
            for i in range(fires):
                runner.execute(noop_planned, "", base + timedelta(days=1, seconds=i), "schedule")
            profiler.disable()
        finally:
            backend.close()
            clean_redis(lock, env, tag)
    stats: dict[Any, Any] = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    totals: Counter[str] = Counter()
    for (filename, _line, func), (_cc, _nc, tottime, _ct, _callers) in stats.items():
        where = f"{filename} {func}"
        category = next((c for part, c in PROFILE_CATEGORIES if part in where), "other (Python, stdlib)")
        totals[category] += tottime
    return [(c, t / fires * 1000) for c, t in totals.most_common()]


def report_profile(combo: str, fires: int, rows: list[tuple[str, float]]) -> None:
    total = sum(t for _, t in rows)
    print(f"### Profile of a no-op fire on {combo} ({fires} fires, cProfile, own time per fire)\n")
    print("| where | ms per fire | share |")
    print("|---|---:|---:|")
    for category, t in rows:
        print(f"| {category} | {t:.2f} | {t / total * 100:.0f}% |")
    print(f"| **total (profiled, so slower than unprofiled)** | **{total:.2f}** | |\n")

