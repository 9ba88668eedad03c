"""What every lease backend promises, proved on each of them against the real servers: one holder at a time,
expiry judged by the lock server, renewal, refusal of non-holders, strictly growing tokens, bounded waiting,
and indifference to a replica's skewed clock."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from lock_helpers import LOCK_ENVS, WORKER, LockEnv, lock_env, unique_name

from conftest import REPO_ROOT, cli_env
from scrapesched import locks


def ttl_of(env: LockEnv) -> float:
    """A short ttl, but long enough that a loaded machine's stall does not expire it by accident; MySQL's
    wait_timeout (the lease's server-side expiry) counts whole seconds."""
    return 1.0 if env.kind == "mysql" else 0.8


def past(ttl: float) -> float:
    return ttl * 1.3 + 0.1


@pytest.fixture(scope="module", params=list(LOCK_ENVS))
def env(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LockEnv]:
    """One database per backend for the module: every test uses lease names of its own."""
    with lock_env(str(request.param), tmp_path_factory.mktemp("locks")) as made:
        yield made


@pytest.fixture
def two(env: LockEnv) -> Iterator[tuple[locks.LockBackend, locks.LockBackend]]:
    """Two replicas' backends (the memory backend is one lock space per object, so both use one)."""
    a = env.connect("replica-a")
    b = a if env.kind == "memory" else env.connect("replica-b")
    yield a, b
    a.close()
    b.close()


def test_a_held_name_is_refused_to_others_and_reported_by_holder(two: tuple[locks.LockBackend, ...]) -> None:
    a, b = two
    name = unique_name()
    lease = a.acquire(name, 30)
    assert lease is not None and lease.token >= 1 and lease.holder == "replica-a"
    assert b.acquire(name, 30) is None
    info = b.holder(name)
    assert info is not None and info.name == name and info.holder == "replica-a" and info.token == lease.token
    if info.until is not None:  # the lock server's expiry time
        assert abs(info.until - (datetime.now(UTC) + timedelta(seconds=30))) < timedelta(seconds=10)
    lease.release()
    assert b.holder(name) is None


def test_expired_lease_is_taken_over_and_its_old_holder_can_neither_renew_nor_release(
    env: LockEnv, two: tuple[locks.LockBackend, ...]
) -> None:
    a, b = two
    name = unique_name()
    old = a.acquire(name, ttl_of(env), keepalive=False)
    assert old is not None and not old.lost
    time.sleep(past(ttl_of(env)))
    assert old.lost  # ttl passed without a renewal: not trusted any more
    new = b.acquire(name, 30, wait=3)
    assert new is not None and new.token > old.token
    with pytest.raises(locks.LockNotOwned):
        old.renew()
    with pytest.raises(locks.LockNotOwned):
        old.release()
    new.renew()  # untouched by the old holder's attempts
    info = a.holder(name)
    assert info is not None and info.token == new.token
    new.release()


def test_keepalive_holds_a_lease_well_past_its_ttl(two: tuple[locks.LockBackend, ...]) -> None:
    a, b = two
    name = unique_name()
    lease = a.acquire(name, 0.9)  # renewed every 0.3 s
    assert lease is not None
    time.sleep(2.2)  # over two ttls, and past MySQL's wait_timeout (1 s) for the lock connection
    assert not lease.lost
    assert b.acquire(name, 0.9) is None
    lease.release()
    taken = b.acquire(name, 0.9)
    assert taken is not None and taken.token > lease.token
    taken.release()


def test_tokens_strictly_increase_with_every_new_holder(two: tuple[locks.LockBackend, ...]) -> None:
    a, b = two
    name = unique_name()
    tokens = []
    for backend in (a, b, a, a, b, b, a):
        lease = backend.acquire(name, 30)
        assert lease is not None
        tokens.append(lease.token)
        lease.release()
    assert tokens == sorted(set(tokens)), tokens


def test_wait_gets_the_lease_once_released_and_gives_up_after_the_wait(two: tuple[locks.LockBackend, ...]) -> None:
    a, b = two
    name = unique_name()
    first = a.acquire(name, 30)
    assert first is not None
    threading.Timer(0.3, first.release).start()
    started = time.monotonic()
    second = b.acquire(name, 30, wait=10)
    assert second is not None and 0.25 < time.monotonic() - started < 5
    started = time.monotonic()
    assert a.acquire(name, 30, wait=0.4) is None
    assert 0.4 <= time.monotonic() - started < 3
    second.release()


def test_release_is_idempotent_and_a_context_manager_releases(two: tuple[locks.LockBackend, ...]) -> None:
    a, b = two
    name = unique_name()
    lease = a.acquire(name, 30)
    assert lease is not None
    lease.release()
    lease.release()
    assert lease.released and not lease.lost
    with b.acquire(name, 30) as held:  # type: ignore[union-attr]
        assert a.holder(name) is not None and held.token > lease.token
    assert a.holder(name) is None


def test_skewed_replica_clocks_change_nothing(env: LockEnv) -> None:
    late = env.connect("late-replica", clock=lambda: time.time() - 60)
    early = late if env.kind == "memory" else env.connect("early-replica", clock=lambda: time.time() + 60)
    name = unique_name()
    lease = late.acquire(name, ttl_of(env), keepalive=False)
    assert lease is not None
    assert abs(lease.acquired_at - (time.time() - 60)) < 5  # the skewed clock was really in use
    assert early.acquire(name, ttl_of(env)) is None  # 60 s ahead, yet the lease is not expired
    info = early.holder(name)
    assert info is not None
    if info.until is not None:
        assert abs(info.until - datetime.now(UTC)) < timedelta(seconds=5)  # server time, not a replica's
    time.sleep(past(ttl_of(env)))
    taken = early.acquire(name, ttl_of(env), wait=3)  # 60 s behind, yet the expiry is seen on time
    assert taken is not None and taken.token > lease.token
    taken.release()
    late.close()
    early.close()


@pytest.mark.skipif(not Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1").exists(), reason="no libfaketime")
def test_a_process_with_a_clock_90_s_ahead_cannot_take_a_held_lease(env: LockEnv) -> None:
    if env.kind not in ("table-mariadb", "table-postgres", "redis"):
        # Session locks (mysql, postgresql) have no expiry time to misjudge; SQLite's clock is its host's, which
        # every process sharing the file has; memory is one process.
        pytest.skip("no clock a replica could disagree on")
    backend = env.connect("honest-replica")
    name = unique_name()
    lease = backend.acquire(name, 30)
    assert lease is not None
    environ = cli_env()
    environ.update(
        PYTHONPATH=str(REPO_ROOT),
        LD_PRELOAD="/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
        FAKETIME="+90",
        FAKETIME_DONT_FAKE_MONOTONIC="1",
    )
    result = subprocess.run(
        [sys.executable, str(WORKER), "try", env.lock_url, env.db_url, name, "30"],
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    skewed_now, got = result.stdout.split()
    assert abs(float(skewed_now) - time.time() - 90) < 10  # the worker's clock really was off
    assert got == "none"
    lease.release()
    backend.close()


def test_names_up_to_255_characters_of_any_script_work(two: tuple[locks.LockBackend, ...]) -> None:
    a, b = two
    long_name = "é" + "ß" * 200 + "-" + "x" * 53
    assert len(long_name) == 255
    lease = a.acquire(long_name, 30)
    assert lease is not None
    assert b.acquire(long_name, 30) is None
    other = b.acquire(long_name[:-1] + "y", 30)  # differs in the last character only: another name
    assert other is not None
    lease.release()
    other.release()


def test_names_differing_only_in_letter_case_are_separate_leases(env: LockEnv) -> None:
    backend = env.connect("replica")
    lower = backend.acquire("nightly-job", 30)
    upper = backend.acquire("Nightly-Job", 30)
    assert lower is not None and upper is not None
    with env.engine.begin() as conn:  # each keeps its own fencing token
        locks.fenced(conn, "nightly-job", lower.token)
        locks.fenced(conn, "Nightly-Job", upper.token)
    lower.release()
    upper.release()
    backend.close()
