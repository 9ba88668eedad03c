"""(b) Failover after SIGKILL.

Two real ``scrapesched run`` processes (a fresh database each trial) with the canary sleeping longer than
its interval, ``recover = true`` and ``lease_ttl = T`` for T in ``--ttls``. Once a replica's run holds its
lease, it is SIGKILLed after a random delay in [0, T) (so the kill falls anywhere between two
heartbeats); the bench then polls the lease holder and ``job_runs`` every 25 ms and reports, from the
kill: lease free (no holder, or another), run marked ``abandoned`` (its ``finished_at``), and the
``recovery`` run's start (``started_at``, set when it attaches its lease) and lease (``locked_at`` of its
fencing token in the lease table).
"""

from __future__ import annotations

import random
import signal
import time
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from bench.scheduler.common import (
    LEASE,
    POLL_S,
    BenchEnv,
    canary_runs_rows,
    next_fire,
    replica_trial,
    since,
    spread,
    utc,
)
from scrapesched import locks
from scrapesched.db.schema import leases as locks_table
from scrapesched.db.vocabulary import RunStatus, Trigger
from scrapesched.testing.fleet import wait_until

FAILOVER_COMBOS = ["sqlite+table", "mariadb+redis", "mariadb+mysql", "postgres+postgresql"]


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


def failover_trial(combo: str, ttl: float, env: BenchEnv, rng: random.Random) -> FailoverTrial:
    interval = max(20.0, 4 * ttl)
    seconds = interval + 10  # still running when the next fire comes: that fire is skipped, never run
    config = f"""
[jobs.canary]
interval = "{interval:g}s"
lease_ttl = "{ttl:g}s"
recover = true
params = {{ seconds = {seconds:g} }}
"""
    with replica_trial(combo, env, "failover", config, shutdown_grace="1s") as trial:
        engine, fleet = trial.engine, trial.fleet
        observer = locks.connect(trial.lock_url, engine=engine, holder_id=f"bench-observer-{trial.tag}")
        try:
            # start so the next fire comes a few seconds after the replicas are up
            fire = next_fire(interval, time.time() + 6)
            time.sleep(max(0.0, fire - 6 - time.time()))
            for name in ("a", "b"):
                fleet.start(f"{name}-{trial.tag}")

            def leased() -> sa.Row[Any] | None:
                found = [r for r in canary_runs_rows(engine) if r.status == RunStatus.RUNNING and r.fencing_token]
                return found[0] if found else None

            if not wait_until(lambda: leased() is not None, interval + 30, POLL_S):
                raise RuntimeError(f"no run took its lease; logs: {[r.log()[-800:] for r in fleet.replicas]}")
            victim_row = leased()
            assert victim_row is not None
            time.sleep(rng.uniform(0, ttl))
            victim = fleet.by_name(victim_row.owner)
            kill_at = time.time()
            victim.signal(signal.SIGKILL)
            victim.wait(10)
            lease_free: float | None = None
            recovery: sa.Row[Any] | None = None
            deadline = time.monotonic() + 3 * ttl + 30
            while time.monotonic() < deadline:
                if lease_free is None:
                    info = observer.holder(LEASE)
                    if info is None or info.holder != victim.name:
                        lease_free = time.time() - kill_at
                rows = canary_runs_rows(engine)
                found = [r for r in rows if r.trigger == Trigger.RECOVERY and r.fencing_token]
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
    last_beat = utc(final.heartbeat_at or final.started_at).timestamp()
    abandoned = since(kill_at, final.finished_at) if final.status == RunStatus.ABANDONED else None
    leased_at = None
    if recovery is not None and lock_row is not None and lock_row.token == recovery.fencing_token:
        leased_at = since(kill_at, lock_row.locked_at)
    sweep_wait = None
    if final.status == RunStatus.ABANDONED and final.finished_at is not None:
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

