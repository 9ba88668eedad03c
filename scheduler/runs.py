"""The ``job_runs`` table: claiming a fire and every later transition of a run.

A claim is one INSERT guarded by UNIQUE(job_name, shard, scheduled_for, trigger): the replica whose
insert wins owns the fire. Every transition after that is one conditional UPDATE that names the status
it expects, the owner and (once the lease is held) the fencing token, so a stale replica can never finish
or overwrite a run it no longer owns. Times come from the database's clock.

The reads of the ``status`` command are here too (``last_runs``, ``last_successes``, ``first_starts``):
other modules ask this one instead of querying the table.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import IntegrityError

from scrapesched.db.clock import db_now, server_time
from scrapesched.db.prune import delete_before
from scrapesched.db.retry import transaction
from scrapesched.db.schema import job_runs
from scrapesched.db.vocabulary import RunStatus, Trigger

MAX_ERROR_CHARS = 2000


@dataclass(frozen=True)
class Claim:
    """A fire this replica won."""

    run_id: int
    job: str
    shard: str
    scheduled_for: datetime
    trigger: str
    owner: str


@dataclass(frozen=True)
class Taken:
    """A fire another replica (or an earlier attempt) already claimed."""

    owner: str
    status: RunStatus


def lease_name(job: str, shard: str) -> str:
    """The lease that keeps two fires of one job shard from overlapping."""
    return f"job:{job}:{shard}" if shard else f"job:{job}"


def utc(value: datetime) -> datetime:
    """An aware datetime in UTC (naive values are taken as UTC)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def claim(
    engine: Engine,
    job: str,
    shard: str,
    scheduled_for: datetime,
    trigger: str,
    owner: str,
    lease_ttl: float,
    *,
    status: RunStatus = RunStatus.RUNNING,
    error: str | None = None,
) -> Claim | Taken:
    """Insert the run row; the first replica to do so wins, the others get who owns it."""
    values = {
        "job_name": job,
        "shard": shard,
        "scheduled_for": utc(scheduled_for),
        "trigger": trigger,
        "status": status,
        "owner": owner,
        "lease_ttl_s": lease_ttl,
        "error": error,
    }

    def insert(conn: Connection) -> int:
        stmt = job_runs.insert().values(
            **values,
            started_at=db_now(),
            finished_at=db_now() if status != RunStatus.RUNNING else None,
        )
        return int(conn.execute(stmt).inserted_primary_key[0])  # type: ignore[index]

    try:
        run_id = transaction(engine, insert, what="claim")
    except IntegrityError:
        with engine.connect() as conn:
            row = conn.execute(
                sa.select(job_runs.c.owner, job_runs.c.status).where(
                    job_runs.c.job_name == job,
                    job_runs.c.shard == shard,
                    job_runs.c.scheduled_for == utc(scheduled_for),
                    job_runs.c.trigger == trigger,
                )
            ).first()
        if row is None:  # not a duplicate: some other constraint failed
            raise
        return Taken(owner=row.owner, status=RunStatus(row.status))
    return Claim(run_id, job, shard, utc(scheduled_for), trigger, owner)


def _mine(c: Claim, token: int | None) -> list[sa.ColumnElement[bool]]:
    cond = [job_runs.c.id == c.run_id, job_runs.c.status == RunStatus.RUNNING, job_runs.c.owner == c.owner]
    if token is not None:
        cond.append(job_runs.c.fencing_token == token)
    return cond


def _update(engine: Engine, c: Claim, token: int | None, what: str, **values: object) -> bool:
    def work(conn: Connection) -> bool:
        stmt = sa.update(job_runs).where(*_mine(c, token)).values(**values)
        return conn.execute(stmt).rowcount == 1

    return transaction(engine, work, what=what)


def attach_lease(engine: Engine, c: Claim, token: int) -> bool:
    """Record the lease's fencing token on a claimed run (still ours and running); the run starts now
    (a buffered fire was claimed earlier and waited for the lease)."""
    now = db_now()
    return _update(engine, c, None, "attach lease", fencing_token=token, started_at=now, heartbeat_at=now)


def heartbeat(engine: Engine, c: Claim, token: int) -> bool:
    """Refresh ``heartbeat_at``; False when the run is no longer ours (abandoned, fenced)."""
    return _update(engine, c, token, "heartbeat", heartbeat_at=db_now())


