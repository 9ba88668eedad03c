"""No replica waits on a frozen peer (issue 12): a replica stopped by SIGSTOP inside a write transaction
holds row locks, yet the others' sweep goes on marking the other stale runs, and once the server has
ended the frozen transaction (the idle-in-transaction limit every session of ours gets) the frozen run
is marked abandoned too. MariaDB and PostgreSQL; SQLite is one file on one host, where a frozen writer
holds the whole file (documented in db/engine.py).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from conftest import REPO_ROOT
from scrapesched.db.engine import connect_engine
from scrapesched.db.migrate import upgrade
from scrapesched.db.schema import job_runs
from scrapesched.db.vocabulary import RunStatus
from scrapesched.scheduler import runs

WORKER = REPO_ROOT / "tests" / "workers" / "frozen_in_transaction.py"
IDLE_TIMEOUT_S = 2.0


def _stale_run(engine: sa.Engine, job: str) -> int:
    got = runs.claim(engine, job, "", datetime(2026, 1, 1, tzinfo=UTC), "schedule", "frozen-replica", 1.0)
    assert isinstance(got, runs.Claim)
    with engine.begin() as conn:  # its last heartbeat a minute ago: past its 1 s ttl
        past = datetime.now(UTC) - timedelta(minutes=1)
        conn.execute(sa.update(job_runs).where(job_runs.c.id == got.run_id).values(heartbeat_at=past))
    return got.run_id


def _status(engine: sa.Engine, run_id: int) -> str:
    with engine.connect() as conn:
        return str(conn.execute(sa.select(job_runs.c.status).where(job_runs.c.id == run_id)).scalar_one())


@pytest.mark.parametrize("backend", ["mariadb", "postgres"])
def test_sweep_skips_a_row_a_frozen_replica_holds_then_marks_it_once_the_server_ends_its_transaction(
    db_url: str, tmp_path: Path
) -> None:
    engine = connect_engine(db_url, lock_timeout=1)
    upgrade(engine)
    frozen_run = _stale_run(engine, "frozen")
    other_run = _stale_run(engine, "other")
    worker = subprocess.Popen(
        [sys.executable, str(WORKER), db_url, str(frozen_run), str(IDLE_TIMEOUT_S)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO_ROOT,
    )
    try:
        assert worker.stdout is not None and worker.stdout.readline().strip() == "locked"
        marked = runs.sweep_abandoned(engine, "sweeper")  # the frozen row is skipped, not waited on
        assert [m.run_id for m in marked] == [other_run]
        assert _status(engine, frozen_run) == RunStatus.RUNNING
        deadline = time.monotonic() + 60
        while _status(engine, frozen_run) == RunStatus.RUNNING and time.monotonic() < deadline:
            time.sleep(0.5)
            runs.sweep_abandoned(engine, "sweeper")
        assert _status(engine, frozen_run) == RunStatus.ABANDONED
    finally:
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait()
        engine.dispose()
