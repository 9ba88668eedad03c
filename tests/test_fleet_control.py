"""Fleet-wide control and replica visibility with real ``scrapesched run`` processes on real servers:
``pause``/``resume`` reach every replica, a ``trigger`` runs once across the fleet, ``status`` lists live
and silent replicas in 80 columns, ``check`` reports a replica gone silent."""

from __future__ import annotations

import json
import re
import signal
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from conftest import REDIS_URL, cli_env, run_cli
from replicas import canary_rows, fleet, runs_of, wait_for, write_config
from scrapesched.db.clock import server_time
from scrapesched.db.schema import triggers
from scrapesched.scheduler.replicas import listing as replica_listing

pytestmark = pytest.mark.slow


def _url(engine: sa.Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def _settings(backend: str, engine: sa.Engine, redis_prefix: str) -> dict[str, str]:
    lock = {"sqlite": "table", "mariadb": f"{REDIS_URL}?prefix={redis_prefix}", "postgres": _url(engine)}[backend]
    return {"database_url": _url(engine), "lock_url": lock}


def _now(engine: sa.Engine):  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return server_time(conn)


def test_pause_from_the_cli_stops_the_shard_on_every_replica_until_resumed(
    engine: sa.Engine, backend: str, redis_prefix: str, tmp_path: Path
) -> None:
    config = write_config(
        tmp_path / "c.toml",
        '[jobs.canary]\ninterval = "1s"\nlease_ttl = "3s"\nshards = ["a", "b"]\nparams = { seconds = 0.1 }\n',
    )
    settings = _settings(backend, engine, redis_prefix)
    env = cli_env(**settings)
    with fleet(tmp_path, **settings) as f:
        replicas = [f.start(f"r{i}", config) for i in range(2)]
        assert wait_for(lambda: all(r.started() for r in replicas), 120), [r.log()[-1500:] for r in replicas]
        paused = run_cli("--config", str(config), "pause", "canary", "--shard", "a", "--reason", "db upgrade", env=env)
        assert paused.returncode == 0, paused.stderr
        assert wait_for(lambda: all("pause_seen" in r.log() for r in replicas), 10)
        since = _now(engine) + timedelta(seconds=1)

        def fires_of_a_after(when):  # type: ignore[no-untyped-def]
            return [r for r in runs_of(engine) if r.shard == "a" and r.scheduled_for >= when]

        assert wait_for(lambda: len(fires_of_a_after(since)) >= 3, 30)
        resuming = _now(engine)
        resumed = run_cli("--config", str(config), "resume", "canary", env=env)
        assert resumed.returncode == 0, resumed.stderr
        assert wait_for(lambda: all("pause_lifted" in r.log() for r in replicas), 10)
        after = _now(engine) + timedelta(seconds=1)
        assert wait_for(lambda: any(r.status == "succeeded" for r in fires_of_a_after(after)), 30)
        assert f.stop_all() == [0, 0]
    during = [r for r in fires_of_a_after(since) if r.scheduled_for < resuming]
    assert during and {r.status for r in during} == {"skipped"}
    assert all(r.error.startswith("paused by ") and "db upgrade" in r.error for r in during)
    ran = {c.scheduled_for for c in canary_rows(engine) if c.shard == "a"}
    assert not ran & {r.scheduled_for for r in during}, "a paused fire ran"
    assert any(r.status == "succeeded" and since <= r.scheduled_for for r in runs_of(engine) if r.shard == "b")


def test_a_trigger_runs_once_across_three_replicas(
    engine: sa.Engine, backend: str, redis_prefix: str, tmp_path: Path
) -> None:
    config = write_config(  # scheduled once a year: only the trigger runs during the test
        tmp_path / "c.toml", '[jobs.canary]\ncron = "0 0 1 1 *"\nlease_ttl = "3s"\nshards = ["a", "b"]\n'
    )
    settings = _settings(backend, engine, redis_prefix)
    env = cli_env(**settings)
    with fleet(tmp_path, **settings) as f:
        replicas = [f.start(f"r{i}", config) for i in range(3)]
        assert wait_for(lambda: all(r.started() for r in replicas), 120), [r.log()[-1500:] for r in replicas]
        result = run_cli("--config", str(config), "trigger", "canary", "--param", "seconds=0.5", env=env)
        assert result.returncode == 0, result.stderr
        assert "triggered canary [a, b]" in result.stdout

        def manual() -> list[sa.Row[object]]:
            return [r for r in runs_of(engine) if r.trigger == "manual"]

        assert wait_for(lambda: Counter(r.status for r in manual())["succeeded"] == 2, 30), manual()
        def pending() -> sa.Row[object] | None:  # a new connection each time: on SQLite one read transaction
            with engine.connect() as conn:  # would keep seeing the snapshot of its first read
                return conn.execute(sa.select(triggers)).first()

        assert wait_for(lambda: pending() is None, 5)  # every replica polls once a second: all had their chance
        assert f.stop_all() == [0, 0, 0]
    rows = manual()
    assert sorted(r.shard for r in rows) == ["a", "b"] and {r.status for r in rows} == {"succeeded"}
    executions = Counter((c.shard, c.trigger) for c in canary_rows(engine) for _ in range(c.executions))
    assert executions == {("a", "manual"): 1, ("b", "manual"): 1}


AGE = re.compile(r"^(-|\d+[smhd]|in \d+[smhd])$")


def test_status_shows_live_and_silent_replicas_in_80_columns_and_check_reports_the_silent_one(
    engine: sa.Engine, backend: str, redis_prefix: str, tmp_path: Path
) -> None:
    config = write_config(
        tmp_path / "c.toml",
        '[jobs.canary]\ninterval = "1s"\nlease_ttl = "3s"\n'
        'shards = ["apache/cloudstack-documentation", "acme/widgets"]\nparams = { seconds = 0.3 }\n',
    )
    settings = _settings(backend, engine, redis_prefix)
    env = cli_env(**settings)
    narrow = {**env, "COLUMNS": "80"}

    def replicas_by_state() -> dict[str, str]:
        doc = json.loads(run_cli("--config", str(config), "status", "--json", env=env).stdout)
        return {r["instance_id"]: r["state"] for r in doc["replicas"]}

    def states_in_the_database() -> dict[str, str]:  # polled while waiting: a CLI process per poll is slow
        with engine.connect() as conn:
            return {r.instance_id: r.state for r in replica_listing(conn)}

    with fleet(tmp_path, **settings) as f:
        keeper, victim = f.start("keeper-replica", config), f.start("victim-replica", config)
        assert wait_for(lambda: keeper.started() and victim.started(), 120)
        assert wait_for(lambda: states_in_the_database() == {"keeper-replica": "live", "victim-replica": "live"}, 20)
        assert replicas_by_state() == {"keeper-replica": "live", "victim-replica": "live"}
        victim.signal(signal.SIGKILL)
        victim.wait()
        assert wait_for(lambda: states_in_the_database().get("victim-replica") == "silent", 60)
        text = run_cli("--config", str(config), "status", env=narrow)
        assert text.returncode in (0, 1), text.stderr
        lines = text.stdout.splitlines()
        assert max(len(line.rstrip()) for line in lines) <= 80, text.stdout
        assert re.match(r"database time \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ;", lines[0])
        assert re.match(r"replicas: \d live, [12] silent, 0 stopped$", lines[1]), lines[1]
        silent = next(line.split() for line in lines if line.startswith("victim-replica"))
        assert silent[1] == "SILENT" and AGE.match(silent[-2]), silent  # seen: a whole age, not a cut date
        assert "\u2026" not in text.stdout  # long names and errors wrap, nothing is cut with an ellipsis
        check = run_cli("--config", str(config), "check", "--json", env=env)
        assert check.returncode == 1, check.stdout + check.stderr
        problems = json.loads(check.stdout)["problems"]
        assert "victim-replica" in [p["replica"] for p in problems if p["check"] == "silent_replicas"]
        assert f.stop_all() == [0, -9]
    assert replicas_by_state() == {"keeper-replica": "stopped", "victim-replica": "silent"}


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("pause", "nosuch"), "unknown job 'nosuch'"),
        (("resume", "canary", "--shard", "zz"), "job canary has no shard 'zz' (shards: a, b)"),
        (("trigger", "canary", "--shard", "zz"), "job canary has no shard 'zz'"),
        (("trigger", "canary", "--param", "colour=red"), "unknown parameter 'colour'"),
    ],
)
def test_control_commands_refuse_unknown_jobs_shards_and_parameters(
    tmp_path: Path, args: tuple[str, ...], expected: str
) -> None:
    config = write_config(tmp_path / "c.toml", '[jobs.canary]\ninterval = "1h"\nshards = ["a", "b"]\n')
    result = run_cli("--config", str(config), *args, env=cli_env(database_url=f"sqlite:///{tmp_path}/x.db"))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and expected in result.stderr, result.stderr


