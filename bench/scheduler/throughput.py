"""(c) Fleet throughput: one fire of the canary over 40 shards (``seconds = 0.5``, ``max_concurrent = 2``,
interval 30 s) on 1, 2 and 4 replicas started together between two fires; time from the fire's
``scheduled_for`` until the last shard's ``finished_at`` (the ideal is 40 x 0.5 s / (2 x N))."""

from __future__ import annotations

import json
import statistics
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from bench.scheduler.common import BenchEnv, canary_runs_rows, next_fire, replica_trial, spread, utc
from scrapesched.db.vocabulary import RunStatus
from scrapesched.testing.fleet import wait_until

THROUGHPUT_COMBOS = ["sqlite+table", "mariadb+redis"]
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


def throughput_trial(combo: str, n: int, env: BenchEnv) -> ThroughputTrial:
    shards = [f"shard-{i:02d}" for i in range(SHARDS)]
    config = f"""
[jobs.canary]
interval = "{THROUGHPUT_INTERVAL:g}s"
shards = {json.dumps(shards)}
params = {{ seconds = {SHARD_SECONDS:g} }}
"""
    with replica_trial(combo, env, "throughput", config, max_concurrent=str(SLOTS), shutdown_grace="5s") as trial:
        engine, fleet = trial.engine, trial.fleet
        # All replicas start after one fire and are up well before the next one, which is measured.
        fire = next_fire(THROUGHPUT_INTERVAL, time.time() + START_LEAD_S)
        time.sleep(max(0.0, fire - START_LEAD_S - time.time()))
        for i in range(n):
            fleet.start(f"r{i}-{trial.tag}")
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
    finished = [utc(r.finished_at).timestamp() for r in rows if r.finished_at is not None]
    started = [utc(r.started_at).timestamp() for r in rows]
    owners = Counter(r.owner for r in rows if r.status == RunStatus.SUCCEEDED)
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

