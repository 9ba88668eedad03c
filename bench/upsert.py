"""Benchmark of the one upsert path against the seed's per-row pattern and a plain INSERT ceiling.

On each backend (SQLite, MariaDB, PostgreSQL; a fresh database ``bench_<random>`` per server backend, dropped
at the end, a temporary file for SQLite) it writes ``test_results`` rows three ways:

(a) ``db.upsert`` (default batch size 500) in transactions of ``--txn-rows`` rows through ``db.transaction``,
    after pre-loading half of ``--rows`` keys: the timed write is ``--rows`` rows, half of them existing keys
    with changed values and half new keys, shuffled. Checked afterwards: ``--rows`` rows, as many distinct
    natural keys, every row carrying the new values.
(b) the seed's pattern: per row ``SELECT id ... WHERE <every key column> = ?``, then UPDATE by id if found or
    INSERT if not, one statement per row, in the same transactions as (a). Per-row work is slow, so (b) is
    timed on a sample of ``--per-row-sample`` rows with the same half-new/half-existing mix against the same
    pre-loaded table, and reported as rows/s. It is timed a second time with one transaction per row, closer
    to the seed (which ran each statement in autocommit); the table reports the first, faster figure.
(d) the fastest plain upsert each driver offers, with no SQLAlchemy in the way (the peer of issue 16): SQLite
    ``executemany`` of ``INSERT ... ON CONFLICT DO UPDATE`` with tuples; MariaDB/MySQL PyMySQL ``executemany``
    of ``INSERT ... ON DUPLICATE KEY UPDATE`` (which PyMySQL sends as multi-row statements); PostgreSQL the
    fastest of psycopg ``executemany`` of ``INSERT ... ON CONFLICT`` and ``COPY`` (text or binary) into a
    temporary table then one ``INSERT ... SELECT ... ON CONFLICT DO UPDATE``. Same pre-loaded table and rows
    as (a); the tuples are built from the same dicts inside the timing. a/d is the ratio issue 16 sets (>= 0.9).
(c) the ceiling: a plain INSERT of ``--rows`` new rows into an empty table, in the same transactions, both
    as an executemany (``conn.execute(table.insert(), rows)``) and as multi-row ``insert().values(batch)``
    statements of the upsert's batch size; the faster of the two is reported.

Usage::

    .venv/bin/python -m bench.upsert [--backends sqlite,mariadb,postgres] [--rows 100000]
                                     [--per-row-sample 5000] [--txn-rows 5000] [--batch-size 5000]
                                     [--ad-rounds N]

Prints a Markdown table (rows/s, a/c and a/b) and a few detail lines per backend. Timings are never a test.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from scrapesched.db.retry import transaction
from scrapesched.db.schema import natural_key, test_results
from scrapesched.db.upsert import DEFAULT_BATCH_SIZE, UpsertResult, upsert
from scrapesched.testing.scratch import BACKENDS, ServerUrls, migrated_database

Row = dict[str, Any]

T0 = datetime(2024, 3, 1, 6, 0, tzinfo=UTC)
TESTS_PER_RUN = 100
REPOS = ("apache/cloudstack", "apache/cloudstack-kubernetes-provider", "shapeblue/cloudstack-terraform")
HYPERVISORS = (
    ("kvm", "ol8"),
    ("kvm", "ubuntu22"),
    ("kvm", "alma9"),
    ("xenserver", "8.2"),
    ("xenserver", "7.1.2"),
    ("vmware", "7.0u3"),
    ("vmware", "8.0"),
)
ACTIONS = (
    "deploy_and_scale_kubernetes_cluster",
    "create_vpc_with_network_acl",
    "migrate_vm_with_volume",
    "restore_vm_snapshot",
    "attach_detach_iso",
    "upgrade_kubernetes_cluster",
    "reboot_router_in_isolated_network",
    "create_template_from_snapshot",
)
AREAS = ("kubernetes_clusters", "vpc_network", "vm_life_cycle", "vm_snapshots", "iso", "routers", "templates")
RESULTS = ("Failure", "Error", "Success", "Skipped")


# --- data ---------------------------------------------------------------------------------------------------


def make_row(i: int, attempt: int) -> Row:
    """Key ``i`` of a realistic ``test_results`` row; ``attempt`` changes only the non-key values."""
    run, t = divmod(i, TESTS_PER_RUN)
    hypervisor, version = HYPERVISORS[run % len(HYPERVISORS)]
    pr_number = 7000 + run // len(HYPERVISORS)
    area = AREAS[t % len(AREAS)]
    rnd = random.Random(i * 7 + attempt)
    return {
        "repo": REPOS[run % len(REPOS)],
        "pr_number": pr_number,
        "test_name": f"test_{t % 30:02d}_{ACTIONS[t % len(ACTIONS)]}_{t}",
        "test_file": f"test/integration/smoke/test_{area}.py",
        "hypervisor": hypervisor,
        "hypervisor_version": version,
        "test_date": T0 + timedelta(minutes=37 * run, seconds=t, microseconds=i % 1000),
        "result": RESULTS[rnd.randrange(len(RESULTS))],
        "time_seconds": round(rnd.uniform(1.0, 3600.0), 3),
        "logs_url": f"https://download.cloudstack.org/results/pr/{pr_number}/{run}/{area}.log?attempt={attempt}",
    }


def workload(rows: int) -> tuple[list[Row], list[Row]]:
    """(pre-load, timed write): keys 0..rows/2 first; then those keys changed plus as many new, shuffled."""
    half = rows // 2
    preload = [make_row(i, attempt=1) for i in range(half)]
    write = [make_row(i, attempt=2) for i in range(rows)]
    random.Random(42).shuffle(write)
    return preload, write


def sample(write: list[Row], preloaded: int, size: int) -> list[Row]:
    """``size`` rows of the timed write with the same mix: half existing keys, half new."""
    key = natural_key(test_results)
    existing = {tuple(r[c] for c in key) for r in (make_row(i, 1) for i in range(preloaded))}
    old = [r for r in write if tuple(r[c] for c in key) in existing][: size // 2]
    new = [r for r in write if tuple(r[c] for c in key) not in existing][: size - size // 2]
    mixed = old + new
    random.Random(7).shuffle(mixed)
    return mixed


def chunks(rows: Sequence[Row], size: int) -> Iterator[Sequence[Row]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


# --- databases ----------------------------------------------------------------------------------------------


def empty_table(engine: sa.Engine) -> None:
    if engine.dialect.name == "sqlite":
        transaction(engine, _delete_all)
    else:
        with engine.begin() as conn:
            conn.exec_driver_sql("TRUNCATE TABLE test_results")


def _delete_all(conn: sa.Connection) -> None:
    conn.execute(test_results.delete())


def _insert(rows: Sequence[Row], conn: sa.Connection) -> None:
    conn.execute(test_results.insert(), list(rows))


def plain_insert(engine: sa.Engine, rows: Sequence[Row], txn_rows: int) -> None:
    for chunk in chunks(rows, txn_rows):
        transaction(engine, partial(_insert, chunk))
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("ANALYZE test_results")


def count(engine: sa.Engine, where: sa.ColumnElement[bool] | None = None) -> int:
    stmt = sa.select(sa.func.count()).select_from(test_results)
    if where is not None:
        stmt = stmt.where(where)
    with engine.connect() as conn:
        return int(conn.execute(stmt).scalar_one())


def distinct_keys(engine: sa.Engine) -> int:
    keys = sa.select(*(test_results.c[c] for c in natural_key(test_results))).distinct().subquery()
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(keys)).scalar_one())


# --- the three ways of writing ------------------------------------------------------------------------------


@dataclass
class Upserted:
    inserted: int | None = 0
    updated: int | None = 0
    statements: int = 0


def _upsert(rows: Sequence[Row], batch_size: int, conn: sa.Connection) -> UpsertResult:
    return upsert(conn, test_results, rows, batch_size=batch_size)


def write_upsert(engine: sa.Engine, rows: Sequence[Row], txn_rows: int, batch_size: int) -> Upserted:
    """(a): ``db.upsert`` per transaction of ``txn_rows`` rows."""
    out = Upserted()
    for chunk in chunks(rows, txn_rows):
        result = transaction(engine, partial(_upsert, chunk, batch_size))
        out.statements += result.statements
        out.inserted = None if out.inserted is None or result.inserted is None else out.inserted + result.inserted
        out.updated = None if out.updated is None or result.updated is None else out.updated + result.updated
    return out


def _select_then_write(rows: Sequence[Row], conn: sa.Connection) -> tuple[int, int]:
    key = natural_key(test_results)
    find = sa.select(test_results.c.id).where(*(test_results.c[c] == sa.bindparam("k_" + c) for c in key))
    values = [c.name for c in test_results.c if c.name not in key and c.name != "id"]
    change = (
        test_results.update()
        .where(test_results.c.id == sa.bindparam("row_id"))
        .values({c: sa.bindparam("v_" + c) for c in values})
    )
    inserted = updated = 0
    for row in rows:
        found = conn.execute(find, {"k_" + c: row[c] for c in key}).scalar()
        if found is None:
            conn.execute(test_results.insert(), row)
            inserted += 1
        else:
            conn.execute(change, {"row_id": found, **{"v_" + c: row[c] for c in values}})
            updated += 1
    return inserted, updated


def write_per_row(engine: sa.Engine, rows: Sequence[Row], txn_rows: int) -> tuple[int, int]:
    """(b): the seed's SELECT-then-INSERT/UPDATE, one row at a time, per transaction of ``txn_rows`` rows."""
    inserted = updated = 0
    for chunk in chunks(rows, txn_rows):
        i, u = transaction(engine, partial(_select_then_write, chunk))
        inserted, updated = inserted + i, updated + u
    return inserted, updated


