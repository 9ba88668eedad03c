"""Adopting seed 000's legacy database, in real ``scrapesched`` processes on MariaDB and PostgreSQL: migrate
stops on duplicate keys with the dedupe commands and changes nothing, dedupe (dry run, then --apply), migrate
completes, the old rows keep their ids with ``repo`` set, a sync updates them in place, the seed's own
queries still run; a migrate or dedupe SIGKILLed midway completes when run again."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from github_support import TOKEN

from conftest import FIXTURES, REPO_ROOT, cli_env, run_cli
from scrapesched.db.engine import connect_engine
from scrapesched.db.schema import test_results
from scrapesched.testing.fake_github import FakeGitHub

REPO = "apache/cloudstack"
WORKER = REPO_ROOT / "tests" / "workers" / "killed_midway.py"
WHEN = datetime(2025, 11, 3, 9, 30)
DUPLICATED = ("pr_approvals", "pr_health_labels", "test_results")


@pytest.fixture
def server_url(db_url: str, backend: str) -> str:
    if backend == "sqlite":
        pytest.skip("adoption is for MariaDB/MySQL and PostgreSQL databases")
    return db_url


@pytest.fixture
def legacy(server_url: str, backend: str) -> Iterator[sa.Engine]:
    """The database with seed 000's legacy tables (tests/fixtures/legacy/), empty."""
    ddl = (FIXTURES / "legacy" / f"seed000_{backend}.sql").read_text()
    body = "\n".join(line for line in ddl.splitlines() if not line.startswith("--"))
    engine = connect_engine(server_url)
    with engine.begin() as conn:
        for statement in filter(str.strip, body.split(";")):
            conn.exec_driver_sql(statement)
    yield engine
    engine.dispose()


def _fill(engine: sa.Engine, pr: int, label: str, *, duplicates: bool) -> None:
    """Legacy rows the old scraper wrote: one PR with a stale title, its label, approvals, test results (with
    NULL optional key parts) and a flaky summary; ``duplicates``: the seed's duplicate rows too."""
    rows = {
        "pr_states": [{"pr_number": pr, "pr_title": "stale title", "pr_state": "open", "assignees": ""}],
        "pr_health_labels": [{"pr_number": pr, "label_name": label, "pr_title": "stale title", "pr_state": "open"}],
        "pr_approvals": [
            {"pr_number": pr, "approver_login": "old-reviewer", "approval_state": "LGTM", "approval_created_at": WHEN}
        ],
        "test_results": [
            {
                "pr_number": pr,
                "test_name": "test_01_deploy_vm",
                "test_file": None,
                "result": "Failure",
                "hypervisor": "kvm",
                "hypervisor_version": None,
                "test_date": WHEN,
            },
            {
                "pr_number": pr,
                "test_name": "test_01_Deploy_VM",
                "test_file": "",
                "result": "Error",
                "hypervisor": "kvm",
                "hypervisor_version": "",
                "test_date": WHEN,
            },
        ],
        "flaky_tests_summary": [
            {
                "test_name": "test_01_deploy_vm",
                "test_file": "test_vm_life_cycle.py",
                "hypervisor": "kvm",
                "hypervisor_version": "ol8",
                "total_runs": 9,
            }
        ],
    }
    if duplicates:  # the old scraper's re-inserts; a NULL and a '' optional key part are the same key
        rows["pr_health_labels"] *= 3
        rows["pr_approvals"] *= 2
        rows["test_results"].append({**rows["test_results"][0], "test_file": "", "result": "Error"})
    with engine.begin() as conn:
        for table, values in rows.items():
            columns = ", ".join(values[0])
            params = ", ".join(f":{c}" for c in values[0])
            conn.execute(sa.text(f"INSERT INTO {table} ({columns}) VALUES ({params})"), values)


def _columns(engine: sa.Engine, table: str) -> set[str]:
    return {c["name"] for c in sa.inspect(engine).get_columns(table)}


