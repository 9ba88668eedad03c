"""Throwaway databases for tests and benchmarks: a new, uniquely named database on SQLite, MariaDB or
PostgreSQL, created empty and dropped afterwards, so parallel runs never see each other's rows.

Server addresses come from ``SSTEST_MYSQL_URL`` and ``SSTEST_POSTGRES_URL`` (defaults: the loopback servers
of our development machines); they must name an account that may create and drop databases.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url

MYSQL_ADMIN = os.environ.get("SSTEST_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/test")
POSTGRES_ADMIN = os.environ.get("SSTEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
BACKENDS = ("sqlite", "mariadb", "postgres")


def _admin_url(backend: str) -> str:
    if backend == "mariadb":
        return MYSQL_ADMIN
    if backend == "postgres":
        return POSTGRES_ADMIN
    raise ValueError(f"unknown backend {backend!r} (one of {', '.join(BACKENDS)})")


def create_scratch(backend: str, directory: Path, prefix: str = "sst_") -> tuple[str, str]:
    """A new empty database: (url, name). SQLite databases are files in ``directory``."""
    name = prefix + uuid.uuid4().hex[:16]
    if backend == "sqlite":
        return f"sqlite:///{directory / (name + '.db')}", name
    admin_url = _admin_url(backend)
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            options = "CHARACTER SET utf8mb4" if backend == "mariadb" else "TEMPLATE template0"
            conn.exec_driver_sql(f"CREATE DATABASE {name} {options}")
    finally:
        admin.dispose()
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False), name


def drop_scratch(backend: str, name: str) -> None:
    """Drop a database made by ``create_scratch`` (SQLite files go with their directory)."""
    if backend == "sqlite":
        return
    admin = sa.create_engine(_admin_url(backend), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            force = " WITH (FORCE)" if backend == "postgres" else ""
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}{force}")
    finally:
        admin.dispose()


@contextmanager
def scratch_database(backend: str, directory: Path, prefix: str = "sst_") -> Iterator[str]:
    """The URL of a new empty database, dropped when the block ends."""
    url, name = create_scratch(backend, directory, prefix)
    try:
        yield url
    finally:
        drop_scratch(backend, name)
