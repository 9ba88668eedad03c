"""Writing what the GitHub jobs fetched: one ``PrBundle`` per pull request, all its rows in one transaction
through the upsert path (the streams' cursors are in ``scrapers.github.cursors``).

Newest snapshot wins. ``pr_states`` is upserted with a version guard on GitHub's ``updated_at``; the rows
that follow from the same snapshot (labels, reviews) are written only where the stored ``updated_at`` is
then equal to the bundle's, i.e. where this snapshot is the newest one written. The guarded upsert locks
the pull request's row, so concurrent writers of one pull request (``github_prs`` and
``pr_states_refresh``, a manual run) take turns and an older snapshot can never overwrite a newer one.
Rows from comments are facts about one comment each (keyed by its ``created_at``): Trillian results and
their tests are upserted, the Codecov report is guarded by the comment's ``updated_at``, an LGTM comment
never overwrites a review with the same key, and an LGTM edited away is deleted.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection, Table

from scrapesched.db.clock import server_time
from scrapesched.db.schema import (
    natural_key,
    pr_approvals,
    pr_codecov_comments,
    pr_health_labels,
    pr_states,
    pr_trillian_comments,
    test_failures,
    test_results,
)
from scrapesched.db.upsert import DEFAULT_BATCH_SIZE, upsert
from scrapesched.scrapers.github.etags import EtagStore
from scrapesched.scrapers.github.rows import (
    CommentFact,
    codecov_row,
    failure_rows,
    label_names,
    label_rows,
    lgtm_row,
    parse_time,
    pr_state_row,
    review_rows,
    trillian_rows,
)


@dataclass
class PrBundle:
    """What one run learned about one pull request: its JSON (None: only comments changed), its reviews
    (None: not fetched) and its changed comments."""

    number: int
    pull: dict[str, Any] | None = None
    reviews: list[dict[str, Any]] | None = None
    facts: list[CommentFact] = field(default_factory=list)
    etag_rows: list[dict[str, Any]] = field(default_factory=list)


def latest_codecov(facts: list[CommentFact]) -> CommentFact | None:
    """The newest Codecov report among a pull request's comments (last written, then last posted)."""
    reports = [f for f in facts if f.kind == "codecov"]
    return max(reports, key=lambda f: (f.updated_at, f.created_at, f.comment_id), default=None)