def _seed_queries(backend: str, database: str) -> list[str]:
    """Seed 000's verification and monitoring queries (MySQL), and their PostgreSQL spelling."""
    having = "cnt > 1" if backend == "mariadb" else "COUNT(*) > 1"
    schema = database if backend == "mariadb" else "public"
    week = "INTERVAL 7 DAY" if backend == "mariadb" else "INTERVAL '7 days'"
    hours = "INTERVAL 2 HOUR" if backend == "mariadb" else "INTERVAL '2 hours'"
    return [
        f"""SELECT 'pr_states', pr_number, COUNT(*) as cnt FROM pr_states GROUP BY pr_number HAVING {having}
        UNION ALL SELECT 'pr_codecov', pr_number, COUNT(*) FROM pr_codecov_comments GROUP BY pr_number
        HAVING COUNT(*) > 1
        UNION ALL SELECT 'pr_health_labels', pr_number, COUNT(*) FROM pr_health_labels
        GROUP BY pr_number, label_name HAVING COUNT(*) > 1""",
        f"""SELECT TABLE_NAME, CONSTRAINT_NAME, CONSTRAINT_TYPE FROM information_schema.TABLE_CONSTRAINTS
        WHERE TABLE_SCHEMA = '{schema}' AND CONSTRAINT_TYPE = 'UNIQUE' ORDER BY TABLE_NAME""",
        f"""SELECT DATE(created_at) as date, COUNT(*) as new_rows FROM test_results
        WHERE created_at > NOW() - {week} GROUP BY DATE(created_at)""",
        f"""SELECT table_name, MAX(updated_at) as last_update FROM (
          SELECT 'pr_states' as table_name, MAX(last_checked) as updated_at FROM pr_states
          UNION ALL SELECT 'flaky_tests_summary', MAX(updated_at) FROM flaky_tests_summary
        ) t GROUP BY table_name HAVING MAX(updated_at) < NOW() - {hours}""",
    ]


def test_legacy_database_is_adopted_after_dedupe_and_a_sync_updates_its_rows_in_place(
    legacy: sa.Engine, server_url: str, backend: str
) -> None:
    with FakeGitHub.seeded(repos=[REPO], prs_per_repo=4, seed=13) as fake:
        truth = fake.truth(REPO)
        pr, label = sorted(truth.labels)[0]
        _fill(legacy, pr, label, duplicates=True)
        env = cli_env(database_url=server_url)
        adopt_env = {**env, "SCRAPESCHED_ADOPT_REPO": REPO}

        missing_repo = run_cli("migrate", env=env)
        assert missing_repo.returncode == 2
        assert "SCRAPESCHED_ADOPT_REPO" in missing_repo.stderr and len(missing_repo.stderr.splitlines()) == 1

        stopped = run_cli("migrate", env=adopt_env)
        assert stopped.returncode == 1, stopped.stderr
        lines = stopped.stderr.splitlines()
        assert "Traceback" not in stopped.stderr and len(lines) == 1 + len(DUPLICATED), lines
        for table, line in zip(DUPLICATED, lines[1:], strict=True):
            assert line.startswith(f"{table}: 1 keys") and f"`scrapesched dedupe {table} --apply`" in line
        assert "alembic_version" not in sa.inspect(legacy).get_table_names()  # nothing was changed
        assert not any("repo" in _columns(legacy, t) for t in DUPLICATED)

        dry = run_cli("dedupe", "pr_health_labels", env=env)
        assert dry.returncode == 0 and "would delete 2 rows" in dry.stdout, dry.stdout + dry.stderr
        for table, surplus in zip(DUPLICATED, (1, 2, 1), strict=True):
            applied = run_cli("dedupe", table, "--apply", env=env)
            assert applied.returncode == 0, applied.stderr
            assert f"deleted {surplus} rows" in applied.stdout, applied.stdout
        with legacy.connect() as conn:
            old_ids: dict[int, int] = {n: i for n, i in conn.execute(sa.text("SELECT pr_number, id FROM pr_states"))}

        adopted = run_cli("migrate", env=adopt_env)
        assert adopted.returncode == 0, adopted.stderr
        with legacy.connect() as conn:
            for table in ("pr_states", "pr_health_labels", "pr_approvals", "test_results", "flaky_tests_summary"):
                repos = conn.execute(sa.text(f"SELECT repo, COUNT(*) FROM {table} GROUP BY repo")).all()
                assert [tuple(r) for r in repos] == [(REPO, 2 if table == "test_results" else 1)], table
            names = conn.execute(sa.select(test_results.c.test_name).order_by(test_results.c.id)).scalars().all()
        assert names == ["test_01_Deploy_VM", "test_01_deploy_vm"]  # case kept apart (exact keys), newest kept
        assert run_cli("check", env=env).returncode == 0

        synced = run_cli(
            "run-once",
            "github_prs",
            "--shard",
            REPO,
            env={**env, "SCRAPESCHED_REPOS": REPO, "SCRAPESCHED_GITHUB_API_URL": fake.url, "GITHUB_TOKEN": TOKEN},
        )
        assert synced.returncode == 0, synced.stderr
    with legacy.connect() as conn:
        states = conn.execute(sa.text("SELECT id, pr_title FROM pr_states WHERE pr_number = :n"), {"n": pr}).all()
        assert [tuple(r) for r in states] == [(old_ids[pr], truth.pr_states[pr]["pr_title"])]  # in place
        labels = conn.execute(
            sa.text("SELECT COUNT(*) FROM pr_health_labels WHERE pr_number = :n AND label_name = :l"),
            {"n": pr, "l": label},
        ).scalar_one()
        assert labels == 1
        for query in _seed_queries(backend, legacy.url.database or ""):
            conn.execute(sa.text(query)).all()
        uniques = conn.execute(sa.text(_seed_queries(backend, legacy.url.database or "")[1])).all()
    assert {"uq_pr_states", "uq_test_results", "uq_flaky_tests_summary"} <= {r[1] for r in uniques}


