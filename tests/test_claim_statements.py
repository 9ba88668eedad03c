"""Issue 16, "claims without exceptions" and "no pre-ping on every checkout": a fire's claim and a run's
bookkeeping are ONE statement each on MariaDB/MySQL and PostgreSQL (no BEGIN, COMMIT or ping), losing a
claim is a normal outcome, and a replica whose pooled connections the server has ended (a restart, a proxy,
an operator's KILL) goes on without a failed fire, because every read and write it makes is retried."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import event

from conftest import SERVERS
from scrapesched import locks
from scrapesched.config.redact import Redactor
from scrapesched.config.settings import load_settings
from scrapesched.db.engine import autocommit_engine
from scrapesched.db.retry import single
from scrapesched.db.schema import leases
from scrapesched.db.vocabulary import RunStatus, Trigger
from scrapesched.locks.tokens import TokenStore
from scrapesched.scheduler import runs
from scrapesched.scheduler.context import RunContext
from scrapesched.scheduler.metrics import Metrics
from scrapesched.scheduler.outcome import OutcomeStatus
from scrapesched.scheduler.plan import build_plan
from scrapesched.scheduler.registry import JobSpec, Registry
from scrapesched.scheduler.runner import Runner
from scrapesched.testing.scratch import kill_sessions

FIRE = datetime(2026, 12, 2, 3, 0, tzinfo=UTC)


@contextmanager
def sent(engine: sa.Engine) -> Iterator[dict[str, list[str]]]:
    """What ``engine`` and its autocommit sibling send meanwhile: statements (SQLite's local ``BEGIN
    IMMEDIATE`` aside) and connections checked out of the main pool."""
    seen: dict[str, list[str]] = {"statements": [], "main checkouts": []}
    engines = [engine] if engine.dialect.name == "sqlite" else [engine, autocommit_engine(engine)]

    def statement(_conn: Any, _cursor: Any, text: str, *_args: Any) -> None:
        if text != "BEGIN IMMEDIATE":
            seen["statements"].append(text)

    def checkout(*_args: Any) -> None:
        seen["main checkouts"].append("checkout")

    for e in engines:
        event.listen(e, "before_cursor_execute", statement)
    event.listen(engine.pool, "checkout", checkout)
    try:
        yield seen
    finally:
        for e in engines:
            event.remove(e, "before_cursor_execute", statement)
        event.remove(engine.pool, "checkout", checkout)


def test_a_claim_won_or_lost_is_one_statement_outside_any_transaction(engine: sa.Engine) -> None:
    with sent(engine) as won:
        first = runs.claim(engine, "canary", "", FIRE, Trigger.SCHEDULE, "replica-1", 30.0)
    with sent(engine) as lost:
        second = runs.claim(engine, "canary", "", FIRE, Trigger.SCHEDULE, "replica-2", 30.0)
    assert isinstance(first, runs.Claim)
    assert isinstance(second, runs.Taken) and second.owner is None  # a scheduled fire need not know who won
    assert len(won["statements"]) == 1 and len(lost["statements"]) == 1
    if engine.dialect.name != "sqlite":  # the autocommit sibling's connection: no BEGIN, COMMIT or ping
        assert won["main checkouts"] == [] and lost["main checkouts"] == []
    with sent(engine) as attached:
        assert runs.attach_lease(engine, first, 7)
    assert len(attached["statements"]) == 1
    with engine.connect() as conn:
        assert [r.owner for r in runs.running(conn)] == ["replica-1"]


@pytest.mark.parametrize("backend", ["mariadb", "postgres"])
def test_a_replica_whose_connections_the_server_ended_claims_reads_and_sweeps_on(
    engine: sa.Engine, db_url: str, backend: str, tmp_path: Path
) -> None:
    assert engine.pool._pre_ping is False  # type: ignore[attr-defined]  # the point of the test
    warm = runs.claim(engine, "canary", "", FIRE, Trigger.SCHEDULE, "replica-1", 30.0)
    assert isinstance(warm, runs.Claim)
    assert "" in runs.last_scheduled(engine, "canary", [""])
    assert kill_sessions(backend, db_url, SERVERS) >= 1

    later = FIRE.replace(hour=4)
    got = runs.claim(engine, "canary", "", later, Trigger.SCHEDULE, "replica-1", 30.0)
    assert isinstance(got, runs.Claim)
    assert kill_sessions(backend, db_url, SERVERS) >= 1
    assert set(runs.last_scheduled(engine, "canary", [""])) == {""}
    assert kill_sessions(backend, db_url, SERVERS) >= 1
    assert runs.sweep_abandoned(engine, "replica-2") == []  # nothing stale: both heartbeats are fresh enough
    assert runs.end_unleased(engine, got, RunStatus.SKIPPED, "overlap")


def leased(engine: sa.Engine, name: str, holder: str) -> tuple[runs.Claim, int]:
    """A claimed run of ``name`` with the lease's newest token attached, as the runner leaves it."""
    got = runs.claim(engine, name, "", FIRE, Trigger.SCHEDULE, holder, 30.0)
    assert isinstance(got, runs.Claim)
    token = TokenStore(engine).issue(runs.lease_name(name, ""), holder, 30.0)
    assert runs.attach_lease(engine, got, token)
    return got, token


