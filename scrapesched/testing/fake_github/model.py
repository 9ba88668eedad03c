"""The fake GitHub's data model: repositories, pull requests, reviews and issue comments as plain
dataclasses, and the pure helpers that derive ids, shas and wire timestamps from them.

No behaviour beyond that: the data set (:mod:`.dataset`) changes these objects, the JSON shapes
(:mod:`.shapes`) render them and the ground truth (:mod:`.ground_truth`) reads them.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from scrapesched.testing.fake_github.comments import (
    CODECOV_BOT,
    TRILLIAN_BOT,
    CodecovSpec,
    TrillianResultSpec,
    render_codecov,
    render_trillian,
)

ReviewState = Literal["APPROVED", "CHANGES_REQUESTED", "COMMENTED", "DISMISSED", "PENDING"]
CommentSpec = CodecovSpec | TrillianResultSpec
CommentContent = str | CodecovSpec | TrillianResultSpec

DEFAULT_START = datetime(2024, 1, 1, tzinfo=UTC)
BOT_LOGINS = frozenset({CODECOV_BOT, TRILLIAN_BOT})
WIRE_TIME = "%Y-%m-%dT%H:%M:%SZ"


@dataclass
class Review:
    """A pull request review; dismissing one sets its state to DISMISSED and keeps submitted_at.

    A PENDING review (started, not submitted) has no ``submitted_at`` and only its author sees it.
    ``user`` None: the account was deleted (GitHub answers ``"user": null``).
    """

    id: int
    user: str | None
    state: ReviewState
    submitted_at: datetime | None
    body: str
    commit_id: str


class IssueComment:
    """An issue comment on a pull request; ``spec`` is set when the body renders a bot result.

    ``user`` None: the account was deleted (GitHub answers ``"user": null``). ``body`` None at creation:
    rendered from ``spec`` the first time it is read (a 200,000-comment data set starts in seconds).
    """

    __slots__ = ("_body", "created_at", "id", "issue_number", "spec", "updated_at", "user")

    def __init__(
        self,
        id: int,
        issue_number: int,
        user: str | None,
        body: str | None,
        created_at: datetime,
        updated_at: datetime,
        spec: CommentSpec | None = None,
    ) -> None:
        if body is None and spec is None:
            raise ValueError("a comment needs a body or a spec to render")
        self.id, self.issue_number, self.user, self._body = id, issue_number, user, body
        self.created_at, self.updated_at, self.spec = created_at, updated_at, spec

    @property
    def body(self) -> str:
        if self._body is None:
            self._body = render_content(self.spec)[0] if self.spec is not None else ""
        return self._body

    @body.setter
    def body(self, value: str) -> None:
        self._body = value

    def __repr__(self) -> str:
        return f"IssueComment(id={self.id}, issue_number={self.issue_number}, user={self.user!r})"


@dataclass
class PullRequest:
    """A pull request, its labels, assignees and reviews (oldest first; new ones are appended).

    ``user`` None: the author's account was deleted. ``comments``: its issue comments, oldest first.
    """

    id: int
    number: int
    title: str
    user: str | None
    created_at: datetime
    updated_at: datetime
    head_sha: str
    head_ref: str
    base_ref: str = "main"
    state: Literal["open", "closed"] = "open"
    draft: bool = False
    merged_at: datetime | None = None
    closed_at: datetime | None = None
    body: str = ""
    labels: list[str] = field(default_factory=list)
    assignees: list[str] = field(default_factory=list)
    reviews: list[Review] = field(default_factory=list)
    comments: list[IssueComment] = field(default_factory=list, repr=False)


@dataclass
class Repo:
    """A repository: ``owner/name``, numeric id, pull requests and their issue comments."""

    full_name: str
    id: int
    created_at: datetime = DEFAULT_START
    next_number: int = 1
    pulls: dict[int, PullRequest] = field(default_factory=dict)
    comments: dict[int, IssueComment] = field(default_factory=dict)
    comment_rev: int = 0  # bumped on every comment change: listings cached under an older value are stale
    listings: dict[tuple[Any, ...], list[IssueComment]] = field(default_factory=dict, repr=False)


def wire(dt: datetime | None) -> str | None:
    """A timestamp as GitHub sends it (``2024-01-01T00:00:00Z``), or None."""
    return None if dt is None else dt.astimezone(UTC).strftime(WIRE_TIME)


def stable_int(text: str, digits: int = 7) -> int:
    """A number derived from ``text`` (the first ``digits`` hex digits of its sha256)."""
    return int(hashlib.sha256(text.encode()).hexdigest()[:digits], 16)


def derived_sha(text: str) -> str:
    """A commit sha derived from ``text``."""
    return hashlib.sha1(text.encode()).hexdigest()


def random_sha(rng: random.Random) -> str:
    return f"{rng.getrandbits(160):040x}"


def is_bot(login: str | None) -> bool:
    return login is not None and (login in BOT_LOGINS or login.endswith("[bot]"))


def render_content(content: CommentContent) -> tuple[str, CommentSpec | None]:
    """A comment's body and, for a bot result, the spec it renders."""
    if isinstance(content, CodecovSpec):
        return render_codecov(content), content
    if isinstance(content, TrillianResultSpec):
        return render_trillian(content), content
    return content, None