class BundleWriter:
    """Writes bundles of one repository; ``write`` runs inside the caller's (fenced, retried) transaction."""

    def __init__(self, repo: str, batch_size: int = DEFAULT_BATCH_SIZE) -> None:
        self.repo = repo
        self.batch_size = batch_size

    def _upsert(self, conn: Connection, table: Table, rows: list[dict[str, Any]], **options: Any) -> int:
        """``db.upsert`` at this writer's batch size (``db_batch_size``): the rows written."""
        return upsert(conn, table, rows, batch_size=self.batch_size, **options).rows

    def write(self, conn: Connection, bundles: list[PrBundle], etag_rows: list[dict[str, Any]] | None = None) -> int:
        """Write every bundle's rows and the validators they came from (plus ``etag_rows``: those of the
        pages listing them); returns the number of rows written or deleted."""
        EtagStore.save(conn, [row for b in bundles for row in b.etag_rows] + list(etag_rows or ()))
        if not bundles:
            return 0
        now = server_time(conn)
        written = 0
        with_pull = [b for b in bundles if b.pull is not None]
        if with_pull:
            rows = [pr_state_row(self.repo, b.pull, now) for b in with_pull if b.pull is not None]
            written += self._upsert(conn, pr_states, rows, newer="updated_at")
        stored = self._stored(conn, [b.number for b in bundles])
        fresh = [
            b for b in with_pull
            if b.pull is not None and stored.get(b.number, (None, None))[0] == parse_time(b.pull.get("updated_at"))
        ]
        titles = {n: title for n, (_, title) in stored.items()}
        written += self._labels(conn, fresh)
        written += self._codecov_placeholders(conn, fresh)
        written += self._reviews(conn, [b for b in fresh if b.reviews is not None])
        written += self._comments(conn, bundles, titles)
        return written

    def _stored(self, conn: Connection, numbers: list[int]) -> dict[int, tuple[datetime | None, str | None]]:
        query = sa.select(pr_states.c.pr_number, pr_states.c.updated_at, pr_states.c.pr_title).where(
            pr_states.c.repo == self.repo, pr_states.c.pr_number.in_(sorted(set(numbers)))
        )
        return {int(r.pr_number): (r.updated_at, r.pr_title) for r in conn.execute(query)}

    def _labels(self, conn: Connection, fresh: list[PrBundle]) -> int:
        if not fresh:
            return 0
        rows = [row for b in fresh if b.pull is not None for row in label_rows(self.repo, b.pull)]
        written = self._upsert(conn, pr_health_labels, rows) if rows else 0
        wanted = {b.number: label_names(b.pull) for b in fresh if b.pull is not None}
        query = sa.select(pr_health_labels.c.pr_number, pr_health_labels.c.label_name).where(
            pr_health_labels.c.repo == self.repo, pr_health_labels.c.pr_number.in_(sorted(wanted))
        )
        gone: dict[int, list[str]] = defaultdict(list)
        for r in conn.execute(query):
            if r.label_name not in wanted[int(r.pr_number)]:
                gone[int(r.pr_number)].append(r.label_name)
        for number, names in sorted(gone.items()):  # a label removed on GitHub is removed here
            result = conn.execute(
                sa.delete(pr_health_labels).where(
                    pr_health_labels.c.repo == self.repo,
                    pr_health_labels.c.pr_number == number,
                    pr_health_labels.c.label_name.in_(sorted(names)),
                )
            )
            written += result.rowcount or 0
        return written

    def _codecov_placeholders(self, conn: Connection, fresh: list[PrBundle]) -> int:
        """Every pull request gets a Codecov row (``codecov_present`` false until a report arrives); the
        guard keeps a stored report (its ``codecov_updated_at`` is newer than NULL)."""
        rows = [
            codecov_row(self.repo, b.number, b.pull.get("title"), None)
            for b in fresh
            if b.pull is not None and latest_codecov(b.facts) is None
        ]
        if not rows:
            return 0
        return self._upsert(conn, pr_codecov_comments, rows, newer="codecov_updated_at")

    def _reviews(self, conn: Connection, fresh: list[PrBundle]) -> int:
        """Reviews in their current state; a review no longer listed is deleted (LGTM rows are not reviews)."""
        if not fresh:
            return 0
        rows = [
            row
            for b in fresh
            if b.pull is not None and b.reviews is not None
            for row in review_rows(self.repo, b.number, b.pull.get("title"), b.reviews)
        ]
        written = self._upsert(conn, pr_approvals, rows) if rows else 0
        keep = {(r["pr_number"], r["approver_login"], r["approval_created_at"]) for r in rows}
        query = sa.select(
            pr_approvals.c.id, pr_approvals.c.pr_number, pr_approvals.c.approver_login,
            pr_approvals.c.approval_created_at,
        ).where(
            pr_approvals.c.repo == self.repo,
            pr_approvals.c.pr_number.in_(sorted(b.number for b in fresh)),
            pr_approvals.c.approval_state != "LGTM",
        )
        stale = [
            r.id for r in conn.execute(query)
            if (int(r.pr_number), r.approver_login, r.approval_created_at) not in keep
        ]
        if stale:
            written += conn.execute(sa.delete(pr_approvals).where(pr_approvals.c.id.in_(sorted(stale)))).rowcount or 0
        return written

    def _comments(self, conn: Connection, bundles: list[PrBundle], titles: dict[int, str | None]) -> int:
        written = 0
        lgtm, trillian, tests, failures, codecov = [], [], [], [], []
        unapproved: list[CommentFact] = []
        for b in bundles:
            title = b.pull.get("title") if b.pull is not None else titles.get(b.number)
            for fact in b.facts:
                if fact.kind == "lgtm":
                    lgtm.append(lgtm_row(self.repo, fact, title))
                elif fact.kind == "not_lgtm" and fact.edited:
                    unapproved.append(fact)
                elif fact.kind == "trillian":
                    row, rows = trillian_rows(self.repo, fact, title)
                    trillian.append(row)
                    tests += rows
                    failures += failure_rows(self.repo, fact)
            report = latest_codecov(b.facts)
            if report is not None:
                codecov.append(codecov_row(self.repo, b.number, title, report))
        if lgtm:  # a review with the same key keeps its state
            written += self._upsert(conn, pr_approvals, lgtm, update=["pr_title"])
        for fact in unapproved:  # an LGTM edited away
            written += conn.execute(
                sa.delete(pr_approvals).where(
                    pr_approvals.c.repo == self.repo,
                    pr_approvals.c.pr_number == fact.number,
                    pr_approvals.c.approver_login == fact.login,
                    pr_approvals.c.approval_created_at == fact.created_at,
                    pr_approvals.c.approval_state == "LGTM",
                )
            ).rowcount or 0
        if codecov:
            written += self._upsert(conn, pr_codecov_comments, codecov, newer="codecov_updated_at")
        if trillian:
            written += self._upsert(conn, pr_trillian_comments, trillian)
        if tests:
            written += self._upsert(conn, test_results, tests)
        if failures:  # one row per key: two results of one pull request in the same second name a test once
            unique = {tuple(r[k] for k in natural_key(test_failures)): r for r in failures}
            written += self._upsert(conn, test_failures, list(unique.values()))
        return written
