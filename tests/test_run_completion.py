"""A fire's effect commits exactly once (issue 12): a job's final write and its run's ``succeeded``
completion are one transaction. Proven through the real runner, lock backend and database:

- a run abandoned while its final write is open (frozen replica) leaves no effect at all, and the
  recovery run executes the fire exactly once;
- a run whose final write committed stays ``succeeded`` when its lease is lost a moment later (it used
  to end ``failed``: "lease lost before the run could be recorded");
- a run whose heartbeat is older than its ttl can no longer write or complete, even before the sweep
  marked it abandoned (a replica resumed after a freeze cannot revive it).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from scrapesched import locks
from scrapesched.config.redact import Redactor
from scrapesched.config.settings import load_settings
from scrapesched.db.schema import canary_runs, job_runs
from scrapesched.db.upsert import upsert
from scrapesched.db.vocabulary import RunStatus, Trigger
from scrapesched.scheduler import canary
from scrapesched.scheduler.context import RunContext
from scrapesched.scheduler.metrics import Metrics
from scrapesched.scheduler.outcome import OutcomeStatus
from scrapesched.scheduler.plan import PlannedJob, build_plan
from scrapesched.scheduler.registry import JobSpec, Registry
from scrapesched.scheduler.runner import Runner

FIRE = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _record_then_lose_lease(ctx: RunContext) -> None:
    def write(conn: sa.Connection) -> None:
        row = {"shard": ctx.shard, "scheduled_for": ctx.scheduled_for, "trigger": ctx.trigger, "owner": ctx.owner,
               "executions": 1, "ran_at": ctx.scheduled_for}
        upsert(conn, canary_runs, [row], increment=["executions"])

    ctx.transaction(write, final=True, rows=lambda _: 1)
    assert ctx.lease is not None
    ctx.lease._mark_lost("test: keep-alive failed right after the final write")


LOSES_LEASE = JobSpec(
    name="loses_lease", run=f"{__name__}:_record_then_lose_lease", description="test job", lease_ttl=5.0
)


def _plan(name: str, **params: object) -> PlannedJob:
    settings = load_settings(jobs={name: {"lease_ttl": "5s", "params": params}})
    planned = {p.name: p for p in build_plan(settings, Registry([canary.SPEC, LOSES_LEASE]))}
    return planned[name]


@pytest.fixture
def runner(engine: sa.Engine) -> Iterator[Runner]:
    settings = load_settings(instance_id="replica-a")
    backend = locks.connect("table", engine=engine, holder_id="replica-a")
    try:
        yield Runner(settings, engine, backend, None, Metrics(), Redactor())
    finally:
        backend.close()


def _runs(engine: sa.Engine) -> list[sa.Row[object]]:
    with engine.connect() as conn:
        return list(conn.execute(sa.select(job_runs).order_by(job_runs.c.id)))


def _executions(engine: sa.Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {r.trigger: r.executions for r in conn.execute(sa.select(canary_runs))}


@pytest.mark.parametrize("backend", ["mariadb", "postgres"])  # SQLite: a frozen writer holds the whole file
def test_a_run_abandoned_inside_its_final_write_leaves_no_effect_and_recovery_runs_the_fire_once(
    engine: sa.Engine, runner: Runner
) -> None:
    planned = _plan("canary", hold=3.0)  # the write, then 3 s with the transaction open before the completion

    def abandon_while_held() -> None:  # what the sweep does to a frozen replica's run whose row went stale
        deadline = datetime.now(UTC) + timedelta(seconds=30)
        while datetime.now(UTC) < deadline:
            with engine.connect() as conn:
                leased = conn.execute(
                    sa.select(job_runs.c.id).where(
                        job_runs.c.status == RunStatus.RUNNING, job_runs.c.fencing_token.is_not(None)
                    )
                ).first()
            if leased is not None:
                threading.Event().wait(1.0)  # the canary writes at once: now it is inside its hold
                with engine.begin() as conn:
                    conn.execute(
                        sa.update(job_runs)
                        .where(job_runs.c.id == leased.id)
                        .values(status=RunStatus.ABANDONED, finished_at=datetime.now(UTC))
                    )
                return
            threading.Event().wait(0.05)

    sweeper = threading.Thread(target=abandon_while_held)
    sweeper.start()
    first = runner.execute(planned, "", FIRE, Trigger.SCHEDULE)
    sweeper.join()
    assert first.status == OutcomeStatus.FAILED
    assert _executions(engine) == {}, "the write committed without its completion"

    recovery = runner.execute(_plan("canary"), "", FIRE, Trigger.RECOVERY)
    assert recovery.status == OutcomeStatus.SUCCEEDED
    assert _executions(engine) == {Trigger.RECOVERY: 1}
    assert [(r.trigger, r.status) for r in _runs(engine)] == [
        (Trigger.SCHEDULE, RunStatus.ABANDONED),
        (Trigger.RECOVERY, RunStatus.SUCCEEDED),
    ]


def test_a_run_whose_final_write_committed_stays_succeeded_when_its_lease_is_lost_after(
    engine: sa.Engine, runner: Runner
) -> None:
    outcome = runner.execute(_plan("loses_lease"), "", FIRE, Trigger.SCHEDULE)
    assert outcome.status == OutcomeStatus.SUCCEEDED, outcome.detail
    [run] = _runs(engine)
    assert (run.status, run.error, run.rows_written) == (RunStatus.SUCCEEDED, None, 1)
    assert _executions(engine) == {Trigger.SCHEDULE: 1}


def test_a_run_whose_heartbeat_is_older_than_its_ttl_can_no_longer_complete(
    engine: sa.Engine, runner: Runner
) -> None:
    planned = _plan("canary", seconds=0.8)  # the final write comes before the first heartbeat (ttl / 3)

    def age_heartbeat() -> None:  # the replica "was frozen" past its ttl; no sweep has marked it yet
        deadline = datetime.now(UTC) + timedelta(seconds=30)
        while datetime.now(UTC) < deadline:
            with engine.begin() as conn:
                done = conn.execute(
                    sa.update(job_runs)
                    .where(job_runs.c.status == RunStatus.RUNNING)  # claimed: alive from its claim on
                    .values(heartbeat_at=datetime.now(UTC) - timedelta(minutes=5))
                ).rowcount
            if done:
                return
            threading.Event().wait(0.05)

    ager = threading.Thread(target=age_heartbeat)
    ager.start()
    outcome = runner.execute(planned, "", FIRE, Trigger.SCHEDULE)
    ager.join()
    assert outcome.status == OutcomeStatus.FAILED
    assert _executions(engine) == {}
    [run] = _runs(engine)
    assert run.status == RunStatus.RUNNING  # left for the sweep to mark abandoned and recover
