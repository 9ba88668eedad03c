"""Test fixtures: a fresh database per test on SQLite, MariaDB and PostgreSQL (real servers), a fresh
Redis key prefix per test, and helpers to run the real ``scrapesched`` CLI in OS processes.

Server addresses come from ``SSTEST_MYSQL_URL``, ``SSTEST_POSTGRES_URL`` and ``SSTEST_REDIS_URL`` (defaults:
the loopback servers of our machines). Each test's database is created here and dropped afterwards, so
tests run in parallel (pytest-xdist) without seeing each other's rows.
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from telemetry_support import EndpointServer, ensure_flush_table, telemetry_responder

from scrapesched.db.engine import connect_engine
from scrapesched.db.migrate import upgrade
from scrapesched.testing.fleet import replica_env, scrapesched_command
from scrapesched.testing.scratch import BACKENDS, ServerUrls, scratch_database

REPO_ROOT = Path(__file__).resolve().parents[1]
FIXTURES = REPO_ROOT / "tests" / "fixtures"
SERVERS = ServerUrls.from_env()
MYSQL_ADMIN, POSTGRES_ADMIN, REDIS_URL = SERVERS.mysql, SERVERS.postgres, SERVERS.redis


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def db_url(backend: str, tmp_path: Path) -> Iterator[str]:
    """URL of a new, empty database on the parametrised backend; dropped after the test."""
    with scratch_database(backend, tmp_path, SERVERS) as url:
        yield url


@pytest.fixture
def engine(db_url: str) -> Iterator[sa.Engine]:
    """An engine on a fresh database migrated to head."""
    eng = connect_engine(db_url)
    upgrade(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def redis_prefix() -> str:
    """A key prefix no other test uses."""
    return "sst:" + uuid.uuid4().hex[:12] + ":"


def cli_env(**settings: str) -> dict[str, str]:
    """The environment for a ``scrapesched`` subprocess: ours minus SCRAPESCHED_*, plus ``settings``."""
    return replica_env(**settings)


def scrapesched_cmd() -> list[str]:
    """How to start the installed CLI with the interpreter running the tests: ``python -m scrapesched``."""
    return scrapesched_command()


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run ``scrapesched ARGS`` in a new process and capture its output."""
    return subprocess.run(
        [*scrapesched_cmd(), *args],
        env=env if env is not None else cli_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO_ROOT,
        check=False,
    )


@pytest.fixture
def db(engine: sa.Engine) -> sa.Engine:
    """A migrated database with the telemetry flush table the telemetry tests write."""
    ensure_flush_table(engine)
    return engine


@pytest.fixture
def server() -> Iterator[EndpointServer]:
    """A local HTTP endpoint serving Prometheus and JSON telemetry (tests/workers/telemetry_support.py)."""
    with EndpointServer(telemetry_responder()) as srv:
        yield srv
