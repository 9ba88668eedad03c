"""Benchmark of the scheduler core (issue 5): per-fire overhead, failover after SIGKILL, fleet throughput.

(a) Overhead, in this process: ``Runner.execute(planned, "", scheduled_for, "schedule")`` (claim INSERT,
    lease acquire with its fencing token, ``attach_lease``, heartbeat and keep-alive threads, the job, the
    fenced finish, lease release, metrics and log calls) ``--fires`` times with a distinct
    ``scheduled_for`` each, against calling the job function directly with a plain ``RunContext``. Two
    jobs: a no-op (the pure per-fire cost of the scheduler) and the built-in ``canary`` with
    ``seconds = 0`` (whose one write then also pays the write guard: fencing check and run-row check).
    The four variants take turns fire by fire (their order rotates), so a change of machine load hits all
    alike; the overhead percentiles are those of the paired differences. Each combination of database
    and lock backend gets a fresh database (``bench_<random>`` on MariaDB/PostgreSQL, dropped at the end;
    a temporary file for SQLite) and its own Redis key / lock name prefix ``bench:<random>:``. The phases
    of a no-op fire are timed by wrapping ``runs.claim``, ``LockBackend.acquire``, ``runs.attach_lease``,
    ``Runner._finish`` and ``Lease.release`` (a few microseconds each); statements and commits are counted
    with SQLAlchemy events, this process's CPU time is taken around each fire, and a fifth variant times
    one committed single-row UPDATE (the database's commit latency). ``postgres+table:nosync`` repeats
    ``postgres+table`` with ``synchronous_commit = off`` in the bench's sessions (the server is untouched)
    to show how much of a fire is waiting for the WAL flush. ``--profile`` (default ``mariadb+redis``)
    runs cProfile over no-op fires and sums each function's own time by library.
(b) Failover: two real ``scrapesched run`` processes (a fresh database each trial) with the canary
    sleeping longer than its interval, ``recover = true`` and ``lease_ttl = T`` for T in ``--ttls``. Once a
    replica's run holds its lease, it is SIGKILLed after a random delay in [0, T) (so the kill falls
    anywhere between two heartbeats); the bench then polls the lease holder and ``job_runs`` every 25 ms
    and reports, from the kill: lease free (no holder, or another), run marked ``abandoned`` (its
    ``finished_at``), and the ``recovery`` run's start (``started_at``, set when it attaches its lease) and
    lease (``locked_at`` of its fencing token in the ``locks`` table).
(c) Throughput: one fire of the canary over 40 shards (``seconds = 0.5``, ``max_concurrent = 2``, interval
    30 s) on 1, 2 and 4 replicas started together between two fires; time from the fire's
    ``scheduled_for`` until the last shard's ``finished_at`` (the ideal is 40 x 0.5 s / (2 x N)).

Usage::

    .venv/bin/python bench/scheduler.py [--part overhead,failover,throughput] [--quick]
        [--fires 300] [--overhead-combos sqlite+table,...] [--profile mariadb+redis] [--ttls 2,5,10] [--failover-reps 3]
        [--failover-combos ...] [--replicas 1,2,4] [--throughput-reps 2] [--throughput-combos ...]

Prints Markdown tables on stdout (progress on stderr). Timings are never a test.
"""

from __future__ import annotations

import sys
from pathlib import Path

if sys.path and Path(sys.path[0] or ".").resolve() == Path(__file__).resolve().parent:
    sys.path.pop(0)  # this file is named like the package it measures: keep bench/ off the import path

import argparse
import json
import os
import random
import signal
import statistics
import subprocess
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import redis
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import make_url

from scrapesched import locks
from scrapesched.config.log_setup import configure_logging
from scrapesched.config.redact import Redactor
from scrapesched.config.settings import Settings, load_settings
from scrapesched.db.engine import connect_engine
from scrapesched.db.migrate import upgrade
from scrapesched.db.retry import transaction
from scrapesched.db.schema import job_runs
from scrapesched.db.schema import locks as locks_table
from scrapesched.locks.base import Lease
from scrapesched.scheduler import canary, runs
from scrapesched.scheduler.builtin import default_registry
from scrapesched.scheduler.context import RunContext, Services
from scrapesched.scheduler.metrics import Metrics
from scrapesched.scheduler.plan import INTERVAL_ANCHOR, PlannedJob, build_plan
from scrapesched.scheduler.registry import JobSpec
from scrapesched.scheduler.runner import Runner
from scrapesched.testing.scratch import scratch_database

