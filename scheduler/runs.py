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
from functools import cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection, Engine
from sqlalchemy.sql.elements import BindParameter

from scrapesched.db.clock import db_now, db_now_plus, server_time
from scrapesched.db.prune import delete_before
from scrapesched.db.retry import read, single, transaction
from scrapesched.db.schema import job_runs
from scrapesched.db.types import UTCDateTime
from scrapesched.db.vocabulary import RunStatus, Trigger
from scrapesched.locks.tokens import fence_params, not_superseded

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
    lease_ttl: float = 0.0
    """The run's lease ttl: a leased run whose heartbeat is older than this is dead (see ``_mine``)."""


@dataclass(frozen=True)
class Taken:
    """A fire another replica (or an earlier attempt) already claimed; who and how far, when asked."""

    owner: str | None
    status: RunStatus | None


def lease_name(job: str, shard: str) -> str:
    """The lease that keeps two fires of one job shard from overlapping."""
    return f"job:{job}:{shard}" if shard else f"job:{job}"


def utc(value: datetime) -> datetime:
    """An aware datetime in UTC (naive values are taken as UTC)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# The run-row statements of a fire are built once, with bound parameters (their compiled form and cache key
# are then SQLAlchemy's cached ones), and run with ``_params(claim, token)`` plus their own values.
_c = job_runs.c
_RUN = sa.bindparam("run_id", type_=_c.id.type)
_OWNER = sa.bindparam("run_owner", type_=_c.owner.type)
_TOKEN = sa.bindparam("run_token", type_=_c.fencing_token.type)
_STALE_AFTER: BindParameter[float] = sa.bindparam("run_stale_after", type_=sa.Double())  # minus the ttl
_STATUS = sa.bindparam("run_status", type_=_c.status.type)
_ERROR = sa.bindparam("run_error", type_=_c.error.type)


@cache
def _claim_statement(dialect: str, is_mariadb: bool, running: bool) -> tuple[Any, bool]:
    """INSERT that does nothing on a duplicate fire, and whether it returns the new id (RETURNING)."""
    values = {
        "job_name": sa.bindparam("run_job", type_=_c.job_name.type),
        "shard": sa.bindparam("run_shard", type_=_c.shard.type),
        "scheduled_for": sa.bindparam("run_scheduled_for", type_=_c.scheduled_for.type),
        "trigger": sa.bindparam("run_trigger", type_=_c.trigger.type),
        "status": _STATUS,
        "owner": _OWNER,
        "lease_ttl_s": sa.bindparam("run_ttl", type_=_c.lease_ttl_s.type),
        "error": _ERROR,
        "started_at": db_now(),
        "heartbeat_at": db_now() if running else None,  # alive from its claim (the lease is taken at once)
        "finished_at": None if running else db_now(),
    }
    if dialect in ("mysql", "mariadb"):
        from sqlalchemy.dialects import mysql  # only this database's dialect, when its statement is first built

        # IGNORE only turns the duplicate key into "nothing inserted": our values break no other rule.
        stmt: Any = mysql.insert(job_runs).prefix_with("IGNORE").values(values)
        if is_mariadb:  # MariaDB 10.5+: RETURNING; MySQL: the row count
            return stmt.returning(_c.id), True
        return stmt, False
    if dialect == "postgresql":
        from sqlalchemy.dialects import postgresql as module
    else:
        from sqlalchemy.dialects import sqlite as module  # type: ignore[no-redef]
    return module.insert(job_runs).values(values).on_conflict_do_nothing().returning(_c.id), True


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
    identify: bool = False,
) -> Claim | Taken:
    """Insert the run row; the first replica to do so wins. Losing is a normal outcome, not an error: one
    statement that inserts nothing (no exception, no rollback). Only with ``identify`` does a loser ask who
    owns the fire (a second query; ``run-once`` says who has it, scheduled fires need not know)."""
    params = {
        "run_job": job,
        "run_shard": shard,
        "run_scheduled_for": utc(scheduled_for),
        "run_trigger": trigger,
        "run_status": status,
        "run_owner": owner,
        "run_ttl": lease_ttl,
        "run_error": error,
    }

    def insert(conn: Connection) -> int | None:
        mariadb = getattr(conn.dialect, "is_mariadb", False)
        stmt, returns = _claim_statement(conn.dialect.name, mariadb, status == RunStatus.RUNNING)
        result = conn.execute(stmt, params)
        if returns:
            new_id = result.scalar()
            return None if new_id is None else int(new_id)
        return int(result.inserted_primary_key[0]) if result.rowcount == 1 else None  # type: ignore[index]

    run_id = single(engine, insert, what="claim")
    if run_id is None:
        if not identify:
            return Taken(owner=None, status=None)

        def owner_of(conn: Connection) -> Any:
            return conn.execute(
                sa.select(_c.owner, _c.status).where(
                    _c.job_name == job,
                    _c.shard == shard,
                    _c.scheduled_for == utc(scheduled_for),
                    _c.trigger == trigger,
                )
            ).first()

        row = single(engine, owner_of, what="claim owner")
        if row is None:  # deleted since (retention): nobody holds it now, but this attempt did not win
            return Taken(owner=None, status=None)
        return Taken(owner=row.owner, status=RunStatus(row.status))
    return Claim(run_id, job, shard, utc(scheduled_for), trigger, owner, lease_ttl)


def _mine(leased: bool, expires: bool) -> list[sa.ColumnElement[bool]]:
    """The run is still ours: running, our owner and (once leased) our fencing token, or none yet, and not
    stale. A run row is only ever leased by the one execution that claimed it, so the token it records is
    that execution's: its first leased statement records it (``_leased_update``), no statement of its own.

    A leased run whose heartbeat is older than its ttl is dead whether or not the sweep marked it yet
    (the sweep skips rows a writer holds): a replica that resumes after a freeze can neither heartbeat,
    write nor complete it, so recovery never races its original run.
    """
    cond = [_c.id == _RUN, _c.status == RunStatus.RUNNING, _c.owner == _OWNER]
    if leased:
        cond.append(sa.or_(_c.fencing_token == _TOKEN, _c.fencing_token.is_(None)))
        if expires:
            cond.append(_c.heartbeat_at >= db_now_plus(_STALE_AFTER))
    return cond


def _params(c: Claim, token: int | None = None, lease: str | None = None) -> dict[str, Any]:
    """The bound parameters of ``_mine`` (and of ``locks.not_superseded`` for ``lease``) for this run."""
    params: dict[str, Any] = {
        "run_id": c.run_id,
        "run_owner": c.owner,
        "run_token": token,
        "run_stale_after": -c.lease_ttl,
    }
    if lease is not None and token is not None:
        params.update(fence_params(lease, token))
    return params


def _expires(c: Claim) -> bool:
    return c.lease_ttl > 0


WAITING = "waiting for the lease"
"""The progress line of a claimed fire that waits for its lease (overlap ``buffer_one``, ``run-once``)."""

_ATTACH = sa.update(job_runs).where(*_mine(False, False)).values(
    fencing_token=_TOKEN, started_at=db_now(), heartbeat_at=db_now(), progress=None
)
_TOUCH = sa.update(job_runs).where(*_mine(False, False)).values(heartbeat_at=db_now(), progress=WAITING)
_END_UNLEASED = sa.update(job_runs).where(*_mine(False, False)).values(
    status=_STATUS, finished_at=db_now(), error=_ERROR
)


@cache
def _leased_update(kind: str, expires: bool, counters: tuple[str, ...] = ()) -> sa.Update:
    """The conditional UPDATEs of a leased run: ``beat`` (fenced by a plain read of the newest token),
    ``guard`` (inside a write transaction whose ``fenced`` already locked the lease row) and ``finish``
    (fenced by a share lock of the lease row). Each records the run's token (the first one to run attaches
    the lease to a run that did not wait for it)."""
    stmt = sa.update(job_runs).where(*_mine(True, expires)).values(fencing_token=_TOKEN)
    if kind == "beat":
        return stmt.where(not_superseded(lock=False)).values(heartbeat_at=db_now())
    if kind == "guard":
        return stmt.values(heartbeat_at=db_now())
    return stmt.where(not_superseded(lock=True)).values(
        status=_STATUS,
        finished_at=db_now(),
        heartbeat_at=db_now(),
        error=_ERROR,
        **{name: sa.bindparam(f"run_{name}", type_=_c[name].type) for name in counters},
    )


def _update(engine: Engine, stmt: sa.Update, params: dict[str, Any], what: str, attempts: int = 6) -> bool:
    """ONE conditional UPDATE of the run, committed by itself (``db.retry.single``): True if it was still ours."""
    return single(engine, lambda conn: conn.execute(stmt, params).rowcount == 1, attempts=attempts, what=what)


def attach_lease(engine: Engine, c: Claim, token: int) -> bool:
    """Record the lease's fencing token on a claimed run that waited for it (still ours and running); the
    run starts now. A run that took its lease at once needs no attach: its first heartbeat, write or end
    records the token."""
    return _update(engine, _ATTACH, {**_params(c), "run_token": token}, "attach lease")


def heartbeat(engine: Engine, c: Claim, lease: str, token: int) -> bool:
    """Refresh ``heartbeat_at``: ONE conditional UPDATE committed by itself, False when the run is no longer
    ours (abandoned, stale: its last heartbeat already older than its ttl) or a token newer than ``token``
    was issued for ``lease``. The newest token is a plain read (a heartbeat writes no effect). Tried twice at
    most (a pooled connection the server closed): the next beat is the retry, and a hung database must not
    hold up the replica's other runs' beats."""
    stmt = _leased_update("beat", _expires(c))
    return _update(engine, stmt, _params(c, token, lease), "heartbeat", attempts=2)


def still_ours(conn: Connection, c: Claim, token: int) -> bool:
    """Inside a write transaction: the run is still running, ours, at this token (also a heartbeat).

    The conditional UPDATE row-locks the run until commit, so the sweep cannot abandon it mid-write.
    """
    return conn.execute(_leased_update("guard", _expires(c)), _params(c, token)).rowcount == 1


def set_progress(conn: Connection, run_id: int, line: str) -> None:
    """Inside a job's write transaction: the running run's progress line (what ``status`` shows)."""
    conn.execute(
        sa.update(job_runs)
        .where(_c.id == run_id, _c.status == RunStatus.RUNNING)
        .values(progress=line[:MAX_ERROR_CHARS])
    )


def touch_waiting(engine: Engine, c: Claim) -> bool:
    """Heartbeat of a claimed run still waiting for its lease (overlap ``buffer_one``), so the sweep does
    not take it for abandoned, and its progress line says it waits (``WAITING``); False when it is no
    longer ours."""
    return _update(engine, _TOUCH, _params(c), "heartbeat")


def end_unleased(engine: Engine, c: Claim, status: RunStatus, reason: str) -> bool:
    """End a claimed run that never got its lease (skipped for overlap, lock server down)."""
    params = {**_params(c), "run_status": status, "run_error": reason[:MAX_ERROR_CHARS]}
    return _update(engine, _END_UNLEASED, params, "end run")


def finish(
    conn: Connection, c: Claim, lease: str, token: int, status: str, error: str | None, counters: dict[str, int]
) -> bool:
    """End a leased run with ONE conditional UPDATE, fenced by itself: False if the run is no longer ours or a
    token newer than ``token`` was issued for ``lease``. The lease row is share-locked until ``conn``'s
    transaction ends (``locks.not_superseded``), so no new holder is issued a token before this end commits:
    run it in the job's final write transaction, or alone with ``db.retry.single``."""
    stmt = _leased_update("finish", _expires(c), tuple(counters))
    params = {**_params(c, token, lease), "run_status": status, "run_error": error[:MAX_ERROR_CHARS] if error else None}
    params.update({f"run_{name}": value for name, value in counters.items()})
    return conn.execute(stmt, params).rowcount == 1


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

    One transaction locks the stale rows it can lock at once (``FOR UPDATE SKIP LOCKED`` on MariaDB/MySQL
    and PostgreSQL) and marks those whose heartbeat is still the one it saw, so a run that just
    heartbeated is never taken, and a row another transaction holds (a replica frozen inside a write)
    is skipped for the next sweep instead of stalling this one.
    """
    query = sa.select(
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
    now, rows = read(engine, lambda conn: (server_time(conn), conn.execute(query).all()), what="sweep")
    stale = [r for r in rows if now - (r.heartbeat_at or r.started_at) > timedelta(seconds=r.lease_ttl_s)]
    if not stale:
        return []

    def mark(conn: Connection) -> list[Abandoned]:
        lock = sa.select(job_runs.c.id, job_runs.c.heartbeat_at).where(
            job_runs.c.id.in_([r.id for r in stale]), job_runs.c.status == RunStatus.RUNNING
        )
        if conn.dialect.name != "sqlite":  # SQLite: the transaction holds the file's write lock already
            lock = lock.with_for_update(skip_locked=True)
        held = {row.id: row.heartbeat_at for row in conn.execute(lock)}
        out: list[Abandoned] = []
        for r in stale:
            if r.id not in held or held[r.id] != r.heartbeat_at:
                continue  # locked by its writer right now, finished, or it heartbeated since we looked
            conn.execute(
                sa.update(job_runs)
                .where(job_runs.c.id == r.id)
                .values(
                    status=RunStatus.ABANDONED,
                    finished_at=db_now(),
                    error=f"no heartbeat from {r.owner} for over {r.lease_ttl_s:g} s; marked by {sweeper}",
                )
            )
            out.append(Abandoned(r.id, r.job_name, r.shard, utc(r.scheduled_for), Trigger(r.trigger), r.owner))
        return out

    return transaction(engine, mark, what="abandon runs")


def unrecovered_query(jobs: Sequence[str], within_s: float, after_s: float) -> sa.Select[Any]:
    """Runs of ``jobs`` abandoned between ``within_s`` and ``after_s`` seconds ago whose fire has no recovery
    run yet (the replica that marked them died before its recovery claimed the fire); recovery runs are
    never re-run. Columns: id, job_name, shard, scheduled_for, trigger, owner (read in the fleet tick)."""
    recovery = job_runs.alias("recovery")
    return sa.select(
        job_runs.c.id, job_runs.c.job_name, job_runs.c.shard, job_runs.c.scheduled_for, job_runs.c.trigger,
        job_runs.c.owner,
    ).where(
        job_runs.c.status == RunStatus.ABANDONED,
        job_runs.c.trigger != Trigger.RECOVERY,
        job_runs.c.job_name.in_(list(jobs)),
        job_runs.c.finished_at >= db_now_plus(-within_s),
        job_runs.c.finished_at <= db_now_plus(-after_s),
        ~sa.exists().where(
            recovery.c.job_name == job_runs.c.job_name,
            recovery.c.shard == job_runs.c.shard,
            recovery.c.scheduled_for == job_runs.c.scheduled_for,
            recovery.c.trigger == Trigger.RECOVERY,
        ),
    )


def lease_expiries_query() -> sa.Select[Any]:
    """When the running runs' leases expire, one row per lease ttl: the ttl (``lease_ttl_s``), how many runs
    have it (``runs``) and their oldest heartbeat (``oldest``, the start of a run without one); the earliest
    expiry is the smallest ``oldest + lease_ttl_s``: when ``sweep_abandoned`` has something to mark. Served
    by the ``ix_job_runs_status_heartbeat`` index (status, heartbeat_at)."""
    return (
        sa.select(
            job_runs.c.lease_ttl_s,
            sa.func.count().label("runs"),
            sa.func.min(sa.func.coalesce(job_runs.c.heartbeat_at, job_runs.c.started_at)).label("oldest"),
        )
        .where(job_runs.c.status == RunStatus.RUNNING)
        .group_by(job_runs.c.lease_ttl_s)
    )


def last_scheduled(engine: Engine, job: str, shards: Sequence[str]) -> dict[str, datetime]:
    """The latest scheduled fire recorded per shard of a job."""
    query = (
        sa.select(job_runs.c.shard, sa.func.max(job_runs.c.scheduled_for))
        .where(job_runs.c.job_name == job, job_runs.c.trigger == Trigger.SCHEDULE)
        .where(job_runs.c.shard.in_(list(shards)))
        .group_by(job_runs.c.shard)
    )
    rows = read(engine, lambda conn: conn.execute(query).all(), what="last fires")
    return {shard: utc(when) for shard, when in rows}


def buffered_waiting(engine: Engine, job: str, shard: str, exclude_run: int) -> bool:
    """True when another fire of this shard is already waiting for the lease (overlap ``buffer_one``): running,
    without a token, its progress line ``WAITING`` (a leased run records its token with its first heartbeat,
    so a missing token alone does not say it waits)."""
    query = (
        sa.select(job_runs.c.id)
        .where(
            job_runs.c.job_name == job,
            job_runs.c.shard == shard,
            job_runs.c.status == RunStatus.RUNNING,
            job_runs.c.fencing_token.is_(None),
            job_runs.c.progress == WAITING,
            job_runs.c.id != exclude_run,
        )
        .limit(1)
    )
    return read(engine, lambda conn: conn.execute(query).first(), what="buffered fire") is not None


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
    progress: str | None = None  # a running sync's last progress line (items done, estimate, cursor)


PROBES_PER_STATEMENT = 200


def _per_key(
    conn: Connection, keys: Sequence[ShardKey], value: sa.ColumnElement[Any], *where: sa.ColumnElement[bool]
) -> list[tuple[str, str, Any]]:
    """``value`` (an aggregate such as ``max(id)``) of each job shard in ``keys``: one index probe per key
    (UNION ALL of single-key selects, ``PROBES_PER_STATEMENT`` keys per statement) instead of a GROUP BY
    over the whole history, which PostgreSQL and SQLite answer by scanning every row's index entry."""
    out: list[tuple[str, str, Any]] = []
    unique = sorted(set(keys))
    for start in range(0, len(unique), PROBES_PER_STATEMENT):
        selects = [
            sa.select(sa.literal(job).label("k_job"), sa.literal(shard).label("k_shard"), value.label("v")).where(
                job_runs.c.job_name == job, job_runs.c.shard == shard, *where
            )
            for job, shard in unique[start : start + PROBES_PER_STATEMENT]
        ]
        statement = selects[0] if len(selects) == 1 else sa.union_all(*selects)
        out += [(_str(r[0]), _str(r[1]), r[2]) for r in conn.execute(statement) if r[2] is not None]
    return out


