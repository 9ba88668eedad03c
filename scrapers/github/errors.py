"""Errors of the GitHub layer: each is one line naming the request (method, host and path, never the query
string or a header) and what to do about it. They end the run of one shard; the other shards go on."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import urlsplit

from scrapesched.config.errors import ScrapeschedError
from scrapesched.scheduler.context import RunDeferred


def describe_request(method: str, url: str) -> str:
    """``GET host/path``: enough to find the request, nothing secret."""
    parts = urlsplit(url)
    return f"{method} {parts.netloc}{parts.path}"


class GitHubError(ScrapeschedError):
    """A GitHub request failed in a way retrying now will not fix."""


class GitHubAuthError(GitHubError):
    """401: the token (or App credentials) was refused."""


class GitHubNotFound(GitHubError):
    """404: the repository (or pull request) does not exist or the token cannot see it."""


class GitHubForbidden(GitHubError):
    """403 that is not a rate limit: the token lacks access."""


class GitHubBadResponse(GitHubError):
    """An answer that cannot be used: malformed JSON, an unexpected status or shape."""


class GitHubUnprocessable(GitHubBadResponse):
    """422: GitHub refused the request's parameters, e.g. a page deeper than it serves for that list."""


class GitHubUnavailable(GitHubBadResponse):
    """502/503/504 or a timeout after the retries: GitHub could not produce the page (heavy pages are cut at
    10 s); a list answers it with a smaller ``per_page``. ``status``: 0 for a timeout or lost connection."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


class GitHubRateLimited(GitHubError, RunDeferred):
    """The rate-limit wait is longer than a run may take; the cursor is intact, the next fire resumes. The
    runner records the run ``deferred`` (not failed); ``until`` is when the budget is back (None: unknown)."""

    exit_code = 75

    def __init__(self, message: str, until: datetime | None = None) -> None:
        super().__init__(message)
        self.until = until
