"""Exactly-once scheduling with real replica processes of ``scrapesched run`` on real servers.

Each test starts OS processes, lets them fire a canary job, and reads back ``job_runs`` (one row per
claimed fire) and ``canary_runs`` (how often the job body really ran per fire).
"""

from __future__ import annotations

import signal
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from conftest import REDIS_URL
from replicas import canary_rows, faketime_available, fleet, runs_of, wait_for, write_config
from scrapesched.db.clock import server_time

pytestmark = pytest.mark.slow


def _lock_url(backend: str, db_url: str, redis_prefix: str) -> str:
    if backend == "mariadb":
        return f"{REDIS_URL}?prefix={redis_prefix}"
    if backend == "postgres":
        return db_url  # advisory locks on the same server
    return "table"


def _url(engine: sa.Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def _assert_exactly_once(
    engine: sa.Engine, first_margin: float = 3.0, last_margin: float = 2.0
) -> list[sa.Row[object]]:
    rows = [r for r in runs_of(engine) if r.trigger == "schedule"]
    assert rows, "no fire was claimed"
    times = sorted({r.scheduled_for for r in rows})
    start = times[0] + timedelta(seconds=first_margin)
    end = times[-1] - timedelta(seconds=last_margin)
    window = [r for r in rows if start <= r.scheduled_for <= end]
    per_fire = Counter(r.scheduled_for for r in window)
    assert all(n == 1 for n in per_fire.values())
    expected = int((end - start).total_seconds()) + 1
    assert len(per_fire) >= expected - 1, (len(per_fire), expected)  # no gaps (1 s fires)
    assert {r.status for r in window} == {"succeeded"}, Counter(r.status for r in window)
    executions = {(c.scheduled_for, c.trigger): c.executions for c in canary_rows(engine)}
    assert all(n == 1 for n in executions.values()), "a fire's body ran twice"
    succeeded = [r for r in rows if r.status == "succeeded"]
    assert len(executions) == len(succeeded)
    return window


def test_four_replicas_run_every_fire_exactly_once(
    engine: sa.Engine, backend: str, redis_prefix: str, tmp_path: Path
) -> None:
    config = write_config(
        tmp_path / "c.toml",
        """
[jobs.canary]
interval = "1s"
lease_ttl = "5s"
params = { seconds = 0.2 }
""",
    )
    with fleet(tmp_path, database_url=_url(engine), lock_url=_lock_url(backend, _url(engine), redis_prefix)) as f:
        for i in range(4):
            f.start(f"replica-{i}", config)
        assert wait_for(lambda: len(runs_of(engine)) >= 1, 60)  # replicas are up (slow on a loaded machine)
        time.sleep(18)
        codes = f.stop_all()
    assert codes == [0, 0, 0, 0], [r.log()[-2000:] for r in f.replicas]
    window = _assert_exactly_once(engine)
    assert len({r.owner for r in window}) >= 2, "the fleet should share the fires"


@pytest.mark.skipif(not faketime_available(), reason="libfaketime (Debian package faketime) not installed")
def test_a_replica_with_a_skewed_clock_still_gives_one_run_per_fire(
    engine: sa.Engine, backend: str, tmp_path: Path
) -> None:
    if backend == "sqlite":
        pytest.skip("SQLite's clock is the replica's own: replicas sharing a SQLite file share one host clock")
    config = write_config(
        tmp_path / "c.toml",
        """
[jobs.canary]
interval = "1s"
lease_ttl = "5s"
params = { seconds = 0.1 }
""",
    )
    with fleet(tmp_path, database_url=_url(engine)) as f:
        f.start("skewed", config, skew="+2s")
        for i in range(2):
            f.start(f"replica-{i}", config)
        assert wait_for(lambda: len(runs_of(engine)) >= 1, 60)
        time.sleep(14)
        codes = f.stop_all()
        assert codes == [0, 0, 0], (codes, [r.log()[-1500:] for r in f.replicas])
        skewed_log = f.replicas[0].log()
    _assert_exactly_once(engine)
    # The skew was real: that replica's scheduler fired early and waited for the database's clock.
    assert "waiting_for_database_clock" in skewed_log


def _first_running(engine: sa.Engine) -> sa.Row[object] | None:
    rows = [r for r in runs_of(engine) if r.status == "running" and r.fencing_token is not None]
    return rows[0] if rows else None


def test_sigkilled_run_is_abandoned_and_recovered_once(engine: sa.Engine, tmp_path: Path) -> None:
    config = write_config(
        tmp_path / "c.toml",
        """
[jobs.canary]
interval = "12s"
lease_ttl = "2s"
recover = true
params = { seconds = 4 }
""",
    )
    with fleet(tmp_path, database_url=_url(engine)) as f:
        replicas = {name: f.start(name, config) for name in ("a", "b", "c")}
        assert wait_for(lambda: _first_running(engine) is not None, 30)
        victim_row = _first_running(engine)
        assert victim_row is not None
        replicas[victim_row.owner].signal(signal.SIGKILL)

        def recovered() -> bool:
            return any(r.trigger == "recovery" and r.status == "succeeded" for r in runs_of(engine))

        assert wait_for(recovered, 15), [(r.trigger, r.status, r.owner, r.error) for r in runs_of(engine)]
    rows = runs_of(engine)
    killed = next(r for r in rows if r.id == victim_row.id)
    assert killed.status == "abandoned"
    recoveries = [r for r in rows if r.trigger == "recovery"]
    assert len(recoveries) == 1
    assert recoveries[0].scheduled_for == killed.scheduled_for
    assert recoveries[0].owner != killed.owner
    assert recoveries[0].fencing_token > killed.fencing_token
    runs_of_fire = [c for c in canary_rows(engine) if c.scheduled_for == killed.scheduled_for]
    assert [(c.trigger, c.executions) for c in runs_of_fire] == [("recovery", 1)]


def test_resumed_stale_replica_cannot_complete_the_run_it_lost(engine: sa.Engine, tmp_path: Path) -> None:
    config = write_config(
        tmp_path / "c.toml",
        """
[jobs.canary]
interval = "15s"
lease_ttl = "2s"
params = { seconds = 3 }
""",
    )
    with fleet(tmp_path, database_url=_url(engine)) as f:
        replicas = {name: f.start(name, config) for name in ("a", "b")}
        assert wait_for(lambda: _first_running(engine) is not None, 30)
        row = _first_running(engine)
        assert row is not None
        frozen = replicas[row.owner]
        frozen.signal(signal.SIGSTOP)

        def abandoned() -> bool:
            return any(r.id == row.id and r.status == "abandoned" for r in runs_of(engine))

        assert wait_for(abandoned, 10)
        frozen.signal(signal.SIGCONT)
        time.sleep(5)  # the resumed job finishes its sleep and tries to write and to complete
        assert f.stop_all() == [0, 0]
    final = next(r for r in runs_of(engine) if r.id == row.id)
    assert final.status == "abandoned"
    assert not [c for c in canary_rows(engine) if c.scheduled_for == row.scheduled_for]
    assert "completion_refused" in frozen.log() or "run_taken_over" in frozen.log()


def test_sigterm_lets_the_running_job_finish_and_exits_0(engine: sa.Engine, tmp_path: Path) -> None:
    config = write_config(
        tmp_path / "c.toml",
        """
[jobs.canary]
interval = "10s"
lease_ttl = "5s"
params = { seconds = 3 }
""",
    )
    with fleet(tmp_path, database_url=_url(engine), shutdown_grace="20s") as f:
        replica = f.start("only", config)
        assert wait_for(lambda: _first_running(engine) is not None, 25)
        row = _first_running(engine)
        assert row is not None
        replica.signal(signal.SIGTERM)
        assert replica.wait(30) == 0
    final = next(r for r in runs_of(engine) if r.id == row.id)
    assert final.status == "succeeded"


def test_downtime_across_ten_fires_gives_one_catch_up_run(engine: sa.Engine, tmp_path: Path) -> None:
    config = write_config(
        tmp_path / "c.toml",
        """
[jobs.canary]
interval = "1s"
lease_ttl = "5s"
misfire_grace = "1s"
catchup = true
""",
    )
    with fleet(tmp_path, database_url=_url(engine)) as f:
        first = f.start("first", config)
        assert wait_for(lambda: sum(r.status == "succeeded" for r in runs_of(engine)) >= 2, 20)
        first.signal(signal.SIGTERM)
        assert first.wait(30) == 0
        before = max(r.scheduled_for for r in runs_of(engine))
        time.sleep(12)
        second = f.start("second", config)
        assert wait_for(lambda: any(r.owner == "second" and r.status == "succeeded" for r in runs_of(engine)), 20)
        time.sleep(2)
        second.signal(signal.SIGTERM)
        assert second.wait(30) == 0
    rows = runs_of(engine)
    # The downtime's coalesced fires (a first replica that starts just after a fire's second records that
    # fire as coalesced too, before the downtime: not part of what is checked here).
    coalesced = sorted(
        r.scheduled_for
        for r in rows
        if r.status == "skipped" and "coalesced" in (r.error or "") and r.scheduled_for > before
    )
    assert len(coalesced) >= 9, [(r.scheduled_for, r.status, r.error) for r in rows]
    catch_up_time = coalesced[-1] + timedelta(seconds=1)  # the newest missed fire is the one that runs
    gap = [r for r in rows if before < r.scheduled_for <= catch_up_time]
    assert [r.scheduled_for for r in gap if r.status == "skipped"] == coalesced  # every missed fire recorded
    ran = [r for r in gap if r.status != "skipped"]
    assert [(r.scheduled_for, r.status, r.owner) for r in ran] == [(catch_up_time, "succeeded", "second")]
    assert len(gap) == len(coalesced) + 1 >= 10


def test_lock_server_down_at_acquire_never_runs_unguarded(engine: sa.Engine, tmp_path: Path) -> None:
    config = write_config(
        tmp_path / "c.toml",
        """
[jobs.canary]
interval = "1s"
lease_ttl = "5s"
""",
    )
    with fleet(tmp_path, database_url=_url(engine), lock_url="redis://127.0.0.1:1/0") as f:
        replica = f.start("only", config)
        assert wait_for(lambda: len(runs_of(engine)) >= 3, 30)
        assert replica.proc.poll() is None, "the replica keeps going"
        f.stop_all()
    rows = runs_of(engine)
    assert rows and all(r.status == "failed" and "lock backend unavailable" in (r.error or "") for r in rows)
    assert canary_rows(engine) == []


def test_forty_shards_on_four_replicas_each_run_once_and_are_shared(engine: sa.Engine, tmp_path: Path) -> None:
    shards = ", ".join(f'"s{i:02d}"' for i in range(40))
    config = write_config(
        tmp_path / "c.toml",
        f"""
max_concurrent = 2
[jobs.canary]
interval = "6s"
lease_ttl = "5s"
shards = [{shards}]
params = {{ seconds = 0.3 }}
""",
    )
    with fleet(tmp_path, database_url=_url(engine)) as f:
        for i in range(4):
            f.start(f"replica-{i}", config)
        # Judge only fires after every replica is up (a lone early replica rightly takes a whole fire).
        assert wait_for(lambda: all("scheduler_started" in r.log() for r in f.replicas), 60)
        with engine.connect() as conn:
            all_up = server_time(conn)
        time.sleep(20)
        assert f.stop_all() == [0, 0, 0, 0]
    rows = runs_of(engine)
    fires = sorted({r.scheduled_for for r in rows if r.scheduled_for > all_up})
    complete = [
        t
        for t in fires
        if {r.shard for r in rows if r.scheduled_for == t and r.status == "succeeded"}
        == {f"s{i:02d}" for i in range(40)}
    ]
    assert len(complete) >= 2, [(t, sum(r.scheduled_for == t for r in rows)) for t in fires]
    for t in complete:
        fire = [r for r in rows if r.scheduled_for == t]
        assert len(fire) == 40  # each shard once
        shares = Counter(r.owner for r in fire)
        assert max(shares.values()) <= 16, shares  # no replica ran more than 40%