def still_ours(conn: Connection, c: Claim, token: int) -> bool:
    """Inside a write transaction: the run is still running, ours, at this token (also a heartbeat).

    The conditional UPDATE row-locks the run until commit, so the sweep cannot abandon it mid-write.
    """
    stmt = sa.update(job_runs).where(*_mine(c, token)).values(heartbeat_at=db_now())
    return conn.execute(stmt).rowcount == 1


def touch_waiting(engine: Engine, c: Claim) -> bool:
    """Heartbeat of a claimed run still waiting for its lease (overlap ``buffer_one``), so the sweep does
    not take it for abandoned; False when it is no longer ours."""
    return _update(engine, c, None, "heartbeat", heartbeat_at=db_now())


def end_unleased(engine: Engine, c: Claim, status: RunStatus, reason: str) -> bool:
    """End a claimed run that never got its lease (skipped for overlap, lock server down)."""
    now = db_now()
    return _update(engine, c, None, "end run", status=status, finished_at=now, error=reason[:MAX_ERROR_CHARS])


def finish(conn: Connection, c: Claim, token: int, status: str, error: str | None, counters: dict[str, int]) -> bool:
    """End a leased run, inside the caller's (fenced) transaction; False if it is no longer ours."""
    stmt = (
        sa.update(job_runs)
        .where(*_mine(c, token))
        .values(
            status=status,
            finished_at=db_now(),
            heartbeat_at=db_now(),
            error=error[:MAX_ERROR_CHARS] if error else None,
            **counters,
        )
    )
    return conn.execute(stmt).rowcount == 1


@dataclass(frozen=True)
class Abandoned:
    """A run marked abandoned by the sweep."""

    run_id: int
    job: str
    shard: str
    scheduled_for: datetime
    trigger: Trigger
    owner: str


def sweep_abandoned(engine: Engine, sweeper: str) -> list[Abandoned]:
    """Mark ``abandoned`` every running run whose heartbeat is older than its lease ttl (database clock).

    Each is one conditional UPDATE that re-checks the heartbeat it saw, so a run that just heartbeated
    is never taken.
    """
    with engine.connect() as conn:
        now = server_time(conn)
        rows = conn.execute(
            sa.select(
                job_runs.c.id,
                job_runs.c.job_name,
                job_runs.c.shard,
                job_runs.c.scheduled_for,
                job_runs.c.trigger,
                job_runs.c.owner,
                job_runs.c.heartbeat_at,
                job_runs.c.started_at,
                job_runs.c.lease_ttl_s,
            ).where(job_runs.c.status == RunStatus.RUNNING)
        ).all()
    out: list[Abandoned] = []
    for r in rows:
        last = r.heartbeat_at or r.started_at
        if now - last <= timedelta(seconds=r.lease_ttl_s):
            continue
        seen = job_runs.c.heartbeat_at == r.heartbeat_at if r.heartbeat_at else job_runs.c.heartbeat_at.is_(None)

        def mark(conn: Connection, r: Any = r, seen: sa.ColumnElement[bool] = seen) -> bool:
            stmt = (
                sa.update(job_runs)
                .where(job_runs.c.id == r.id, job_runs.c.status == RunStatus.RUNNING, seen)
                .values(
                    status=RunStatus.ABANDONED,
                    finished_at=db_now(),
                    error=f"no heartbeat from {r.owner} for over {r.lease_ttl_s:g} s; marked by {sweeper}",
                )
            )
            return conn.execute(stmt).rowcount == 1

        if transaction(engine, mark, what="abandon run"):
            out.append(Abandoned(r.id, r.job_name, r.shard, utc(r.scheduled_for), Trigger(r.trigger), r.owner))
    return out


