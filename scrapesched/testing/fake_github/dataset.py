"""The fake GitHub's data set: its repositories, pull requests, reviews and comments in memory, the fake
clock that stamps them, and the methods that change them the way GitHub's users and bots do.

The fake clock (``now``/``advance``) stamps every ``created_at``/``updated_at``, so tests are
deterministic. Every method is thread-safe: one re-entrant lock (``lock``) guards the whole state, and the
HTTP side of the fake (:mod:`.responder`) reads it under the same lock.
"""

from __future__ import annotations

import itertools
import random
import threading
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from scrapesched.testing.fake_github.comments import CODECOV_BOT, TRILLIAN_BOT, CodecovSpec, TrillianResultSpec
from scrapesched.testing.fake_github.content import random_codecov, random_trillian
from scrapesched.testing.fake_github.ground_truth import Truth, truth_of
from scrapesched.testing.fake_github.model import (
    DEFAULT_START,
    CommentContent,
    IssueComment,
    PullRequest,
    Repo,
    Review,
    ReviewState,
    derived_sha,
    render_content,
)


class Dataset:
    """Repositories of pull requests in memory, changed through methods named after GitHub's actions."""

    def __init__(self, start_time: datetime = DEFAULT_START) -> None:
        self.lock = threading.RLock()
        self._clock = start_time.astimezone(UTC)
        self._repos: dict[str, Repo] = {}
        self._ids = itertools.count(1_000_001)
        self._test_ids = itertools.count(1001)

    # ---- clock -----------------------------------------------------------------------------------

    @property
    def now(self) -> datetime:
        """The fake clock (aware UTC) that stamps every new or updated timestamp."""
        with self.lock:
            return self._clock

    def advance(self, seconds: float) -> datetime:
        """Move the fake clock forward; returns the new time."""
        if seconds < 0:
            raise ValueError("the fake clock only moves forward")
        with self.lock:
            self._clock += timedelta(seconds=seconds)
            return self._clock

    def advance_to(self, when: datetime) -> datetime:
        """Move the fake clock forward to ``when`` (no change if it is past it already)."""
        with self.lock:
            self._clock = max(self._clock, when)
            return self._clock

    def stamp(self) -> datetime:
        """The current fake time, whole seconds (the wire format's precision)."""
        return self._clock.replace(microsecond=0)

    def next_test_id(self) -> int:
        """The next Trillian test id (1001, 1002, ...)."""
        return next(self._test_ids)

    def next_id(self) -> int:
        """The next GitHub id (pull requests, reviews and comments share one sequence, ascending in time)."""
        return next(self._ids)

    # ---- lookups ---------------------------------------------------------------------------------

    def repo_state(self, name: str) -> Repo:
        """The repository ``owner/name`` (KeyError if unknown)."""
        repo = self._repos.get(name)
        if repo is None:
            raise KeyError(f"unknown repository {name!r}")
        return repo

    def pull_state(self, repo: str, number: int) -> PullRequest:
        """Pull request ``number`` of ``repo`` (KeyError if unknown)."""
        pr = self.repo_state(repo).pulls.get(number)
        if pr is None:
            raise KeyError(f"unknown pull request {repo}#{number}")
        return pr

    def find_repo(self, full_name: str) -> Repo | None:
        return self._repos.get(full_name)

    def find_repo_by_id(self, repo_id: str) -> Repo | None:
        """The repository whose numeric id is ``repo_id`` (as text, from a ``/repositories/{id}`` path)."""
        return next((r for r in self._repos.values() if str(r.id) == repo_id), None)

    def repo_id(self, full_name: str) -> int:
        with self.lock:
            return self.repo_state(full_name).id

    @property
    def repos(self) -> list[str]:
        with self.lock:
            return sorted(self._repos)

    # ---- changes ---------------------------------------------------------------------------------

    def _touch(self, pr: PullRequest, touch: bool = True) -> None:
        if touch:
            pr.updated_at = self.stamp()

    def add_repo(self, full_name: str, repo_id: int | None = None) -> int:
        """Create a repository (``owner/name``); returns its numeric id (default: 1001, 1002, ...)."""
        with self.lock:
            if full_name in self._repos:
                raise ValueError(f"repository {full_name!r} exists")
            rid = repo_id if repo_id is not None else 1001 + len(self._repos)
            self._repos[full_name] = Repo(full_name=full_name, id=rid, created_at=self.stamp())
            return rid

    def add_pr(
        self,
        repo: str,
        *,
        user: str = "alice-dev",
        title: str | None = None,
        draft: bool = False,
        base_ref: str = "main",
        head_ref: str | None = None,
        head_sha: str | None = None,
        labels: Iterable[str] = (),
        assignees: Iterable[str] = (),
        body: str = "",
        number: int | None = None,
    ) -> int:
        """Open a pull request created ``now``; returns its number (next free one unless given)."""
        with self.lock:
            r = self.repo_state(repo)
            num = r.next_number if number is None else number
            if num in r.pulls:
                raise ValueError(f"{repo}#{num} exists")
            r.next_number = max(r.next_number, num + 1)
            stamp = self.stamp()
            r.pulls[num] = PullRequest(
                id=next(self._ids),
                number=num,
                title=title or f"Change number {num}",
                user=user,
                created_at=stamp,
                updated_at=stamp,
                head_sha=head_sha or derived_sha(f"{repo}#{num}@{stamp.isoformat()}"),
                head_ref=head_ref or f"{user}/change-{num}",
                base_ref=base_ref,
                draft=draft,
                body=body,
                labels=list(dict.fromkeys(labels)),
                assignees=list(dict.fromkeys(assignees)),
            )
            return num

    def add_comment(self, repo: str, pr: int, user: str, content: CommentContent) -> int:
        """Post an issue comment on a PR; ``content`` is text or a bot spec to render. Returns its id."""
        with self.lock:
            target, (body, spec) = self.pull_state(repo, pr), render_content(content)
            stamp = self.stamp()
            comment = IssueComment(next(self._ids), pr, user, body, stamp, stamp, spec)
            self.repo_state(repo).comments[comment.id] = comment
            self.repo_state(repo).comment_rev += 1
            target.comments.append(comment)
            self._touch(target)
            return comment.id

    def edit_comment(self, repo: str, comment_id: int, content: CommentContent) -> None:
        """Replace a comment's body (text, or a bot spec to render); moves its updated_at and the PR's."""
        with self.lock:
            comment = self.repo_state(repo).comments.get(comment_id)
            if comment is None:
                raise KeyError(f"unknown comment {comment_id} in {repo}")
            comment.body, comment.spec = render_content(content)
            comment.updated_at = self.stamp()
            self.repo_state(repo).comment_rev += 1
            self._touch(self.pull_state(repo, comment.issue_number))

    def add_label(self, repo: str, pr: int, name: str, *, touch: bool = True) -> None:
        """Add a label (no-op if present); ``touch=False`` leaves updated_at unmoved."""
        with self.lock:
            target = self.pull_state(repo, pr)
            if name not in target.labels:
                target.labels.append(name)
                self._touch(target, touch)

    def remove_label(self, repo: str, pr: int, name: str, *, touch: bool = True) -> None:
        """Remove a label (KeyError if absent); ``touch=False`` leaves updated_at unmoved."""
        with self.lock:
            target = self.pull_state(repo, pr)
            if name not in target.labels:
                raise KeyError(f"{repo}#{pr} has no label {name!r}")
            target.labels.remove(name)
            self._touch(target, touch)

    def add_review(
        self,
        repo: str,
        pr: int,
        user: str,
        state: ReviewState = "APPROVED",
        body: str = "",
        *,
        touch: bool = True,
    ) -> int:
        """Submit a review at ``now`` on the current head (appended to the PR's list); returns its id.

        ``state="PENDING"`` starts a review without submitting it: no ``submitted_at``, only ``user``'s
        token sees it (see ``token_users``), the PR's updated_at does not move, and it is not in the truth.
        """
        if state == "DISMISSED":
            raise ValueError("submit a review, then dismiss it")
        with self.lock:
            target = self.pull_state(repo, pr)
            pending = state == "PENDING"
            review = Review(next(self._ids), user, state, None if pending else self.stamp(), body, target.head_sha)
            target.reviews.append(review)
            self._touch(target, touch and not pending)
            return review.id

    def submit_review(self, repo: str, pr: int, review_id: int, state: ReviewState = "APPROVED") -> None:
        """Submit a PENDING review now (``submitted_at`` = now); it keeps its place in the list."""
        if state in ("PENDING", "DISMISSED"):
            raise ValueError(f"cannot submit a review as {state}")
        with self.lock:
            target = self.pull_state(repo, pr)
            review = self._review(target, review_id, repo)
            if review.state != "PENDING":
                raise ValueError(f"review {review_id} is not pending")
            review.state, review.submitted_at = state, self.stamp()
            self._touch(target)

    def delete_user(self, login: str) -> None:
        """Delete an account: its pull requests, comments and reviews now answer ``"user": null``.

        Assignees are dropped (GitHub unassigns deleted users). Nothing's updated_at moves.
        """
        with self.lock:
            for r in self._repos.values():
                for pull in r.pulls.values():
                    if pull.user == login:
                        pull.user = None
                    pull.assignees = [a for a in pull.assignees if a != login]
                    for review in pull.reviews:
                        if review.user == login:
                            review.user = None
                for comment in r.comments.values():
                    if comment.user == login:
                        comment.user = None
                r.comment_rev += 1

    @staticmethod
    def _review(target: PullRequest, review_id: int, repo: str) -> Review:
        review = next((r for r in target.reviews if r.id == review_id), None)
        if review is None:
            raise KeyError(f"unknown review {review_id} on {repo}#{target.number}")
        return review

    def dismiss_review(self, repo: str, pr: int, review_id: int, *, touch: bool = True) -> None:
        """Set a review's state to DISMISSED (submitted_at is kept)."""
        with self.lock:
            target = self.pull_state(repo, pr)
            review = self._review(target, review_id, repo)
            if review.state == "PENDING":
                raise ValueError(f"review {review_id} is pending: nothing to dismiss")
            review.state = "DISMISSED"
            self._touch(target, touch)

    def merge(self, repo: str, pr: int) -> None:
        with self.lock:
            target = self.pull_state(repo, pr)
            if target.state != "open" or target.draft:
                raise ValueError(f"{repo}#{pr} is not an open, ready pull request")
            target.state, target.merged_at = "closed", self.stamp()
            target.closed_at = target.merged_at
            self._touch(target)

    def close(self, repo: str, pr: int) -> None:
        with self.lock:
            target = self.pull_state(repo, pr)
            if target.state != "open":
                raise ValueError(f"{repo}#{pr} is not open")
            target.state, target.closed_at = "closed", self.stamp()
            self._touch(target)

    def reopen(self, repo: str, pr: int) -> None:
        with self.lock:
            target = self.pull_state(repo, pr)
            if target.state != "closed" or target.merged_at is not None:
                raise ValueError(f"{repo}#{pr} is not closed without merge")
            target.state, target.closed_at = "open", None
            self._touch(target)

    def push(self, repo: str, pr: int, sha: str | None = None) -> str:
        """Move the PR's head to a new commit; returns the sha."""
        with self.lock:
            target = self.pull_state(repo, pr)
            target.head_sha = sha or derived_sha(f"{target.head_sha}+{self.stamp().isoformat()}")
            self._touch(target)
            return target.head_sha

    def set_draft(self, repo: str, pr: int, draft: bool) -> None:
        with self.lock:
            target = self.pull_state(repo, pr)
            target.draft = draft
            self._touch(target)

    def set_assignees(self, repo: str, pr: int, logins: Iterable[str]) -> None:
        with self.lock:
            target = self.pull_state(repo, pr)
            target.assignees = list(dict.fromkeys(logins))
            self._touch(target)

    def set_title(self, repo: str, pr: int, title: str) -> None:
        with self.lock:
            target = self.pull_state(repo, pr)
            target.title = title
            self._touch(target)

    def add_codecov_report(
        self, repo: str, pr: int, spec: CodecovSpec | None = None, *, rng: random.Random | None = None
    ) -> int:
        """Post Codecov's comment, or edit it in place if the PR has one (same id, updated_at moves).

        Without ``spec``, a random report on the PR's current head is made from ``rng`` (default: seeded
        from the repo, PR and fake clock, so still deterministic).
        """
        with self.lock:
            existing = self._codecov_comment(repo, pr)
            if spec is None:
                previous = existing.spec if existing and isinstance(existing.spec, CodecovSpec) else None
                spec = random_codecov(rng or self._default_rng(repo, pr), repo, self.pull_state(repo, pr), previous)
            if existing is None:
                return self.add_comment(repo, pr, CODECOV_BOT, spec)
            self.edit_comment(repo, existing.id, spec)
            return existing.id

    def _default_rng(self, repo: str, pr: int) -> random.Random:
        return random.Random(f"{repo}#{pr}@{self.stamp().isoformat()}")

    def _codecov_comment(self, repo: str, pr: int) -> IssueComment | None:
        return next((c for c in self.pull_state(repo, pr).comments if c.user == CODECOV_BOT), None)

    def add_trillian_result(
        self, repo: str, pr: int, spec: TrillianResultSpec | None = None, *, rng: random.Random | None = None
    ) -> int:
        """Post a Trillian smoke-test result by ``blueorangutan``; without ``spec`` a random one (see
        :meth:`add_codecov_report` for ``rng``)."""
        with self.lock:
            self.pull_state(repo, pr)
            if spec is None:
                spec = random_trillian(rng or self._default_rng(repo, pr), pr, self.next_test_id())
            return self.add_comment(repo, pr, TRILLIAN_BOT, spec)

    # ---- ground truth ----------------------------------------------------------------------------

    def truth(self, repo: str) -> Truth:
        """What a correct scraper must have stored for ``repo`` right now (see :class:`Truth`)."""
        with self.lock:
            return truth_of(self.repo_state(repo))