def last_runs(conn: Connection, keys: Sequence[ShardKey] | None = None) -> dict[ShardKey, LastRun]:
    """The newest run of every job shard that has one (of ``keys`` only, when given: faster with history)."""
    if keys is not None:
        newest: Any = [v for _j, _s, v in _per_key(conn, keys, sa.func.max(job_runs.c.id))] or [-1]
    else:
        newest = sa.select(sa.func.max(job_runs.c.id)).group_by(job_runs.c.job_name, job_runs.c.shard)
    rows = conn.execute(
        sa.select(
            job_runs.c.job_name,
            job_runs.c.shard,
            job_runs.c.scheduled_for,
            job_runs.c.status,
            job_runs.c.owner,
            job_runs.c.error,
            job_runs.c.progress,
        ).where(job_runs.c.id.in_(newest))
    )
    return {
        (r.job_name, r.shard): LastRun(utc(r.scheduled_for), RunStatus(r.status), r.owner, r.error, r.progress)
        for r in rows
    }


def last_successes(conn: Connection, keys: Sequence[ShardKey] | None = None) -> dict[ShardKey, datetime]:
    """When the newest successful run of every job shard finished (shards without a success are absent); of
    ``keys`` only, when given."""
    if keys is not None:
        found = _per_key(conn, keys, sa.func.max(job_runs.c.finished_at), job_runs.c.status == RunStatus.SUCCEEDED)
        return {(job, shard): utc(_aware(v, conn)) for job, shard, v in found}
    rows = conn.execute(
        sa.select(job_runs.c.job_name, job_runs.c.shard, sa.func.max(job_runs.c.finished_at))
        .where(job_runs.c.status == RunStatus.SUCCEEDED)
        .group_by(job_runs.c.job_name, job_runs.c.shard)
    )
    return {(job, shard): utc(finished) for job, shard, finished in rows if finished is not None}


