"""The one retry policy (``db.retry``): a transaction that fails with a transient error is run again from its
start, each retry logged with its attempt number, up to ``attempts`` runs; any other error is raised at once.
The first attempt runs outside tenacity (the common, successful case), so these pin that a failure of it
still counts, logs and waits as the policy's first attempt."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from structlog.testing import capture_logs

from scrapesched.db.engine import connect_engine
from scrapesched.db.retry import read, single, transaction

LOCKED = "database is locked"


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[sa.Engine]:
    engine = connect_engine(f"sqlite:///{tmp_path / 'retry.db'}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (n INTEGER)")
    yield engine
    engine.dispose()


def failing(times: int, error: Exception) -> tuple[list[int], Callable[[sa.Connection], int]]:
    """A unit of work that inserts a row, then fails the first ``times`` runs with ``error``."""
    runs: list[int] = []

    def work(conn: sa.Connection) -> int:
        runs.append(len(runs) + 1)
        conn.exec_driver_sql("INSERT INTO t (n) VALUES (1)")
        if len(runs) <= times:
            raise error
        return len(runs)

    return runs, work


def rows(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return int(conn.exec_driver_sql("SELECT count(*) FROM t").scalar_one())


@pytest.mark.parametrize("run", [transaction, single, read])
def test_a_transient_failure_is_retried_from_the_start_each_retry_logged(
    engine: sa.Engine, run: Callable[..., int]
) -> None:
    runs, work = failing(2, sqlite3.OperationalError(LOCKED))
    with capture_logs() as logs:
        assert run(engine, work, attempts=4, what="probe") == 3
    assert runs == [1, 2, 3]
    retries = [line for line in logs if line["event"] == "retrying"]
    assert [(r["attempt"], r["of"], r["what"], r["reason"]) for r in retries] == [
        (1, 4, "probe", LOCKED),
        (2, 4, "probe", LOCKED),
    ]
    if run is not read:  # a transaction's failed runs left nothing behind
        assert rows(engine) == 1


def test_a_transient_failure_on_every_attempt_raises_it_after_the_last(engine: sa.Engine) -> None:
    runs, work = failing(10, sqlite3.OperationalError(LOCKED))
    with capture_logs() as logs, pytest.raises(sqlite3.OperationalError, match=LOCKED):
        transaction(engine, work, attempts=3)
    assert runs == [1, 2, 3]
    assert [line["attempt"] for line in logs if line["event"] == "retrying"] == [1, 2]
    assert rows(engine) == 0


@pytest.mark.parametrize("error", [ValueError("a bug"), sqlite3.OperationalError("no such table: x")])
def test_any_other_error_is_raised_at_once(engine: sa.Engine, error: Exception) -> None:
    runs, work = failing(1, error)
    with capture_logs() as logs, pytest.raises(type(error)):
        transaction(engine, work, attempts=5)
    assert runs == [1]
    assert [line for line in logs if line["event"] == "retrying"] == []


def test_one_attempt_means_no_retry(engine: sa.Engine) -> None:
    runs, work = failing(1, sqlite3.OperationalError(LOCKED))
    with pytest.raises(sqlite3.OperationalError):
        transaction(engine, work, attempts=1)
    assert runs == [1]