def test_a_pause_and_a_pending_trigger_show_in_status_and_jobs(tmp_path: Path) -> None:
    config = write_config(tmp_path / "c.toml", '[jobs.canary]\ninterval = "1h"\nshards = ["a", "b"]\n')
    env = cli_env(database_url=f"sqlite:///{tmp_path}/x.db")
    assert run_cli("migrate", env=env).returncode == 0
    assert run_cli("--config", str(config), "pause", "canary", "--reason", "db upgrade", env=env).returncode == 0
    triggered = run_cli("--config", str(config), "trigger", "canary", "--shard", "b", env=env)
    assert "canary [b] paused: runs once resumed" in triggered.stdout, triggered.stdout  # no replica runs it
    status = json.loads(run_cli("--config", str(config), "status", "--json", env=env).stdout)
    by_shard = {s["shard"]: s for s in status["shards"]}
    assert by_shard["a"]["paused"]["reason"] == "db upgrade" and by_shard["a"]["paused"]["shard"] == ""
    assert by_shard["b"]["pending_triggers"] == 1 and by_shard["a"]["pending_triggers"] == 0
    jobs = json.loads(run_cli("--config", str(config), "jobs", "--json", env=env).stdout)
    canary = next(j for j in jobs if j["job"] == "canary")
    assert [p["shard"] for p in canary["paused"]] == [""] and [t["shard"] for t in canary["pending_triggers"]] == ["b"]
    resumed = run_cli("--config", str(config), "resume", "canary", "--shard", "a", env=env)
    assert "canary [a] was not paused" in resumed.stdout and "still paused as a whole" in resumed.stdout
