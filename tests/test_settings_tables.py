"""The ``[github]`` and ``[retention]`` tables: read from the TOML file, the GitHub keys also from their old
environment variables (which beat the file), secrets kept out of reprs, moved keys refused in one line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from conftest import cli_env, run_cli
from scrapesched.cli.app import secrets_of
from scrapesched.config.durations import format_duration, parse_duration
from scrapesched.config.errors import ConfigError
from scrapesched.config.github_settings import ENV_NAMES, GitHubSettings
from scrapesched.config.settings import Settings, environment_variables, load_settings

GITHUB_TOML = """
[github]
api_url = "https://ghe.example.com/api/v3"
token = "ghp_fromTheConfigFile0123456789"
max_wait = "10m"
rate_limit_reserve = 7
codecov_bot_logins = ["cov-a", "cov-b"]
"""


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in environment_variables():
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("SCRAPESCHED_CONFIG", raising=False)


def _load(tmp_path: Path, body: str) -> Settings:
    path = tmp_path / "c.toml"
    path.write_text(body)
    return load_settings(path)


def test_the_github_table_of_the_config_file_sets_settings_github(tmp_path: Path) -> None:
    github = _load(tmp_path, GITHUB_TOML).github
    assert github.api_url == "https://ghe.example.com/api/v3"
    assert github.token is not None and github.token.get_secret_value() == "ghp_fromTheConfigFile0123456789"
    assert (github.max_wait, github.rate_limit_reserve) == (600.0, 7)
    assert github.codecov_bot_logins == ["cov-a", "cov-b"]
    assert github.sync_overlap == 300.0  # untouched keys keep their defaults


def test_environment_beats_the_github_table_key_by_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCRAPESCHED_GITHUB_MAX_WAIT", "90s")
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_fromTheEnvironment0123456789")
    monkeypatch.setenv("SCRAPESCHED_CODECOV_BOT_LOGINS", "cov-env, other")
    github = _load(tmp_path, GITHUB_TOML).github
    assert github.max_wait == 90.0
    assert github.token is not None and github.token.get_secret_value() == "ghp_fromTheEnvironment0123456789"
    assert github.codecov_bot_logins == ["cov-env", "other"]
    assert github.api_url == "https://ghe.example.com/api/v3" and github.rate_limit_reserve == 7  # from the file


def test_scrapesched_github_token_beats_plain_github_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_plainOne0123456789")
    monkeypatch.setenv("SCRAPESCHED_GITHUB_TOKEN", "ghp_prefixedOne0123456789")
    token = load_settings().github.token
    assert token is not None and token.get_secret_value() == "ghp_prefixedOne0123456789"


VALUES = {
    "token": ("ghp_someToken0123456789", "ghp_someToken0123456789"),
    "tokens": ("ghp_a1234567,ghp_b1234567", "ghp_a1234567,ghp_b1234567"),
    "api_url": ("http://127.0.0.1:9/api", "http://127.0.0.1:9/api"),
    "app_id": ("12", 12),
    "app_private_key_file": ("/keys/app.pem", Path("/keys/app.pem")),
    "app_installation_id": ("34", 34),
    "trillian_bot_login": ("smoke-bot", "smoke-bot"),
    "codecov_bot_logins": ("a,b", ["a", "b"]),
    "sync_overlap": ("2m", 120.0),
    "max_wait": ("1h", 3600.0),
    "rate_limit_reserve": ("5", 5),
    "rate_limit_slowdown": ("55", 55),
    "secondary_wait": ("250ms", 0.25),
}


@pytest.mark.parametrize(("key", "env"), [(k, n) for k, names in ENV_NAMES.items() for n in names])
def test_every_documented_github_environment_variable_still_works(
    monkeypatch: pytest.MonkeyPatch, key: str, env: str
) -> None:
    raw, expected = VALUES[key]
    monkeypatch.setenv(env, raw)
    value = getattr(load_settings().github, key)
    assert (value.get_secret_value() if hasattr(value, "get_secret_value") else value) == expected
    assert environment_variables()[env] == f"github.{key}"


def test_every_github_key_has_an_environment_variable() -> None:
    assert set(ENV_NAMES) == set(GitHubSettings.model_fields) == set(VALUES)


def test_tokens_stay_out_of_reprs_and_into_the_redactor(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    token_file = tmp_path / "tokens"
    token_file.write_text("ghp_fileTokenOne0123456789\n\nghp_fileTokenTwo0123456789\n")
    monkeypatch.setenv("SCRAPESCHED_GITHUB_TOKENS", str(token_file))
    settings = _load(tmp_path, GITHUB_TOML)
    assert "ghp_" not in repr(settings) + str(settings) + repr(settings.github)
    assert settings.github.all_tokens() == [
        "ghp_fromTheConfigFile0123456789", "ghp_fileTokenOne0123456789", "ghp_fileTokenTwo0123456789",
    ]
    assert set(settings.github.all_tokens()) <= set(secrets_of(settings))


def test_a_bad_github_value_names_the_key_and_its_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCRAPESCHED_GITHUB_MAX_WAIT", "soon")
    with pytest.raises(ConfigError, match=r"^setting github\.max_wait \(SCRAPESCHED_GITHUB_MAX_WAIT\): 'soon' is not"):
        load_settings()


def test_the_retention_table_sets_how_long_rows_are_kept(tmp_path: Path) -> None:
    retention = _load(tmp_path, '[retention]\nsamples = "3d"\njob_runs = "12h"\nbatch_size = 50\n').retention
    assert (retention.samples, retention.job_runs, retention.batch_size) == (3 * 86400, 12 * 3600, 50)
    assert retention.hourly == 400 * 86400 and retention.etags == 30 * 86400 and retention.flush_ids == 7 * 86400


@pytest.mark.parametrize(
    ("toml", "new_key"),
    [
        ('[telemetry]\njob_runs_retention = "30d"\n', "'retention.job_runs'"),
        ('[telemetry]\nsamples_retention = "7d"\n', "'retention.samples'"),
        ("[telemetry]\nretention_batch_size = 10\n", "'retention.batch_size'"),
        ('github_api_url = "http://h"\n', "'github.api_url'"),
        ('trillian_bot_login = "bot"\n', "'github.trillian_bot_login'"),
    ],
)
def test_a_moved_key_is_a_one_line_error_naming_its_new_place(tmp_path: Path, toml: str, new_key: str) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(toml)
    result = run_cli("--config", str(cfg), "migrate", env=cli_env())
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert f"has moved to {new_key}" in lines[0]


def test_the_config_modules_import_no_circle() -> None:
    code = (
        "import sys; import scrapesched.config.telemetry_settings, scrapesched.config.github_settings, "
        "scrapesched.config.retention_settings; "
        "assert 'scrapesched.config.settings' not in sys.modules, 'a table model imports the settings'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("text", ["250ms", "1.5s", "30s", "1m30s", "5m", "1h30m", "7d", "400d"])
def test_durations_read_back_in_the_short_form_the_reference_prints(text: str) -> None:
    assert format_duration(parse_duration(text)) == text
