"""The fake GitHub's ground truth: what a correct scraper stores for one repository (:class:`Truth`),
computed from the data set independently of the scraper's parsers.

The LGTM rule of docs/github.md is implemented here on its own (not with ``scrapers.parsers.lgtm``), so
a bug in the parser shows up as a difference instead of being copied into the truth.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from scrapesched.testing.fake_github.comments import CODECOV_BOT, TRILLIAN_BOT, CodecovSpec, TrillianResultSpec
from scrapesched.testing.fake_github.model import IssueComment, PullRequest, Repo, is_bot

GHOST = "ghost"  # GitHub's placeholder account for deleted users: what the scraper stores for "user": null

# LGTM approvals, the rule of docs/github.md: the word lgtm on a line that is not quoted or code, not
# followed by "?" or "cancel", and with no negation among the four words before it in the same clause.
_LGTM = re.compile(r"(?<![\w-])/?lgtm(?![\w-])(?![\s*_]*(?:\?|cancel\b))", re.IGNORECASE)
_LGTM_NEGATION = re.compile(r"^(?:not|no|never|without|nor|cannot|\w*n['\u2019]t)$", re.IGNORECASE)


@dataclass(frozen=True)
class Truth:
    """What a correct scraper stores for one repository, keyed the way our tables are.

    - ``pr_states``: number -> pr_title, pr_state ("open"|"closed"|"merged"), author, assignees (sorted
      logins joined by ","), draft, created_at, updated_at, closed_at, merged_at (aware UTC or None),
      head_sha, base_ref.
    - ``labels``: (number, label name).
    - ``approvals``: (number, login, submitted_at) -> review state (DISMISSED once dismissed), and
      (number, login, comment created_at) -> "LGTM" for human comments that approve by the LGTM rule
      of docs/github.md: the word LGTM anywhere on a line, unless quoted, in code, negated ("not
      LGTM") or asked ("LGTM?"). A review wins a (rare) key collision with an LGTM comment. PENDING
      reviews are left out (only their author's token sees them).
    - A deleted account (``"user": null`` on the wire) is stored as the login ``ghost``.
    - ``codecov``: every PR -> None, or the latest ``codecov[bot]`` report (its comment's current body):
      project_coverage, patch_coverage, coverage_change (floats, 2 decimals; patch may be None),
      base_sha and head_sha (7-char short shas), codecov_created_at (the comment's created_at).
    - ``trillian``: (number, hypervisor, version, comment created_at) -> test_id (int), environment
      (e.g. "kvm-ol8"), passed, failed, skipped (None in the 2016 format), duration_seconds, logs_url
      (None when the archive is missing). Only result comments by ``blueorangutan``.
    - ``test_results``: (number, test name, test file, hypervisor, version, comment created_at, result).
    """

    pr_states: dict[int, dict[str, Any]]
    labels: set[tuple[int, str]]
    approvals: dict[tuple[int, str, datetime], str]
    codecov: dict[int, dict[str, Any] | None]
    trillian: dict[tuple[int, str, str, datetime], dict[str, Any]]
    test_results: set[tuple[int, str, str, str, str, datetime, str]]


def truth_of(repo: Repo) -> Truth:
    """The truth of one repository as it is now."""
    comments = sorted(repo.comments.values(), key=lambda c: (c.created_at, c.id))
    trillian, test_results = _trillian_truth(comments)
    return Truth(
        pr_states={n: _pr_state(pr) for n, pr in repo.pulls.items()},
        labels={(n, name) for n, pr in repo.pulls.items() for name in pr.labels},
        approvals=_approvals_truth(repo, comments),
        codecov=_codecov_truth(repo, comments),
        trillian=trillian,
        test_results=test_results,
    )


def _approving_line(line: str) -> bool:
    if line.lstrip().startswith(">"):
        return False
    line = re.sub(r"`[^`]*`", " ", line)
    for match in _LGTM.finditer(line):
        clause = re.split(r"[,;:.!?]", line[: match.start()])[-1]
        words = [w.strip("*_~\"'()[]") for w in clause.split()][-4:]
        if not any(_LGTM_NEGATION.match(w) for w in words):
            return True
    return False


@lru_cache(maxsize=8192)  # bots and bulk data repeat the same texts: each is read once
def _approves(body: str) -> bool:
    fenced = False
    for line in body.replace("\r\n", "\n").split("\n"):
        if re.match(r"^[ \t]*(?:```|~~~)", line):
            fenced = not fenced
        elif not fenced and _approving_line(line):
            return True
    return False


def _is_lgtm(comment: IssueComment) -> bool:
    return comment.spec is None and not is_bot(comment.user) and _approves(comment.body)


def _pr_state(pr: PullRequest) -> dict[str, Any]:
    return {
        "pr_title": pr.title,
        "pr_state": "merged" if pr.merged_at else pr.state,
        "author": pr.user or GHOST,
        "assignees": ",".join(sorted(pr.assignees)),
        "draft": pr.draft,
        "created_at": pr.created_at,
        "updated_at": pr.updated_at,
        "closed_at": pr.closed_at,
        "merged_at": pr.merged_at,
        "head_sha": pr.head_sha,
        "base_ref": pr.base_ref,
    }


def _approvals_truth(repo: Repo, comments: Sequence[IssueComment]) -> dict[tuple[int, str, datetime], str]:
    approvals = {(c.issue_number, c.user or GHOST, c.created_at): "LGTM" for c in comments if _is_lgtm(c)}
    for number, pr in repo.pulls.items():
        approvals |= {
            (number, r.user or GHOST, r.submitted_at): str(r.state) for r in pr.reviews if r.submitted_at is not None
        }
    return approvals


def _codecov_truth(repo: Repo, comments: Sequence[IssueComment]) -> dict[int, dict[str, Any] | None]:
    codecov: dict[int, dict[str, Any] | None] = dict.fromkeys(repo.pulls)
    for c in comments:
        if c.user == CODECOV_BOT and isinstance(c.spec, CodecovSpec):
            codecov[c.issue_number] = {**c.spec.expected(), "codecov_created_at": c.created_at}
    return codecov


def _trillian_truth(
    comments: Sequence[IssueComment],
) -> tuple[dict[tuple[int, str, str, datetime], dict[str, Any]], set[tuple[int, str, str, str, str, datetime, str]]]:
    results: dict[tuple[int, str, str, datetime], dict[str, Any]] = {}
    rows: set[tuple[int, str, str, str, str, datetime, str]] = set()
    for c in comments:
        spec = c.spec
        if c.user != TRILLIAN_BOT or not isinstance(spec, TrillianResultSpec):
            continue
        hv, version = spec.hypervisor, spec.version
        results[(c.issue_number, hv, version, c.created_at)] = spec.expected()
        rows |= {
            (c.issue_number, r.name, r.test_file, hv, version, c.created_at, r.result) for r in spec.expected_rows()
        }
    return results, rows
