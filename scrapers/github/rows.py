"""Rows of the seed tables from GitHub's JSON: pure functions, no I/O.

- ``pr_state_row``/``label_rows``/``review_rows``: from a pull request and its reviews.
- ``classify_comment``: what an issue comment means for us (an LGTM, a Codecov report, a Trillian result,
  or nothing), with the parsers' results; a parser that fails is recorded as ``parse_error``, never raised.
- ``codecov_row``/``trillian_rows``/``lgtm_row``: the rows of a classified comment.

Key columns are bounded (see ``db.schema``); longer values are cut to fit rather than refused, and the
cut is noted in ``parse_error`` where the table has one.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Literal

from scrapesched.db.schema import HYPERVISOR_LEN, LABEL_LEN, LOGIN_LEN, TEST_FILE_LEN, TEST_NAME_LEN, VERSION_LEN
from scrapesched.scrapers.parsers.codecov import CodecovReport, parse_codecov
from scrapesched.scrapers.parsers.lgtm import is_lgtm
from scrapesched.scrapers.parsers.trillian import TrillianReport, parse_trillian

CommentKind = Literal["lgtm", "not_lgtm", "codecov", "trillian"]
REVIEW_STATES = frozenset({"APPROVED", "CHANGES_REQUESTED", "COMMENTED", "DISMISSED"})
FAILED_RESULTS = frozenset({"Failure", "Error"})


def parse_time(value: Any) -> datetime | None:
    """GitHub's ``2024-01-01T00:00:00Z`` as an aware UTC datetime (None stays None)."""
    if not value:
        return None
    parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def clip(value: str | None, length: int) -> str:
    """A key value cut to its column's length (keys are never NULL: None becomes "")."""
    return (value or "")[:length]


GHOST = "ghost"  # GitHub's placeholder account: what a deleted user's pull requests, reviews, comments show


def _login(obj: Any) -> str:
    return clip(obj.get("login") if isinstance(obj, dict) else None, LOGIN_LEN)


def _author(item: dict[str, Any]) -> str:
    """The login of an item's ``user``; ``"user": null`` (a deleted account) is GitHub's ``ghost``."""
    return GHOST if "user" in item and item["user"] is None else _login(item.get("user"))


def pr_state(pull: dict[str, Any]) -> str:
    if pull.get("merged_at"):
        return "merged"
    return "closed" if pull.get("state") == "closed" else "open"


def pr_state_row(repo: str, pull: dict[str, Any], checked: datetime) -> dict[str, Any]:
    """The ``pr_states`` row of a pull request (list or single-pull shape)."""
    assignees = sorted({_login(a) for a in pull.get("assignees") or [] if _login(a)})
    return {
        "repo": repo,
        "pr_number": int(pull["number"]),
        "pr_title": pull.get("title"),
        "pr_state": pr_state(pull),
        "author": _author(pull) or None,
        "assignees": ",".join(assignees),
        "draft": bool(pull.get("draft")),
        "created_at": parse_time(pull.get("created_at")),
        "updated_at": parse_time(pull.get("updated_at")),
        "closed_at": parse_time(pull.get("closed_at")),
        "merged_at": parse_time(pull.get("merged_at")),
        "head_sha": (pull.get("head") or {}).get("sha"),
        "base_ref": (pull.get("base") or {}).get("ref"),
        "last_checked": checked,
    }


def label_names(pull: dict[str, Any]) -> set[str]:
    return {clip(label.get("name"), LABEL_LEN) for label in pull.get("labels") or [] if label.get("name")}


def label_rows(repo: str, pull: dict[str, Any]) -> list[dict[str, Any]]:
    title, state, updated = pull.get("title"), pr_state(pull), parse_time(pull.get("updated_at"))
    return [
        {
            "repo": repo,
            "pr_number": int(pull["number"]),
            "label_name": name,
            "pr_title": title,
            "pr_state": state,
            "updated_at": updated,
        }
        for name in sorted(label_names(pull))
    ]


