"""The lease API's edges: bad input gives one clear error, stable names and keys per backend, the lost signal
and its single log line, and closing a backend."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from lock_helpers import LockEnv, lock_env, unique_name
from structlog.testing import capture_logs

from scrapesched import locks
from scrapesched.locks.mysql import lock_name
from scrapesched.locks.postgres import advisory_key, lock_ids


@pytest.fixture
def memory() -> Iterator[locks.LockBackend]:
    backend = locks.connect("memory", holder_id="laptop")
    yield backend
    backend.close()


@pytest.fixture
def table(tmp_path: Path) -> Iterator[LockEnv]:
    with lock_env("table-sqlite", tmp_path) as env:
        yield env


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "empty"),
        ("x" * 256, "256 characters long, the limit is 255"),
        ("line\nbreak", "control characters"),
        ("nul\x00", "control characters"),
        (42, "must be a string"),
    ],
)
def test_bad_names_are_refused_with_a_clear_error(memory: locks.LockBackend, name: object, message: str) -> None:
    with pytest.raises(locks.InvalidLockName, match=message):
        memory.acquire(name, 10)  # type: ignore[arg-type]
    with pytest.raises(locks.InvalidLockName, match=message):
        memory.holder(name)  # type: ignore[arg-type]


@pytest.mark.parametrize("ttl", [0, -1, float("nan"), float("inf"), "10", True, 8 * 86400])
def test_bad_ttls_are_refused(memory: locks.LockBackend, ttl: object) -> None:
    with pytest.raises(locks.InvalidLockArgument, match="ttl"):
        memory.acquire("job", ttl)  # type: ignore[arg-type]


@pytest.mark.parametrize("wait", [-1, float("nan"), "1"])
def test_bad_waits_are_refused(memory: locks.LockBackend, wait: object) -> None:
    with pytest.raises(locks.InvalidLockArgument, match="wait"):
        memory.acquire("job", 10, wait=wait)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("zookeeper://zk:2181", "unknown lock URL scheme 'zookeeper'"),
        ("etcd", "unknown lock URL scheme 'etcd'"),
        ("", "empty lock URL"),
        ("table", "needs the main database"),
        ("redis://127.0.0.1:6379/0", "needs the main database"),
    ],
)
def test_unusable_lock_urls_are_refused_with_a_clear_error(url: str, message: str) -> None:
    with pytest.raises(locks.LockConfigError, match=message) as raised:
        locks.connect(url)
    assert raised.value.exit_code == 2


def test_a_lock_url_password_never_appears_in_errors(table: LockEnv) -> None:
    backend = locks.connect("redis://:s3cret-pw@127.0.0.1:1/0", engine=table.engine)
    with pytest.raises(locks.LockUnavailable) as raised:
        backend.acquire("job", 10)
    assert "s3cret-pw" not in str(raised.value) and "127.0.0.1:1" in str(raised.value)


def test_mysql_lock_names_are_readable_when_safe_and_hashed_stably_otherwise() -> None:
    assert lock_name("nightly/acme-widgets") == "scrapesched:nightly/acme-widgets"
    long_a, long_b = "a" * 100 + "1", "a" * 100 + "2"
    hashed = {lock_name(n) for n in (long_a, long_b, "Nightly", "nightly ", "naïve")}
    assert len(hashed) == 5  # never truncated into each other, nor case- or accent-folded together
    assert all(len(h) <= 64 and h.startswith("scrapesched:#") for h in hashed)
    assert lock_name(long_a) == "scrapesched:#" + hashlib.sha256(long_a.encode()).hexdigest()[:51]
    assert lock_name("nightly") != lock_name("Nightly")


def test_postgres_advisory_keys_are_stable_signed_64_bit_numbers() -> None:
    key = advisory_key("nightly/acme-widgets")
    assert key == advisory_key("nightly/acme-widgets") == -2374287568980270815  # pinned: never change it
    assert -(2**63) <= advisory_key("x" * 255) < 2**63
    classid, objid = lock_ids(-1)
    assert (classid, objid) == (0xFFFF_FFFF, 0xFFFF_FFFF)


def test_memory_without_a_database_counts_tokens_in_process(memory: locks.LockBackend) -> None:
    tokens = []
    for _ in range(3):
        lease = memory.acquire("job", 10)
        assert lease is not None
        tokens.append(lease.token)
        lease.release()
    assert tokens == [1, 2, 3]


def test_a_lost_lease_signals_its_work_and_is_logged_once(memory: locks.LockBackend) -> None:
    with capture_logs() as logs:
        lease = memory.acquire("job", 0.2, keepalive=False)
        assert lease is not None
        assert not lease.lost_event.wait(0.05)
        time.sleep(0.3)
        taken = memory.acquire("job", 10)
        assert taken is not None
        assert lease.lost and lease.lost_event.is_set() and lease.lost
        with pytest.raises(locks.LockNotOwned):
            lease.renew()
        with pytest.raises(locks.LockNotOwned):
            lease.release()
        with lease:  # __exit__ of a lost lease logs, never raises
            pass
    lost = [entry for entry in logs if entry["event"] == "lease_lost"]
    assert len(lost) == 1
    assert lost[0]["name"] == "job" and lost[0]["token"] == lease.token and lost[0]["holder"] == "laptop"
    assert "ttl" in lost[0]["reason"]
    taken.release()


def test_keepalive_reports_a_taken_lease_lost_within_one_renew_interval(table: LockEnv) -> None:
    backend = table.connect("replica")
    lease = backend.acquire("job", 0.9)  # renewed every 0.3 s
    assert lease is not None
    with table.engine.begin() as conn:  # another holder takes the row over
        conn.execute(sa.text("UPDATE scrapesched_leases SET holder = 'thief', token = token + 1 WHERE name = 'job'"))
    assert lease.lost_event.wait(0.3 + 0.5)
    assert "expired or was taken" in (lease.lost_reason or "")
    backend.close()


def test_keepalive_of_many_leases_runs_on_a_few_shared_threads_that_close_stops(memory: locks.LockBackend) -> None:
    def renewer_threads() -> list[threading.Thread]:
        return [t for t in threading.enumerate() if t.name.startswith(("lease-renewer:", "lease-renewal:"))]

    before = len(renewer_threads())
    leases = [memory.acquire(f"job-{i}", 3.0) for i in range(30)]  # each renewed every 1 s
    time.sleep(4.0)  # over a ttl: every lease was renewed (a ttl this long survives a loaded machine)
    assert all(lease is not None and not lease.lost for lease in leases)
    # The scheduling thread and a worker (a second one only while the first is inside a renewal), not 30.
    assert len(renewer_threads()) - before <= 3
    for lease in leases:
        assert lease is not None
        lease.release()
    memory.close()
    deadline = time.monotonic() + 10
    while len(renewer_threads()) > before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(renewer_threads()) == before


def test_closing_a_backend_stops_the_work_of_its_leases_and_frees_them(table: LockEnv) -> None:
    first = table.connect("closing-replica")
    lease = first.acquire("job", 30)
    assert lease is not None
    first.close()
    assert lease.lost_event.is_set()
    second = table.connect("next-replica")
    taken = second.acquire("job", 30)
    assert taken is not None and taken.token > lease.token
    with pytest.raises(locks.LockError, match="closed"):
        first.acquire(unique_name(), 30)
    second.close()


def test_a_missing_locks_table_says_to_migrate(tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    backend = locks.connect("table", engine=engine)
    with pytest.raises(locks.LockConfigError, match="no locks table: run `scrapesched migrate`"):
        backend.acquire("job", 10)
    engine.dispose()