def first_starts(conn: Connection, keys: Sequence[ShardKey] | None = None) -> dict[ShardKey, datetime]:
    """When the first recorded run of every job shard started (of ``keys`` only, when given)."""
    if keys is not None:
        found = _per_key(conn, keys, sa.func.min(job_runs.c.started_at))
        return {(job, shard): utc(_aware(v, conn)) for job, shard, v in found}
    rows = conn.execute(
        sa.select(job_runs.c.job_name, job_runs.c.shard, sa.func.min(job_runs.c.started_at)).group_by(
            job_runs.c.job_name, job_runs.c.shard
        )
    )
    return {(job, shard): utc(started) for job, shard, started in rows}


def _str(value: Any) -> str:
    return bytes(value).decode("utf-8") if isinstance(value, bytes | bytearray | memoryview) else str(value)


def _aware(value: Any, conn: Connection) -> datetime:
    """An aggregate of a ``UTCDateTime`` column read through a UNION (no type processing on some drivers)."""
    processed = UTCDateTime().process_result_value(value, conn.dialect)
    assert processed is not None
    return processed


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


# -- what the web console reads: recent runs (filtered, newest first) and running runs' progress ------------


@dataclass(frozen=True)
class RunRecord:
    """One ``job_runs`` row as the console lists it."""

    run_id: int
    job: str
    shard: str
    scheduled_for: datetime
    trigger: str
    status: str
    owner: str
    fencing_token: int | None
    started_at: datetime
    heartbeat_at: datetime | None
    finished_at: datetime | None
    error: str | None
    rows_written: int
    requests: int
    not_modified: int
    retries: int
    rate_limit_waits: int
    progress: str | None