def _worker(*args: str) -> subprocess.CompletedProcess[str]:
    env = cli_env()
    env["PYTHONPATH"] = str(REPO_ROOT)
    return subprocess.run(
        [sys.executable, str(WORKER), *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_migrate_killed_during_adoption_completes_when_run_again(legacy: sa.Engine, server_url: str) -> None:
    _fill(legacy, 7, "status:needs-review", duplicates=False)
    killed = _worker("migrate", server_url, REPO, "1")  # right after the first DDL: a column added, not filled
    assert killed.returncode == -signal.SIGKILL, killed.stdout + killed.stderr
    assert "alembic_version" not in sa.inspect(legacy).get_table_names()

    env = cli_env(database_url=server_url, adopt_repo=REPO)
    done = run_cli("migrate", env=env)
    assert done.returncode == 0, done.stderr
    assert run_cli("check", env=env).returncode == 0
    with legacy.connect() as conn:
        assert conn.execute(sa.text("SELECT repo, pr_number FROM pr_states")).all() == [(REPO, 7)]


def test_dedupe_killed_after_its_first_batch_finishes_when_run_again(engine: sa.Engine) -> None:
    base = {
        "repo": REPO,
        "pr_number": 1,
        "test_file": "f.py",
        "hypervisor": "kvm",
        "hypervisor_version": "ol8",
        "test_date": WHEN.replace(tzinfo=UTC),
        "result": "Failure",
    }
    keys = [f"test_{i}" for i in range(4)]
    no_key = test_results.to_metadata(sa.MetaData())  # the table as a legacy database might hold it: no key
    no_key.constraints = {c for c in no_key.constraints if not isinstance(c, sa.UniqueConstraint)}
    with engine.begin() as conn:
        test_results.drop(conn)
        no_key.create(conn)
        conn.execute(no_key.insert(), [{**base, "test_name": k, "result": str(n)} for n in range(3) for k in keys])
    url = engine.url.render_as_string(hide_password=False)
    killed = _worker("dedupe", url, "test_results", "3")
    assert killed.returncode == -signal.SIGKILL, killed.stdout + killed.stderr
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(no_key)).scalar_one() == 12 - 3

    finished = run_cli("dedupe", "test_results", "--apply", "--batch-size", "3", env=cli_env(database_url=url))
    assert finished.returncode == 0, finished.stderr
    assert "deleted 5 rows" in finished.stdout
    with engine.connect() as conn:
        kept = conn.execute(sa.select(no_key.c.test_name, no_key.c.result).order_by(no_key.c.test_name)).all()
    assert [tuple(r) for r in kept] == [(k, "2") for k in keys]  # the newest (highest id) of each key


def test_failed_migrate_is_one_line_and_leaves_no_empty_alembic_version(server_url: str) -> None:
    engine = connect_engine(server_url)
    with engine.begin() as conn:  # a view is not a table we can adopt: creating ours fails
        conn.exec_driver_sql("CREATE VIEW pr_states AS SELECT 1 AS pr_number")
    failed = run_cli("migrate", env=cli_env(database_url=server_url))
    assert failed.returncode == 1, failed.stderr
    assert failed.stderr.startswith("scrapesched: error: migrate failed: ") and len(failed.stderr.splitlines()) == 1
    assert "CREATE TABLE" not in failed.stderr
    assert "alembic_version" not in sa.inspect(engine).get_table_names()
    engine.dispose()
