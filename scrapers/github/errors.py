"""Errors of the GitHub layer: each is one line naming the request (method, host and path, never the query
string or a header) and what to do about it. They end the run of one shard; the other shards go on."""

from __future__ import annotations

from urllib.parse import urlsplit

from scrapesched.config.errors import ScrapeschedError


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


class GitHubRateLimited(GitHubError):
    """The rate-limit wait is longer than a run may take; the cursor is intact, the next fire resumes."""

    exit_code = 75
