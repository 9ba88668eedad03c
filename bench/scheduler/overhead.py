"""(a) Overhead of the scheduler per fire, in this process.

``Runner.execute(planned, "", scheduled_for, "schedule")`` (claim INSERT, lease acquire with its fencing
token, ``attach_lease``, heartbeat and keep-alive threads, the job, the fenced finish, lease release,
metrics and log calls) ``--fires`` times with a distinct ``scheduled_for`` each, against calling the job
function directly with a plain ``RunContext``. Two jobs: a no-op (the pure per-fire cost of the
scheduler) and the built-in ``canary`` with ``seconds = 0`` (whose one write then also pays the write
guard: fencing check and run-row check). The four variants take turns fire by fire (their order
rotates), so a change of machine load hits all alike; the overhead percentiles are those of the paired
differences. Each combination of database and lock backend gets a fresh database and its own Redis key /
lock name prefix ``bench:<random>:``. The phases of a no-op fire are timed by wrapping ``runs.claim``,
``LockBackend.acquire``, ``runs.attach_lease``, ``Runner._finish`` and ``Lease.release`` (a few
microseconds each); statements and commits are counted with SQLAlchemy events, this process's CPU time
is taken around each fire, and a fifth variant times one committed single-row UPDATE (the database's
commit latency). ``postgres+table:nosync`` repeats ``postgres+table`` with ``synchronous_commit = off``
in the bench's sessions (the server is untouched) to show how much of a fire is waiting for the WAL
flush.
"""

from __future__ import annotations

import statistics
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event

from bench.scheduler.common import COMBOS, BenchEnv, clean_redis, fresh_database, lock_url_for, ms, pct
from scrapesched import locks
from scrapesched.config.redact import Redactor
from scrapesched.config.settings import Settings, load_settings
from scrapesched.db.engine import autocommit_engine
from scrapesched.db.retry import transaction
from scrapesched.db.schema import leases as locks_table
from scrapesched.locks.base import Lease
from scrapesched.scheduler import canary, runs
from scrapesched.scheduler.context import RunContext
from scrapesched.scheduler.metrics import Metrics
from scrapesched.scheduler.plan import PlannedJob, build_plan
from scrapesched.scheduler.plugins import load_registry
from scrapesched.scheduler.registry import JobFunction, JobSpec
from scrapesched.scheduler.runner import Runner

OVERHEAD_COMBOS = list(COMBOS)
PHASES = ("claim", "acquire", "attach", "job", "finish", "release")


def _noop(ctx: RunContext) -> None:
    return None


NOOP = JobSpec(
    name="bench_noop", run="bench.scheduler.overhead:_noop", description="does nothing (benchmark)", lease_ttl=30.0
)
_TIMED: dict[str, JobFunction] = {}  # the job functions of this measurement, wrapped by its PhaseTimer


def _timed_canary(ctx: RunContext) -> None:
    _TIMED["canary"](ctx)


def _timed_noop(ctx: RunContext) -> None:
    _TIMED["noop"](ctx)


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
        resources=object(),
    )


def no_commit_wait(engine: sa.Engine) -> None:
    """PostgreSQL sessions that do not wait for the WAL flush at commit (``synchronous_commit = off``)."""

    def on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.execute("SET synchronous_commit = off")
        dbapi_conn.commit()

    event.listen(engine, "connect", on_connect)
    engine.dispose()  # pooled connections were opened without it


def measure_overhead(combo: str, fires: int, warmup: int, env: BenchEnv) -> OverheadResult:
    db, lock = COMBOS[combo]
    tag = uuid.uuid4().hex[:10]
    with fresh_database(db, env) as (url, engine):
        if combo.endswith(":nosync"):
            no_commit_wait(engine)
        settings = load_settings(
            None,
            database_url=url,
            lock_url=lock_url_for(lock, env, tag),
            instance_id=f"bench-{tag}",
            log_level="warning",
            jobs={"canary": {"params": {"seconds": 0}}},
        )
        plan = build_plan(settings, load_registry())
        timer = PhaseTimer()
        canary_planned = next(p for p in plan if p.name == "canary")
        _TIMED.update(canary=timer.wrap("job", canary.run), noop=timer.wrap("job", _noop))
        timed_canary = replace(canary_planned.spec, run="bench.scheduler.overhead:_timed_canary")
        canary_planned = replace(canary_planned, spec=timed_canary)
        timed_noop = replace(NOOP, run="bench.scheduler.overhead:_timed_noop")
        noop_planned = replace(canary_planned, spec=timed_noop, params={})
        backend = locks.connect(settings.lock_url, engine=engine, holder_id=settings.instance_id)
        runner = Runner(settings, engine, backend, object(), Metrics(), Redactor())
        counts = {"statements": 0, "commits": 0}

        def on_statement(*_args: Any) -> None:
            counts["statements"] += 1

        def on_commit(*_args: Any) -> None:
            counts["commits"] += 1

        def on_autocommit_statement(*_args: Any) -> None:  # each commits by itself
            counts["statements"] += 1
            counts["commits"] += 1

        event.listen(engine, "before_cursor_execute", on_statement)
        event.listen(engine, "commit", on_commit)
        if engine.dialect.name != "sqlite":  # claims, attach, tokens: one statement each on the sibling
            event.listen(autocommit_engine(engine), "before_cursor_execute", on_autocommit_statement)
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
            clean_redis(lock, env, tag)
    return result


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

