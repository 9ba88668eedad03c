"""Seed 000's verification checklist as code, for ``scrapesched check``: schema at head, every natural key
present as a UNIQUE key, no duplicate natural keys, no run stuck in ``running`` past its lease, no shard
without a success for two intervals (paused shards are stopped on purpose, never stale), no replica gone
silent (not seen for three heartbeats without a clean stop, within the last ``replicas.FORGET_AFTER``).
Read-only.

The staleness rule is shared with ``scrapesched status`` (``is_stale``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Engine

from scrapesched.config.errors import SchemaError
from scrapesched.db import catalog
from scrapesched.db.clock import server_time
from scrapesched.db.migrate import require_head
from scrapesched.scheduler import control, replicas, runs
from scrapesched.scheduler.plan import PlannedJob


@dataclass(frozen=True)
class Problem:
    """One failed check: which check, what it is about (table, job, shard...) and a one-line detail."""

    check: str
    detail: str
    subject: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, str]:
        return {"check": self.check, **self.subject, "detail": self.detail}


@dataclass
class Report:
    """The checks that ran and the problems they found."""

    checked: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def fire_interval(p: PlannedJob, now: datetime) -> timedelta | None:
    """The time between the job's next two fires (None for a manual-only job)."""
    first = p.next_fire(now)
    second = p.next_fire(first + timedelta(microseconds=1)) if first else None
    return (second - first) if first and second else None


def is_stale(
    p: PlannedJob,
    shard: str,
    now: datetime,
    successes: Mapping[runs.ShardKey, datetime],
    first_starts: Mapping[runs.ShardKey, datetime],
    interval: timedelta | None,
) -> bool:
    """No success for two intervals; a shard that never succeeded is stale once its first run is that old."""
    since = successes.get((p.name, shard)) or first_starts.get((p.name, shard))
    return bool(p.scheduled and interval and since is not None and now - since > 2 * interval)


def _keys(engine: Engine, report: Report) -> None:
    tables = catalog.keyed_tables()
    report.checked.append("unique_keys")
    for table, key in catalog.missing_keys(engine, tables):
        report.problems.append(
            Problem("unique_keys", f"no UNIQUE key on ({', '.join(key)})", {"table": table, "key": ",".join(key)})
        )
    report.checked.append("duplicates")
    with engine.connect() as conn:
        for t in tables:
            dup = catalog.duplicate_keys(conn, t)
            if dup is None:
                continue
            shown = "; ".join(", ".join(map(str, e)) for e in dup.examples)
            detail = f"{dup.keys} duplicated keys in {dup.rows} rows on ({', '.join(dup.key)}), e.g. {shown}"
            report.problems.append(Problem("duplicates", detail, {"table": dup.table, "key": ",".join(dup.key)}))


def _runs(engine: Engine, plan: Sequence[PlannedJob], report: Report) -> None:
    report.checked.extend(["stuck_runs", "stale_shards", "silent_replicas"])
    with engine.connect() as conn:
        stuck = runs.stuck_running(conn)
        now = server_time(conn)
        successes = runs.last_successes(conn)
        first_starts = runs.first_starts(conn)
        controls = control.read(conn)
        fleet = replicas.listing(conn)
    for r in fleet:
        if r.state == "silent":
            detail = (
                f"replica on {r.host} (pid {r.pid}) not seen since {r.last_seen.isoformat()}"
                f" (heartbeat every {r.heartbeat_s:g} s) and did not stop cleanly"
                + (f"; was running {r.running} run(s)" if r.running else "")
            )
            report.problems.append(Problem("silent_replicas", detail, {"replica": r.instance_id}))
    for s in stuck:
        seen = s.last_seen.isoformat()
        detail = f"run {s.run_id} of {s.owner} running, no heartbeat since {seen} (lease ttl {s.lease_ttl_s:g} s)"
        report.problems.append(Problem("stuck_runs", detail, {"job": s.job, "shard": s.shard}))
    for p in plan:
        interval = fire_interval(p, now)
        for shard in p.shards:
            if controls.paused(p.name, shard) is None and is_stale(p, shard, now, successes, first_starts, interval):
                since = successes.get((p.name, shard))
                last = f"last success {since.isoformat()}" if since else "never succeeded"
                report.problems.append(
                    Problem("stale_shards", f"no success for two intervals ({last})", {"job": p.name, "shard": shard})
                )


def run_checks(engine: Engine, plan: Sequence[PlannedJob]) -> Report:
    """Every check; when the schema is not at head the others are skipped (their tables may not exist)."""
    report = Report(checked=["schema"])
    try:
        require_head(engine)
    except SchemaError as exc:
        report.problems.append(Problem("schema", str(exc)))
        return report
    _keys(engine, report)
    _runs(engine, plan, report)
    return report
