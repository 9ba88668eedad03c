"""``flaky_tests_summary`` from ``test_results``: per repository, test and environment, how often it ran,
how often it failed, and when.

- ``total_runs``: Trillian runs of the test's environment (hypervisor and version) in the repository; a
  test not listed in a run's table passed. Never less than the runs that listed the test.
- ``failure_count``: runs that listed the test as ``Failure`` or ``Error`` (``Skipped`` is not a failure);
  ``failure_rate`` = ``failure_count / total_runs``.
- ``first_failure``/``last_failure``: the first and last of those runs; ``last_seen``: the last run that
  listed the test at all.

Only rows whose figures changed are written (``updated_at`` is when they last changed) and rows of tests no
longer in ``test_results`` are deleted, so running it again gives the same table.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from scrapesched.db.clock import server_time
from scrapesched.db.schema import flaky_tests_summary, pr_trillian_comments, test_results
from scrapesched.db.types import UTCDateTime
from scrapesched.db.upsert import upsert

FAILURES = ("Failure", "Error")
Key = tuple[str, str, str, str]
FIGURES = ("total_runs", "failure_count", "failure_rate", "first_failure", "last_failure", "last_seen")


def _summaries(conn: Connection, repo: str) -> dict[Key, dict[str, Any]]:
    runs = {
        (r.hypervisor, r.version): int(r.runs)
        for r in conn.execute(
            sa.select(
                pr_trillian_comments.c.hypervisor,
                pr_trillian_comments.c.version,
                sa.func.count().label("runs"),
            )
            .where(pr_trillian_comments.c.repo == repo)
            .group_by(pr_trillian_comments.c.hypervisor, pr_trillian_comments.c.version)
        )
    }
    t = test_results.c
    failed = t.result.in_(FAILURES)
    query = (
        sa.select(
            t.test_name,
            t.test_file,
            t.hypervisor,
            t.hypervisor_version,
            sa.func.count().label("listed"),
            sa.func.sum(sa.case((failed, 1), else_=0)).label("failures"),
            sa.func.min(sa.case((failed, t.test_date), else_=None)).label("first_failure"),
            sa.func.max(sa.case((failed, t.test_date), else_=None)).label("last_failure"),
            sa.func.max(t.test_date).label("last_seen"),
        )
        .where(t.repo == repo)
        .group_by(t.test_name, t.test_file, t.hypervisor, t.hypervisor_version)
    )
    out: dict[Key, dict[str, Any]] = {}
    for r in conn.execute(query):
        total = max(runs.get((r.hypervisor, r.hypervisor_version), 0), int(r.listed))
        failures = int(r.failures or 0)
        out[(r.test_name, r.test_file, r.hypervisor, r.hypervisor_version)] = {
            "total_runs": total,
            "failure_count": failures,
            "failure_rate": round(failures / total, 6) if total else 0.0,
            "first_failure": _dt(r.first_failure),
            "last_failure": _dt(r.last_failure),
            "last_seen": _dt(r.last_seen),
        }
    return out


def _dt(value: Any) -> datetime | None:
    """Aggregates over CASE lose the column type on some backends: read them back as aware UTC."""
    if value is None or (isinstance(value, datetime) and value.tzinfo is not None):
        return value
    return UTCDateTime().process_result_value(value, None)  # type: ignore[arg-type]


def summarise_flaky_tests(conn: Connection, repo: str) -> int:
    """Bring ``flaky_tests_summary`` of ``repo`` up to date; returns the rows written or deleted."""
    wanted = _summaries(conn, repo)
    s = flaky_tests_summary.c
    stored: dict[Key, dict[str, Any]] = {
        (r.test_name, r.test_file, r.hypervisor, r.hypervisor_version): {f: getattr(r, f) for f in FIGURES}
        for r in conn.execute(sa.select(flaky_tests_summary).where(s.repo == repo))
    }
    now = server_time(conn)
    changed = [
        {"repo": repo, "test_name": k[0], "test_file": k[1], "hypervisor": k[2], "hypervisor_version": k[3],
         **figures, "updated_at": now}
        for k, figures in sorted(wanted.items())
        if stored.get(k) != figures
    ]
    written = upsert(conn, flaky_tests_summary, changed).rows if changed else 0
    for k in sorted(set(stored) - set(wanted)):
        written += conn.execute(
            sa.delete(flaky_tests_summary).where(
                s.repo == repo, s.test_name == k[0], s.test_file == k[1], s.hypervisor == k[2],
                s.hypervisor_version == k[3],
            )
        ).rowcount or 0
    return written
