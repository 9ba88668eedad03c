"""``scrapesched check`` through the real CLI: exit 0 and ``ok`` on a clean database; exit 1 naming the
table and key of a dropped UNIQUE key and of duplicate rows, the job and shard of a run stuck past its
lease and of a stale shard; exit 1 with one line when the schema is not at head."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from conftest import cli_env, run_cli
from replicas import write_config
from scrapesched.db.schema import job_runs, pr_health_labels


def _url(engine: sa.Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def test_clean_database_is_ok(engine: sa.Engine) -> None:
    result = run_cli("check", "--json", env=cli_env(database_url=_url(engine)))
    doc = json.loads(result.stdout)
    assert result.returncode == 0, result.stderr
    assert doc["ok"] is True and doc["problems"] == []
    assert doc["checked"] == ["schema", "unique_keys", "duplicates", "stuck_runs", "stale_shards", "silent_replicas"]


def _drop_key_and_duplicate(engine: sa.Engine) -> None:
    drop = "DROP INDEX" if engine.dialect.name in ("mysql", "mariadb") else "DROP CONSTRAINT"
    now = datetime.now(UTC)
    row = {"repo": "acme/gadgets", "pr_number": 7, "label_name": "lgtm", "updated_at": now}
    with engine.begin() as conn:
        conn.execute(sa.text(f"ALTER TABLE pr_health_labels {drop} uq_pr_health_labels"))
        conn.execute(
            pr_health_labels.insert(),
            [row, row, row, {**row, "pr_number": 8}, {**row, "pr_number": 8}, {**row, "pr_number": 9}],
        )


def test_broken_database_lists_each_problem(engine: sa.Engine, tmp_path: Path) -> None:
    """A stuck run and a stale shard on every backend; a dropped key and duplicates where DDL can drop it
    (SQLite keeps UNIQUE constraints inside CREATE TABLE)."""
    now = datetime.now(UTC)
    with engine.begin() as conn:
        conn.execute(
            job_runs.insert(),
            {
                "job_name": "canary",
                "shard": "s1",
                "scheduled_for": now - timedelta(hours=3),
                "trigger": "schedule",
                "status": "running",
                "owner": "gone-replica",
                "lease_ttl_s": 30.0,
                "started_at": now - timedelta(hours=3),
                "heartbeat_at": now - timedelta(hours=1),
            },
        )
    sqlite = engine.dialect.name == "sqlite"
    if not sqlite:
        _drop_key_and_duplicate(engine)
    config = write_config(tmp_path / "c.toml", '[jobs.canary]\ninterval = "1h"\nshards = ["s1"]\n')
    env = cli_env(database_url=_url(engine))
    result = run_cli("--config", str(config), "check", "--json", env=env)
    assert result.returncode == 1, result.stderr
    doc = json.loads(result.stdout)
    assert doc["ok"] is False
    by_check = {p["check"]: p for p in doc["problems"]}
    assert set(by_check) == (
        {"stuck_runs", "stale_shards"} if sqlite else {"stuck_runs", "stale_shards", "unique_keys", "duplicates"}
    )
    assert (by_check["stuck_runs"]["job"], by_check["stuck_runs"]["shard"]) == ("canary", "s1")
    assert "gone-replica" in by_check["stuck_runs"]["detail"]
    assert (by_check["stale_shards"]["job"], by_check["stale_shards"]["shard"]) == ("canary", "s1")
    if not sqlite:
        key = "repo,pr_number,label_name"
        assert (by_check["unique_keys"]["table"], by_check["unique_keys"]["key"]) == ("pr_health_labels", key)
        assert (by_check["duplicates"]["table"], by_check["duplicates"]["key"]) == ("pr_health_labels", key)
        assert by_check["duplicates"]["detail"].startswith("2 duplicated keys in 5 rows")
        plain = run_cli("--config", str(config), "check", env=env)
        assert plain.returncode == 1
        assert "duplicates: table=pr_health_labels key=repo,pr_number,label_name: 2 duplicated keys" in plain.stdout


def test_database_not_at_head(db_url: str) -> None:
    result = run_cli("check", env=cli_env(database_url=db_url))
    assert result.returncode == 1, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("schema: database schema is empty, this version needs ")
    assert lines[-1] == "1 problem(s); checked: schema"
    assert "Traceback" not in result.stderr