def write_executemany(engine: sa.Engine, rows: Sequence[Row], txn_rows: int, batch_size: int) -> None:
    """(c) as one executemany per transaction."""
    for chunk in chunks(rows, txn_rows):
        transaction(engine, partial(_insert, chunk))


def _insert_multirow(rows: Sequence[Row], batch_size: int, conn: sa.Connection) -> None:
    for batch in chunks(rows, batch_size):
        conn.execute(test_results.insert().values(list(batch)))


def write_multirow(engine: sa.Engine, rows: Sequence[Row], txn_rows: int, batch_size: int) -> None:
    """(c) as multi-row ``INSERT ... VALUES (...), (...)`` statements of ``batch_size`` rows."""

    for chunk in chunks(rows, txn_rows):
        transaction(engine, partial(_insert_multirow, chunk, batch_size))


# --- (d) the drivers' own fastest upsert ---------------------------------------------------------------------


def _raw_columns() -> tuple[list[str], list[str]]:
    key = list(natural_key(test_results))
    columns = [c.name for c in test_results.c if c.name != "id"]
    return columns, [c for c in columns if c not in key]


def _naive(value: Any) -> Any:
    return value.astimezone(UTC).replace(tzinfo=None) if isinstance(value, datetime) else value


def _sqlite_text(value: Any) -> Any:  # as SQLAlchemy stores a DATETIME in SQLite: always with microseconds
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f") if isinstance(value, datetime) else value