def review_rows(repo: str, number: int, title: str | None, reviews: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One ``pr_approvals`` row per submitted review, in its current state (DISMISSED once dismissed)."""
    rows = []
    for review in reviews:
        state, submitted = review.get("state"), parse_time(review.get("submitted_at"))
        login = _author(review)
        if state not in REVIEW_STATES or submitted is None or not login:
            continue  # PENDING reviews have no submitted_at
        rows.append({
            "repo": repo,
            "pr_number": number,
            "approver_login": login,
            "approval_created_at": submitted,
            "pr_title": title,
            "approval_state": state,
        })
    return rows


# ---- comments ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CommentFact:
    """What one issue comment on a pull request means for the seed tables."""

    number: int
    comment_id: int
    kind: CommentKind
    login: str
    created_at: datetime
    updated_at: datetime
    body: str = ""
    codecov: CodecovReport | None = None
    trillian: TrillianReport | None = None
    parse_error: str | None = None

    @property
    def edited(self) -> bool:
        return self.updated_at != self.created_at


def comment_pr_number(comment: dict[str, Any]) -> int | None:
    """The pull request a comment belongs to, or None for a comment on a plain issue."""
    html = str(comment.get("html_url") or "")
    if html and "/pull/" not in html:
        return None
    issue_url = str(comment.get("issue_url") or "")
    tail = issue_url.rstrip("/").rsplit("/", 1)[-1]
    return int(tail) if tail.isdigit() else None


def _failure(what: str, exc: Exception) -> str:
    return f"{what} parser failed: {type(exc).__name__}: {str(exc)[:200]}"


def classify_comment(
    comment: dict[str, Any], *, trillian_bot: str, codecov_bots: frozenset[str]
) -> CommentFact | None:
    """The meaning of one issue comment (None: irrelevant, e.g. the bot's "kicked" notices)."""
    number = comment_pr_number(comment)
    created, updated = parse_time(comment.get("created_at")), parse_time(comment.get("updated_at"))
    login = _author(comment)
    if number is None or created is None or not login:
        return None
    body = str(comment.get("body") or "")
    fact = CommentFact(number, int(comment.get("id") or 0), "not_lgtm", login, created, updated or created)
    lowered = login.lower()
    if lowered == trillian_bot.lower():
        try:
            report = parse_trillian(body)
        except Exception as exc:  # a parser bug must not stop the run: store the comment with the error
            return replace(fact, kind="trillian", body=body, parse_error=_failure("Trillian", exc))
        if report is None:
            return None  # "kicked" notices, packaging results: not smoke-test results
        return replace(fact, kind="trillian", body=body, trillian=report, parse_error=report.parse_error)
    if lowered in codecov_bots:
        try:
            coverage = parse_codecov(body)
        except Exception as exc:
            return replace(fact, kind="codecov", body=body, parse_error=_failure("Codecov", exc))
        if coverage is None:
            return None
        return replace(fact, kind="codecov", body=body, codecov=coverage, parse_error=coverage.parse_error)
    if lowered.endswith("[bot]"):
        return None
    return replace(fact, kind="lgtm") if is_lgtm(body) else fact


def lgtm_row(repo: str, fact: CommentFact, title: str | None) -> dict[str, Any]:
    return {
        "repo": repo,
        "pr_number": fact.number,
        "approver_login": fact.login,
        "approval_created_at": fact.created_at,
        "pr_title": title,
        "approval_state": "LGTM",
    }


def codecov_row(repo: str, number: int, title: str | None, fact: CommentFact | None) -> dict[str, Any]:
    """The ``pr_codecov_comments`` row: the report of ``fact``, or ``codecov_present`` false without one."""
    row: dict[str, Any] = {
        "repo": repo,
        "pr_number": number,
        "pr_title": title,
        "codecov_comment": None,
        "codecov_created_at": None,
        "codecov_updated_at": None,
        "codecov_present": False,
        "project_coverage": None,
        "patch_coverage": None,
        "coverage_change": None,
        "base_sha": None,
        "head_sha": None,
        "parse_error": None,
    }
    if fact is None:
        return row
    report = fact.codecov
    row.update(
        codecov_comment=fact.body,
        codecov_created_at=fact.created_at,
        codecov_updated_at=fact.updated_at,
        codecov_present=True,
        parse_error=fact.parse_error,
    )
    if report is not None:
        row.update(
            project_coverage=report.project_coverage,
            patch_coverage=report.patch_coverage,
            coverage_change=report.coverage_change,
            base_sha=(report.base_sha or None) and report.base_sha[:64],
            head_sha=(report.head_sha or None) and report.head_sha[:64],
        )
    return row


def _short(value: str | None, length: int) -> str | None:
    return None if value is None else value[:length]


def trillian_rows(
    repo: str, fact: CommentFact, title: str | None
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The ``pr_trillian_comments`` row of a result comment and its ``test_results`` rows."""
    report = fact.trillian
    notes = [fact.parse_error] if fact.parse_error else []
    hypervisor = report.hypervisor if report else None
    version = report.version if report else None
    if len(hypervisor or "") > HYPERVISOR_LEN or len(version or "") > VERSION_LEN:
        notes.append("hypervisor or version name cut to fit its column")
    if report is not None and report.truncated:
        notes.append("comment truncated: failed tests may be missing")
    hv, ver = clip(hypervisor, HYPERVISOR_LEN), clip(version, VERSION_LEN)
    row = {
        "repo": repo,
        "pr_number": fact.number,
        "hypervisor": hv,
        "version": ver,
        "trillian_created_at": fact.created_at,
        "pr_title": title,
        "trillian_comment": fact.body,
        "trillian_present": True,
        "logs_url": report.logs_url if report else None,
        "test_id": _short(report.test_id, 32) if report else None,
        "environment": _short(report.environment, 128) if report else None,
        "management_server": _short(report.management_server, 64) if report else None,
        "zone": _short(report.zone, 128) if report else None,
        "passed": report.passed if report else None,
        "failed": report.failed if report else None,
        "skipped": report.skipped if report else None,
        "duration_seconds": report.duration_seconds if report else None,
        "parse_error": "; ".join(notes) or None,
    }
    tests = []
    for test in report.tests if report else ():
        tests.append({
            "repo": repo,
            "pr_number": fact.number,
            "test_name": clip(test.test_name, TEST_NAME_LEN),
            "test_file": clip(test.test_file, TEST_FILE_LEN),
            "hypervisor": hv,
            "hypervisor_version": ver,
            "test_date": fact.created_at,
            "result": test.result,
            "time_seconds": test.time_seconds,
            "logs_url": report.logs_url if report else None,
        })
    return row, tests


def failure_rows(repo: str, fact: CommentFact) -> list[dict[str, Any]]:
    """The ``test_failures`` rows of a Trillian result: one per test the comment reports as failed.

    ``failure_type`` is the bot's result word (``Failure``: an assertion failed, ``Error``: the test
    errored), ``created_at`` the comment's, ``message`` what the comment says about it: the environment
    (hypervisor-version, zone), the run (``tid``), the test's time and the logs URL. Skipped tests are not
    failures; a comment that lists no table gives none (its counts stay in ``pr_trillian_comments``).
    """
    report = fact.trillian
    if report is None:
        return []
    rows = []
    for test in report.tests:
        if test.result not in FAILED_RESULTS:
            continue
        where = ", ".join(p for p in (report.environment, report.zone) if p)
        parts = [f"{test.result} in Trillian run tid-{report.test_id}" if report.test_id else test.result]
        if where:
            parts.append(f"on {where}")
        if test.time_seconds is not None:
            parts.append(f"after {test.time_seconds:g} s")
        if report.logs_url:
            parts.append(f"logs: {report.logs_url}")
        rows.append({
            "repo": repo,
            "pr_number": fact.number,
            "test_name": clip(test.test_name, TEST_NAME_LEN),
            "test_file": clip(test.test_file, TEST_FILE_LEN),
            "failure_type": test.result,
            "created_at": fact.created_at,
            "message": " ".join(parts),
        })
    return rows
