"""``run``, ``run-once``, ``jobs``, ``status`` and the health endpoints, through the real CLI."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from conftest import cli_env, run_cli, scrapesched_cmd
from replicas import canary_rows, runs_of, wait_for, write_config
from scrapesched.testing.local_servers import free_port


def _url(engine: sa.Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def _one_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip() and not line.startswith("{")]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ('[jobs.canary]\ncron = "61 * * * *"\n', "job canary: bad cron expression"),
        ('[jobs.nosuchjob]\ninterval = "1m"\n', "unknown job 'nosuchjob'"),
        ('[jobs.canary]\ninterval = "1m"\nparams = { colour = "red" }\n', "unknown parameter 'colour'"),
        ('[jobs.canary]\ninterval = "1m"\nparams = { seconds = "soon" }\n', "parameter seconds must be float"),
        ('[jobs.canary]\ninterval = "often"\n', "is not a duration"),
        ('[jobs.canary]\ninterval = "1m"\ntimezone = "Mars/Olympus"\n', "unknown time zone"),
        ('[jobs.canary]\ninterval = "1m"\noverlap = "sometimes"\n', "jobs.canary.overlap"),
    ],
)
def test_bad_schedule_config_exits_2_naming_it(tmp_path: Path, toml: str, expected: str) -> None:
    config = write_config(tmp_path / "c.toml", toml)
    result = run_cli("--config", str(config), "run", env=cli_env(database_url=f"sqlite:///{tmp_path}/x.db"))
    assert result.returncode == 2, result.stderr
    assert expected in _one_line(result.stderr)


def test_run_refuses_an_out_of_date_schema(tmp_path: Path) -> None:
    result = run_cli("run", "--allow-empty", env=cli_env(database_url=f"sqlite:///{tmp_path}/empty.db"))
    assert result.returncode == 1
    assert "run `scrapesched migrate`" in _one_line(result.stderr)


def test_run_with_database_down_exits_nonzero_naming_the_host() -> None:
    result = run_cli("run", "--allow-empty", env=cli_env(database_url="postgresql://u:Sekr1t-pw@127.0.0.1:1/db"))
    assert result.returncode == 1
    line = _one_line(result.stderr)
    assert "127.0.0.1:1/db" in line and "Sekr1t-pw" not in result.stderr


def test_run_once_succeeds_and_records_a_manual_run(engine: sa.Engine) -> None:
    result = run_cli("run-once", "canary", "--param", "seconds=0.1", env=cli_env(database_url=_url(engine)))
    assert result.returncode == 0, result.stderr
    assert "canary: succeeded" in result.stdout
    (run,) = runs_of(engine)
    assert (run.trigger, run.status) == ("manual", "succeeded")
    assert [c.executions for c in canary_rows(engine)] == [1]


def test_run_once_of_a_failing_job_exits_1(engine: sa.Engine) -> None:
    result = run_cli("run-once", "canary", "--param", "fail=true", env=cli_env(database_url=_url(engine)))
    assert result.returncode == 1
    (run,) = runs_of(engine)
    assert run.status == "failed" and "canary asked to fail" in run.error


def test_run_once_exits_75_while_another_replica_holds_the_shard(engine: sa.Engine, tmp_path: Path) -> None:
    env = cli_env(database_url=_url(engine))
    holder = subprocess.Popen(
        [*scrapesched_cmd(), "run-once", "canary", "--param", "seconds=60"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert wait_for(lambda: any(r.fencing_token for r in runs_of(engine)), 20)
        result = run_cli("run-once", "canary", env=env)
        assert result.returncode == 75, result.stderr
        assert "held by" in result.stdout and "until" in result.stdout
    finally:
        holder.terminate()  # the holder's run lasts a minute, so a slow machine cannot end it before the check
        holder.wait(timeout=30)
    assert holder.returncode == 143  # run-once cancelled by SIGTERM


@pytest.mark.parametrize(
    ("param", "expected"),
    [("colour=red", "unknown parameter"), ("seconds=x", "must be float"), ("novalue", "expected KEY=VALUE")],
)
def test_run_once_bad_parameter_exits_2(tmp_path: Path, param: str, expected: str) -> None:
    result = run_cli("run-once", "canary", "--param", param, env=cli_env(database_url=f"sqlite:///{tmp_path}/x.db"))
    assert result.returncode == 2
    assert expected in _one_line(result.stderr)


def test_run_once_unknown_job_exits_2(tmp_path: Path) -> None:
    result = run_cli("run-once", "nosuch", env=cli_env(database_url=f"sqlite:///{tmp_path}/x.db"))
    assert result.returncode == 2
    assert "unknown job 'nosuch'" in _one_line(result.stderr)


def test_jobs_lists_schedule_shards_and_next_fire(tmp_path: Path) -> None:
    config = write_config(tmp_path / "c.toml", '[jobs.canary]\ncron = "*/15 * * * *"\nshards = ["a", "b"]\n')
    result = run_cli("--config", str(config), "jobs", "--json")
    assert result.returncode == 0, result.stderr
    canary = next(j for j in json.loads(result.stdout) if j["job"] == "canary")
    assert canary["scheduled"] is True
    assert canary["shards"] == ["a", "b"]
    assert canary["next_fire"].endswith(("00:00", "15:00", "30:00", "45:00"))
    table = run_cli("--config", str(config), "jobs")
    assert "canary" in table.stdout and "cron */15 * * * *" in table.stdout


def test_status_reports_last_success_and_staleness(engine: sa.Engine, tmp_path: Path) -> None:
    config = write_config(tmp_path / "c.toml", '[jobs.canary]\ninterval = "1h"\n')
    env = cli_env(database_url=_url(engine))
    assert run_cli("run-once", "canary", env=env).returncode == 0
    result = run_cli("--config", str(config), "status", "--json", env=env)
    (row,) = [r for r in json.loads(result.stdout)["shards"] if r["job"] == "canary"]
    assert row["last_status"] == "succeeded" and row["last_success"] is not None
    assert row["stale"] is False and result.returncode == 0


def test_health_endpoints_and_metrics(engine: sa.Engine, tmp_path: Path) -> None:
    """The probes answer GET and HEAD; /metrics names the app's job `job_name` (Prometheus owns `job`), carries
    the process collectors and the build info, negotiates OpenMetrics and gzip, and reads the last success
    per shard from the database: a fresh replica that has run nothing yet reports a success another process
    recorded before it started."""
    import gzip

    env = cli_env(database_url=_url(engine))
    assert run_cli("run-once", "canary", "--shard", "earlier", env=env).returncode == 0  # before the replica
    port = free_port()
    config = write_config(tmp_path / "c.toml", '[jobs.canary]\ninterval = "1s"\nlease_ttl = "5s"\n')
    env = cli_env(database_url=_url(engine), http_port=str(port), http_host="127.0.0.1")
    proc = subprocess.Popen(
        [*scrapesched_cmd(), "--config", str(config), "run"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{port}"

        def up() -> bool:
            try:
                return httpx.get(base + "/healthz", timeout=1).status_code == 200
            except httpx.TransportError:
                return False

        assert wait_for(up, 30)
        assert httpx.get(base + "/readyz").status_code == 200
        for path in ("/healthz", "/readyz"):
            head = httpx.head(base + path)
            assert head.status_code == 200 and head.content == b"", path
        assert httpx.post(base + "/healthz").status_code == 405
        assert wait_for(
            lambda: 'scrapesched_runs_total{job_name="canary",status="succeeded"}' in httpx.get(base + "/metrics").text,
            20,
        )
        plain = httpx.get(base + "/metrics", headers={"Accept-Encoding": "identity"})
        assert plain.headers["content-type"].startswith("text/plain")
        metrics = plain.text
        assert 'job="' not in metrics  # no label that Prometheus would rename to exported_job
        assert 'scrapesched_run_duration_seconds_bucket{job_name="canary"' in metrics
        assert 'scrapesched_last_success_timestamp_seconds{job_name="canary",shard="earlier"}' in metrics
        assert 'scrapesched_last_success_timestamp_seconds{job_name="canary",shard=""}' in metrics
        assert "scrapesched_freshness_up 1.0" in metrics
        assert "process_resident_memory_bytes " in metrics and "python_info{" in metrics
        assert 'scrapesched_build_info{python_version="' in metrics
        assert "# TYPE scrapesched_runs_in_flight gauge" in metrics
        asks = {"Accept": "application/openmetrics-text; version=1.0.0", "Accept-Encoding": "gzip"}
        openmetrics = httpx.get(base + "/metrics", headers=asks)
        assert openmetrics.headers["content-type"].startswith("application/openmetrics-text")
        assert openmetrics.headers["content-encoding"] == "gzip"
        assert openmetrics.text.rstrip().endswith("# EOF")  # httpx decoded the gzip body
        with httpx.stream("GET", base + "/metrics", headers={"Accept-Encoding": "gzip"}) as raw:
            assert gzip.decompress(b"".join(raw.iter_raw())).startswith(b"# HELP")
    finally:
        proc.terminate()
        assert proc.wait(timeout=30) == 0


def test_status_flags_a_shard_with_no_success_for_two_intervals(engine: sa.Engine, tmp_path: Path) -> None:
    from datetime import UTC, datetime, timedelta

    from scrapesched.db.schema import job_runs

    config = write_config(tmp_path / "c.toml", '[jobs.canary]\ninterval = "1h"\nshards = ["old", "fresh", "never"]\n')
    now = datetime.now(UTC)
    base = {"job_name": "canary", "trigger": "schedule", "owner": "r1", "lease_ttl_s": 30.0}
    with engine.begin() as conn:
        conn.execute(
            job_runs.insert(),
            [
                {
                    **base,
                    "shard": "old",
                    "scheduled_for": now - timedelta(hours=3),
                    "status": "succeeded",
                    "started_at": now - timedelta(hours=3),
                    "finished_at": now - timedelta(hours=3),
                },
                {
                    **base,
                    "shard": "fresh",
                    "scheduled_for": now - timedelta(minutes=5),
                    "status": "succeeded",
                    "started_at": now - timedelta(minutes=5),
                    "finished_at": now - timedelta(minutes=5),
                },
                {
                    **base,
                    "shard": "never",
                    "scheduled_for": now - timedelta(hours=3),
                    "status": "failed",
                    "started_at": now - timedelta(hours=3),
                    "finished_at": now - timedelta(hours=3),
                },
            ],
        )
    result = run_cli("--config", str(config), "status", "--json", env=cli_env(database_url=_url(engine)))
    stale = {r["shard"]: r["stale"] for r in json.loads(result.stdout)["shards"]}
    assert stale == {"old": True, "fresh": False, "never": True}
    assert result.returncode == 1  # scripts can alert on it