def _tuples(rows: Sequence[Row], columns: Sequence[str], dialect: str = "") -> list[tuple[Any, ...]]:
    convert = _sqlite_text if dialect == "sqlite" else _naive
    return [tuple(convert(r[c]) for c in columns) for r in rows]


def _raw_sql(dialect: str) -> str:
    columns, values = _raw_columns()
    names = ", ".join(columns)
    key = ", ".join(natural_key(test_results))
    if dialect in ("mysql", "mariadb"):
        marks = ", ".join(["%s"] * len(columns))
        sets = ", ".join(f"{c} = VALUES({c})" for c in values)
        return f"INSERT INTO test_results ({names}) VALUES ({marks}) ON DUPLICATE KEY UPDATE {sets}"
    mark = "?" if dialect == "sqlite" else "%s"
    marks = ", ".join([mark] * len(columns))
    sets = ", ".join(f"{c} = excluded.{c}" for c in values)
    return f"INSERT INTO test_results ({names}) VALUES ({marks}) ON CONFLICT ({key}) DO UPDATE SET {sets}"


def _raw_executemany(rows: Sequence[Row], conn: sa.Connection) -> None:
    columns, _ = _raw_columns()
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    cursor.executemany(_raw_sql(conn.dialect.name), _tuples(rows, columns, conn.dialect.name))
    cursor.close()


