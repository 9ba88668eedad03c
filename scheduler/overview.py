"""What the fleet is doing, read from the database: the one query layer behind ``scrapesched status`` (table
and ``--json``) and, later, the web console's JSON API.

Per job shard: its newest run (status, owner, error), last success, lease holder, pause, pending triggers
and ``stale`` (no success for two intervals; never for a paused shard, which is stopped on purpose); per
replica: its heartbeat row judged live, silent or stopped. Every time is the database's, and the
``now`` it was judged at is part of the answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine

from scrapesched.db import retry
from scrapesched.db.clock import server_time
from scrapesched.locks import LockBackend
from scrapesched.scheduler import control, replicas, runs
from scrapesched.scheduler.checks import fire_interval, is_stale
from scrapesched.scheduler.plan import PlannedJob


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


@dataclass(frozen=True)
class ShardStatus:
    """One job shard as the fleet sees it."""

    job: str
    shard: str
    last_run: runs.LastRun | None
    last_success: datetime | None
    holder: str | None
    lease_until: datetime | None
    stale: bool
    paused: control.Pause | None
    pending_triggers: int

    def as_dict(self) -> dict[str, Any]:
        run = self.last_run
        return {
            "job": self.job,
            "shard": self.shard,
            "last_run": _iso(run.scheduled_for) if run else None,
            "last_status": run.status if run else None,
            "last_owner": run.owner if run else None,
            "last_error": run.error if run else None,
            "progress": run.progress if run else None,
            "last_success": _iso(self.last_success),
            "holder": self.holder,
            "lease_until": _iso(self.lease_until),
            "stale": self.stale,
            "paused": self.paused.as_dict() if self.paused else None,
            "pending_triggers": self.pending_triggers,
        }


@dataclass(frozen=True)
class Overview:
    """The fleet at one moment of the database's clock."""

    now: datetime
    shards: list[ShardStatus]
    replicas: list[replicas.Replica]

    def as_dict(self) -> dict[str, Any]:
        return {
            "now": self.now.isoformat(),
            "shards": [s.as_dict() for s in self.shards],
            "replicas": [r.as_dict() for r in self.replicas],
        }


def read(engine: Engine, locks: LockBackend, plan: Sequence[PlannedJob]) -> Overview:
    """Every scheduled job shard (and unscheduled ones that have runs) and every replica seen recently."""
    keys = [(p.name, shard) for p in plan for shard in p.shards]  # index probes, not a scan of the history

    def state(conn: Connection) -> tuple[Any, ...]:
        return (
            server_time(conn),
            runs.last_runs(conn, keys),
            runs.last_successes(conn, keys),
            runs.first_starts(conn, keys),
            control.read(conn),
            replicas.listing(conn),
        )

    now, last, successes, first_starts, controls, fleet = retry.read(engine, state, what="overview")
    shards: list[ShardStatus] = []
    for p in plan:
        if not p.scheduled and not any(k[0] == p.name for k in last) and not controls.triggers_of(p.name):
            continue
        interval = fire_interval(p, now)
        for shard in p.shards:
            holder = locks.holder(runs.lease_name(p.name, shard))
            paused = controls.paused(p.name, shard)
            shards.append(
                ShardStatus(
                    job=p.name,
                    shard=shard,
                    last_run=last.get((p.name, shard)),
                    last_success=successes.get((p.name, shard)),
                    holder=holder.holder if holder else None,
                    lease_until=holder.until if holder else None,
                    stale=paused is None and is_stale(p, shard, now, successes, first_starts, interval),
                    paused=paused,
                    pending_triggers=sum(1 for t in controls.triggers_of(p.name) if t.shard == shard),
                )
            )
    return Overview(now, shards, fleet)