REPO_ROOT = Path(__file__).resolve().parents[1]
REDIS_URL = os.environ.get("SSTEST_REDIS_URL", "redis://127.0.0.1:6379/0")

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
OVERHEAD_COMBOS = list(COMBOS)
FAILOVER_COMBOS = ["sqlite+table", "mariadb+redis", "mariadb+mysql", "postgres+postgresql"]
THROUGHPUT_COMBOS = ["sqlite+table", "mariadb+redis"]
PHASES = ("claim", "acquire", "attach", "job", "finish", "release")
POLL_S = 0.025
LEASE = "job:canary"  # runs.lease_name("canary", "")


def progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


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
def fresh_database(backend: str, workdir: Path) -> Iterator[tuple[str, sa.Engine]]:
    """(url, engine) of a new database ``bench_<random>`` migrated to head; dropped (or deleted) afterwards."""
    with scratch_database(backend, workdir, prefix="bench_") as url:
        engine = connect_engine(url)
        try:
            upgrade(engine)
            yield url, engine
        finally:
            engine.dispose()
            if backend == "sqlite":
                for suffix in ("", "-wal", "-shm"):
                    Path(f"{make_url(url).database}{suffix}").unlink(missing_ok=True)


def lock_url_for(lock: str, db_url: str, tag: str) -> str:
    """The lock URL of a backend, with a prefix no one else uses (Redis keys, GET_LOCK and advisory names)."""
    if lock == "table":
        return "table"
    if lock == "redis":
        return f"{REDIS_URL}?prefix=bench:{tag}:"
    return f"{db_url}?prefix=bench:{tag}:"  # mysql (GET_LOCK) or postgresql (advisory) on the same server


def clean_redis(lock: str, tag: str) -> None:
    if lock != "redis":
        return
    client = redis.Redis.from_url(REDIS_URL)
    try:
        for key in client.scan_iter(match=f"bench:{tag}:*"):
            client.delete(key)
    finally:
        client.close()


def utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def since(start: float, value: datetime | None) -> float | None:
    """Seconds from the Unix time ``start`` to a database timestamp (naive UTC)."""
    return None if value is None else utc(value).timestamp() - start


# --- (a) overhead -------------------------------------------------------------------------------------------------
def _noop(ctx: RunContext) -> None:
    return None


NOOP = JobSpec(name="bench_noop", run=_noop, description="does nothing (benchmark)", lease_ttl=30.0)


@dataclass
class OverheadResult:
    combo: str
    fires: int
    samples: dict[str, list[float]]  # variant -> seconds per fire
    phases: dict[str, list[float]]  # phase -> seconds per no-op fire
    statements: list[int]  # per no-op fire
    commits: list[int]
    failures: Counter[str] = field(default_factory=Counter)