def _raw_copy(rows: Sequence[Row], conn: sa.Connection, binary: bool = False) -> None:
    columns, values = _raw_columns()
    names = ", ".join(columns)
    key = ", ".join(natural_key(test_results))
    sets = ", ".join(f"{c} = excluded.{c}" for c in values)
    raw = conn.connection.driver_connection
    with raw.cursor() as cur:  # type: ignore[union-attr]
        cur.execute(
            "CREATE TEMP TABLE IF NOT EXISTS bench_stage (LIKE test_results INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
        )
        types = []
        if binary:  # the staging table's column types, which binary COPY must be told
            cur.execute(f"SELECT {names} FROM bench_stage LIMIT 0")
            types = [c.type_code for c in cur.description]
        with cur.copy(f"COPY bench_stage ({names}) FROM STDIN" + (" (FORMAT BINARY)" if binary else "")) as copy:
            if binary:
                copy.set_types(types)
            for row in _tuples(rows, columns):
                copy.write_row(row)
        cur.execute(
            f"INSERT INTO test_results ({names}) SELECT {names} FROM bench_stage "
            f"ON CONFLICT ({key}) DO UPDATE SET {sets}"
        )


def write_raw(engine: sa.Engine, rows: Sequence[Row], txn_rows: int, way: Callable[..., None]) -> None:
    for chunk in chunks(rows, txn_rows):
        transaction(engine, partial(way, chunk))


def raw_ways(dialect: str) -> dict[str, Callable[..., None]]:
    ways: dict[str, Callable[..., None]] = {"driver executemany": _raw_executemany}
    if dialect == "postgresql":
        ways["COPY + INSERT ... SELECT"] = _raw_copy
        ways["binary COPY + INSERT ... SELECT"] = partial(_raw_copy, binary=True)
    return ways


# --- one backend --------------------------------------------------------------------------------------------


@dataclass
class Measured:
    backend: str
    upsert_rps: float = 0.0
    per_row_rps: float = 0.0
    per_row_autocommit_rps: float = 0.0
    insert_rps: float = 0.0
    raw_upsert_rps: float = 0.0
    notes: list[str] = field(default_factory=list)


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def check(ok: bool, what: str) -> None:
    if not ok:
        raise SystemExit(f"correctness check failed: {what}")


