"""The database itself enforces every natural key, identically on SQLite, MariaDB and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError, StatementError

from scrapesched.db.schema import pr_approvals, pr_health_labels, pr_states, test_results
from scrapesched.db.upsert import upsert

WHEN = datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)


def _result(**over: object) -> dict[str, object]:
    row: dict[str, object] = {
        "repo": "apache/cloudstack",
        "pr_number": 1,
        "test_name": "test_01_deploy_vm",
        "test_file": "test_vm_life_cycle.py",
        "hypervisor": "kvm",
        "hypervisor_version": "ol8",
        "test_date": WHEN,
        "result": "Failure",
        "time_seconds": 1.5,
    }
    row.update(over)
    return row


def _count(engine: sa.Engine, table: sa.Table) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def test_plain_insert_of_a_duplicate_key_is_refused_by_the_database(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        conn.execute(test_results.insert(), [_result()])
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(test_results.insert(), [_result(result="Error")])
    assert _count(engine, test_results) == 1


def test_missing_optional_key_parts_give_one_row_not_two(engine: sa.Engine) -> None:
    row = _result(test_file=None, hypervisor=None, hypervisor_version=None)
    for _ in range(2):
        with engine.begin() as conn:
            upsert(conn, test_results, [dict(row)])
    assert _count(engine, test_results) == 1
    with engine.connect() as conn:
        stored = conn.execute(sa.select(test_results.c.test_file, test_results.c.hypervisor)).one()
    assert tuple(stored) == ("", "")


def test_keys_differing_in_case_or_trailing_space_are_different_rows(engine: sa.Engine) -> None:
    names = ["needs-review", "Needs-Review", "needs-review ", "needs-review  "]
    with engine.begin() as conn:
        upsert(
            conn,
            pr_health_labels,
            [{"repo": "a/b", "pr_number": 7, "label_name": n, "pr_state": "open"} for n in names],
        )
    with engine.connect() as conn:
        stored = sorted(conn.execute(sa.select(pr_health_labels.c.label_name)).scalars())
    assert stored == sorted(names)


def test_long_test_names_that_share_a_prefix_stay_distinct(engine: sa.Engine) -> None:
    prefix = "test_" + "x" * 240
    rows = [_result(test_name=prefix + "_alpha"), _result(test_name=prefix + "_beta")]
    with engine.begin() as conn:
        upsert(conn, test_results, rows)
    assert _count(engine, test_results) == 2


def test_a_key_longer_than_its_bound_is_refused_not_truncated(engine: sa.Engine) -> None:
    with pytest.raises(StatementError, match="exceeds the key column"), engine.begin() as conn:
        upsert(conn, test_results, [_result(test_name="t" * 300)])
    assert _count(engine, test_results) == 0


def test_timestamps_round_trip_in_utc(engine: sa.Engine) -> None:
    local = WHEN.astimezone(timezone(timedelta(hours=-7)))
    with engine.begin() as conn:
        upsert(
            conn,
            pr_approvals,
            [
                {
                    "repo": "a/b",
                    "pr_number": 1,
                    "approver_login": "alice",
                    "approval_created_at": local,
                    "approval_state": "APPROVED",
                }
            ],
        )
    with engine.connect() as conn:
        stored = conn.execute(sa.select(pr_approvals.c.approval_created_at)).scalar_one()
    assert stored == WHEN
    assert stored.tzinfo is not None and stored.utcoffset() == timedelta(0)


def test_check_constraint_refuses_an_unknown_pr_state(engine: sa.Engine) -> None:
    # MariaDB reports a failed CHECK as error 4025 (an OperationalError); the others as IntegrityError.
    with pytest.raises(sa.exc.DBAPIError, match="pr_state"), engine.begin() as conn:
        conn.execute(
            pr_states.insert(), [{"repo": "a/b", "pr_number": 1, "pr_state": "reopened", "last_checked": WHEN}]
        )


def test_ids_are_bigint(engine: sa.Engine) -> None:
    big = 2**40
    with engine.begin() as conn:
        conn.execute(
            pr_states.insert(), [{"id": big, "repo": "a/b", "pr_number": big, "pr_state": "open", "last_checked": WHEN}]
        )
    with engine.connect() as conn:
        assert conn.execute(sa.select(pr_states.c.id, pr_states.c.pr_number)).one() == (big, big)