class PhaseTimer:
    """Wraps the steps of ``Runner.execute`` so each fire's time per phase is known (active only when armed)."""

    def __init__(self) -> None:
        self.armed = False
        self.current: dict[str, float] = {}

    def wrap(self, phase: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            if not self.armed:
                return fn(*args, **kwargs)
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.current[phase] = self.current.get(phase, 0.0) + time.perf_counter() - started

        return timed


@contextmanager
def instrumented(runner: Runner, backend: locks.LockBackend, timer: PhaseTimer) -> Iterator[None]:
    """Phase timers on the runner's steps; everything restored afterwards."""
    saved_claim, saved_attach, saved_release = runs.claim, runs.attach_lease, Lease.release
    runs.claim = timer.wrap("claim", runs.claim)
    runs.attach_lease = timer.wrap("attach", runs.attach_lease)
    Lease.release = timer.wrap("release", Lease.release)  # type: ignore[method-assign]
    backend.acquire = timer.wrap("acquire", backend.acquire)  # type: ignore[method-assign]
    runner._finish = timer.wrap("finish", runner._finish)  # type: ignore[method-assign]
    try:
        yield
    finally:
        runs.claim, runs.attach_lease = saved_claim, saved_attach
        Lease.release = saved_release  # type: ignore[method-assign]


def direct_context(
    settings: Settings, engine: sa.Engine, job: str, params: dict[str, Any], when: datetime
) -> RunContext:
    """What calling a job function directly takes: a context without lease, run row or write guard."""
    return RunContext(
        job=job,
        shard="",
        params=dict(params),
        scheduled_for=when,
        trigger="manual",
        run_id=0,
        owner=settings.instance_id,
        settings=settings,
        engine=engine,
        lease=None,
        stop_event=threading.Event(),
        services=Services(),
    )


def no_commit_wait(engine: sa.Engine) -> None:
    """PostgreSQL sessions that do not wait for the WAL flush at commit (``synchronous_commit = off``)."""

    def on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.execute("SET synchronous_commit = off")
        dbapi_conn.commit()

    event.listen(engine, "connect", on_connect)
    engine.dispose()  # pooled connections were opened without it


def measure_overhead(combo: str, fires: int, warmup: int, workdir: Path) -> OverheadResult:
    db, lock = COMBOS[combo]
    tag = uuid.uuid4().hex[:10]
    with fresh_database(db, workdir) as (url, engine):
        if combo.endswith(":nosync"):
            no_commit_wait(engine)
        settings = load_settings(
            None,
            database_url=url,
            lock_url=lock_url_for(lock, url, tag),
            instance_id=f"bench-{tag}",
            log_level="warning",
            jobs={"canary": {"params": {"seconds": 0}}},
        )
        plan = build_plan(settings, default_registry())
        timer = PhaseTimer()
        canary_planned = next(p for p in plan if p.name == "canary")
        canary_planned = replace(canary_planned, spec=replace(canary_planned.spec, run=timer.wrap("job", canary.run)))
        noop_planned = replace(canary_planned, spec=replace(NOOP, run=timer.wrap("job", _noop)), params={})
        backend = locks.connect(settings.lock_url, engine=engine, holder_id=settings.instance_id)
        runner = Runner(settings, engine, backend, Services(), Metrics(), Redactor())
        counts = {"statements": 0, "commits": 0}

        def on_statement(*_args: Any) -> None:
            counts["statements"] += 1

        def on_commit(*_args: Any) -> None:
            counts["commits"] += 1

        event.listen(engine, "before_cursor_execute", on_statement)
        event.listen(engine, "commit", on_commit)
        base = datetime(2030, 1, 1, tzinfo=UTC)
        result = OverheadResult(combo, fires, {}, {p: [] for p in PHASES}, [], [])

        def execute(planned: PlannedJob, when: datetime) -> None:
            outcome = runner.execute(planned, "", when, "schedule")
            if outcome.status != "succeeded":
                result.failures[f"{outcome.status}: {outcome.detail}"[:120]] += 1

        variants: dict[str, Callable[[datetime], None]] = {
            "execute_noop": lambda when: execute(noop_planned, when),
            "direct_noop": lambda when: _noop(direct_context(settings, engine, "bench_noop", {}, when)),
            "execute_canary": lambda when: execute(canary_planned, when),
            "direct_canary": lambda when: canary.run(
                direct_context(settings, engine, "canary", canary_planned.params, when)
            ),
        }
        probe = "bench:commit-probe"
        with engine.begin() as conn:
            conn.execute(locks_table.insert().values(name=probe, holder="", token=0))

        def one_commit(conn: sa.Connection) -> None:
            conn.execute(
                sa.update(locks_table).where(locks_table.c.name == probe).values(token=locks_table.c.token + 1)
            )

        variants["commit"] = lambda when: transaction(engine, one_commit, what="commit probe")
        names = list(variants)
        result.samples = {name: [] for name in names}
        try:
            with instrumented(runner, backend, timer):
                for i in range(warmup + fires):
                    measured = i >= warmup
                    order = names[i % len(names) :] + names[: i % len(names)]
                    for name in order:
                        when = base + timedelta(days=names.index(name), seconds=i)
                        noop_fire = name == "execute_noop"
                        timer.current = {}
                        timer.armed = noop_fire
                        counts["statements"] = counts["commits"] = 0
                        started, cpu = time.perf_counter(), time.process_time()
                        variants[name](when)
                        elapsed = time.perf_counter() - started
                        cpu = time.process_time() - cpu
                        timer.armed = False
                        if not measured:
                            continue
                        result.samples[name].append(elapsed)
                        if noop_fire:
                            for phase in PHASES:
                                result.phases[phase].append(timer.current.get(phase, 0.0))
                            result.phases.setdefault("total", []).append(elapsed)
                            result.phases.setdefault("cpu", []).append(cpu)
                            result.statements.append(counts["statements"])
                            result.commits.append(counts["commits"])
        finally:
            backend.close()
            clean_redis(lock, tag)
    return result


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
    ("/scheduler/", "scrapesched (scheduler, locks, db)"),
    ("/locks/", "scrapesched (scheduler, locks, db)"),
    ("/db/", "scrapesched (scheduler, locks, db)"),
)


