"""The token store shared by threads: one replica's scheduler threads and keep-alives issue tokens at once
through one ``TokenStore`` (one held connection; a thread that finds it busy takes a pooled one), and every
token is issued once, in order, on SQLite, MariaDB and PostgreSQL."""

from __future__ import annotations

import threading
import uuid

import sqlalchemy as sa

from scrapesched.locks.tokens import TokenStore

THREADS = 8
EACH = 40


def test_tokens_issued_by_many_threads_through_one_store_are_distinct_and_none_is_lost(engine: sa.Engine) -> None:
    store = TokenStore(engine)
    name = f"threads-{uuid.uuid4().hex[:8]}"
    issued: list[list[int]] = [[] for _ in range(THREADS)]
    go = threading.Event()

    def issue(mine: list[int]) -> None:
        go.wait()
        for _ in range(EACH):
            mine.append(store.issue(name, "replica", 30.0))

    threads = [threading.Thread(target=issue, args=(mine,)) for mine in issued]
    for thread in threads:
        thread.start()
    go.set()
    for thread in threads:
        thread.join(60)
    every = sorted(token for mine in issued for token in mine)
    assert every == list(range(1, THREADS * EACH + 1))
    assert all(mine == sorted(mine) for mine in issued)  # each thread sees its tokens grow
    row = store.row(name)
    assert row is not None and row.token == THREADS * EACH
    store.close()