def end(engine: sa.Engine, c: runs.Claim, token: int) -> bool:
    lease = runs.lease_name(c.job, c.shard)
    return single(engine, lambda conn: runs.finish(conn, c, lease, token, RunStatus.SUCCEEDED, None, {}))


def test_a_leased_runs_heartbeat_and_end_are_one_fenced_statement_each(engine: sa.Engine) -> None:
    run, token = leased(engine, "canary", "replica-1")
    with sent(engine) as beat:
        assert runs.heartbeat(engine, run, runs.lease_name("canary", ""), token)
    with sent(engine) as ended:
        assert end(engine, run, token)
    assert len(beat["statements"]) == 1 and len(ended["statements"]) == 1
    if engine.dialect.name != "sqlite":  # no BEGIN, COMMIT or ping around them
        assert beat["main checkouts"] == [] and ended["main checkouts"] == []
    with engine.connect() as conn:
        assert runs.recent(conn)[0].status == RunStatus.SUCCEEDED


def test_a_run_whose_lease_has_a_newer_token_can_neither_beat_nor_end(engine: sa.Engine) -> None:
    run, token = leased(engine, "canary", "replica-1")
    newer = TokenStore(engine).issue(runs.lease_name("canary", ""), "replica-2", 30.0)  # a new holder
    assert newer > token
    assert not runs.heartbeat(engine, run, runs.lease_name("canary", ""), token)
    assert not end(engine, run, token)
    with engine.connect() as conn:
        assert [r.status for r in runs.recent(conn)] == [RunStatus.RUNNING]  # left for the sweep


def test_an_end_waiting_behind_a_token_bump_in_flight_is_refused_once_the_bump_commits(engine: sa.Engine) -> None:
    run, token = leased(engine, "canary", "replica-1")
    lease = runs.lease_name("canary", "")
    ended: list[bool] = []
    with engine.connect() as conn:  # a new holder's token bump, not yet committed
        txn = conn.begin()
        conn.execute(sa.update(leases).where(leases.c.name == lease).values(token=leases.c.token + 1))
        thread = threading.Thread(target=lambda: ended.append(end(engine, run, token)))
        thread.start()
        thread.join(0.5)
        assert thread.is_alive(), "the end must wait for the token bump in flight"
        txn.commit()
    thread.join(20)
    assert ended == [False]
    with engine.connect() as conn:
        assert [r.status for r in runs.recent(conn)] == [RunStatus.RUNNING]


def test_a_token_bump_waits_for_an_end_in_flight(engine: sa.Engine) -> None:
    run, token = leased(engine, "canary", "replica-1")
    lease = runs.lease_name("canary", "")
    issued: list[int] = []
    with engine.connect() as conn:  # the end inside a job's final write transaction, not yet committed
        txn = conn.begin()
        assert runs.finish(conn, run, lease, token, RunStatus.SUCCEEDED, None, {})
        thread = threading.Thread(target=lambda: issued.append(TokenStore(engine).issue(lease, "replica-2", 30.0)))
        thread.start()
        thread.join(0.5)
        assert thread.is_alive(), "a new holder's token must wait for the end in flight"
        txn.commit()
    thread.join(20)
    assert issued == [token + 1]
    with engine.connect() as conn:
        assert [r.status for r in runs.recent(conn)] == [RunStatus.SUCCEEDED]


def _noop(ctx: RunContext[object]) -> None:
    """A job that writes nothing: what a fire costs is the scheduler's own bookkeeping."""


def test_a_fire_that_takes_its_lease_at_once_records_its_token_with_its_end(engine: sa.Engine) -> None:
    spec = JobSpec(name="noop", run=f"{__name__}:_noop", description="test job", lease_ttl=30.0)
    settings = load_settings(instance_id="replica-1")
    planned = next(p for p in build_plan(settings, Registry([spec])) if p.name == "noop")
    backend = locks.connect("table", engine=engine, holder_id="replica-1")
    runner = Runner(settings, engine, backend, None, Metrics(), Redactor())
    try:
        with sent(engine) as fire:
            outcome = runner.execute(planned, "", FIRE, Trigger.SCHEDULE)
    finally:
        backend.close()
    assert outcome.status == OutcomeStatus.SUCCEEDED
    # the claim, the lease's conditional token bump, the run's fenced end, the lease's release: no attach
    assert len(fire["statements"]) == 4, fire["statements"]
    with engine.connect() as conn:
        (run,) = runs.recent(conn)
        token = locks.current_token(conn, runs.lease_name("noop", ""))
    assert run.status == RunStatus.SUCCEEDED and run.fencing_token == token >= 1
