"""Bad input a new operator hits, through the real CLI: each is exit 2 and one line naming what to fix.

- strict setting types: a boolean where a duration, number or string belongs, a string or number where a
  boolean belongs (environment variables stay strings: ``SCRAPESCHED_X=true`` is still a boolean);
- a database or lock URL whose driver is not installed (the import fails in the subprocess);
- ``run`` with nothing scheduled, unless ``--allow-empty``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import REPO_ROOT, cli_env, run_cli, scrapesched_cmd
from scrapesched.config.settings import Settings, load_settings
from scrapesched.config.strict import Flag


def _one_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr and "internal error" not in stderr
    return lines[0]


def _config(tmp_path: Path, body: str) -> str:
    path = tmp_path / "c.toml"
    path.write_text(body)
    return str(path)


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        (
            "[jobs.github_prs]\ninterval = true\n",
            'setting jobs.github_prs.interval: expected a duration ("30s", "5m" or seconds), got true',
        ),
        ('[jobs.canary]\ninterval = "1m"\nlease_ttl = true\n', "setting jobs.canary.lease_ttl: expected a duration"),
        ('[jobs.canary]\ninterval = "1m"\nmisfire_grace = false\n', "jobs.canary.misfire_grace: expected a duration"),
        ('[jobs.canary]\ninterval = "1m"\ncatchup = "yes"\n', 'jobs.canary.catchup: expected true or false, got "yes"'),
        ('[jobs.canary]\ninterval = "1m"\nrecover = 1\n', "jobs.canary.recover: expected true or false, got 1"),
        ('[jobs.canary]\ninterval = "1m"\nenabled = "no"\n', 'jobs.canary.enabled: expected true or false, got "no"'),
        ("[jobs.canary]\ncron = true\n", "jobs.canary.cron: expected a string, got true"),
        ('[jobs.canary]\ninterval = "1m"\ntimezone = false\n', "jobs.canary.timezone: expected a string, got false"),
        ("max_concurrent = true\n", "setting max_concurrent (SCRAPESCHED_MAX_CONCURRENT): expected a whole number"),
        ("shutdown_grace = true\n", "setting shutdown_grace (SCRAPESCHED_SHUTDOWN_GRACE): expected a duration"),
        (
            "db_connect_timeout = true\n",
            "setting db_connect_timeout (SCRAPESCHED_DB_CONNECT_TIMEOUT): expected a number",
        ),
        ("[github]\napp_id = true\n", "setting github.app_id (SCRAPESCHED_GITHUB_APP_ID): expected a whole number"),
        ("[retention]\nbatch_size = true\n", "setting retention.batch_size: expected a whole number"),
        ("[retention]\nsamples = false\n", "setting retention.samples: expected a duration"),
        ("[telemetry]\nflush_interval = true\n", "setting telemetry.flush_interval: expected a duration"),
    ],
)
def test_wrong_toml_type_exits_2_naming_the_setting(tmp_path: Path, toml: str, expected: str) -> None:
    env = cli_env(database_url=f"sqlite:///{tmp_path}/x.db")
    result = run_cli("--config", _config(tmp_path, toml), "run", env=env)
    assert result.returncode == 2, result.stderr
    line = _one_line(result.stderr)
    assert line.startswith("scrapesched: error: ") and expected in line, line


def test_wrong_type_in_the_jobs_environment_variable_exits_2(tmp_path: Path) -> None:
    env = cli_env(database_url=f"sqlite:///{tmp_path}/x.db", jobs='{"canary": {"interval": true}}')
    result = run_cli("jobs", env=env)
    assert result.returncode == 2, result.stderr
    assert "jobs.canary.interval: expected a duration" in _one_line(result.stderr)


def test_typed_toml_values_still_load(tmp_path: Path) -> None:
    toml = '[jobs.canary]\ninterval = 90\nlease_ttl = "2m"\ncatchup = false\nrecover = true\nenabled = false\n'
    settings = load_settings(_config(tmp_path, toml), database_url=f"sqlite:///{tmp_path}/x.db")
    job = settings.jobs["canary"]
    assert (job.interval, job.lease_ttl, job.catchup, job.recover, job.enabled) == (90.0, 120.0, False, True, False)


class _WithFlags(Settings):
    verbose: Flag = False
    quiet: Flag | None = None


def test_boolean_settings_from_the_environment_are_strings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCRAPESCHED_VERBOSE", "true")
    monkeypatch.setenv("SCRAPESCHED_QUIET", "no")
    settings = _WithFlags()
    assert settings.verbose is True and settings.quiet is False


# --- a driver that is not installed ----------------------------------------------------------------------


def _without(tmp_path: Path, module: str, **settings: str) -> dict[str, str]:
    """The environment of a subprocess in which ``import MODULE`` fails as if the package were not installed."""
    shadow = tmp_path / "shadow" / module
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text(f"raise ModuleNotFoundError(\"No module named '{module}'\", name={module!r})\n")
    env = cli_env(**settings)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(shadow.parent), env.get("PYTHONPATH", "")) if p)
    return env


@pytest.mark.parametrize(
    ("module", "url", "expected"),
    [
        (
            "psycopg",
            "postgresql://u:pw@127.0.0.1:1/db",
            "needs the PostgreSQL driver: pip install 'scrapesched[postgres]'",
        ),
        ("pymysql", "mysql://u:pw@127.0.0.1:1/db", "needs the MySQL/MariaDB driver: pip install 'scrapesched[mysql]'"),
    ],
)
def test_database_url_without_its_driver_exits_2_naming_the_extra(
    tmp_path: Path, module: str, url: str, expected: str
) -> None:
    result = run_cli("migrate", env=_without(tmp_path, module, database_url=url))
    assert result.returncode == 2, result.stderr
    line = _one_line(result.stderr)
    assert line == f"scrapesched: error: the database URL {expected}", line
    assert "pw@" not in result.stderr


@pytest.mark.parametrize(
    ("module", "url", "expected"),
    [
        ("redis", "redis://127.0.0.1:1/0", "needs the Redis client: pip install 'scrapesched[redis]'"),
        ("pymysql", "mysql://u:pw@127.0.0.1:1/db", "needs the MySQL/MariaDB driver: pip install 'scrapesched[mysql]'"),
        (
            "psycopg",
            "postgresql://u:pw@127.0.0.1:1/db",
            "needs the PostgreSQL driver: pip install 'scrapesched[postgres]'",
        ),
    ],
)
def test_lock_url_without_its_driver_exits_2_naming_the_extra(
    tmp_path: Path, module: str, url: str, expected: str
) -> None:
    database_url = f"sqlite:///{tmp_path}/x.db"
    migrated = run_cli("migrate", env=cli_env(database_url=database_url))
    assert migrated.returncode == 0, migrated.stderr
    result = run_cli("status", env=_without(tmp_path, module, database_url=database_url, lock_url=url))
    assert result.returncode == 2, result.stderr
    line = _one_line(result.stderr)
    assert line == f"scrapesched: error: the lock URL {expected}", line


# --- run with nothing scheduled ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "toml",
    [
        "",
        '[jobs.canary]\ninterval = "1m"\nenabled = false\n[jobs.github_prs]\ncron = "0 * * * *"\nenabled = false\n',
    ],
    ids=["no-jobs", "all-disabled"],
)
def test_run_with_nothing_scheduled_exits_2_saying_so(tmp_path: Path, toml: str) -> None:
    env = cli_env(database_url=f"sqlite:///{tmp_path}/x.db")
    result = run_cli("--config", _config(tmp_path, toml), "run", env=env)
    assert result.returncode == 2, result.stderr
    line = _one_line(result.stderr)
    assert "nothing is scheduled" in line and "[jobs.NAME]" in line and "--allow-empty" in line


def test_run_allow_empty_runs_and_says_nothing_is_scheduled(tmp_path: Path) -> None:
    env = cli_env(database_url=f"sqlite:///{tmp_path}/x.db", log_format="json")
    assert run_cli("migrate", env=env).returncode == 0
    log = tmp_path / "run.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*scrapesched_cmd(), "run", "--allow-empty"], env=env, stdout=out, stderr=subprocess.STDOUT, cwd=REPO_ROOT
        )
    try:
        deadline = time.monotonic() + 60
        while "nothing_scheduled" not in log.read_text() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert proc.poll() is None, log.read_text()
        assert log.read_text().count("nothing_scheduled") == 1, log.read_text()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    assert proc.returncode == 0, log.read_text()
