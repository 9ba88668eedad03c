"""The one query layer of the console's page, its JSON API and ``scrapesched status --json``.

It owns no SQL: each table is read through the module that owns it (``scheduler.overview`` for the fleet,
``scheduler.runs`` for ``job_runs``, ``scrapers.github.budget``/``cursors`` for ``rate_limits`` and
``scrape_cursors``, ``scrapers.telemetry.buffer`` for ``http_error_summary``); this module turns what they
return into the typed models of ``console.models``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine

from scrapesched.console import models
from scrapesched.db.clock import server_time
from scrapesched.db.retry import read
from scrapesched.db.vocabulary import RunStatus
from scrapesched.locks import LockBackend
from scrapesched.scheduler import control, overview, replicas, runs
from scrapesched.scheduler.plan import PlannedJob
from scrapesched.scrapers.github import budget, cursors
from scrapesched.scrapers.telemetry import buffer

MAX_PAGE = 500
"""Most runs one page of ``runs`` returns."""
DEFAULT_PAGE = 50
MAX_RUN_ID = 2**63 - 1  # BIGINT


@dataclass(frozen=True)
class RunFilter:
    """Which runs to list: of one job, shard and status (None: any), older than run id ``before``."""

    job: str | None = None
    shard: str | None = None
    status: str | None = None
    before: int | None = None
    limit: int = DEFAULT_PAGE


def _cursor(stream: str, c: cursors.Cursor) -> models.Cursor:
    return models.Cursor(
        stream=stream,
        high_water=c.high_water,
        in_pass=c.resuming,
        done=c.done,
        total=c.total,
        mode=c.mode,
        since=c.since,
    )


def _cursors_of(found: Mapping[tuple[str, str], cursors.Cursor], shard: str) -> list[models.Cursor]:
    return [_cursor(stream, c) for (repo, stream), c in sorted(found.items()) if repo == shard]


def _replica(r: replicas.Replica) -> models.Replica:
    return models.Replica.model_validate(r.as_dict())


def _pause(p: control.Pause) -> models.Pause:
    return models.Pause(job=p.job, shard=p.shard, reason=p.reason, paused_by=p.paused_by, paused_at=p.paused_at)


def fleet(engine: Engine, locks: LockBackend, plan: Sequence[PlannedJob]) -> models.Fleet:
    """Every replica and job shard: ``scheduler.overview`` plus schedule, next fire and a running sync's
    progress and cursors."""
    view = overview.read(engine, locks, plan)
    in_flight, found = read(engine, lambda conn: (runs.running(conn), cursors.all_cursors(conn)), what="fleet page")
    running = {(r.job, r.shard): r for r in in_flight}
    planned = {p.name: p for p in plan}
    shards: list[models.Shard] = []
    for s in view.shards:
        p = planned[s.job]
        last = s.last_run
        now_running = running.get((s.job, s.shard))
        progress = now_running.progress if now_running else None
        shards.append(
            models.Shard(
                job=s.job,
                shard=s.shard,
                schedule=p.schedule,
                scheduled=p.scheduled,
                next_fire=p.next_fire(view.now) if p.scheduled else None,
                last_run=last.scheduled_for if last else None,
                last_status=last.status.value if last else None,
                last_owner=last.owner if last else None,
                last_error=last.error if last else None,
                last_success=s.last_success,
                holder=s.holder,
                lease_until=s.lease_until,
                stale=s.stale,
                paused=_pause(s.paused) if s.paused else None,
                pending_triggers=s.pending_triggers,
                running_run_id=now_running.run_id if now_running else None,
                progress=progress if progress is not None else getattr(last, "progress", None),
                cursors=_cursors_of(found, s.shard),
            )
        )
    return models.Fleet(now=view.now, replicas=[_replica(r) for r in view.replicas], shards=shards)


def _duration(r: runs.RunRecord, now: datetime) -> float | None:
    end = r.finished_at or (now if r.status == RunStatus.RUNNING else None)
    return round((end - r.started_at).total_seconds(), 3) if end else None


def run_page(engine: Engine, f: RunFilter) -> models.RunPage:
    """One page of runs, newest first (keyset: ``before`` is the last ``run_id`` of the previous page)."""
    limit = max(1, min(f.limit, MAX_PAGE))
    now, found = read(
        engine,
        lambda conn: (
            server_time(conn),
            runs.recent(conn, job=f.job, shard=f.shard, status=f.status, before=f.before, limit=limit + 1),
        ),
        what="runs page",
    )
    page = found[:limit]
    out = [
        models.Run(
            run_id=r.run_id,
            job=r.job,
            shard=r.shard,
            scheduled_for=r.scheduled_for,
            trigger=r.trigger,
            status=r.status,  # type: ignore[arg-type]  # a RunStatus value, validated by the model
            owner=r.owner,
            fencing_token=r.fencing_token,
            started_at=r.started_at,
            heartbeat_at=r.heartbeat_at,
            finished_at=r.finished_at,
            duration_s=_duration(r, now),
            error=r.error,
            rows_written=r.rows_written,
            requests=r.requests,
            not_modified=r.not_modified,
            retries=r.retries,
            rate_limit_waits=r.rate_limit_waits,
            progress=r.progress,
        )
        for r in page
    ]
    return models.RunPage(runs=out, next_before=page[-1].run_id if len(found) > limit else None)


def github(engine: Engine, plan: Sequence[PlannedJob]) -> models.GitHub:
    """GitHub budgets per token identity, and repositories part way through a pass or deferred (of the
    planned job shards)."""
    keys = [(p.name, shard) for p in plan for shard in p.shards]
    now, stored, found, last = read(
        engine,
        lambda conn: (
            server_time(conn), budget.stored_budgets(conn), cursors.all_cursors(conn), runs.last_runs(conn, keys)
        ),
        what="github page",
    )
    budgets = [
        models.TokenBudget(
            token_id=b.token_id,
            limit=b.limit,
            remaining=b.remaining,
            reset_at=runs.utc(b.reset_at) if b.reset_at else None,
            observed_at=runs.utc(b.observed_at) if b.observed_at else None,
            paused_until=runs.utc(b.paused_until) if b.paused_until and runs.utc(b.paused_until) > now else None,
        )
        for b in stored
    ]
    repos = {repo for (repo, _stream), c in found.items() if c.resuming}
    backfills: list[models.Backfill] = []
    for (job, shard), run in sorted(last.items()):
        if run.status == RunStatus.DEFERRED or shard in repos:
            backfills.append(
                models.Backfill(
                    job=job,
                    shard=shard,
                    last_status=run.status.value,
                    last_run=run.scheduled_for,
                    detail=run.error,
                    cursors=_cursors_of(found, shard),
                )
            )
    return models.GitHub(now=now, budgets=budgets, backfills=backfills)


def _count(rows: Sequence[buffer.SummaryRow], keep: Callable[[buffer.SummaryRow], bool]) -> int:
    return sum(r.count for r in rows if keep(r))


def hosts(engine: Engine) -> list[models.Host]:
    """The per-host HTTP summary: answers by class and every (status, error type) row."""
    rows = read(engine, buffer.summary_rows, what="hosts page")
    by_host: dict[str, list[buffer.SummaryRow]] = {}
    for row in rows:
        by_host.setdefault(row.host, []).append(row)
    return [
        models.Host(
            host=host,
            requests=_count(found, lambda r: True),
            ok=_count(found, lambda r: 200 <= r.status_code < 300),
            not_modified=_count(found, lambda r: r.status_code == 304),
            client_errors=_count(found, lambda r: 400 <= r.status_code < 500),
            server_errors=_count(found, lambda r: r.status_code >= 500),
            transport_errors=_count(found, lambda r: r.status_code == 0),
            last_seen=runs.utc(max(r.last_seen for r in found)),
            statuses=[
                models.HostStatus(
                    status_code=r.status_code, error_type=r.error_type, count=r.count, last_seen=runs.utc(r.last_seen)
                )
                for r in found
            ],
        )
        for host, found in by_host.items()
    ]
