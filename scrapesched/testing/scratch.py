"""Throwaway databases for tests and benchmarks: a new, uniquely named database on SQLite, MariaDB or
PostgreSQL, created empty and dropped afterwards, so parallel runs never see each other's rows.

Where the servers are is a :class:`ServerUrls`, passed in: ``ServerUrls.from_env()`` reads
``SSTEST_MYSQL_URL``, ``SSTEST_POSTGRES_URL`` and ``SSTEST_REDIS_URL`` (defaults: the loopback servers of
our development machines). The MariaDB and PostgreSQL URLs must name an account that may create and drop
databases.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from scrapesched.db.engine import connect_engine
from scrapesched.db.migrate import upgrade

BACKENDS = ("sqlite", "mariadb", "postgres")
DEFAULT_MYSQL_URL = "mysql+pymysql://root@127.0.0.1:3306/test"
DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


@dataclass(frozen=True)
class ServerUrls:
    """The servers tests and benchmarks use: MariaDB and PostgreSQL admin accounts, and Redis."""

    mysql: str = DEFAULT_MYSQL_URL
    postgres: str = DEFAULT_POSTGRES_URL
    redis: str = DEFAULT_REDIS_URL

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ServerUrls:
        """The servers named by ``SSTEST_MYSQL_URL``, ``SSTEST_POSTGRES_URL`` and ``SSTEST_REDIS_URL``."""
        env = os.environ if environ is None else environ
        return cls(
            mysql=env.get("SSTEST_MYSQL_URL", DEFAULT_MYSQL_URL),
            postgres=env.get("SSTEST_POSTGRES_URL", DEFAULT_POSTGRES_URL),
            redis=env.get("SSTEST_REDIS_URL", DEFAULT_REDIS_URL),
        )

    def admin_url(self, backend: str) -> str:
        """The admin URL of a server backend (``mariadb`` or ``postgres``)."""
        if backend == "mariadb":
            return self.mysql
        if backend == "postgres":
            return self.postgres
        raise ValueError(f"unknown backend {backend!r} (one of {', '.join(BACKENDS)})")

    def lock_url(self, server: str, prefix: str) -> str:
        """The lock URL of a lock server (``redis``, ``mysql`` GET_LOCK, ``postgresql`` advisory locks) on
        these servers, with a key / lock name prefix of its own."""
        query = urlencode({"prefix": prefix})
        if server == "redis":
            return f"{self.redis}?{query}"
        if server not in ("mysql", "postgresql"):
            raise ValueError(f"unknown lock server {server!r} (one of redis, mysql, postgresql)")
        admin = make_url(self.mysql if server == "mysql" else self.postgres)
        user = admin.username or ("root" if server == "mysql" else "postgres")
        auth = user + (f":{admin.password}" if admin.password else "")
        port = admin.port or (3306 if server == "mysql" else 5432)
        database = "" if server == "mysql" else admin.database
        return f"{server}://{auth}@{admin.host}:{port}/{database}?{query}"


def _as_admin(admin_url: str, statement: str) -> None:
    """Run one statement outside a transaction (CREATE/DROP DATABASE) on a server's admin account."""
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(statement)
    finally:
        admin.dispose()


def create_scratch(backend: str, directory: Path, servers: ServerUrls, prefix: str = "sst_") -> str:
    """The URL of a new empty database. SQLite databases are files in ``directory``."""
    name = prefix + uuid.uuid4().hex[:16]
    if backend == "sqlite":
        return f"sqlite:///{directory / (name + '.db')}"
    admin_url = servers.admin_url(backend)
    options = "CHARACTER SET utf8mb4" if backend == "mariadb" else "TEMPLATE template0"
    _as_admin(admin_url, f"CREATE DATABASE {name} {options}")
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def drop_scratch(backend: str, url: str, servers: ServerUrls) -> None:
    """Drop a database made by :func:`create_scratch` (for SQLite: delete its file, WAL and shared memory)."""
    name = make_url(url).database or ""
    if backend == "sqlite":
        for suffix in ("", "-wal", "-shm"):
            Path(name + suffix).unlink(missing_ok=True)
        return
    force = " WITH (FORCE)" if backend == "postgres" else ""
    _as_admin(servers.admin_url(backend), f"DROP DATABASE IF EXISTS {name}{force}")


def kill_sessions(backend: str, url: str, servers: ServerUrls) -> int:
    """End every server session connected to the database of ``url`` (as a server restart or a proxy would),
    from the admin account; how many were ended. SQLite has no sessions: 0."""
    if backend == "sqlite":
        return 0
    name = make_url(url).database or ""
    admin = sa.create_engine(servers.admin_url(backend), isolation_level="AUTOCOMMIT")
    killed = 0
    try:
        with admin.connect() as conn:
            if backend == "postgres":
                return len(
                    conn.execute(
                        sa.text(
                            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                            "WHERE datname = :db AND pid <> pg_backend_pid()"
                        ),
                        {"db": name},
                    ).all()
                )
            ids = conn.execute(
                sa.text("SELECT ID FROM information_schema.PROCESSLIST WHERE DB = :db AND ID <> CONNECTION_ID()"),
                {"db": name},
            ).scalars()
            for conn_id in list(ids):
                with suppress(sa.exc.DBAPIError):  # it may have ended meanwhile
                    conn.exec_driver_sql(f"KILL CONNECTION {int(conn_id)}")
                    killed += 1
    finally:
        admin.dispose()
    return killed


@contextmanager
def scratch_database(backend: str, directory: Path, servers: ServerUrls, prefix: str = "sst_") -> Iterator[str]:
    """The URL of a new empty database, dropped when the block ends."""
    url = create_scratch(backend, directory, servers, prefix)
    try:
        yield url
    finally:
        drop_scratch(backend, url, servers)


@contextmanager
def migrated_database(
    backend: str, directory: Path, servers: ServerUrls, prefix: str = "sst_"
) -> Iterator[tuple[str, sa.Engine]]:
    """(url, engine) of a new database migrated to head; the engine is disposed and the database dropped
    when the block ends."""
    with scratch_database(backend, directory, servers, prefix) as url:
        engine = connect_engine(url)
        try:
            upgrade(engine)
            yield url, engine
        finally:
            engine.dispose()
