"""Running real ``scrapesched`` replica processes in tests: config files, a fleet killed at the end of the
test whatever happens (the launcher is :mod:`scrapesched.testing.fleet`), and reading back ``job_runs`` and
``canary_runs``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa

from conftest import REPO_ROOT
from scrapesched.db.schema import canary_runs, job_runs
from scrapesched.testing.fleet import Fleet, faketime_available, replica_env
from scrapesched.testing.fleet import wait_until as wait_for

__all__ = ["canary_rows", "faketime_available", "fleet", "runs_of", "wait_for", "write_config"]


def write_config(path: Path, body: str) -> Path:
    path.write_text(body)
    return path


@contextmanager
def fleet(tmp: Path, **settings: str) -> Iterator[Fleet]:
    """Replicas started by one test with ``settings``; all killed at the end whatever happens."""
    f = Fleet(tmp, replica_env(**settings), cwd=REPO_ROOT)
    try:
        yield f
    finally:
        f.kill_all()


def runs_of(engine: sa.Engine, job: str = "canary") -> list[sa.Row[object]]:
    with engine.connect() as conn:
        return list(conn.execute(sa.select(job_runs).where(job_runs.c.job_name == job).order_by(job_runs.c.id)))


def canary_rows(engine: sa.Engine) -> list[sa.Row[object]]:
    with engine.connect() as conn:
        return list(conn.execute(sa.select(canary_runs)))