def last_scheduled(engine: Engine, job: str, shards: Sequence[str]) -> dict[str, datetime]:
    """The latest scheduled fire recorded per shard of a job."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(job_runs.c.shard, sa.func.max(job_runs.c.scheduled_for))
            .where(job_runs.c.job_name == job, job_runs.c.trigger == Trigger.SCHEDULE)
            .where(job_runs.c.shard.in_(list(shards)))
            .group_by(job_runs.c.shard)
        ).all()
    return {shard: utc(when) for shard, when in rows}


def buffered_waiting(engine: Engine, job: str, shard: str, exclude_run: int) -> bool:
    """True when another fire of this shard is already waiting for the lease (overlap ``buffer_one``)."""
    with engine.connect() as conn:
        found = conn.execute(
            sa.select(job_runs.c.id)
            .where(
                job_runs.c.job_name == job,
                job_runs.c.shard == shard,
                job_runs.c.status == RunStatus.RUNNING,
                job_runs.c.fencing_token.is_(None),
                job_runs.c.id != exclude_run,
            )
            .limit(1)
        ).first()
    return found is not None


# -- what ``scrapesched status`` reads: per (job, shard), newest run, last success, first start --------------

ShardKey = tuple[str, str]
"""(job name, shard)."""


@dataclass(frozen=True)
class LastRun:
    """The newest run of a job shard (the one claimed last)."""

    scheduled_for: datetime
    status: RunStatus
    owner: str
    error: str | None


def last_runs(conn: Connection) -> dict[ShardKey, LastRun]:
    """The newest run of every job shard that has one."""
    newest = sa.select(sa.func.max(job_runs.c.id)).group_by(job_runs.c.job_name, job_runs.c.shard)
    rows = conn.execute(
        sa.select(
            job_runs.c.job_name,
            job_runs.c.shard,
            job_runs.c.scheduled_for,
            job_runs.c.status,
            job_runs.c.owner,
            job_runs.c.error,
        ).where(job_runs.c.id.in_(newest))
    )
    return {(r.job_name, r.shard): LastRun(utc(r.scheduled_for), RunStatus(r.status), r.owner, r.error) for r in rows}


def last_successes(conn: Connection) -> dict[ShardKey, datetime]:
    """When the newest successful run of every job shard finished (shards without a success are absent)."""
    rows = conn.execute(
        sa.select(job_runs.c.job_name, job_runs.c.shard, sa.func.max(job_runs.c.finished_at))
        .where(job_runs.c.status == RunStatus.SUCCEEDED)
        .group_by(job_runs.c.job_name, job_runs.c.shard)
    )
    return {(job, shard): utc(finished) for job, shard, finished in rows if finished is not None}


def first_starts(conn: Connection) -> dict[ShardKey, datetime]:
    """When the first recorded run of every job shard started."""
    rows = conn.execute(
        sa.select(job_runs.c.job_name, job_runs.c.shard, sa.func.min(job_runs.c.started_at)).group_by(
            job_runs.c.job_name, job_runs.c.shard
        )
    )
    return {(job, shard): utc(started) for job, shard, started in rows}


def succeeded_since(conn: Connection, since: datetime) -> set[ShardKey]:
    """The job shards with a successful run that started after ``since``."""
    rows = conn.execute(
        sa.select(job_runs.c.job_name, job_runs.c.shard)
        .where(job_runs.c.status == RunStatus.SUCCEEDED, job_runs.c.started_at > since)
        .distinct()
    )
    return {(r.job_name, r.shard) for r in rows}


def history(conn: Connection) -> list[dict[str, Any]]:
    """Every run, oldest fire first (for reports such as ``scrapesched demo``'s)."""
    rows = conn.execute(sa.select(job_runs).order_by(job_runs.c.scheduled_for, job_runs.c.id))
    return [dict(r._mapping) for r in rows]


def delete_finished_before(conn: Connection, cutoff: datetime, limit: int) -> int:
    """Delete up to ``limit`` of the oldest runs that finished before ``cutoff`` (for the ``retention``
    job); running and waiting runs have no ``finished_at`` and are never deleted. Rows deleted."""
    return delete_before(conn, job_runs.c.finished_at, cutoff, limit)


@dataclass(frozen=True)
class StuckRun:
    """A run still ``running`` whose heartbeat is older than its lease ttl."""

    run_id: int
    job: str
    shard: str
    owner: str
    last_seen: datetime
    lease_ttl_s: float


def stuck_running(conn: Connection) -> list[StuckRun]:
    """Running runs whose last heartbeat (or start) is older than their lease ttl, by the database clock
    (what ``sweep_abandoned`` would mark; for ``scrapesched check``, which changes nothing)."""
    now = server_time(conn)
    rows = conn.execute(
        sa.select(
            job_runs.c.id,
            job_runs.c.job_name,
            job_runs.c.shard,
            job_runs.c.owner,
            job_runs.c.heartbeat_at,
            job_runs.c.started_at,
            job_runs.c.lease_ttl_s,
        )
        .where(job_runs.c.status == RunStatus.RUNNING)
        .order_by(job_runs.c.id)
    ).all()
    out: list[StuckRun] = []
    for r in rows:
        last = r.heartbeat_at or r.started_at
        if now - last > timedelta(seconds=r.lease_ttl_s):
            out.append(StuckRun(r.id, r.job_name, r.shard, r.owner, utc(last), r.lease_ttl_s))
    return out
