"""Checking the database against the fake GitHub's ground truth (``FakeGitHub.truth``): used by the tests,
the benchmark and ``scrapesched demo``.

``differences`` lists, per table, what the database has that the truth does not and the other way round;
``duplicate_keys`` lists natural keys stored more than once (the UNIQUE constraints should make that
impossible, the demo checks it anyway).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Engine, Table

from scrapesched.db.schema import (
    flaky_tests_summary,
    natural_key,
    pr_approvals,
    pr_codecov_comments,
    pr_health_labels,
    pr_states,
    pr_trillian_comments,
    test_results,
)
from scrapesched.testing.fake_github import Truth

SEED_TABLES: tuple[Table, ...] = (
    pr_states,
    pr_health_labels,
    pr_approvals,
    pr_codecov_comments,
    pr_trillian_comments,
    test_results,
    flaky_tests_summary,
)
STATE_FIELDS = (
    "pr_title", "pr_state", "author", "assignees", "draft", "created_at", "updated_at", "closed_at", "merged_at",
    "head_sha", "base_ref",
)
CODECOV_FIELDS = ("project_coverage", "patch_coverage", "coverage_change", "base_sha", "head_sha", "codecov_created_at")
SHOWN = 5  # differences shown per table


def _rows(engine: Engine, table: Table, repo: str) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(sa.select(table).where(table.c.repo == repo)))


def _compare(name: str, stored: dict[Any, Any], truth: dict[Any, Any]) -> list[str]:
    out: list[str] = []
    for key in sorted(set(stored) | set(truth), key=repr):
        if key not in truth:
            out.append(f"{name}: unexpected {key!r} = {stored[key]!r}")
        elif key not in stored:
            out.append(f"{name}: missing {key!r} = {truth[key]!r}")
        elif stored[key] != truth[key]:
            out.append(f"{name}: {key!r} is {stored[key]!r}, expected {truth[key]!r}")
    if len(out) > SHOWN:
        out = [*out[:SHOWN], f"{name}: ... and {len(out) - SHOWN} more"]
    return out


def _as_set(items: Iterable[Any]) -> dict[Any, bool]:
    return dict.fromkeys(items, True)


def differences(engine: Engine, truth: Truth, repo: str) -> list[str]:
    """Everything in which the seed tables of ``repo`` differ from ``truth`` (empty: they are equal)."""
    states = {r.pr_number: {f: getattr(r, f) for f in STATE_FIELDS} for r in _rows(engine, pr_states, repo)}
    labels = _as_set((r.pr_number, r.label_name) for r in _rows(engine, pr_health_labels, repo))
    approvals = {
        (r.pr_number, r.approver_login, r.approval_created_at): r.approval_state
        for r in _rows(engine, pr_approvals, repo)
    }
    codecov = {
        r.pr_number: {f: getattr(r, f) for f in CODECOV_FIELDS} if r.codecov_present else None
        for r in _rows(engine, pr_codecov_comments, repo)
    }
    trillian = {
        (r.pr_number, r.hypervisor, r.version, r.trillian_created_at): {
            "test_id": int(r.test_id) if r.test_id and r.test_id.isdigit() else r.test_id,
            "environment": r.environment,
            "passed": r.passed,
            "failed": r.failed,
            "skipped": r.skipped,
            "duration_seconds": r.duration_seconds,
            "logs_url": r.logs_url,
        }
        for r in _rows(engine, pr_trillian_comments, repo)
    }
    tests = _as_set(
        (r.pr_number, r.test_name, r.test_file, r.hypervisor, r.hypervisor_version, r.test_date, r.result)
        for r in _rows(engine, test_results, repo)
    )
    return [
        *_compare("pr_states", states, truth.pr_states),
        *_compare("pr_health_labels", labels, _as_set(truth.labels)),
        *_compare("pr_approvals", approvals, truth.approvals),
        *_compare("pr_codecov_comments", codecov, truth.codecov),
        *_compare("pr_trillian_comments", trillian, truth.trillian),
        *_compare("test_results", tests, _as_set(truth.test_results)),
    ]


def duplicate_keys(engine: Engine, tables: Iterable[Table] = SEED_TABLES) -> list[str]:
    """Natural keys stored more than once, per table."""
    out = []
    with engine.connect() as conn:
        for table in tables:
            cols = [table.c[c] for c in natural_key(table)]
            query = sa.select(*cols, sa.func.count().label("n")).group_by(*cols).having(sa.func.count() > 1)
            out += [f"{table.name}: key {tuple(row)[:-1]!r} stored {row.n} times" for row in conn.execute(query)]
    return out


def table_counts(engine: Engine, tables: Iterable[Table] = SEED_TABLES) -> dict[str, int]:
    with engine.connect() as conn:
        return {t.name: int(conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()) for t in tables}

