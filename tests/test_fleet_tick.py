"""The fleet tick (issue 16, "quiet at rest"): an idle replica sends ONE statement a tick, heartbeat included
on PostgreSQL, and that statement tells it the pauses, the triggers, when the first lease expires and which
abandoned runs nobody recovers, so it sweeps only once a lease has expired."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event

from scrapesched.db.engine import autocommit_engine
from scrapesched.db.vocabulary import Trigger
from scrapesched.scheduler import control, replicas, runs, tick


def sibling(engine: sa.Engine) -> sa.Engine | None:
    """The autocommit sibling the tick runs on (none on SQLite)."""
    return None if engine.dialect.name == "sqlite" else autocommit_engine(engine)


@contextmanager
def statements(*engines: sa.Engine | None) -> Iterator[list[str]]:
    """The SQL statements sent through ``engines`` meanwhile (the pool's ping and SQLite's ``BEGIN IMMEDIATE``,
    local transaction control, aside)."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement != "BEGIN IMMEDIATE":
            seen.append(statement)

    targets = [e for e in engines if e is not None]
    for e in targets:
        event.listen(e, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        for e in targets:
            event.remove(e, "before_cursor_execute", record)


def test_an_idle_tick_is_one_statement_and_knows_the_controls(engine: sa.Engine) -> None:
    replicas.register(engine, "r1", 1.0)
    control.pause(engine, "canary", "", "maintenance", "ops")
    control.request(engine, "canary", ["a"], {}, "ops")
    stmt = tick.statement(["canary"], 600.0, 2.0)
    with statements(engine, sibling(engine)) as sent:
        found = tick.tick(engine, stmt, None)
    assert len(sent) == 1
    assert found.controls.paused("canary", "a") is not None
    assert [t.shard for t in found.controls.triggers] == ["a"]
    assert found.expiry is None and not found.expired and found.unrecovered == ()


def test_the_replica_heartbeat_rides_in_the_tick(engine: sa.Engine) -> None:
    replicas.register(engine, "r1", 1.0)
    stmt = tick.statement([], 600.0, 2.0)
    beat = replicas.beat("r1", [replicas.RunningRun(7, "canary", "")])
    with statements(engine, sibling(engine)) as sent:
        tick.tick(engine, stmt, beat)
    assert len(sent) == (1 if engine.dialect.name == "postgresql" else 2)
    with engine.connect() as conn:
        [row] = replicas.listing(conn)
    assert row.runs == (replicas.RunningRun(7, "canary", ""),)


def test_the_tick_tells_when_a_lease_expires_and_which_abandoned_run_to_recover(engine: sa.Engine) -> None:
    now = datetime.now(UTC)
    short = runs.claim(engine, "canary", "a", now, Trigger.SCHEDULE, "r2", 0.5)
    long = runs.claim(engine, "canary", "b", now, Trigger.SCHEDULE, "r2", 300.0)
    assert isinstance(short, runs.Claim) and isinstance(long, runs.Claim)
    stmt = tick.statement(["canary"], 600.0, 0.0)
    before = tick.tick(engine, stmt, None)
    assert before.expiry is not None and not before.expired
    assert before.expiry - before.now <= timedelta(seconds=0.5)  # the short lease, not the long one
    while not (found := tick.tick(engine, stmt, None)).expired:
        time.sleep(0.1)
    assert found.unrecovered == ()
    assert [r.run_id for r in runs.sweep_abandoned(engine, "r1")] == [short.run_id]
    after = tick.tick(engine, stmt, None)
    assert not after.expired and after.expiry is not None  # the long run's lease, still ahead
    assert [(r.run_id, r.shard) for r in after.unrecovered] == [(short.run_id, "a")]
    assert tick.tick(engine, tick.statement(["other"], 600.0, 0.0), None).unrecovered == ()
