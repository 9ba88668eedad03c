"""Leases through real faults: Redis flushed, restarted and killed mid-lease; MariaDB ``KILL`` and PostgreSQL
``pg_terminate_backend`` of the lock connection and of the pooled token connections; a lock connection idle
past ``wait_timeout``; lock servers down or hung at acquire; and a holder frozen with SIGSTOP past its ttl
whose late write is fenced out.

Redis faults use a redis-server of the test's own, so the shared server is never disturbed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pymysql
import pytest
import redis
import sqlalchemy as sa
from lock_helpers import SERVER_ENVS, WORKER, LockEnv, closed_port, lock_env, silent_server, unique_name
from sqlalchemy.engine import make_url
from test_locks_fencing import results, stored, taken_during_fenced_write, write

from conftest import MYSQL_ADMIN, POSTGRES_ADMIN, REDIS_URL, REPO_ROOT, SERVERS, cli_env
from scrapesched import locks
from scrapesched.db.engine import create_engine
from scrapesched.db.schema import leases
from scrapesched.locks.mysql import MySQLBackend
from scrapesched.locks.postgres import PostgresBackend, lock_ids
from scrapesched.testing.local_servers import RedisServer
from scrapesched.testing.scratch import kill_sessions, scratch_database

BOUND_S = 5.5  # an acquire against a dead or hung server must fail within ~5 s


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.kill()


@pytest.fixture
def sqlite_tokens(tmp_path: Path) -> Iterator[LockEnv]:
    with lock_env("redis", tmp_path) as env:
        yield env


def mysql_admin() -> pymysql.connections.Connection:
    url = make_url(MYSQL_ADMIN)
    return pymysql.connect(
        host=url.host, port=url.port or 3306, user=url.username, password=url.password or "", autocommit=True
    )


def test_tokens_keep_growing_across_a_flushall_and_a_restart(redis_server: RedisServer, sqlite_tokens: LockEnv) -> None:
    backend = locks.connect(redis_server.url, engine=sqlite_tokens.engine, holder_id="replica")
    name = unique_name()
    tokens = []
    for _ in range(3):
        lease = backend.acquire(name, 30)
        assert lease is not None
        tokens.append(lease.token)
        lease.release()
    held = backend.acquire(name, 30, keepalive=False)
    assert held is not None
    tokens.append(held.token)
    redis_server.client().flushall()  # every key gone, the held lease's too
    after_flush = backend.acquire(name, 30, keepalive=False)
    assert after_flush is not None
    tokens.append(after_flush.token)
    redis_server.kill()
    redis_server.start()
    after_restart = backend.acquire(name, 30)
    assert after_restart is not None
    tokens.append(after_restart.token)
    assert tokens == sorted(set(tokens)), tokens
    with pytest.raises(locks.LockNotOwned):  # the flushed lease cannot be renewed ...
        held.renew()
    after_restart.renew()  # ... and its attempt did not touch the new holder's
    backend.close()


def test_tokens_keep_growing_across_a_flushall_and_new_token_stores_on_every_database(
    redis_server: RedisServer, engine: sa.Engine
) -> None:
    """The token row is the only source of truth: neither Redis losing every key nor a replica starting with
    no state of its own (a new backend, another lock server) ever issues a token again, and a write under
    any older token is fenced out."""
    name = unique_name()
    tokens = []
    first = locks.connect(redis_server.url, engine=engine, holder_id="first")
    for _ in range(2):
        lease = first.acquire(name, 30)
        assert lease is not None
        tokens.append(lease.token)
        lease.release()
    held = first.acquire(name, 30, keepalive=False)
    assert held is not None
    tokens.append(held.token)
    redis_server.client().flushall()
    after_flush = first.acquire(name, 30, keepalive=False)
    assert after_flush is not None
    tokens.append(after_flush.token)
    first.close()
    redis_server.client().flushall()
    second = locks.connect(redis_server.url, engine=engine, holder_id="second")  # nothing cached
    after_new_store = second.acquire(name, 30)
    assert after_new_store is not None
    tokens.append(after_new_store.token)
    second.close()
    elsewhere = locks.connect("memory", engine=engine, holder_id="third")  # another lock server altogether
    newest = elsewhere.acquire(name, 30)
    assert newest is not None
    tokens.append(newest.token)
    assert tokens == sorted(set(tokens)) and tokens[0] >= 1, tokens
    results.create(engine, checkfirst=True)
    with engine.begin() as conn:
        conn.execute(sa.insert(results).values(name=name, value="", token=0))
    write(engine, newest, "newest")
    for stale in (held, after_flush, after_new_store):
        with pytest.raises(locks.FencedOut, match=f"token {stale.token} is stale, token {newest.token} was issued"):
            write(engine, stale, "stale")
    assert stored(engine, name) == ("newest", newest.token)
    elsewhere.close()


@pytest.mark.parametrize("kind", ["redis+mariadb", "redis+postgres", "table-mariadb", "table-postgres"])
def test_token_connections_the_database_closed_are_replaced_without_a_failed_acquire(
    kind: str, tmp_path: Path, redis_prefix: str
) -> None:
    """Token statements run on pooled connections that are not pinged first: one the server has closed
    fails its statement, which is run again on a new connection, so the caller never sees it."""
    database = "mariadb" if kind.endswith("mariadb") else "postgres"
    with scratch_database(database, tmp_path, SERVERS) as url:
        engine = create_engine(url)
        leases.create(engine)
        lock_url = f"{REDIS_URL}?prefix={redis_prefix}" if kind.startswith("redis") else "table"
        backend = locks.connect(lock_url, engine=engine, holder_id="replica")
        name = unique_name()
        first = backend.acquire(name, 30)
        assert first is not None
        first.release()
        assert kill_sessions(database, url, SERVERS), "the token store keeps a pooled connection"
        second = backend.acquire(name, 30)
        assert second is not None and second.token > first.token
        second.release()
        backend.close()
        engine.dispose()


def test_a_redis_restart_mid_lease_reports_the_lease_lost_within_one_renew_interval(
    redis_server: RedisServer, sqlite_tokens: LockEnv
) -> None:
    backend = locks.connect(redis_server.url, engine=sqlite_tokens.engine, holder_id="replica")
    name = unique_name()
    lease = backend.acquire(name, 1.5)  # renewed every 0.5 s
    assert lease is not None
    redis_server.kill()
    redis_server.start()
    started = time.monotonic()
    assert lease.lost_event.wait(0.5 + 0.5)
    assert time.monotonic() - started < 1.0
    other = locks.connect(redis_server.url, engine=sqlite_tokens.engine, holder_id="other")
    taken = other.acquire(name, 30)
    assert taken is not None and taken.token > lease.token
    backend.close()
    other.close()


def test_a_redis_lease_costs_two_redis_commands_and_shows_its_token(
    redis_server: RedisServer, sqlite_tokens: LockEnv
) -> None:
    backend = locks.connect(redis_server.url, engine=sqlite_tokens.engine, holder_id="replica")
    name = unique_name()
    first = backend.acquire(name, 30, keepalive=False)
    assert first is not None
    first.release()  # loads the release script into Redis (EVALSHA from then on)
    client = redis_server.client()
    client.config_resetstat()
    lease = backend.acquire(name, 30, keepalive=False)
    assert lease is not None
    lease.release()
    calls = {cmd.removeprefix("cmdstat_"): stats["calls"] for cmd, stats in client.info("commandstats").items()}
    # SET NX, then the release script (whose GET and DEL Redis counts too); no compare-and-set in between.
    assert (calls.get("set"), calls.get("evalsha"), calls.get("eval")) == (1, 1, None), calls
    again = backend.acquire(name, 30, keepalive=False)
    assert again is not None
    info = backend.holder(name)
    assert info is not None and info.holder == "replica" and info.token == again.token > lease.token
    again.release()
    backend.close()
    client.close()


def test_the_token_database_down_at_acquire_raises_and_leaves_no_redis_key(redis_prefix: str) -> None:
    engine = create_engine(f"postgresql://postgres@127.0.0.1:{closed_port()}/nowhere", connect_timeout=2)
    backend = locks.connect(f"{REDIS_URL}?prefix={redis_prefix}", engine=engine)
    name = unique_name()
    with pytest.raises(locks.LockUnavailable, match="cannot reach the database"):
        backend.acquire(name, 30)
    assert redis.Redis.from_url(REDIS_URL).exists(redis_prefix + name) == 0
    backend.close()
    engine.dispose()


@pytest.mark.parametrize("kind", ["table-mariadb", "table-postgres"])
def test_a_renewal_hung_on_its_server_loses_only_its_own_lease_and_at_its_deadline(kind: str, tmp_path: Path) -> None:
    """The keep-alive is shared by a backend's leases: a renewal that hangs (here: its UPDATE waits for a row
    lock that another transaction holds, as a long fenced write does) must not delay the others."""
    ttl = 1.5  # renewed every 0.5 s
    with lock_env(kind, tmp_path) as env:
        backend = env.connect("replica")
        stuck_name, fine_name = unique_name("stuck"), unique_name("fine")
        stuck = backend.acquire(stuck_name, ttl)
        assert stuck is not None
        with env.engine.begin() as blocker:
            blocker.execute(sa.select(leases.c.token).where(leases.c.name == stuck_name).with_for_update())
            locked = time.monotonic()
            fine = backend.acquire(fine_name, ttl)
            assert fine is not None
            # Lost at its deadline while its renewal still waits on the server, not when the wait ends.
            assert stuck.lost_event.wait(ttl + 1.0)
            assert time.monotonic() - locked < ttl + 1.0
            assert "still running" in (stuck.lost_reason or "")
            time.sleep(2 * ttl)  # the other lease's renewals go on meanwhile
            assert not fine.lost and fine.remaining() > 0
        other = env.connect("other")
        assert other.acquire(fine_name, 30) is None  # still held on the server
        fine.release()
        backend.close()
        other.close()


def _server_urls(kind: str, port: int) -> tuple[str, str]:
    """(lock URL, database URL) of ``kind`` where the server is at ``port`` on loopback."""
    if kind == "redis":
        return f"redis://127.0.0.1:{port}/0", ""
    if kind == "mysql":
        return f"mysql://root@127.0.0.1:{port}/", ""
    if kind == "postgresql":
        return f"postgresql://postgres@127.0.0.1:{port}/postgres", ""
    if kind == "table-mariadb":
        return "table", f"mysql://root@127.0.0.1:{port}/nowhere"
    return "table", f"postgresql://postgres@127.0.0.1:{port}/nowhere"


@pytest.mark.parametrize("kind", ["redis", "mysql", "postgresql", "table-mariadb", "table-postgres"])
@pytest.mark.parametrize("fault", ["refused", "hung"])
def test_a_lock_server_down_at_acquire_raises_lock_unavailable_promptly(
    kind: str, fault: str, sqlite_tokens: LockEnv
) -> None:
    if (kind, fault) == ("table-mariadb", "hung"):
        pytest.skip(
            "db.engine.create_engine gives PyMySQL no read_timeout: its handshake with a server that accepts "
            "and never answers waits forever (the table backend uses the main engine as it is)"
        )

    def attempt(port: int) -> None:
        lock_url, db_url = _server_urls(kind, port)
        engine = create_engine(db_url, connect_timeout=2) if db_url else sqlite_tokens.engine
        backend = locks.connect(lock_url, engine=engine)
        started = time.monotonic()
        with pytest.raises(locks.LockUnavailable, match=f"127.0.0.1:{port}") as raised:
            backend.acquire(unique_name(), 30)
        assert time.monotonic() - started < BOUND_S, raised.value
        backend.close()
        if db_url:
            engine.dispose()

    if fault == "refused":
        attempt(closed_port())
    else:
        with silent_server() as port:
            attempt(port)


def _kill_and_expect_lost(lease: locks.Lease, kill: Callable[[], None]) -> None:
    kill()
    started = time.monotonic()
    interval = lease.ttl / 3
    assert lease.lost_event.wait(interval + 0.5), "lost within one renew interval"
    assert time.monotonic() - started < interval + 0.5
    assert "dropped" in (lease.lost_reason or "")


def test_a_killed_mariadb_lock_connection_is_reported_lost_within_one_renew_interval(tmp_path: Path) -> None:
    with lock_env("mysql", tmp_path) as env:
        backend = env.connect("replica")
        assert isinstance(backend, MySQLBackend)
        name = unique_name()
        lease = backend.acquire(name, 1.5)
        assert lease is not None
        admin = mysql_admin()
        with admin.cursor() as cur:
            cur.execute("SELECT IS_USED_LOCK(%s)", (backend.lock_name(name),))
            (connection_id,) = cur.fetchone() or (None,)

        def kill() -> None:
            with admin.cursor() as cur:
                cur.execute(f"KILL {int(connection_id)}")

        _kill_and_expect_lost(lease, kill)
        other = env.connect("other")
        taken = other.acquire(name, 30)
        assert taken is not None and taken.token > lease.token
        admin.close()
        backend.close()
        other.close()


def test_a_terminated_postgres_lock_connection_is_reported_lost_within_one_renew_interval(tmp_path: Path) -> None:
    with lock_env("postgresql", tmp_path) as env:
        backend = env.connect("replica")
        assert isinstance(backend, PostgresBackend)
        name = unique_name()
        lease = backend.acquire(name, 1.5)
        assert lease is not None
        admin = sa.create_engine(POSTGRES_ADMIN, isolation_level="AUTOCOMMIT")
        classid, objid = lock_ids(backend.key(name))

        def kill() -> None:
            with admin.connect() as conn:
                pid = conn.execute(
                    sa.text(
                        "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 1 "
                        "AND classid = CAST(CAST(:c AS bigint) AS oid) AND objid = CAST(CAST(:o AS bigint) AS oid)"
                    ),
                    {"c": classid, "o": objid},
                ).scalar_one()
                conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})

        _kill_and_expect_lost(lease, kill)
        other = env.connect("other")
        taken = other.acquire(name, 30, wait=2)
        assert taken is not None and taken.token > lease.token
        admin.dispose()
        backend.close()
        other.close()


def test_a_mysql_lock_connection_idle_past_wait_timeout_is_kept_alive_or_reported_lost(tmp_path: Path) -> None:
    with lock_env("mysql", tmp_path) as env:
        backend = env.connect("replica")
        assert isinstance(backend, MySQLBackend)
        kept, idle = unique_name("kept"), unique_name("idle")
        kept_lease = backend.acquire(kept, 1.0)  # wait_timeout 1 s, renewed every 0.33 s
        idle_lease = backend.acquire(idle, 1.0, keepalive=False)
        assert kept_lease is not None and idle_lease is not None
        time.sleep(2.5)
        admin = mysql_admin()
        with admin.cursor() as cur:
            cur.execute("SELECT IS_USED_LOCK(%s), IS_USED_LOCK(%s)", (backend.lock_name(kept), backend.lock_name(idle)))
            kept_by, idle_by = cur.fetchone() or (None, None)
        admin.close()
        assert kept_by is not None and not kept_lease.lost  # kept alive by the keep-alive
        assert idle_by is None and idle_lease.lost  # the server dropped the idle connection, and we know it
        with pytest.raises(locks.LockNotOwned, match="lost"):
            idle_lease.renew()
        kept_lease.release()
        backend.close()


@pytest.mark.slow
@pytest.mark.parametrize("kind", SERVER_ENVS)
def test_a_holder_frozen_past_its_ttl_is_fenced_out_after_it_resumes(kind: str, tmp_path: Path) -> None:
    with lock_env(kind, tmp_path) as env:
        name = unique_name()
        results.create(env.engine)
        with env.engine.begin() as conn:
            conn.execute(sa.insert(results).values(name=name, value="", token=0))
        environ = cli_env()
        environ["PYTHONPATH"] = str(REPO_ROOT)
        ttl = 1.0 if kind == "mysql" else 0.5  # MySQL's wait_timeout counts whole seconds
        holder = subprocess.Popen(
            [sys.executable, str(WORKER), "hold", env.lock_url, env.db_url, name, str(ttl)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=environ,
        )
        assert holder.stdin is not None and holder.stdout is not None
        old_token = json.loads(holder.stdout.readline())["token"]
        taken: list[locks.Lease] = []
        backend = env.connect("new-holder")

        def take_over() -> None:
            lease = backend.acquire(name, 30, wait=15)
            assert lease is not None
            write(env.engine, lease, "new holder's result")
            taken.append(lease)

        os.kill(holder.pid, signal.SIGSTOP)
        try:
            time.sleep(2 * ttl + 0.5)  # past the ttl (and MySQL's wait_timeout / PostgreSQL's idle_session_timeout)
            thread = threading.Thread(target=take_over)
            thread.start()
            # Frozen inside a database transaction (a renewal), it blocks the take until it resumes.
            thread.join(4)
        finally:
            os.kill(holder.pid, signal.SIGCONT)
        thread.join(20)
        assert taken and taken[0].token > old_token
        holder.stdin.write("write frozen holder's late result\n")
        holder.stdin.flush()
        reply = json.loads(holder.stdout.readline())
        assert reply["write"].startswith("fenced"), reply
        assert reply["lost"] is True
        assert stored(env.engine, name) == ("new holder's result", taken[0].token)
        holder.stdin.write("exit\n")
        holder.stdin.flush()
        assert holder.wait(20) == 0, holder.stderr.read() if holder.stderr else ""
        taken[0].release()
        backend.close()


def test_a_holder_whose_key_redis_lost_is_fenced_out_as_soon_as_the_next_holder_has_its_token(
    redis_server: RedisServer, engine: sa.Engine
) -> None:
    """Redis loses the key of a held lease (FLUSHALL) and a second holder takes the name while the first still
    believes it holds it. A write of the first holder that is in flight (fenced, not yet committed) commits
    before the second acquire returns, so the second holder reads it; and from the moment the second acquire
    returns, before the second holder has written anything, every write of the first is refused.

    This is why a token is a committed bump of the name's row and not a bare sequence number, which would
    let the first holder's writes through until the second holder's first write (docs/locks.md)."""
    name = unique_name()
    results.create(engine, checkfirst=True)
    with engine.begin() as conn:
        conn.execute(sa.insert(results).values(name=name, value="", token=0))
    first = locks.connect(redis_server.url, engine=engine, holder_id="first")
    second = locks.connect(redis_server.url, engine=engine, holder_id="second")
    held = first.acquire(name, 30, keepalive=False)
    assert held is not None

    def take_after_a_flush() -> locks.Lease | None:
        redis_server.client().flushall()  # the first holder's key is gone: the name is free on Redis
        return second.acquire(name, 30, wait=20)

    newer = taken_during_fenced_write(engine, held, "in flight", take_after_a_flush, " (the token bump waits)")
    assert stored(engine, name) == ("in flight", held.token)  # committed before the second holder existed
    with pytest.raises(locks.FencedOut, match=f"token {held.token} is stale, token {newer.token} was issued"):
        write(engine, held, "late")  # the second holder has written nothing yet
    assert stored(engine, name) == ("in flight", held.token)
    write(engine, newer, "newer")
    assert stored(engine, name) == ("newer", newer.token)
    newer.release()
    first.close()
    second.close()
