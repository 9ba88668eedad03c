"""Two deployments sharing one Redis: by default each has its own key namespace (derived from its main
database, never from its password), so their leases are independent; one explicit ``?prefix=`` joins them."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from conftest import REDIS_URL, SERVERS
from scrapesched import locks
from scrapesched.locks.redis import RedisBackend, deployment_prefix
from scrapesched.testing.scratch import migrated_database

PASSWORD = "Pl4nted-Secret-9x"


@pytest.fixture
def two_databases(tmp_path: Path) -> Iterator[tuple[sa.Engine, sa.Engine]]:
    """Two migrated PostgreSQL databases: the main databases of two deployments."""
    with (
        migrated_database("postgres", tmp_path, SERVERS) as (_, first),
        migrated_database("postgres", tmp_path, SERVERS) as (_, second),
    ):
        yield first, second


@pytest.fixture
def client() -> Iterator[redis.Redis]:
    conn = redis.Redis.from_url(REDIS_URL)
    yield conn
    conn.close()


def _delete_keys(client: redis.Redis, *prefixes: str) -> None:
    for prefix in prefixes:
        keys = list(client.scan_iter(match=_glob(prefix) + "*"))
        if keys:
            client.delete(*keys)


def _glob(text: str) -> str:
    return re.sub(r"([*?\[\]\\])", r"\\\1", text)


def _connect(url: str, engine: sa.Engine, holder: str) -> RedisBackend:
    backend = locks.connect(url, engine=engine, holder_id=holder)
    assert isinstance(backend, RedisBackend)
    return backend


def test_two_deployments_hold_the_same_lease_name_at_once_on_one_redis(
    two_databases: tuple[sa.Engine, sa.Engine], client: redis.Redis
) -> None:
    first_db, second_db = two_databases
    first, second = _connect(REDIS_URL, first_db, "first"), _connect(REDIS_URL, second_db, "second")
    peer = _connect(REDIS_URL, first_db, "first-peer")  # another replica of the first deployment
    name = "sync_prs/" + uuid.uuid4().hex
    try:
        assert re.fullmatch(r"scrapesched:[0-9a-f]{8}:lock:", first.prefix)
        assert first.prefix != second.prefix and peer.prefix == first.prefix
        mine, theirs = first.acquire(name, 30), second.acquire(name, 30)
        assert mine is not None and theirs is not None, "a lease of one deployment blocked the other"
        assert peer.acquire(name, 30) is None, "replicas of one deployment still exclude each other"
        assert client.exists(first.prefix + name) == 1 and client.exists(second.prefix + name) == 1
        mine.release()
        info = second.holder(name)
        assert info is not None and info.holder == "second"
        theirs.release()
    finally:
        for backend in (first, second, peer):
            backend.close()
        _delete_keys(client, first.prefix, second.prefix)


def test_the_same_explicit_prefix_makes_two_deployments_exclude_each_other(
    two_databases: tuple[sa.Engine, sa.Engine], client: redis.Redis, redis_prefix: str
) -> None:
    first_db, second_db = two_databases
    url = f"{REDIS_URL}?prefix={redis_prefix}"
    first, second = _connect(url, first_db, "first"), _connect(url, second_db, "second")
    name = "sync_prs/" + uuid.uuid4().hex
    try:
        assert first.prefix == second.prefix == redis_prefix
        lease = first.acquire(name, 30)
        assert lease is not None
        assert second.acquire(name, 30) is None
        info = second.holder(name)
        assert info is not None and info.holder == "first"
        lease.release()
        assert second.acquire(name, 30) is not None
    finally:
        first.close()
        second.close()
        _delete_keys(client, redis_prefix)


def test_the_default_namespace_holds_no_password(
    two_databases: tuple[sa.Engine, sa.Engine], client: redis.Redis
) -> None:
    plain = two_databases[0]
    with_password = sa.create_engine(plain.url.set(password=PASSWORD))  # trust auth: the password is unused
    backend = _connect(REDIS_URL, with_password, "planted")
    name = "sync_prs/" + uuid.uuid4().hex
    try:
        assert backend.prefix == deployment_prefix(plain.url), "the password does not feed the namespace"
        lease = backend.acquire(name, 30)
        assert lease is not None
        keys = [k.decode() for k in client.scan_iter(match=_glob(backend.prefix) + "*")]
        assert keys == [backend.prefix + name]
        assert not list(client.scan_iter(match=f"*{PASSWORD}*"))
        assert PASSWORD not in str(client.get(keys[0]))
        lease.release()
    finally:
        backend.close()
        with_password.dispose()
        _delete_keys(client, backend.prefix)


def test_the_namespace_is_the_database_identity_not_its_spelling_of_driver_or_account() -> None:
    base = deployment_prefix(make_url("mysql+pymysql://app:pw1@DB.example:3306/scrapes"))
    assert base == deployment_prefix(make_url("mariadb://other:pw2@db.example/scrapes"))
    assert base != deployment_prefix(make_url("mysql+pymysql://app:pw1@db.example:3306/scrapes_staging"))
    assert base != deployment_prefix(make_url("mysql+pymysql://app:pw1@db2.example:3306/scrapes"))
    assert base != deployment_prefix(make_url("postgresql+psycopg://app@db.example:3306/scrapes"))
    assert deployment_prefix(make_url("postgresql://u@h/d")) == deployment_prefix(make_url("postgresql+psycopg://h:5432/d"))
