"""Overlap policies with a real replica: a fire that arrives while the shard's previous fire still runs is
skipped (recorded), buffered once, or allowed to run alongside."""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from replicas import fleet, runs_of, write_config
from scrapesched.db.engine import connect_engine
from scrapesched.db.migrate import upgrade

pytestmark = pytest.mark.slow


def _run(tmp_path: Path, overlap: str, seconds: float = 16) -> list[sa.Row[object]]:
    url = f"sqlite:///{tmp_path / 'o.db'}"
    engine = connect_engine(url)
    upgrade(engine)
    config = write_config(
        tmp_path / "c.toml",
        f"""
[jobs.canary]
interval = "2s"
lease_ttl = "10s"
misfire_grace = "30s"
overlap = "{overlap}"
params = {{ seconds = 5 }}
""",
    )
    with fleet(tmp_path, database_url=url, shutdown_grace="30s") as f:
        f.start("only", config)
        time.sleep(seconds)
        assert f.stop_all() == [0]
    rows = [r for r in runs_of(engine) if r.trigger == "schedule"]
    engine.dispose()
    return rows


def _overlapping(rows: list[sa.Row[object]]) -> bool:
    done = sorted((r.started_at, r.finished_at) for r in rows if r.status == "succeeded")
    return any(b[0] < a[1] for a, b in itertools.pairwise(done))


def test_skip_records_the_fires_that_arrive_during_a_run(tmp_path: Path) -> None:
    rows = _run(tmp_path, "skip")
    skipped = [r for r in rows if r.status == "skipped"]
    assert skipped and all("overlap: previous fire still running" in (r.error or "") for r in skipped)
    assert [r for r in rows if r.status == "succeeded"]
    assert not _overlapping(rows)


def test_buffer_one_runs_one_waiting_fire_right_after_and_skips_the_rest(tmp_path: Path) -> None:
    rows = _run(tmp_path, "buffer_one")
    succeeded = sorted((r for r in rows if r.status == "succeeded"), key=lambda r: r.started_at)
    assert len(succeeded) >= 2
    assert not _overlapping(rows)
    # The buffered fire started as soon as the previous one finished (not at its next own fire).
    gap = (succeeded[1].started_at - succeeded[0].finished_at).total_seconds()
    assert gap < 1.5, gap
    assert any(r.status == "skipped" for r in rows), "a third fire arriving while one waits is skipped"


def test_allow_lets_fires_of_one_shard_run_at_once(tmp_path: Path) -> None:
    rows = _run(tmp_path, "allow")
    assert not [r for r in rows if r.status == "skipped"]
    assert _overlapping(rows)


def test_a_buffered_fire_waiting_longer_than_the_lease_ttl_is_not_abandoned(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'b.db'}"
    engine = connect_engine(url)
    upgrade(engine)
    config = write_config(tmp_path / "c.toml", """
[jobs.canary]
interval = "4s"
lease_ttl = "2s"
misfire_grace = "30s"
overlap = "buffer_one"
params = { seconds = 7 }
""")
    with fleet(tmp_path, database_url=url, shutdown_grace="30s") as f:
        f.start("only", config)
        time.sleep(20)
        assert f.stop_all() == [0]
    rows = [r for r in runs_of(engine) if r.trigger == "schedule"]
    engine.dispose()
    assert not [r for r in rows if r.status == "abandoned"], [(r.status, r.error) for r in rows]
    assert sum(r.status == "succeeded" for r in rows) >= 2
