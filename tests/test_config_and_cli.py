"""Settings, CLI basics and error lines, run through the real ``scrapesched`` command in a subprocess."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from conftest import cli_env, run_cli
from scrapesched.config.errors import ConfigError
from scrapesched.config.settings import load_settings


def test_environment_beats_the_config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('log_level = "debug"\ndb_batch_size = 7\n')
    monkeypatch.setenv("SCRAPESCHED_DB_BATCH_SIZE", "9")
    settings = load_settings(cfg)
    assert settings.log_level == "debug"
    assert settings.db_batch_size == 9


def test_config_file_from_environment_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text("db_batch_size = 11\n")
    monkeypatch.setenv("SCRAPESCHED_CONFIG", str(cfg))
    assert load_settings().db_batch_size == 11


@pytest.mark.parametrize(
    ("url", "driver"),
    [
        ("mysql://u:p@db/x", "mysql+pymysql"),
        ("mariadb://u:p@db/x", "mysql+pymysql"),
        ("postgresql://u:p@db/x", "postgresql+psycopg"),
        ("postgres://u:p@db/x", "postgresql+psycopg"),
        ("sqlite:///x.db", "sqlite"),
        ("mysql+pymysql://u:p@db/x", "mysql+pymysql"),
    ],
)
def test_plain_schemes_pick_our_drivers(url: str, driver: str) -> None:
    assert load_settings(database_url=url).database_url.startswith(driver + "://")


def test_default_database_is_a_local_sqlite_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SCRAPESCHED_DATABASE_URL", raising=False)
    monkeypatch.delenv("SCRAPESCHED_CONFIG", raising=False)
    assert load_settings().database_url == "sqlite:///scrapesched.db"


def test_unknown_url_scheme_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"database_url.*unsupported database 'oracle'"):
        load_settings(database_url="oracle://u:p@h/x")


def _one_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


@pytest.mark.parametrize(
    ("toml", "env", "expected"),
    [
        ("bogus_key = 1\n", {}, "unknown setting 'bogus_key'"),
        ("db_batch_size = 'many'\n", {}, "setting db_batch_size"),
        ("", {"database_url": "::not a url"}, "setting database_url"),
        ("", {"log_level": "loud"}, "setting log_level"),
        ("this is [ not toml", {}, "is not valid TOML"),
    ],
)
def test_bad_configuration_exits_2_with_one_line(
    tmp_path: Path, toml: str, env: dict[str, str], expected: str
) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(toml)
    result = run_cli("--config", str(cfg), "migrate", env=cli_env(**env))
    assert result.returncode == 2
    assert expected in _one_line(result.stderr)


def test_missing_config_file_exits_2(tmp_path: Path) -> None:
    result = run_cli("--config", str(tmp_path / "nope.toml"), "migrate")
    assert result.returncode == 2
    assert "nope.toml' not found" in _one_line(result.stderr)


@pytest.mark.parametrize(
    "url",
    ["mysql://scraper:Pl4nted-S3cret@127.0.0.1:1/x", "postgresql://scraper:Pl4nted-S3cret@127.0.0.1:1/x"],
)
def test_unreachable_database_names_the_host_never_the_password(url: str) -> None:
    result = run_cli("migrate", env=cli_env(database_url=url))
    assert result.returncode != 0
    assert "127.0.0.1:1/x" in _one_line(result.stderr)
    assert "Pl4nted-S3cret" not in result.stderr + result.stdout
    # Debug logging adds the libraries' own lines: still no password in any of them.
    verbose = run_cli("--log-level", "debug", "migrate", env=cli_env(database_url=url))
    assert verbose.returncode != 0
    assert "Traceback" not in verbose.stderr
    assert "Pl4nted-S3cret" not in verbose.stderr + verbose.stdout


def test_help_and_version_work() -> None:
    helped = run_cli("--help")
    assert helped.returncode == 0
    assert "migrate" in helped.stdout
    versioned = run_cli("--version")
    assert versioned.returncode == 0
    assert "scrapesched, version" in versioned.stdout


def test_unknown_command_is_a_usage_error() -> None:
    result = run_cli("frobnicate")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("url", "marker"),
    [
        ("sqlite:///x.db", "CREATE TABLE pr_states"),
        ("mysql://u@h/x", "VARCHAR(140) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin"),
        ("postgresql://u@h/x", "BIGSERIAL"),
    ],
)
def test_migrate_sql_prints_ddl_without_connecting(url: str, marker: str) -> None:
    result = run_cli("migrate", "--sql", env=cli_env(database_url=url))
    assert result.returncode == 0, result.stderr
    assert marker in result.stdout
    assert "uq_test_results" in result.stdout


def test_migrate_sql_for_sqlite_builds_a_database_at_head(tmp_path: Path) -> None:
    result = run_cli("migrate", "--sql", env=cli_env(database_url=f"sqlite:///{tmp_path}/printed.db"))
    assert result.returncode == 0, result.stderr
    with sqlite3.connect(tmp_path / "applied.db") as conn:
        conn.executescript(result.stdout)
    checked = run_cli("check", env=cli_env(database_url=f"sqlite:///{tmp_path}/applied.db"))
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_logs_are_json_lines_when_not_a_terminal(tmp_path: Path) -> None:
    result = run_cli("migrate", env=cli_env(database_url=f"sqlite:///{tmp_path / 'a.db'}"))
    assert result.returncode == 0, result.stderr
    import json

    events = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    assert any(e["event"] == "migrated" and e["after"] for e in events)
