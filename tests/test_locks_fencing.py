"""Fenced writes on the migrated schema of all three databases: the newest holder's write commits, an older
holder's write is refused and rolled back, and a new token is only issued after an in-flight fenced write
has committed."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable

import pytest
import sqlalchemy as sa

from scrapesched import locks
from scrapesched.db.retry import transaction

results = sa.Table(
    "sst_results",
    sa.MetaData(),
    sa.Column("name", sa.String(255), primary_key=True),
    sa.Column("value", sa.String(100), nullable=False),
    sa.Column("token", sa.BigInteger, nullable=False),
)


def prepare(engine: sa.Engine) -> str:
    name = f"fenced-{uuid.uuid4().hex[:8]}"
    results.create(engine, checkfirst=True)
    with engine.begin() as conn:
        conn.execute(sa.insert(results).values(name=name, value="", token=0))
    return name


def write(engine: sa.Engine, lease: locks.Lease, value: str) -> None:
    def work(conn: sa.Connection) -> None:
        conn.execute(sa.update(results).where(results.c.name == lease.name).values(value=value, token=lease.token))
        locks.fenced(conn, lease.name, lease.token)

    transaction(engine, work, what="fenced write")


def taken_during_fenced_write(
    engine: sa.Engine, old: locks.Lease, value: str, take: Callable[[], locks.Lease | None], note: str = ""
) -> locks.Lease:
    """Write ``value`` under ``old`` and hold that fenced write open while another thread runs ``take`` (an
    acquire of the same name): the take must wait for the write, which then commits. The lease taken, whose
    token must be newer."""
    taken: list[locks.Lease | None] = []
    with engine.connect() as conn:
        txn = conn.begin()
        conn.execute(sa.update(results).where(results.c.name == old.name).values(value=value, token=old.token))
        locks.fenced(conn, old.name, old.token)  # still the newest token: passes, and holds the row until commit
        thread = threading.Thread(target=lambda: taken.append(take()))
        thread.start()
        thread.join(0.5)
        assert thread.is_alive(), f"the take must wait for the fenced write's transaction{note}"
        txn.commit()
    thread.join(20)
    new = taken[0]
    assert new is not None and new.token > old.token
    return new


def stored(engine: sa.Engine, name: str) -> tuple[str, int]:
    with engine.connect() as conn:
        row = conn.execute(sa.select(results.c.value, results.c.token).where(results.c.name == name)).one()
    return row.value, row.token


def test_the_newest_holders_fenced_write_commits(engine: sa.Engine) -> None:
    name = prepare(engine)
    backend = locks.connect("table", engine=engine, holder_id="writer")
    lease = backend.acquire(name, 30)
    assert lease is not None
    write(engine, lease, "mine")
    write(engine, lease, "mine again")  # as often as it likes while it is the newest holder
    assert stored(engine, name) == ("mine again", lease.token)
    backend.close()


def test_an_older_holders_fenced_write_is_refused_and_rolled_back(engine: sa.Engine) -> None:
    name = prepare(engine)
    old_backend = locks.connect("table", engine=engine, holder_id="old")
    new_backend = locks.connect("table", engine=engine, holder_id="new")
    old = old_backend.acquire(name, 0.3, keepalive=False)
    assert old is not None
    time.sleep(0.5)
    new = new_backend.acquire(name, 30)
    assert new is not None
    write(engine, new, "newer result")
    with pytest.raises(locks.FencedOut, match=f"token {old.token} is stale, token {new.token} was issued"):
        write(engine, old, "stale result")
    assert stored(engine, name) == ("newer result", new.token)
    old_backend.close()
    new_backend.close()


def test_a_new_token_is_issued_only_after_an_in_flight_fenced_write_commits(engine: sa.Engine) -> None:
    name = prepare(engine)
    old_backend = locks.connect("table", engine=engine, holder_id="old")
    new_backend = locks.connect("table", engine=engine, holder_id="new")
    old = old_backend.acquire(name, 0.3, keepalive=False)
    assert old is not None
    time.sleep(0.5)  # expired: the next acquire will take it over
    new = taken_during_fenced_write(engine, old, "old result", lambda: new_backend.acquire(name, 30, wait=20))
    assert stored(engine, name) == ("old result", old.token)  # committed before the new holder existed
    with pytest.raises(locks.FencedOut):
        write(engine, old, "too late")
    write(engine, new, "new result")
    assert stored(engine, name) == ("new result", new.token)
    old_backend.close()
    new_backend.close()


def test_fenced_refuses_bad_tokens_and_names_without_a_token(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        with pytest.raises(locks.InvalidLockArgument):
            locks.fenced(conn, "job", 0)
        with pytest.raises(locks.InvalidLockName):
            locks.fenced(conn, "", 1)
        with pytest.raises(locks.FencedOut, match="no token was ever issued"):
            locks.fenced(conn, f"never-{uuid.uuid4().hex}", 1)
