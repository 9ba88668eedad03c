"""The one upsert path: refused targets, in-batch collapsing, counters, version guard, batching."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from scrapesched.config.errors import SchemaError
from scrapesched.db.schema import http_error_summary, natural_key, pr_states, test_results
from scrapesched.db.upsert import upsert

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def _rows(engine: sa.Engine, table: sa.Table) -> list[sa.Row[object]]:
    with engine.connect() as conn:
        return list(conn.execute(sa.select(table).order_by(table.c.id)))


def _hits(host: str, status: int, n: int, at: datetime, kind: str = "") -> dict[str, object]:
    return {"host": host, "status_code": status, "error_type": kind, "count": n, "first_seen": at, "last_seen": at}


def test_conflict_target_without_unique_constraint_is_refused_before_any_sql(engine: sa.Engine) -> None:
    # Seed 001: ON CONFLICT(host, status_code) against a table whose UNIQUE key is something else.
    statements: list[str] = []
    sa.event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    with pytest.raises(SchemaError, match=r"http_error_summary on \(host, status_code\)"):
        with engine.begin() as conn:
            upsert(conn, http_error_summary, [_hits("h", 500, 1, T0)], key=("host", "status_code"))
    assert not any("http_error_summary" in s for s in statements)


def test_counters_are_added_in_the_database(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        upsert(
            conn,
            http_error_summary,
            [_hits("api.github.com", 502, 3, T0)],
            increment=["count"],
            least=["first_seen"],
            greatest=["last_seen"],
        )
    with engine.begin() as conn:
        upsert(
            conn,
            http_error_summary,
            [
                _hits("api.github.com", 502, 4, T0 - timedelta(hours=1)),
                _hits("api.github.com", 502, 5, T0 + timedelta(hours=1)),
            ],
            increment=["count"],
            least=["first_seen"],
            greatest=["last_seen"],
        )
    (row,) = _rows(engine, http_error_summary)
    assert row.count == 12
    assert row.first_seen == T0 - timedelta(hours=1)
    assert row.last_seen == T0 + timedelta(hours=1)


def test_same_key_twice_in_one_batch_collapses_last_wins(engine: sa.Engine) -> None:
    base = {
        "repo": "a/b",
        "pr_number": 1,
        "test_name": "t",
        "test_file": "f.py",
        "hypervisor": "kvm",
        "hypervisor_version": "ol8",
        "test_date": T0,
    }
    with engine.begin() as conn:
        result = upsert(
            conn,
            test_results,
            [{**base, "result": "Failure", "time_seconds": 1.0}, {**base, "result": "Error", "time_seconds": 2.0}],
        )
    assert result.rows == 1
    (row,) = _rows(engine, test_results)
    assert (row.result, row.time_seconds) == ("Error", 2.0)


def _pr(number: int, title: str, updated: datetime) -> dict[str, object]:
    return {
        "repo": "a/b",
        "pr_number": number,
        "pr_title": title,
        "pr_state": "open",
        "updated_at": updated,
        "last_checked": updated,
    }


def test_version_guard_never_puts_older_data_back(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        upsert(conn, pr_states, [_pr(1, "new title", T0 + timedelta(minutes=5))], newer="updated_at")
    with engine.begin() as conn:
        upsert(conn, pr_states, [_pr(1, "stale title", T0)], newer="updated_at")
    (row,) = _rows(engine, pr_states)
    assert row.pr_title == "new title"
    with engine.begin() as conn:
        upsert(conn, pr_states, [_pr(1, "newest title", T0 + timedelta(minutes=9))], newer="updated_at")
    (row,) = _rows(engine, pr_states)
    assert (row.pr_title, row.updated_at) == ("newest title", T0 + timedelta(minutes=9))


def test_many_rows_go_in_batches_and_all_arrive(engine: sa.Engine) -> None:
    rows = [_pr(n, f"pr {n}", T0) for n in range(1, 101)]
    with engine.begin() as conn:
        first = upsert(conn, pr_states, rows, batch_size=7, count=True)
    assert first.statements == 15
    assert first.rows == 100
    changed = [_pr(n, f"pr {n} v2", T0) for n in range(1, 51)] + [_pr(n, "x", T0) for n in range(101, 151)]
    with engine.begin() as conn:
        second = upsert(conn, pr_states, changed, batch_size=40, count=True)
    assert len(_rows(engine, pr_states)) == 150
    if engine.dialect.name == "postgresql":
        assert (first.inserted, first.updated) == (100, 0)
        assert (second.inserted, second.updated) == (50, 50)
    if engine.dialect.name == "mysql":
        assert second.updated == 50


def test_failed_transaction_leaves_nothing_half_written(engine: sa.Engine) -> None:
    good = [_pr(n, "ok", T0) for n in range(1, 11)]
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
        upsert(conn, pr_states, good, batch_size=5)
        conn.execute(pr_states.insert(), [{**_pr(1, "dup", T0)}])
    assert _rows(engine, pr_states) == []


def test_unknown_column_is_refused(engine: sa.Engine) -> None:
    with pytest.raises(SchemaError, match="no column bogus"), engine.begin() as conn:
        upsert(conn, pr_states, [{**_pr(1, "t", T0), "bogus": 1}])


def test_large_writes_behave_like_small_ones(engine: sa.Engine) -> None:
    """Above ``COPY_MIN_ROWS`` PostgreSQL takes the COPY + staging-table path: same results (counters summed,
    least/greatest, exact keys that differ only in case or trailing space), also for two large upserts into
    one table inside one transaction, and exact inserted/updated counts when asked."""
    from scrapesched.db.upsert import COPY_MIN_ROWS

    n = COPY_MIN_ROWS + 500
    hosts = [f"h{i}.example" for i in range(n - 2)] + ["Case.example", "case.example "]
    first = [_hits(h, 502, 1, T0) for h in hosts]
    second = [_hits(h, 502, 2, T0 + timedelta(hours=1)) for h in hosts]
    agg = {"increment": ["count"], "least": ["first_seen"], "greatest": ["last_seen"]}
    with engine.begin() as conn:
        upsert(conn, http_error_summary, first, **agg)  # type: ignore[arg-type]
        upsert(conn, http_error_summary, second, **agg)  # type: ignore[arg-type]
    rows = _rows(engine, http_error_summary)
    assert len(rows) == n
    assert {r.host for r in rows} == set(hosts)
    assert {(r.count, r.first_seen, r.last_seen) for r in rows} == {(3, T0, T0 + timedelta(hours=1))}
    if engine.dialect.name == "postgresql":
        third = [_hits(h, 502, 1, T0) for h in [*hosts, "new.example"]]
        with engine.begin() as conn:
            result = upsert(conn, http_error_summary, third, count=True, **agg)  # type: ignore[arg-type]
        assert (result.inserted, result.updated) == (1, n)


def test_a_bad_value_is_refused_the_same_way_in_large_writes(engine: sa.Engine) -> None:
    """A key longer than its column or a naive timestamp is refused with the same error whether the write
    is small or large (PostgreSQL's COPY path above ``COPY_MIN_ROWS``), and nothing is written."""
    from scrapesched.db.upsert import COPY_MIN_ROWS

    good = [_hits(f"h{i}.example", 502, 1, T0) for i in range(COPY_MIN_ROWS + 10)]
    bad_rows = (
        ({**good[-1], "host": "h" * 1000}, "exceeds the key column"),
        ({**good[-1], "first_seen": datetime(2024, 1, 1)}, "naive datetime"),
    )
    for size in (1, len(good)):
        for bad, message in bad_rows:
            with pytest.raises(sa.exc.StatementError, match=message), engine.begin() as conn:
                upsert(conn, http_error_summary, [*good[: size - 1], bad])
    assert _rows(engine, http_error_summary) == []


def test_rows_naming_different_columns_are_refused(engine: sa.Engine) -> None:
    row = _pr(1, "t", T0)
    other = {k: v for k, v in _pr(2, "t", T0).items() if k != "pr_title"}
    for rows in ([row, other], [other, row], [row, {**other, "draft": True}]):
        with pytest.raises(SchemaError, match="every row must name the same columns"), engine.begin() as conn:
            upsert(conn, pr_states, rows)
    assert _rows(engine, pr_states) == []


def test_calls_with_different_options_on_one_connection_each_keep_their_own(engine: sa.Engine) -> None:
    """Statements are compiled once per connection and column set/options: a later call with other options on
    the same connection must not reuse an earlier call's statement."""
    with engine.begin() as conn:
        upsert(conn, pr_states, [_pr(1, "first", T0)])
        upsert(conn, pr_states, [_pr(1, "older", T0 - timedelta(hours=1))], newer="updated_at")  # refused
        upsert(conn, pr_states, [_pr(1, "insert only", T0 + timedelta(hours=1))], update=[])  # row exists
        assert [r.pr_title for r in conn.execute(sa.select(pr_states.c.pr_title))] == ["first"]
        upsert(conn, pr_states, [_pr(1, "second", T0 - timedelta(hours=2))])  # no guard: overwrites
    (row,) = _rows(engine, pr_states)
    assert (row.pr_title, row.updated_at) == ("second", T0 - timedelta(hours=2))


def _result(i: int, **values: object) -> dict[str, object]:
    return {
        "repo": "a/b",
        "pr_number": 7000 + i % 7,
        "test_name": f"test_{i}",
        "test_file": "",
        "hypervisor": "kvm",
        "hypervisor_version": "",
        "test_date": T0 + timedelta(seconds=i),
        "result": "Success",
        "time_seconds": 1.5,
        "logs_url": None,
        **values,
    }


def test_large_writes_store_the_values_small_ones_store_whatever_their_python_types(engine: sa.Engine) -> None:
    """PostgreSQL's COPY path (binary where the values' Python types allow it, text otherwise) stores exactly
    what row-by-row statements store: NULLs, ints in a float column, timestamps in another zone than UTC,
    numbers given as text."""
    from scrapesched.db.upsert import COPY_MIN_ROWS

    n = COPY_MIN_ROWS + 10
    plus_two = timezone(timedelta(hours=2))
    typed = [
        _result(
            i,
            time_seconds=(None, 3, 0.1 + i)[i % 3],
            logs_url=None if i % 2 else f"https://x/{i}",
            test_date=(T0 + timedelta(seconds=i, microseconds=i)).astimezone(plus_two if i % 5 == 0 else UTC),
        )
        for i in range(n)
    ]
    loose = [{**row, "pr_number": str(row["pr_number"])} for row in typed]
    columns = [c for c in test_results.c if c.name != "id"]
    for rows in (typed, loose):
        stored = []
        for size in (500, n):  # small upserts, then one large one
            with engine.begin() as conn:
                conn.execute(test_results.delete())
                for start in range(0, n, size):
                    upsert(conn, test_results, rows[start : start + size])
            with engine.connect() as conn:
                stored.append(sorted(conn.execute(sa.select(*columns)).all(), key=lambda r: r.test_name))
        assert len(stored[1]) == n
        assert stored[1] == stored[0]
    assert stored[0][0].test_date == T0


def test_rows_are_written_in_key_order_whatever_order_they_come_in(engine: sa.Engine) -> None:
    """On the server databases rows are written (and their rows locked) in key order, small writes and
    large ones alike, so concurrent writers cannot deadlock on each other: new rows get their ids in key
    order."""
    if engine.dialect.name == "sqlite":
        pytest.skip("an SQLite writer holds the whole file's write lock: rows are written as given")
    from scrapesched.db.upsert import COPY_MIN_ROWS

    for n in (50, COPY_MIN_ROWS + 10):
        rows = [_result(i) for i in range(n)]
        random.Random(n).shuffle(rows)
        with engine.begin() as conn:
            conn.execute(test_results.delete())
            upsert(conn, test_results, rows)
        key = [test_results.c[c] for c in natural_key(test_results)]
        with engine.connect() as conn:
            by_id = conn.execute(sa.select(*key).order_by(test_results.c.id)).all()
        assert [tuple(r) for r in by_id] == sorted(tuple(r[c.name] for c in key) for r in rows)


def test_a_large_write_on_an_autocommit_connection_arrives_whole(engine: sa.Engine) -> None:
    """The COPY path's staging table empties at every commit: on a connection in autocommit mode it runs in a
    transaction of its own, so the COPY's own commit does not throw the rows away before they are moved."""
    if engine.dialect.name == "sqlite":
        pytest.skip("the SQLite engine begins every transaction itself (BEGIN IMMEDIATE), autocommit or not")
    from scrapesched.db.upsert import COPY_MIN_ROWS

    rows = [_hits(f"h{i}.example", 502, 1, T0) for i in range(COPY_MIN_ROWS + 10)]
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        upsert(conn, http_error_summary, rows, increment=["count"])
        upsert(conn, http_error_summary, rows, increment=["count"])
    stored = _rows(engine, http_error_summary)
    assert len(stored) == len(rows)
    assert {r._mapping["count"] for r in stored} == {2}
