"""Migrations: idempotent, safe when four replicas run them at once, equal to the metadata, and keeping
the rows of the tables they rename."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext

from conftest import cli_env, scrapesched_cmd
from scrapesched import locks
from scrapesched.db.engine import connect_engine
from scrapesched.db.migrate import HEAD_REVISION, SCRIPT_LOCATION, current_revision, head_revision, upgrade
from scrapesched.db.schema import leases, metadata

HELD_UNTIL = datetime(2100, 1, 1, tzinfo=UTC)
LONG_AGO = datetime(2000, 1, 1, tzinfo=UTC)
# Two leases as a replica before the rename left them: one held (far into the future), one expired.
LEASE_ROWS = [
    {"name": "job:canary", "holder": "replica-a:41", "token": 7, "lock_until": HELD_UNTIL, "locked_at": LONG_AGO},
    {
        "name": "job:github_prs:apache/cloudstack",
        "holder": "replica-b:9",
        "token": 41,
        "lock_until": LONG_AGO,
        "locked_at": LONG_AGO,
    },
]


def test_head_revision_constant_is_the_newest_migration_script() -> None:
    # ``require_head`` compares the database with HEAD_REVISION without loading Alembic: a new migration must
    # update the constant, or a database one migration behind would pass the check.
    assert head_revision() == HEAD_REVISION


def test_migrate_twice_is_a_no_op(db_url: str) -> None:
    engine = connect_engine(db_url)
    first = upgrade(engine)
    second = upgrade(engine)
    assert first == (None, head_revision())
    assert second == (head_revision(), head_revision())
    engine.dispose()


def test_migrated_schema_equals_the_metadata(engine: sa.Engine) -> None:
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": False})
        diffs = compare_metadata(ctx, metadata)
    assert diffs == []


def test_migrated_schema_has_every_natural_key(engine: sa.Engine) -> None:
    inspector = sa.inspect(engine)
    for table in metadata.sorted_tables:
        uniques = {tuple(u["column_names"]) for u in inspector.get_unique_constraints(table.name)}
        uniques |= {tuple(i["column_names"]) for i in inspector.get_indexes(table.name) if i["unique"]}
        uniques.add(tuple(inspector.get_pk_constraint(table.name)["constrained_columns"]))
        assert tuple(table.info["key"]) in uniques, table.name


def test_four_replicas_migrating_at_once_end_with_one_schema(db_url: str) -> None:
    procs = [
        subprocess.Popen(
            [*scrapesched_cmd(), "migrate"],
            env=cli_env(database_url=db_url),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    outcomes = [(p.wait(timeout=180), p.stderr.read() if p.stderr else "") for p in procs]
    assert [code for code, _ in outcomes] == [0, 0, 0, 0], outcomes
    engine = connect_engine(db_url)
    with engine.connect() as conn:
        assert current_revision(conn) == head_revision()
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(ctx, metadata) == []
    engine.dispose()


def _migrate(engine: sa.Engine, revision: str, *, down: bool = False) -> None:
    """Upgrade (or downgrade) to ``revision`` exactly, not to head."""
    cfg = Config()
    cfg.set_main_option("script_location", SCRIPT_LOCATION)
    with engine.connect() as conn, conn.begin():
        cfg.attributes["connection"] = conn
        (command.downgrade if down else command.upgrade)(cfg, revision)


def _lease_rows(engine: sa.Engine, table: sa.Table) -> list[dict[str, object]]:
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(sa.select(table).order_by(table.c.token))]


@pytest.fixture
def engine_at_0002_with_leases(db_url: str) -> Iterator[sa.Engine]:
    """A database migrated to 0002 (the lease table still called ``locks``) holding ``LEASE_ROWS``."""
    engine = connect_engine(db_url)
    _migrate(engine, "0002")
    with engine.begin() as conn:
        conn.execute(leases.to_metadata(sa.MetaData(), name="locks").insert(), LEASE_ROWS)
    yield engine
    engine.dispose()


def test_held_leases_and_their_tokens_survive_the_lease_table_rename(engine_at_0002_with_leases: sa.Engine) -> None:
    engine = engine_at_0002_with_leases
    assert upgrade(engine) == ("0002", head_revision())
    assert "locks" not in sa.inspect(engine).get_table_names()
    assert _lease_rows(engine, leases) == LEASE_ROWS

    backend = locks.connect("table", engine=engine, holder_id="upgraded-replica")
    held = backend.holder("job:canary")
    assert held is not None and (held.holder, held.token, held.until) == ("replica-a:41", 7, HELD_UNTIL)
    assert backend.acquire("job:canary", 30) is None  # still held by its holder from before the upgrade
    with engine.begin() as conn:
        locks.fenced(conn, "job:canary", 7)  # the holder's writes stay fenced by its token
        with pytest.raises(locks.FencedOut):
            locks.fenced(conn, "job:canary", 6)
    taken = backend.acquire("job:github_prs:apache/cloudstack", 30)
    assert taken is not None and taken.token == 42  # the expired lease's counter carries on
    backend.close()


def test_downgrading_past_the_rename_gives_the_lease_table_back_with_its_rows(
    engine_at_0002_with_leases: sa.Engine,
) -> None:
    engine = engine_at_0002_with_leases
    upgrade(engine)
    _migrate(engine, "0002", down=True)
    assert leases.name not in sa.inspect(engine).get_table_names()
    assert _lease_rows(engine, leases.to_metadata(sa.MetaData(), name="locks")) == LEASE_ROWS
    assert upgrade(engine) == ("0002", head_revision())
    assert _lease_rows(engine, leases) == LEASE_ROWS


@pytest.fixture
def mariadb_url(db_url: str, backend: str) -> str:
    if backend != "mariadb":
        pytest.skip("MariaDB's key columns only")
    return db_url


def test_key_columns_converted_from_varbinary_read_as_str_by_a_plain_client_and_stay_exact(mariadb_url: str) -> None:
    import pymysql

    engine = connect_engine(mariadb_url)
    _migrate(engine, "0004")
    _migrate(engine, "0003", down=True)  # the key columns as 0003 left them: VARBINARY
    columns = {c["name"]: c["type"] for c in sa.inspect(engine).get_columns("pr_health_labels")}
    assert isinstance(columns["label_name"], sa.VARBINARY)
    insert = "INSERT INTO pr_health_labels (repo, pr_number, label_name) VALUES ('acme/gadgets', 1, %s)"
    url = sa.make_url(mariadb_url)
    plain = pymysql.connect(host=url.host, port=url.port or 3306, user=url.username, database=url.database)
    try:
        with plain.cursor() as cur:
            cur.executemany(insert, [(b"a",), (b"A",), (b"a ",)])
        plain.commit()
        _migrate(engine, "0004")
        with plain.cursor() as cur:
            cur.execute("SELECT repo, label_name FROM pr_health_labels ORDER BY id")
            rows = cur.fetchall()
            assert rows == (("acme/gadgets", "a"), ("acme/gadgets", "A"), ("acme/gadgets", "a ")), rows
            with pytest.raises(pymysql.err.IntegrityError):  # the UNIQUE key survived the conversion
                cur.execute(insert, ("a ",))
            cur.execute("SELECT COUNT(*) FROM pr_health_labels WHERE label_name = 'a'")
            assert cur.fetchone() == (1,)
    finally:
        plain.close()
        engine.dispose()
