"""Issue 16, "claims without exceptions" and "no pre-ping on every checkout": a fire's claim and a run's
bookkeeping are ONE statement each on MariaDB/MySQL and PostgreSQL (no BEGIN, COMMIT or ping), losing a
claim is a normal outcome, and a replica whose pooled connections the server has ended (a restart, a proxy,
an operator's KILL) goes on without a failed fire, because every read and write it makes is retried."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import event

from conftest import SERVERS
from scrapesched.db.engine import autocommit_engine
from scrapesched.db.vocabulary import RunStatus, Trigger
from scrapesched.scheduler import runs
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
