"""Migrations: idempotent, safe when four replicas run them at once, and equal to the metadata."""

from __future__ import annotations

import subprocess

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from conftest import cli_env, scrapesched_cmd
from scrapesched.db.engine import connect_engine
from scrapesched.db.migrate import current_revision, head_revision, upgrade
from scrapesched.db.schema import metadata


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
