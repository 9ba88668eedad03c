"""Issue 16, "cheap per fire": a MariaDB/MySQL transaction that committed is not followed by a ROLLBACK round
trip when its connection goes back to the pool, and one that did not end is still rolled back there."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from scrapesched.db.engine import create_engine
from scrapesched.db.retry import transaction


@pytest.mark.parametrize("backend", ["mariadb"])
def test_a_committed_transaction_costs_no_rollback_and_an_unfinished_one_is_rolled_back(db_url: str) -> None:
    engine = create_engine(db_url, pool_size=1, max_overflow=0)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE probe (id INT PRIMARY KEY, v INT)")
            conn.exec_driver_sql("INSERT INTO probe VALUES (1, 0)")
        bump = sa.text("UPDATE probe SET v = v + 1 WHERE id = 1")

        def rollbacks() -> int:  # this session's count, read on the pool's one connection
            with engine.connect() as conn:  # which ends this read's own transaction with one ROLLBACK
                return int(conn.exec_driver_sql("SHOW SESSION STATUS LIKE 'Com_rollback'").one()[1])

        before = rollbacks()
        for _ in range(20):
            transaction(engine, lambda conn: conn.execute(bump))
        assert rollbacks() == before + 1  # the first read's own, none for the 20 committed transactions

        conn = engine.connect()
        conn.exec_driver_sql("UPDATE probe SET v = 1000 WHERE id = 1")
        conn.close()  # returned without a commit
        with engine.connect() as check:
            assert check.exec_driver_sql("SELECT v FROM probe").scalar() == 20
    finally:
        engine.dispose()
