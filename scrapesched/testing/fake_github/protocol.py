"""The values passed between the fake GitHub's HTTP plumbing (:mod:`.handlers`) and its responder
(:mod:`.responder`): a request, the exchange being answered, the reply, an HTTP error, and the request
log's record; plus the JSON encoding and weak-ETag helpers GitHub's answers need.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit


@dataclass(frozen=True)
class RequestRecord:
    """One request as the fake saw it.

    ``path`` is path + query; ``status`` is 0 for a dropped connection; ``conditional`` says whether
    If-None-Match was sent; ``token`` is :meth:`FakeGitHub.fingerprint` of the token (never the token)
    or None when anonymous; ``repo`` is ``owner/name`` when the path named a known repository (also via
    ``/repositories/{id}``); ``counted`` says whether it cost primary budget; ``fault`` names an
    injected fault ("drop", "5xx", "secondary", "malformed", "slow") or is None; ``if_modified_since``
    says whether If-Modified-Since was sent.
    """

    method: str
    path: str
    status: int
    conditional: bool
    token: str | None
    repo: str | None
    counted: bool
    fault: str | None
    at: float
    if_modified_since: bool = False


@dataclass(frozen=True)
class Request:
    """What the responder needs of an HTTP request."""

    method: str
    target: str
    authorization: str | None
    if_none_match: str | None
    if_modified_since: str | None = None
    accept: str | None = None
    cookie: str | None = None

    @property
    def path(self) -> str:
        return urlsplit(self.target).path.rstrip("/") or "/"

    @property
    def query(self) -> list[tuple[str, str]]:
        return parse_qsl(urlsplit(self.target).query, keep_blank_values=True)

    @property
    def params(self) -> dict[str, str]:
        return dict(self.query)


@dataclass
class Exchange:
    """A request being answered, and what the request log will say about it."""

    request: Request
    token: str | None = None
    viewer: str | None = None  # the login of the token's user (None: anonymous)
    counted: bool = False
    fault: str | None = None


@dataclass
class Reply:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""


class HttpError(Exception):
    """An error answer: status, GitHub's ``message`` and ``documentation_url``, extra headers such as
    ``Retry-After``; ``rate_headers`` False leaves out the ``X-RateLimit-*`` headers."""

    def __init__(
        self,
        status: int,
        message: str,
        headers: tuple[tuple[str, str], ...] = (),
        *,
        documentation_url: str | None = None,
        rate_headers: bool = True,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers
        self.documentation_url = documentation_url
        self.rate_headers = rate_headers


def encode(payload: Any) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def weak_etag(body: bytes, request: Request | None = None) -> str:
    """GitHub's ETag: sha256 of the request's ``Accept``, ``Authorization`` and ``Cookie`` values (those
    present, each followed by ``:``) then the body; so the same body has another ETag for another token.
    """
    digest = hashlib.sha256()
    if request is not None:
        for value in (request.accept, request.authorization, request.cookie):
            if value is not None:
                digest.update(value.encode() + b":")
    digest.update(body)
    return f'W/"{digest.hexdigest()}"'


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """Weak comparison of an If-None-Match list against our ETag, as GitHub does."""
    if not if_none_match:
        return False
    opaque = etag.removeprefix("W/")
    candidates = (c.strip() for c in if_none_match.split(","))
    return any(c == "*" or c.removeprefix("W/") == opaque for c in candidates)
