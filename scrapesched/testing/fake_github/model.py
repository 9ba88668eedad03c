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

ReviewState = Literal["APPROVED", "CHANGES_REQUESTED", "COMMENTED", "DISMISSED"]
CommentSpec = CodecovSpec | TrillianResultSpec
CommentContent = str | CodecovSpec | TrillianResultSpec

DEFAULT_START = datetime(2024, 1, 1, tzinfo=UTC)
BOT_LOGINS = frozenset({CODECOV_BOT, TRILLIAN_BOT})
WIRE_TIME = "%Y-%m-%dT%H:%M:%SZ"


@dataclass
class Review:
    """A pull request review; dismissing one sets its state to DISMISSED and keeps submitted_at."""

    id: int
    user: str
    state: ReviewState
    submitted_at: datetime
    body: str
    commit_id: str


@dataclass
class IssueComment:
    """An issue comment on a pull request; ``spec`` is set when the body renders a bot result."""

    id: int
    issue_number: int
    user: str
    body: str
    created_at: datetime
    updated_at: datetime
    spec: CommentSpec | None = None


@dataclass
class PullRequest:
    """A pull request, its labels, assignees and reviews."""

    id: int
    number: int
    title: str
    user: str
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


@dataclass
class Repo:
    """A repository: ``owner/name``, numeric id, pull requests and their issue comments."""

    full_name: str
    id: int
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


def is_bot(login: str) -> bool:
    return login in BOT_LOGINS or login.endswith("[bot]")


def render_content(content: CommentContent) -> tuple[str, CommentSpec | None]:
    """A comment's body and, for a bot result, the spec it renders."""
    if isinstance(content, CodecovSpec):
        return render_codecov(content), content
    if isinstance(content, TrillianResultSpec):
        return render_trillian(content), content
    return content, None