def _record(r: Any) -> RunRecord:
    return RunRecord(
        run_id=int(r.id),
        job=r.job_name,
        shard=r.shard,
        scheduled_for=utc(r.scheduled_for),
        trigger=r.trigger,
        status=r.status,
        owner=r.owner,
        fencing_token=r.fencing_token,
        started_at=utc(r.started_at),
        heartbeat_at=utc(r.heartbeat_at) if r.heartbeat_at else None,
        finished_at=utc(r.finished_at) if r.finished_at else None,
        error=r.error,
        rows_written=int(r.rows_written),
        requests=int(r.requests),
        not_modified=int(r.not_modified),
        retries=int(r.retries),
        rate_limit_waits=int(r.rate_limit_waits),
        progress=r.progress,
    )


def recent(
    conn: Connection,
    *,
    job: str | None = None,
    shard: str | None = None,
    status: str | None = None,
    before: int | None = None,
    limit: int = 50,
) -> list[RunRecord]:
    """Up to ``limit`` runs, newest claim first, optionally of one job, shard and status, with an id below
    ``before`` (keyset pagination: pass the last ``run_id`` of a page to get the next one). Served by the
    ``ix_job_runs_job_shard_id`` and ``ix_job_runs_status_id`` indexes."""
    query = sa.select(job_runs)
    if job is not None:
        query = query.where(job_runs.c.job_name == job)
    if shard is not None:
        query = query.where(job_runs.c.shard == shard)
    if status is not None:
        query = query.where(job_runs.c.status == status)
    if before is not None:
        query = query.where(job_runs.c.id < before)
    return [_record(r) for r in conn.execute(query.order_by(job_runs.c.id.desc()).limit(limit))]


def running(conn: Connection) -> list[RunRecord]:
    """Every run in ``running`` status (with its progress line), oldest first."""
    query = sa.select(job_runs).where(job_runs.c.status == RunStatus.RUNNING).order_by(job_runs.c.id)
    return [_record(r) for r in conn.execute(query)]
