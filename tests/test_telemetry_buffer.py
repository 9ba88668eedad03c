"""The per-host HTTP summary: every attempt counted (successes too), written by one batched upsert per
flush, never counted twice when a flush is retried, never lost when a flush fails (real servers)."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import pytest
import sqlalchemy as sa
from lock_helpers import closed_port
from sqlalchemy import event
from sqlalchemy.exc import OperationalError
from telemetry_support import EndpointServer

from scrapesched.db.schema import http_error_summary, telemetry_flushes
from scrapesched.scheduler.context import Counters
from scrapesched.scrapers.http import HttpClient, TransportFailure, run_observer
from scrapesched.scrapers.telemetry.buffer import TelemetryBuffer

Key = tuple[str, int, str]


def summary(engine: sa.Engine) -> dict[Key, int]:
    t = http_error_summary
    with engine.connect() as conn:
        return {(r.host, r.status_code, r.error_type): r.n for r in conn.execute(sa.select(t, t.c.count.label("n")))}


def flush_rows(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(telemetry_flushes)).scalar_one())


def fail_next_commit(engine: sa.Engine, *, after_commit: bool) -> dict[str, int]:
    """Make the next COMMIT raise "connection lost": after it reached the server (an ambiguous commit) or
    instead of it. Returns a dict counting the failures injected."""
    state = {"armed": 1, "fired": 0}

    @event.listens_for(engine, "commit")
    def lose(conn: sa.Connection) -> None:
        if not state["armed"]:
            return
        state["armed"] = 0
        state["fired"] += 1
        if after_commit:
            conn.connection.dbapi_connection.commit()  # type: ignore[union-attr]
        raise OperationalError("COMMIT", None, ConnectionError("server closed the connection"),
                               connection_invalidated=after_commit)

    return state


def test_every_attempt_is_counted_by_host_status_and_error_type_successes_included(
    db: sa.Engine, server: EndpointServer
) -> None:
    buffer = TelemetryBuffer(db, flush_interval=None)
    client = HttpClient(timeout=0.3, attempts=3, first_backoff=0.001, max_backoff=0.002, hooks=[buffer.record])
    dead = f"http://127.0.0.1:{closed_port()}/x"
    for path, times in (("/status/200", 5), ("/status/304", 2), ("/status/404", 3), ("/status/500", 1)):
        for _ in range(times):
            client.get(server.url + path)
    for url in (server.url + "/sleep/1.5", dead):
        with pytest.raises(TransportFailure):
            client.get(url)
    result = buffer.flush()
    expected = {
        ("127.0.0.1", 200, ""): 5,
        ("127.0.0.1", 304, ""): 2,
        ("127.0.0.1", 404, "client_error"): 3,
        ("127.0.0.1", 500, "server_error"): 3,  # one call, three attempts: each attempt is a request
        ("127.0.0.1", 0, "timeout"): 3,
        ("127.0.0.1", 0, "connect"): 3,
    }
    assert summary(db) == expected
    assert result.counts == expected and result.requests == 19 and result.batches == 1
    served = server.totals()
    assert {k: v for k, v in expected.items() if k[2] != "connect"} == {("127.0.0.1", *k): v for k, v in served.items()}
    client.close()


def test_a_flush_is_one_batched_upsert_whatever_the_number_of_requests(db: sa.Engine) -> None:
    buffer = TelemetryBuffer(db, flush_interval=None)
    for i in range(5000):
        buffer.add(f"host{i % 50}.example", (200, 304, 404, 500)[i // 50 % 4], "")
    statements: list[str] = []

    @event.listens_for(db, "before_cursor_execute")
    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    result = buffer.flush()
    event.remove(db, "before_cursor_execute", seen)
    summary_writes = [s for s in statements if "http_error_summary" in s]
    assert len(summary_writes) == 1, summary_writes
    assert result.keys == 200 and result.requests == 5000
    assert sum(summary(db).values()) == 5000
    assert buffer.flush().batches == 0  # nothing pending: no statement at all


def test_counts_add_up_in_the_database_across_flushes_and_buffers(db: sa.Engine) -> None:
    first, second = TelemetryBuffer(db, flush_interval=None), TelemetryBuffer(db, flush_interval=None)
    first.add("a.example", 200, "", n=3, at=1_700_000_100.0)
    second.add("a.example", 200, "", n=4, at=1_700_000_000.0)
    first.flush()
    second.flush()
    first.add("a.example", 200, "", n=5, at=1_700_000_200.0)
    first.flush()
    with db.connect() as conn:
        row = conn.execute(sa.select(http_error_summary, http_error_summary.c.count.label("n"))).one()
    assert row.n == 12
    assert row.first_seen.timestamp() == 1_700_000_000.0 and row.last_seen.timestamp() == 1_700_000_200.0


def test_a_flush_retried_after_an_ambiguous_commit_is_not_counted_twice(db: sa.Engine) -> None:
    buffer = TelemetryBuffer(db, flush_interval=None)
    buffer.add("a.example", 200, "", n=7)
    buffer.add("a.example", 0, "timeout", n=2)
    injected = fail_next_commit(db, after_commit=True)
    result = buffer.flush()  # db.transaction re-runs the flush: its id is found, nothing is added again
    assert injected["fired"] == 1
    assert result.duplicates == 1 and result.requests == 9
    assert summary(db) == {("a.example", 200, ""): 7, ("a.example", 0, "timeout"): 2}
    assert flush_rows(db) == 1
    assert buffer.unflushed() == {}


def test_a_failed_flush_keeps_its_counts_and_the_next_flush_writes_them_once(db: sa.Engine) -> None:
    buffer = TelemetryBuffer(db, flush_interval=None, attempts=1)
    buffer.add("a.example", 200, "", n=4)
    fail_next_commit(db, after_commit=False)
    with pytest.raises(OperationalError):
        buffer.flush()
    assert summary(db) == {}
    buffer.add("a.example", 200, "", n=1)  # counted while the database was away
    assert buffer.unflushed() == {("a.example", 200, ""): 5}
    result = buffer.flush()  # the sealed batch under its first id, then the new count
    assert result.batches == 2 and result.duplicates == 0
    assert summary(db) == {("a.example", 200, ""): 5}
    assert buffer.unflushed() == {}


def test_a_flush_whose_commit_went_through_unseen_is_skipped_by_the_next_flush(db: sa.Engine) -> None:
    buffer = TelemetryBuffer(db, flush_interval=None, attempts=1)  # no retry inside db.transaction
    buffer.add("a.example", 500, "server_error", n=6)
    fail_next_commit(db, after_commit=True)
    with pytest.raises(OperationalError):
        buffer.flush()
    assert summary(db) == {("a.example", 500, "server_error"): 6}  # the COMMIT did reach the server
    result = buffer.flush()
    assert result.duplicates == 1
    assert summary(db) == {("a.example", 500, "server_error"): 6}


def test_the_periodic_flusher_writes_during_a_long_run_and_close_writes_the_rest(db: sa.Engine) -> None:
    buffer = TelemetryBuffer(db, flush_interval=0.2)
    buffer.add("a.example", 200, "", n=3)
    deadline = time.monotonic() + 10
    while summary(db) != {("a.example", 200, ""): 3} and time.monotonic() < deadline:
        time.sleep(0.05)
    assert summary(db) == {("a.example", 200, ""): 3}, "not flushed within the interval"
    buffer.add("a.example", 404, "client_error", n=2)
    buffer.close()
    assert summary(db) == {("a.example", 200, ""): 3, ("a.example", 404, "client_error"): 2}


def test_run_observer_counts_requests_retries_and_not_modified(server: EndpointServer) -> None:
    counters = Counters()
    client = HttpClient(timeout=2, attempts=3, first_backoff=0.001, max_backoff=0.002)
    observe = run_observer(counters)
    client.get(server.url + "/status/304", observer=observe)
    client.get(server.url + "/status/200", observer=observe)
    client.get(server.url + "/status/503", observer=observe)
    assert (counters.requests, counters.retries, counters.not_modified) == (5, 2, 1)
    assert Counter(path for path in server.requests.elements()) == Counter(
        {"/status/304": 1, "/status/200": 1, "/status/503": 3}
    )
    client.close()