def run_backend(backend: str, args: argparse.Namespace, workdir: Path, servers: ServerUrls) -> Measured:
    rows, txn_rows, batch_size = args.rows, args.txn_rows, args.batch_size
    preload, write = workload(rows)
    per_row = sample(write, len(preload), args.per_row_sample)
    fresh = [make_row(i, attempt=1) for i in range(rows)]
    out = Measured(backend)
    with migrated_database(backend, workdir, servers, prefix="bench_") as (_, engine):
        version = engine.dialect.server_version_info
        out.notes.append(f"server {'.'.join(str(v) for v in version or ())}, driver {engine.dialect.driver}")

        # (c) the ceiling, both ways, each into an empty table.
        ceilings: dict[str, float] = {}
        ways: Mapping[str, Callable[[sa.Engine, Sequence[Row], int, int], None]] = {
            "executemany": write_executemany,
            "multi-row VALUES": write_multirow,
        }
        for name, way in ways.items():
            empty_table(engine)
            seconds, _ = timed(partial(way, engine, fresh, txn_rows, batch_size))
            check(count(engine) == rows, f"(c) {name} wrote {count(engine)} rows, not {rows}")
            ceilings[name] = rows / seconds
            out.notes.append(f"(c) {name}: {rows} rows in {seconds:.2f} s = {rows / seconds:,.0f} rows/s")
        best = max(ceilings, key=lambda k: ceilings[k])
        out.insert_rps = ceilings[best]
        out.notes.append(f"(c) reported: {best}")

        # (a) the batched upsert over a half-loaded table.
        empty_table(engine)
        plain_insert(engine, preload, txn_rows)
        seconds, res = timed(partial(write_upsert, engine, write, txn_rows, batch_size))
        out.upsert_rps = rows / seconds
        total, keys = count(engine), distinct_keys(engine)
        fresh_values = count(engine, test_results.c.logs_url.like("%attempt=2"))
        check(total == rows, f"(a) left {total} rows, not {rows}")
        check(keys == rows, f"(a) left {keys} distinct keys, not {rows}")
        check(fresh_values == rows, f"(a) {rows - fresh_values} rows kept their old values")
        split = ", ".join(
            f"{what}: {'not reported' if n is None else n}"
            for n, what in ((res.inserted, "inserted"), (res.updated, "updated"))
        )
        out.notes.append(
            f"(a) {rows} rows ({len(preload)} pre-loaded keys) in {seconds:.2f} s = {out.upsert_rps:,.0f} rows/s; "
            f"{res.statements} statements; {split}; verified {total} rows = {keys} distinct keys, no duplicates"
        )

        # (d) the driver's own fastest upsert, same pre-loaded table and rows as (a).
        raw: dict[str, float] = {}
        for name, fn in raw_ways(engine.dialect.name).items():
            empty_table(engine)
            plain_insert(engine, preload, txn_rows)
            seconds, _ = timed(partial(write_raw, engine, write, txn_rows, fn))
            check(count(engine) == rows and distinct_keys(engine) == rows, f"(d) {name} row count")
            check(count(engine, test_results.c.logs_url.like("%attempt=2")) == rows, f"(d) {name} values")
            raw[name] = rows / seconds
            out.notes.append(f"(d) {name}: {rows} rows in {seconds:.2f} s = {rows / seconds:,.0f} rows/s")
        fastest = max(raw, key=lambda k: raw[k])
        out.raw_upsert_rps = raw[fastest]
        out.notes.append(f"(d) reported: {fastest}; a/d = {out.upsert_rps / out.raw_upsert_rps:.2f}")
        if args.ad_rounds:  # (a) and (d) interleaved, each on a freshly pre-loaded table: best of each
            way = raw_ways(engine.dialect.name)[fastest]
            fastest_rps = {"a": 0.0, "d": 0.0}
            for _ in range(args.ad_rounds):
                for which in ("a", "d"):
                    empty_table(engine)
                    plain_insert(engine, preload, txn_rows)
                    write_fn = (
                        partial(write_upsert, engine, write, txn_rows, batch_size)
                        if which == "a"
                        else partial(write_raw, engine, write, txn_rows, way)
                    )
                    seconds, _ = timed(write_fn)
                    fastest_rps[which] = max(fastest_rps[which], rows / seconds)
            out.notes.append(
                f"a/d interleaved, best of {args.ad_rounds} each: (a) {fastest_rps['a']:,.0f} rows/s, "
                f"(d) {fastest} {fastest_rps['d']:,.0f} rows/s, a/d = {fastest_rps['a'] / fastest_rps['d']:.2f}"
            )

        # (b) the seed's per-row pattern on a sample, same pre-loaded table: first in the same transactions
        # as (a) (the table's figure), then one transaction per row, closer to the seed's autocommit.
        for per_txn in (txn_rows, 1):
            empty_table(engine)
            plain_insert(engine, preload, txn_rows)
            seconds, (ins, upd) = timed(partial(write_per_row, engine, per_row, per_txn))
            rps = len(per_row) / seconds
            check((ins, upd) == (len(per_row) - len(per_row) // 2, len(per_row) // 2), f"(b) split {ins}/{upd}")
            check(count(engine) == len(preload) + ins, "(b) row count")
            if per_txn == txn_rows:
                out.per_row_rps = rps
            else:
                out.per_row_autocommit_rps = rps
            out.notes.append(
                f"(b) SAMPLE of {len(per_row)} rows ({ins} new, {upd} existing), not {rows}, "
                f"{f'transactions of {per_txn} rows' if per_txn > 1 else 'one transaction per row'}: "
                f"{seconds:.2f} s = {rps:,.0f} rows/s (a/b {out.upsert_rps / rps:.1f}x)"
            )
    return out


# --- report -------------------------------------------------------------------------------------------------


def table(results: Sequence[Measured], per_row_sample: int) -> str:
    lines = [
        "| backend | (a) upsert rows/s | (b) select-then-insert rows/s "
        f"(sample of {per_row_sample:,}) | (c) plain insert rows/s | (d) driver's fastest upsert rows/s "
        "| a/c | a/b | a/d |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r.backend} | {r.upsert_rps:,.0f} | {r.per_row_rps:,.0f} | {r.insert_rps:,.0f} "
            f"| {r.raw_upsert_rps:,.0f} | {r.upsert_rps / r.insert_rps:.0%} | {r.upsert_rps / r.per_row_rps:.1f}x "
            f"| {r.upsert_rps / r.raw_upsert_rps:.2f} |"
        )
    return "\n".join(lines)


def verdict(r: Measured) -> str:
    ac, ab = r.upsert_rps / r.insert_rps, r.upsert_rps / r.per_row_rps
    parts = [
        f"a/c {ac:.0%} {'meets' if ac >= 0.5 else 'MISSES'} the 50% target",
        f"a/b {ab:.1f}x {'meets' if ab >= 20 else 'MISSES'} the 20x target",
        f"a/d {r.upsert_rps / r.raw_upsert_rps:.2f} "
        f"{'meets' if r.upsert_rps >= 0.9 * r.raw_upsert_rps else 'MISSES'} the 0.9 target (issue 16)",
    ]
    parts.append(f"(against (b) with one transaction per row: {r.upsert_rps / r.per_row_autocommit_rps:.1f}x)")
    return f"{r.backend}: " + "; ".join(parts)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--backends", default=",".join(BACKENDS), help="comma-separated: sqlite,mariadb,postgres")
    parser.add_argument("--rows", type=int, default=100_000, help="rows written by (a) and (c); even")
    parser.add_argument("--per-row-sample", type=int, default=5_000, help="rows written by (b); even")
    parser.add_argument("--txn-rows", type=int, default=5_000, help="rows per transaction, all three ways")
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE, help="upsert / multi-row batch size")
    parser.add_argument("--ad-rounds", type=int, default=0,
                        help="also time (a) and (d) interleaved this many times each and report the best of each")
    args = parser.parse_args(argv)
    args.backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = [b for b in args.backends if b not in BACKENDS]
    if unknown:
        parser.error(f"unknown backend {', '.join(unknown)}; choose from {', '.join(BACKENDS)}")
    if args.rows < 2 or args.rows % 2:
        parser.error("--rows must be an even number >= 2")
    if args.per_row_sample < 2 or args.per_row_sample % 2 or args.per_row_sample > args.rows:
        parser.error("--per-row-sample must be even, >= 2 and at most --rows")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    servers = ServerUrls.from_env()
    results: list[Measured] = []
    with tempfile.TemporaryDirectory(prefix="bench_upsert_") as tmp:
        for backend in args.backends:
            print(f"running {backend} ...", file=sys.stderr, flush=True)
            results.append(run_backend(backend, args, Path(tmp), servers))
    print(
        f"{args.rows:,} rows (a, c); (b) measured on a sample of {args.per_row_sample:,} rows, reported as rows/s; "
        f"transactions of {args.txn_rows:,} rows; batch size {args.batch_size}\n"
    )
    print(table(results, args.per_row_sample))
    print()
    for r in results:
        print(f"{r.backend}:")
        for note in r.notes:
            print(f"  {note}")
    print()
    for r in results:
        print(verdict(r))
    return 0


if __name__ == "__main__":
    sys.exit(main())
