"""Secrets from files (``SCRAPESCHED_SECRETS_DIR``, or ``/run/secrets``), the way Docker and Kubernetes mount
them: read by the real CLI, beaten by the environment, and never printed, logged or stored."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from conftest import cli_env, run_cli
from scrapesched.testing.fake_github import FakeGitHub

PLANTED_TOKEN = "ghp_h3SecretFromAFile0123456789abcdefQRS"
PLANTED_PASSWORD = "pw-from-a-secret-file-7731"
REPO = "acme/widgets"


def _secrets(directory: Path, **files: str) -> Path:
    directory.mkdir()
    for name, value in files.items():
        (directory / name).write_text(value + "\n")
    return directory


def test_token_and_database_url_are_read_from_files_and_never_shown(tmp_path: Path) -> None:
    database = tmp_path / "from-secret.db"
    secrets = _secrets(
        tmp_path / "secrets",
        SCRAPESCHED_DATABASE_URL=f"sqlite:///{database}",
        GITHUB_TOKEN=PLANTED_TOKEN,
    )
    with FakeGitHub.seeded(repos=[REPO], prs_per_repo=3, seed=5, tokens=[PLANTED_TOKEN]) as fake:
        env = cli_env(secrets_dir=str(secrets), github_api_url=fake.url, repos=REPO, log_level="debug")
        assert run_cli("migrate", env=env).returncode == 0
        result = run_cli("run-once", "github_prs", "--shard", REPO, env=env)
        assert result.returncode == 0, result.stderr  # the fake accepts only the planted token: it was read
        status = run_cli("status", "--json", env=env)
    assert database.exists()  # the database URL came from its file
    for output in (result.stdout, result.stderr, status.stdout, status.stderr):
        assert PLANTED_TOKEN not in output and PLANTED_TOKEN[4:20] not in output
    engine = sa.create_engine(f"sqlite:///{database}")
    with engine.connect() as conn:
        for table in sa.inspect(conn).get_table_names():
            assert PLANTED_TOKEN not in repr(conn.execute(sa.text(f"SELECT * FROM {table}")).fetchall()), table
    engine.dispose()


def test_environment_beats_the_file_and_a_password_from_a_file_stays_hidden(tmp_path: Path) -> None:
    secrets = _secrets(
        tmp_path / "secrets", scrapesched_database_url=f"mysql://root:{PLANTED_PASSWORD}@127.0.0.1:3306/test"
    )
    refused = run_cli("status", env=cli_env(secrets_dir=str(secrets)))
    assert refused.returncode != 0
    lines = [line for line in refused.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in refused.stderr, refused.stderr
    assert "127.0.0.1" in lines[0] and PLANTED_PASSWORD not in refused.stdout + refused.stderr
    env_db = tmp_path / "from-env.db"
    chosen = run_cli("migrate", env=cli_env(secrets_dir=str(secrets), database_url=f"sqlite:///{env_db}"))
    assert chosen.returncode == 0 and env_db.exists()


def test_a_secrets_dir_that_is_not_a_directory_is_one_line(tmp_path: Path) -> None:
    result = run_cli("jobs", env=cli_env(secrets_dir=str(tmp_path / "missing")))
    assert result.returncode == 2
    missing = tmp_path / "missing"
    assert result.stderr.strip() == f"scrapesched: error: SCRAPESCHED_SECRETS_DIR: '{missing}' is not a directory"
