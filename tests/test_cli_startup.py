"""Fast start-up (issue 16): a command imports only what it uses. ``--help`` loads neither pydantic, structlog
nor SQLAlchemy; ``jobs`` and ``status`` list every job without importing a job's module, what it runs with,
the GitHub client or httpx (a job's function is imported when it runs); ``jobs`` on SQLite loads no other
database's dialect; ``status`` on a database at head checks the schema without Alembic. Checked on the modules
a fresh process has loaded after running the CLI; the times are in bench/startup.py and docs/BENCHMARKS.md."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from conftest import REPO_ROOT, cli_env, run_cli
from scrapesched.cli.commands import dedupe
from scrapesched.db.dedupe import DEFAULT_BATCH, Keep
from scrapesched.db.migrate import HEAD_REVISION
from scrapesched.scheduler.plugins import load_registry

# Run the CLI's ``main`` with ARGS in this process, then write the names of the loaded modules to a file.
PROBE = """
import json, sys
from scrapesched.cli.main import main
status = main(sys.argv[2:])
with open(sys.argv[1], "w") as out:
    json.dump({"status": status, "modules": sorted(sys.modules)}, out)
"""

CATALOG = {"scrapesched.scrapers", "scrapesched.scrapers.specs"}  # the job specs: names and functions as strings
RUNNING = {"scrapesched.scheduler.context"}  # what a job's function runs with (``RunContext``)


def loaded_after(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, set[str]]:
    """The exit status of ``scrapesched ARGS`` and the modules its process had imported by the end."""
    result_file = tmp_path / "modules.json"
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(result_file), *args],
        env=env if env is not None else cli_env(),
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO_ROOT,
        check=False,
    )
    assert result_file.exists(), done.stderr
    doc = json.loads(result_file.read_text())
    return doc["status"], set(doc["modules"])


def job_code(modules: set[str]) -> list[str]:
    """The job modules, what running a job needs, the GitHub client and HTTP library among ``modules``."""
    scrapers = {m for m in modules if m == "scrapesched.scrapers" or m.startswith("scrapesched.scrapers.")}
    http = {m for m in modules if m == "httpx" or m.startswith("httpx.")}
    return sorted((scrapers - CATALOG) | (RUNNING & modules) | http)


@pytest.fixture
def migrated_sqlite(tmp_path: Path) -> dict[str, str]:
    """The environment of a CLI on a migrated SQLite database with one finished canary run."""
    env = cli_env(database_url=f"sqlite:///{tmp_path / 'startup.db'}")
    for args in (("migrate",), ("run-once", "canary")):
        done = run_cli(*args, env=env)
        assert done.returncode == 0, done.stderr
    return env


@pytest.mark.parametrize("args", [("--help",), ("--version",)])
def test_help_loads_no_settings_database_logging_or_job_code(tmp_path: Path, args: tuple[str, ...]) -> None:
    status, modules = loaded_after(tmp_path, *args)
    assert status == 0
    assert job_code(modules) == []
    heavy = {"pydantic", "pydantic_settings", "structlog", "sqlalchemy", "alembic", "apscheduler", "rich"}
    assert sorted(heavy & modules) == []


@pytest.mark.parametrize("command", ["status", "jobs", "check", "run"])
def test_a_commands_help_loads_no_job_code(tmp_path: Path, command: str) -> None:
    status, modules = loaded_after(tmp_path, command, "--help")
    assert status == 0
    assert job_code(modules) == []


def test_jobs_lists_every_job_without_importing_job_code(tmp_path: Path) -> None:
    status, modules = loaded_after(tmp_path, "jobs", "--json")
    assert status == 0
    assert job_code(modules) == []
    assert "scrapesched.scrapers.specs" in modules  # the GitHub and telemetry jobs were listed from it


@pytest.mark.parametrize("command", ["jobs", "status"])
def test_a_command_on_sqlite_loads_no_other_databases_dialect(
    tmp_path: Path, migrated_sqlite: dict[str, str], command: str
) -> None:
    status, modules = loaded_after(tmp_path, command, env=migrated_sqlite)
    assert status == 0
    assert "sqlalchemy.dialects.sqlite" in modules  # pauses and triggers were read from the database
    assert sorted(m for m in modules if m.startswith("sqlalchemy.dialects.postgresql")) == []


@pytest.mark.parametrize("command", ["jobs", "status"])
def test_a_command_that_logs_nothing_loads_neither_structlog_nor_the_mysql_dialect(
    tmp_path: Path, migrated_sqlite: dict[str, str], command: str
) -> None:
    """structlog (about 0.13 s with what it imports) is loaded by the first line logged, SQLAlchemy's MySQL
    dialect only by what talks to MySQL."""
    status, modules = loaded_after(tmp_path, command, env=migrated_sqlite)
    assert status == 0
    unused = {"structlog", "sqlalchemy.dialects.mysql"}
    assert sorted(unused & modules) == []


def test_status_reads_the_database_without_importing_job_code(
    tmp_path: Path, migrated_sqlite: dict[str, str]
) -> None:
    status, modules = loaded_after(tmp_path, "status", env=migrated_sqlite)
    assert status == 0
    assert "sqlalchemy" in modules
    assert job_code(modules) == []


def test_status_on_a_database_at_head_checks_the_schema_without_alembic(
    tmp_path: Path, migrated_sqlite: dict[str, str]
) -> None:
    status, modules = loaded_after(tmp_path, "status", env=migrated_sqlite)
    assert status == 0
    assert sorted(m for m in modules if m == "alembic" or m.startswith(("alembic.", "mako"))) == []


def test_status_on_an_older_schema_names_its_revision_and_what_to_run(
    tmp_path: Path, migrated_sqlite: dict[str, str]
) -> None:
    engine = sa.create_engine(migrated_sqlite["SCRAPESCHED_DATABASE_URL"])
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '0007'"))
    engine.dispose()
    done = run_cli("status", env=migrated_sqlite)
    assert done.returncode == 1, done.stderr
    assert done.stderr.strip() == (
        f"scrapesched: error: database schema is at revision 0007, this version needs {HEAD_REVISION}: "
        "run `scrapesched migrate`"
    )


def test_status_on_an_empty_database_says_to_migrate(tmp_path: Path) -> None:
    done = run_cli("status", env=cli_env(database_url=f"sqlite:///{tmp_path / 'empty.db'}"))
    assert done.returncode == 1, done.stderr
    assert done.stderr.strip() == (
        f"scrapesched: error: database schema is empty, this version needs {HEAD_REVISION}: run `scrapesched migrate`"
    )


def test_every_jobs_function_is_importable_by_the_name_its_spec_gives() -> None:
    for spec in load_registry():
        assert callable(spec.function()), spec.name


def test_dedupe_options_spell_out_the_db_layers_choices() -> None:
    assert tuple(k.value for k in Keep) == dedupe.KEEP_CHOICES
    assert dedupe.DEFAULT_BATCH == DEFAULT_BATCH