def profile_overhead(combo: str, fires: int, workdir: Path) -> list[tuple[str, float]]:
    """cProfile (wall clock) of ``fires`` no-op fires: milliseconds per fire by library, largest first."""
    import cProfile
    import pstats

    db, lock = COMBOS[combo]
    tag = uuid.uuid4().hex[:10]
    with fresh_database(db, workdir) as (url, engine):
        settings = load_settings(
            None, database_url=url, lock_url=lock_url_for(lock, url, tag), instance_id=f"bench-{tag}"
        )
        plan = build_plan(settings, default_registry())
        noop_planned = replace(next(p for p in plan if p.name == "canary"), spec=NOOP, params={})
        backend = locks.connect(settings.lock_url, engine=engine, holder_id=settings.instance_id)
        runner = Runner(settings, engine, backend, Services(), Metrics(), Redactor())
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
            clean_redis(lock, tag)
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


def report_overhead(results: list[OverheadResult]) -> None:
    fires = results[0].fires if results else 0
    print(f"### Overhead per fire ({fires} fires per variant, ms)\n")
    print(
        "| database + lock backend | direct no-op p50 / p99 | execute(no-op) p50 / p99 | "
        "**overhead p50 / p99** | direct canary p50 / p99 | execute(canary) p50 / p99 | "
        "canary overhead p50 / p99 | statements / commits per no-op fire | one-row UPDATE + commit p50 / p99 |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        s = r.samples
        over_noop = [a - b for a, b in zip(s["execute_noop"], s["direct_noop"], strict=True)]
        over_canary = [a - b for a, b in zip(s["execute_canary"], s["direct_canary"], strict=True)]

        def pp(values: list[float]) -> str:
            return f"{ms(pct(values, 50))} / {ms(pct(values, 99))}"

        stmts = statistics.median(r.statements) if r.statements else 0
        commits = statistics.median(r.commits) if r.commits else 0
        print(
            f"| {r.combo} | {pp(s['direct_noop'])} | {pp(s['execute_noop'])} | **{pp(over_noop)}** | "
            f"{pp(s['direct_canary'])} | {pp(s['execute_canary'])} | {pp(over_canary)} | {stmts:g} / {commits:g} | "
            f"{pp(s['commit'])} |"
        )
    failures = [(r.combo, f, n) for r in results for f, n in r.failures.items()]
    for combo, failure, n in failures:
        print(f"\n{combo}: {n} fires did not succeed: {failure}")
    print("\n### Where the time of a no-op fire goes (mean ms per phase; the phases add up to the mean total)\n")
    print(
        "| database + lock backend | "
        + " | ".join(PHASES)
        + " | rest (threads, metrics, logs) | mean total | median total | this process's CPU, median |"
    )
    print("|---|" + "---:|" * (len(PHASES) + 4))
    for r in results:
        totals = r.phases.get("total", [])
        per_fire_rest = [total - sum(r.phases[p][i] for p in PHASES) for i, total in enumerate(totals)]
        cells = [ms(statistics.fmean(r.phases[p])) for p in PHASES]
        cells += [ms(statistics.fmean(per_fire_rest)), ms(statistics.fmean(totals)), ms(statistics.median(totals))]
        cells.append(ms(statistics.median(r.phases["cpu"])))
        print(f"| {r.combo} | " + " | ".join(cells) + " |")
    print()


# --- replica processes ------------------------------------------------------------------------------------------
def replica_env(**settings: str) -> dict[str, str]:
    """Our environment minus SCRAPESCHED_*, plus ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCRAPESCHED_")}
    env.update({"SCRAPESCHED_" + k.upper(): v for k, v in settings.items()})
    env["PYTHONUNBUFFERED"] = "1"
    return env


CLI = [sys.executable, "-c", "import sys; from scrapesched.cli.main import run; sys.argv[0]='scrapesched'; run()"]


@dataclass
class Replica:
    name: str
    proc: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def started(self) -> bool:
        return '"scheduler_started"' in self.log()


class Fleet:
    """Replica processes of ``scrapesched run``; all stopped (then killed) on exit."""

    def __init__(self, workdir: Path, config: Path, env: dict[str, str]) -> None:
        self.workdir, self.config, self.env = workdir, config, env
        self.replicas: list[Replica] = []

    def start(self, name: str) -> Replica:
        log_path = self.workdir / f"{name}-{uuid.uuid4().hex[:6]}.log"
        with log_path.open("wb") as out:
            proc = subprocess.Popen(
                [*CLI, "--config", str(self.config), "run"],
                env={**self.env, "SCRAPESCHED_INSTANCE_ID": name},
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=REPO_ROOT,
            )
        replica = Replica(name, proc, log_path)
        self.replicas.append(replica)
        return replica

    def by_name(self, name: str) -> Replica:
        return next(r for r in self.replicas if r.name == name)

    def close(self) -> None:
        for r in self.replicas:
            if r.proc.poll() is None:
                r.proc.send_signal(signal.SIGTERM)
        for r in self.replicas:
            try:
                r.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                r.proc.kill()
                r.proc.wait(timeout=20)

    def __enter__(self) -> Fleet:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def next_fire(interval: float, after: float) -> float:
    """The first fire time (Unix seconds) of an interval schedule strictly after ``after``."""
    anchor = INTERVAL_ANCHOR.timestamp()
    n = int((after - anchor) // interval) + 1
    return anchor + n * interval


def wait_until(predicate: Callable[[], bool], timeout: float, every: float = POLL_S) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(every)
    return predicate()


def canary_runs_rows(engine: sa.Engine) -> list[sa.Row[Any]]:
    with engine.connect() as conn:
        return list(conn.execute(sa.select(job_runs).where(job_runs.c.job_name == "canary").order_by(job_runs.c.id)))


# --- (b) failover -------------------------------------------------------------------------------------------------
@dataclass
class FailoverTrial:
    combo: str
    ttl: float
    heartbeat_age: float  # kill - victim's last heartbeat
    lease_free: float | None  # kill -> no holder or another one (observed)
    abandoned: float | None  # kill -> victim's run marked abandoned
    recovery_started: float | None  # kill -> recovery run's started_at (set when its lease is attached)
    recovery_leased: float | None  # kill -> recovery's fencing token issued (locks.locked_at)
    sweep_wait: float | None  # abandoned - (last heartbeat + ttl)
    note: str = ""


def failover_trial(combo: str, ttl: float, workdir: Path, rng: random.Random) -> FailoverTrial:
    db, lock = COMBOS[combo]
    tag = uuid.uuid4().hex[:10]
    interval = max(20.0, 4 * ttl)
    seconds = interval + 10  # still running when the next fire comes: that fire is skipped, never run
    config = workdir / f"failover-{tag}.toml"
    config.write_text(
        f"""
[jobs.canary]
interval = "{interval:g}s"
lease_ttl = "{ttl:g}s"
recover = true
params = {{ seconds = {seconds:g} }}
"""
    )
    with fresh_database(db, workdir) as (url, engine):
        lock_url = lock_url_for(lock, url, tag)
        observer = locks.connect(lock_url, engine=engine, holder_id=f"bench-observer-{tag}")
        env = replica_env(database_url=url, lock_url=lock_url, log_format="json", shutdown_grace="1s")
        try:
            with Fleet(workdir, config, env) as fleet:
                # start so the next fire comes a few seconds after the replicas are up
                fire = next_fire(interval, time.time() + 6)
                time.sleep(max(0.0, fire - 6 - time.time()))
                for name in ("a", "b"):
                    fleet.start(f"{name}-{tag}")

                def leased() -> sa.Row[Any] | None:
                    found = [r for r in canary_runs_rows(engine) if r.status == "running" and r.fencing_token]
                    return found[0] if found else None

                if not wait_until(lambda: leased() is not None, interval + 30):
                    raise RuntimeError(f"no run took its lease; logs: {[r.log()[-800:] for r in fleet.replicas]}")
                victim_row = leased()
                assert victim_row is not None
                time.sleep(rng.uniform(0, ttl))
                victim = fleet.by_name(victim_row.owner)
                kill_at = time.time()
                victim.proc.send_signal(signal.SIGKILL)
                victim.proc.wait(timeout=10)
                lease_free: float | None = None
                recovery: sa.Row[Any] | None = None
                deadline = time.monotonic() + 3 * ttl + 30
                while time.monotonic() < deadline:
                    if lease_free is None:
                        info = observer.holder(LEASE)
                        if info is None or info.holder != victim.name:
                            lease_free = time.time() - kill_at
                    rows = canary_runs_rows(engine)
                    found = [r for r in rows if r.trigger == "recovery" and r.fencing_token]
                    if found and lease_free is not None:
                        recovery = found[0]
                        break
                    time.sleep(POLL_S)
                with engine.connect() as conn:
                    lock_row = conn.execute(
                        sa.select(locks_table.c.token, locks_table.c.locked_at).where(locks_table.c.name == LEASE)
                    ).first()
                final = next(r for r in canary_runs_rows(engine) if r.id == victim_row.id)
        finally:
            observer.close()
            clean_redis(lock, tag)
    last_beat = utc(final.heartbeat_at or final.started_at).timestamp()
    abandoned = since(kill_at, final.finished_at) if final.status == "abandoned" else None
    leased_at = None
    if recovery is not None and lock_row is not None and lock_row.token == recovery.fencing_token:
        leased_at = since(kill_at, lock_row.locked_at)
    sweep_wait = None
    if final.status == "abandoned" and final.finished_at is not None:
        sweep_wait = utc(final.finished_at).timestamp() - (last_beat + ttl)
    return FailoverTrial(
        combo=combo,
        ttl=ttl,
        heartbeat_age=kill_at - last_beat,
        lease_free=lease_free,
        abandoned=abandoned,
        recovery_started=since(kill_at, recovery.started_at) if recovery is not None else None,
        recovery_leased=leased_at,
        sweep_wait=sweep_wait,
        note="" if recovery is not None else f"no recovery run (victim row {final.status})",
    )


def sweep_period(ttl: float) -> float:
    """``SchedulerService._sweep_every`` for a fleet whose shortest lease ttl is ``ttl``."""
    return max(0.5, min(10.0, ttl / 2))


def report_failover(trials: list[FailoverTrial]) -> None:
    print("### Failover after SIGKILL (seconds from the kill; median (min-max) over the trials)\n")
    print(
        "| database + lock backend | lease ttl T | sweep period S (x0.5-1.5) | trials | lease free | run abandoned | "
        "recovery started | **recovery leased** | T + 1 s | within T + 1 s | expected range (2T/3 .. T + 1.5 S) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    order = list(dict.fromkeys(t.combo for t in trials))
    keys = sorted({(t.combo, t.ttl) for t in trials}, key=lambda k: (order.index(k[0]), k[1]))
    for combo, ttl in keys:
        group = [t for t in trials if (t.combo, t.ttl) == (combo, ttl)]

        def col(attr: str, group: list[FailoverTrial] = group) -> list[float]:
            return [v for t in group if (v := getattr(t, attr)) is not None]

        leased = col("recovery_leased")
        within = sum(1 for v in leased if v <= ttl + 1)
        s = sweep_period(ttl)
        print(
            f"| {combo} | {ttl:g} s | {s:g} s | {len(group)} | {spread(col('lease_free'))} | "
            f"{spread(col('abandoned'))} | {spread(col('recovery_started'))} | **{spread(leased)}** | "
            f"{ttl + 1:g} s | {within}/{len(group)} | {2 * ttl / 3:.1f} .. {ttl + 1.5 * s:.1f} s |"
        )
    print("\n### Failover components (median (min-max) s)\n")
    print(
        "| database + lock backend | T | heartbeat age at kill (0..T/3) | T - age | sweep wait after "
        "heartbeat + T (0..1.5 S) | abandoned -> recovery leased |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for combo, ttl in keys:
        group = [t for t in trials if (t.combo, t.ttl) == (combo, ttl)]
        ages = [t.heartbeat_age for t in group]
        waits = [t.sweep_wait for t in group if t.sweep_wait is not None]
        takes = [t.recovery_leased - t.abandoned for t in group if t.recovery_leased is not None and t.abandoned]
        print(
            f"| {combo} | {ttl:g} s | {spread(ages)} | {spread([ttl - a for a in ages])} | {spread(waits)} | "
            f"{spread(takes, digits=3)} |"
        )
    notes = [f"{t.combo} T={t.ttl:g}: {t.note}" for t in trials if t.note]
    for note in notes:
        print(f"\n{note}")
    print()


# --- (c) throughput -----------------------------------------------------------------------------------------------
SHARDS = 40
SHARD_SECONDS = 0.5
SLOTS = 2
THROUGHPUT_INTERVAL = 30.0
START_LEAD_S = 12.0


@dataclass
class ThroughputTrial:
    combo: str
    replicas: int
    makespan: float | None  # scheduled_for -> last finished_at
    first_start: float | None  # scheduled_for -> first started_at
    per_replica: list[int]
    statuses: Counter[str]
    run_seconds: list[float]  # started_at -> finished_at of each shard's run
    lost_claims: int  # claims that found the shard already claimed (replica logs)
    note: str = ""


def throughput_trial(combo: str, n: int, workdir: Path) -> ThroughputTrial:
    db, lock = COMBOS[combo]
    tag = uuid.uuid4().hex[:10]
    shards = [f"shard-{i:02d}" for i in range(SHARDS)]
    config = workdir / f"throughput-{tag}.toml"
    config.write_text(
        f"""
[jobs.canary]
interval = "{THROUGHPUT_INTERVAL:g}s"
shards = {json.dumps(shards)}
params = {{ seconds = {SHARD_SECONDS:g} }}
"""
    )
    with fresh_database(db, workdir) as (url, engine):
        env = replica_env(
            database_url=url,
            lock_url=lock_url_for(lock, url, tag),
            log_format="json",
            max_concurrent=str(SLOTS),
            shutdown_grace="5s",
        )
        try:
            with Fleet(workdir, config, env) as fleet:
                # All replicas start after one fire and are up well before the next one, which is measured.
                fire = next_fire(THROUGHPUT_INTERVAL, time.time() + START_LEAD_S)
                time.sleep(max(0.0, fire - START_LEAD_S - time.time()))
                for i in range(n):
                    fleet.start(f"r{i}-{tag}")
                up = wait_until(lambda: all(r.started() for r in fleet.replicas), fire - time.time() - 0.3, 0.1)
                note = "" if up else "not every replica was up before the fire"
                when = datetime.fromtimestamp(fire, UTC)

                def fire_rows() -> list[sa.Row[Any]]:
                    return [r for r in canary_runs_rows(engine) if utc(r.scheduled_for) == when]

                def done() -> bool:
                    return len([r for r in fire_rows() if r.finished_at is not None]) >= SHARDS

                time.sleep(max(0.0, fire - time.time()))
                if not wait_until(done, 120, 0.2):
                    note = (note + "; " if note else "") + "not all shards finished within 120 s"
                rows = fire_rows()
                lost = sum(r.log().count('"claimed_by_other"') for r in fleet.replicas)
        finally:
            clean_redis(lock, tag)
    finished = [utc(r.finished_at).timestamp() for r in rows if r.finished_at is not None]
    started = [utc(r.started_at).timestamp() for r in rows]
    owners = Counter(r.owner for r in rows if r.status == "succeeded")
    return ThroughputTrial(
        combo=combo,
        replicas=n,
        makespan=max(finished) - fire if len(finished) >= SHARDS else None,
        first_start=min(started) - fire if started else None,
        per_replica=sorted(owners.values(), reverse=True),
        statuses=Counter(r.status for r in rows),
        run_seconds=[(utc(r.finished_at) - utc(r.started_at)).total_seconds() for r in rows if r.finished_at],
        lost_claims=lost,
        note=note,
    )


def report_throughput(trials: list[ThroughputTrial]) -> None:
    print(
        f"### Throughput: one fire of {SHARDS} shards x {SHARD_SECONDS:g} s, max_concurrent = {SLOTS} "
        "(seconds from scheduled_for)\n"
    )
    print(
        "| database + lock backend | replicas | trials | ideal | first shard started | **all shards finished** "
        "| speedup t1/tN | one shard's run (started_at to finished_at), median | claims lost to another replica "
        "| shards per replica (last trial) | statuses |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for combo in dict.fromkeys(t.combo for t in trials):
        mine = [t for t in trials if t.combo == combo]
        ones = [t.makespan for t in mine if t.replicas == 1 and t.makespan is not None]
        t1 = statistics.median(ones) if ones else None
        for n in sorted({t.replicas for t in mine}):
            group = [t for t in mine if t.replicas == n]
            spans = [t.makespan for t in group if t.makespan is not None]
            firsts = [t.first_start for t in group if t.first_start is not None]
            tn = statistics.median(spans) if spans else None
            speed = f"{t1 / tn:.2f}x" if t1 and tn else "-"
            statuses = Counter[str]()
            for t in group:
                statuses.update(t.statuses)
            ideal = SHARDS * SHARD_SECONDS / (SLOTS * n)
            print(
                f"| {combo} | {n} | {len(group)} | {ideal:.2f} s | {spread(firsts)} | **{spread(spans)}** | "
                f"{speed} | {spread([r for t in group for r in t.run_seconds], digits=3).split(' (')[0]} | "
                f"{spread([float(t.lost_claims) for t in group], unit='', digits=0)} | "
                f"{'/'.join(map(str, group[-1].per_replica))} | "
                f"{', '.join(f'{k} {v}' for k, v in sorted(statuses.items()))} |"
            )
    for t in trials:
        if t.note:
            print(f"\n{t.combo} with {t.replicas} replicas: {t.note}")
    print()


# --- main -----------------------------------------------------------------------------------------------------
def machine() -> str:
    cpu = "?"
    with Path("/proc/cpuinfo").open() as fh:
        for line in fh:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = "?"
    with Path("/proc/meminfo").open() as fh:
        for line in fh:
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    return f"nproc {os.cpu_count()}, CPU {cpu!r}, RAM {mem}, load average {load_average()}"


def load_average() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def parse_list(text: str, known: list[str]) -> list[str]:
    items = [t.strip() for t in text.split(",") if t.strip()]
    for item in items:
        if item not in known:
            raise SystemExit(f"unknown combination {item!r} (known: {', '.join(known)})")
    return items


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--part", default="overhead,failover,throughput")
    parser.add_argument("--quick", action="store_true", help="fewer fires, trials and combinations (a smoke run)")
    parser.add_argument("--fires", type=int, default=None, help="fires per variant (default 300; quick 60)")
    parser.add_argument("--overhead-combos", default=None)
    parser.add_argument(
        "--profile", default="mariadb+redis", help="combinations whose no-op fires are profiled ('' for none)"
    )
    parser.add_argument("--ttls", default="2,5,10")
    parser.add_argument("--failover-reps", type=int, default=None, help="trials per ttl (default 3; quick 1)")
    parser.add_argument("--failover-combos", default=None)
    parser.add_argument("--replicas", default="1,2,4")
    parser.add_argument("--throughput-reps", type=int, default=None, help="trials per fleet size (default 2; quick 1)")
    parser.add_argument("--throughput-combos", default=None)
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args()
    parts = {p.strip() for p in args.part.split(",") if p.strip()}
    if parts - {"overhead", "failover", "throughput"}:
        raise SystemExit(f"unknown part(s): {', '.join(sorted(parts - {'overhead', 'failover', 'throughput'}))}")
    for key in [k for k in os.environ if k.startswith("SCRAPESCHED_")]:
        del os.environ[key]  # the benchmark's settings are its own
    configure_logging("warning", "json", Redactor())
    rng = random.Random(args.seed)
    workdir = Path(tempfile.mkdtemp(prefix="bench_scheduler_"))
    print(f"Machine: {machine()} (at start)\n")
    if "overhead" in parts:
        print(f"Load average before the overhead part: {load_average()}\n")
        combos = parse_list(args.overhead_combos, list(COMBOS)) if args.overhead_combos else OVERHEAD_COMBOS
        fires = args.fires or (60 if args.quick else 300)
        results = []
        for combo in combos:
            progress(f"overhead {combo}: {fires} fires x 4 variants")
            results.append(measure_overhead(combo, fires, warmup=20, workdir=workdir))
        report_overhead(results)
        for combo in parse_list(args.profile, list(COMBOS)) if args.profile else []:
            progress(f"profile {combo}: {fires} no-op fires")
            report_profile(combo, fires, profile_overhead(combo, fires, workdir))
    if "failover" in parts:
        print(f"Load average before the failover part: {load_average()}\n")
        default = FAILOVER_COMBOS[:2] if args.quick else FAILOVER_COMBOS
        combos = parse_list(args.failover_combos, list(COMBOS)) if args.failover_combos else default
        reps = args.failover_reps or (1 if args.quick else 3)
        trials = []
        for combo in combos:
            for ttl in [float(t) for t in args.ttls.split(",")]:
                for rep in range(reps):
                    progress(f"failover {combo} ttl {ttl:g} s, trial {rep + 1}/{reps}")
                    trial = failover_trial(combo, ttl, workdir, rng)
                    progress(f"  -> recovery leased {trial.recovery_leased} s after the kill {trial.note}")
                    trials.append(trial)
        report_failover(trials)
    if "throughput" in parts:
        print(f"Load average before the throughput part: {load_average()}\n")
        combos = parse_list(args.throughput_combos, list(COMBOS)) if args.throughput_combos else THROUGHPUT_COMBOS
        reps = args.throughput_reps or (1 if args.quick else 2)
        fleet_sizes = [int(n) for n in args.replicas.split(",")]
        tp_trials = []
        for combo in combos:
            for rep in range(reps):
                for n in fleet_sizes:
                    progress(f"throughput {combo} {n} replica(s), trial {rep + 1}/{reps}")
                    tp = throughput_trial(combo, n, workdir)
                    progress(f"  -> all shards finished {tp.makespan} s after the fire {tp.note}")
                    tp_trials.append(tp)
        report_throughput(tp_trials)
    print(f"Machine: {machine()} (at the end)")
    progress(f"replica logs and SQLite files are in {workdir}")


if __name__ == "__main__":
    main()
