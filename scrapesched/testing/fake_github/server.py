"""A real local HTTP server that behaves like the GitHub REST API, for tests and ``scrapesched demo``.

We never mock GitHub with patched functions: tests and the demo talk HTTP to this server. It holds an
in-memory state (repositories, pull requests, labels, reviews, issue comments including the Codecov and
Trillian bot comments rendered by :mod:`scrapesched.testing.fake_github_comments`), serves it with GitHub's JSON
shapes, pagination (``Link`` headers with ``/repositories/{id}/...`` URLs), weak ETags and ``304``,
per-token primary rate limits, and faults armed from tests (5xx bursts, secondary rate limits,
truncated JSON, dropped connections, latency). ``truth(repo)`` says what a correct scraper must store.

Two clocks, on purpose:

- the fake clock (``now``/``advance``) stamps every ``created_at``/``updated_at`` of the data, so
  tests are deterministic;
- the rate-limit windows use the wall clock (``wall_clock``, default :func:`time.time`), because a
  scraper sleeps in real time until ``X-RateLimit-Reset``: a budget refills once the wall clock
  reaches the reset epoch (``rate_limit_window`` seconds after the identity's first request).

Standard library only (``http.server.ThreadingHTTPServer`` on 127.0.0.1 in a background thread), but
PyJWT to check GitHub App JWTs on ``POST /app/installations/{id}/access_tokens``.
Run ``python -m scrapesched.testing.fake_github --port 8765 --repos a/b,c/d --prs 20 --seed 1`` to serve
seeded data until SIGTERM.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import itertools
import json
import math
import random
import re
import signal
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import partial
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from typing import Any, Literal, cast
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

from scrapesched.testing.fake_github_comments import (
    CODECOV_BOT,
    TRILLIAN_BOT,
    CodecovSpec,
    TestOutcome,
    TrillianResultSpec,
    TrillianTestRow,
    render_codecov,
    render_packaging_kicked,
    render_packaging_result,
    render_trillian,
    render_trillian_kicked,
    render_trillian_quote,
)

ReviewState = Literal["APPROVED", "CHANGES_REQUESTED", "COMMENTED", "DISMISSED"]
CommentSpec = CodecovSpec | TrillianResultSpec
CommentContent = str | CodecovSpec | TrillianResultSpec
_Event = tuple[datetime, Callable[[], object]]

DEFAULT_START = datetime(2024, 1, 1, tzinfo=UTC)
HTML_BASE = "https://github.com"
DEFAULT_PER_PAGE = 30
MAX_PER_PAGE = 100
ANONYMOUS = "anonymous"
BOT_LOGINS = frozenset({CODECOV_BOT, TRILLIAN_BOT})
SECONDARY_LIMIT_MESSAGE = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. "
    "If you reach out to GitHub Support for help, please include the request ID."
)
_RATE_DOCS = "https://docs.github.com/rest/overview/resources-in-the-rest-api#rate-limiting"
# LGTM approvals, the rule of docs/github.md (implemented here independently of scrapers.parsers.lgtm):
# the word lgtm on a line that is not quoted or code, not followed by "?" or "cancel", and with no
# negation among the four words before it in the same clause.
_LGTM = re.compile(r"(?<![\w-])/?lgtm(?![\w-])(?![\s*_]*(?:\?|cancel\b))", re.IGNORECASE)
_LGTM_NEGATION = re.compile(r"^(?:not|no|never|without|nor|cannot|\w*n['\u2019]t)$", re.IGNORECASE)
_WIRE_TIME = "%Y-%m-%dT%H:%M:%SZ"


# --------------------------------------------------------------------------------------------------
# State
# --------------------------------------------------------------------------------------------------


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
      LGTM") or asked ("LGTM?"). A review wins a (rare) key collision with an LGTM comment.
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


@dataclass(frozen=True)
class RequestRecord:
    """One request as the fake saw it.

    ``path`` is path + query; ``status`` is 0 for a dropped connection; ``conditional`` says whether
    If-None-Match was sent; ``token`` is :meth:`FakeGitHub.fingerprint` of the token (never the token)
    or None when anonymous; ``repo`` is ``owner/name`` when the path named a known repository (also via
    ``/repositories/{id}``); ``counted`` says whether it cost primary budget; ``fault`` names an
    injected fault ("drop", "5xx", "secondary", "malformed") or is None.
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


@dataclass(frozen=True)
class RateLimitStatus:
    """A snapshot of one identity's primary (``core``) budget."""

    limit: int
    used: int
    remaining: int
    reset: int


@dataclass
class _Budget:
    limit: int
    reset: int
    used: int = 0

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.used)

    def status(self) -> RateLimitStatus:
        return RateLimitStatus(self.limit, self.used, self.remaining, self.reset)


@dataclass
class _Faults:
    fail: int = 0
    fail_status: int = 502
    secondary: int = 0
    secondary_retry_after: int | None = 1
    secondary_status: int = 403
    malformed: int = 0
    malformed_path: str = ""
    drop: int = 0


@dataclass(frozen=True)
class _Request:
    method: str
    target: str
    authorization: str | None
    if_none_match: str | None

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
class _Exchange:
    """A request being answered, and what the request log will say about it."""

    request: _Request
    token: str | None = None
    counted: bool = False
    fault: str | None = None


@dataclass(frozen=True)
class _Listing:
    """A list endpoint's items, rendered to JSON one page at a time."""

    items: Sequence[Any]
    render: Callable[[Any], dict[str, Any]]


@dataclass
class _Reply:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""


class _HttpError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


# --------------------------------------------------------------------------------------------------
# Small pure helpers
# --------------------------------------------------------------------------------------------------


def _wire(dt: datetime | None) -> str | None:
    return None if dt is None else dt.astimezone(UTC).strftime(_WIRE_TIME)


def _stable_int(text: str, digits: int = 7) -> int:
    return int(hashlib.sha256(text.encode()).hexdigest()[:digits], 16)


def _derived_sha(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()


def _random_sha(rng: random.Random) -> str:
    return f"{rng.getrandbits(160):040x}"


def _encode(payload: Any) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def _weak_etag(body: bytes) -> str:
    return f'W/"{hashlib.sha1(body).hexdigest()}"'


def _etag_matches(if_none_match: str | None, etag: str) -> bool:
    """Weak comparison of an If-None-Match list against our ETag, as GitHub does."""
    if not if_none_match:
        return False
    opaque = etag.removeprefix("W/")
    candidates = (c.strip() for c in if_none_match.split(","))
    return any(c == "*" or c.removeprefix("W/") == opaque for c in candidates)


def _int_param(params: Mapping[str, str], name: str, default: int) -> int:
    try:
        return int(params[name])
    except (KeyError, ValueError):
        return default


def _parse_since(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise _HttpError(422, "Validation Failed") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _ordered(items: list[Any], key: Callable[[Any], Any], direction: str) -> list[Any]:
    if direction not in ("asc", "desc"):
        raise _HttpError(422, "Validation Failed")
    return sorted(items, key=key, reverse=direction == "desc")


def _is_bot(login: str) -> bool:
    return login in BOT_LOGINS or login.endswith("[bot]")


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


def _approves(body: str) -> bool:
    fenced = False
    for line in body.replace("\r\n", "\n").split("\n"):
        if re.match(r"^[ \t]*(?:```|~~~)", line):
            fenced = not fenced
        elif not fenced and _approving_line(line):
            return True
    return False


def _is_lgtm(comment: IssueComment) -> bool:
    return comment.spec is None and not _is_bot(comment.user) and _approves(comment.body)


def _render(content: CommentContent) -> tuple[str, CommentSpec | None]:
    if isinstance(content, CodecovSpec):
        return render_codecov(content), content
    if isinstance(content, TrillianResultSpec):
        return render_trillian(content), content
    return content, None


def _pr_state(pr: PullRequest) -> dict[str, Any]:
    return {
        "pr_title": pr.title,
        "pr_state": "merged" if pr.merged_at else pr.state,
        "author": pr.user,
        "assignees": ",".join(sorted(pr.assignees)),
        "draft": pr.draft,
        "created_at": pr.created_at,
        "updated_at": pr.updated_at,
        "closed_at": pr.closed_at,
        "merged_at": pr.merged_at,
        "head_sha": pr.head_sha,
        "base_ref": pr.base_ref,
    }


# --------------------------------------------------------------------------------------------------
# The fake
# --------------------------------------------------------------------------------------------------


class FakeGitHub:
    """GitHub's REST API for pull requests, served from memory on ``http://127.0.0.1:PORT``.

    ``tokens``: the valid tokens (``Authorization: Bearer <t>`` or ``token <t>``); None accepts any
    token. ``allow_anonymous``: requests without a token use the anonymous budget (else 401).
    ``rate_limit``/``anonymous_rate_limit``: primary budget per identity and window.
    ``rate_limit_window``: seconds of wall clock before a budget refills. ``latency``: seconds slept
    per request (settable later). ``start_time``: the fake clock's start. All methods are thread-safe.

    GitHub App: with ``app_id``, ``app_public_key`` (PEM) and ``installation_id``,
    ``POST /app/installations/{id}/access_tokens`` with a JWT signed by the App's key (RS256, ``iss`` =
    app id) answers 201 with a new installation token valid ``installation_token_ttl`` wall-clock
    seconds; all installation tokens share one budget (identity ``installation-{id}``), as on GitHub.
    """

    def __init__(
        self,
        *,
        tokens: Collection[str] | None = None,
        allow_anonymous: bool = True,
        rate_limit: int = 5000,
        anonymous_rate_limit: int = 60,
        rate_limit_window: float = 3600.0,
        latency: float = 0.0,
        port: int = 0,
        start_time: datetime = DEFAULT_START,
        wall_clock: Callable[[], float] = time.time,
        app_id: int | None = None,
        app_public_key: str | None = None,
        installation_id: int | None = None,
        installation_token_ttl: float = 3600.0,
    ) -> None:
        self._lock = threading.RLock()
        self.app_id, self.app_public_key, self.installation_id = app_id, app_public_key, installation_id
        self.installation_token_ttl = installation_token_ttl
        self._installation_tokens: dict[str, float] = {}  # token digest -> wall-clock expiry
        self.installation_tokens_issued = 0
        self._valid_tokens = None if tokens is None else {self._digest(t) for t in tokens}
        self.allow_anonymous = allow_anonymous
        self.rate_limit = rate_limit
        self.anonymous_rate_limit = anonymous_rate_limit
        self.rate_limit_window = rate_limit_window
        self.latency = latency
        self._port = port
        self._clock = start_time.astimezone(UTC)
        self._wall = wall_clock
        self._repos: dict[str, Repo] = {}
        self._budgets: dict[str, _Budget] = {}
        self._faults = _Faults()
        self._requests: list[RequestRecord] = []
        self._ids = itertools.count(1_000_001)
        self._test_ids = itertools.count(1001)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # ---- lifecycle -------------------------------------------------------------------------------

    @classmethod
    def seeded(
        cls,
        repos: Sequence[str] = ("apache/cloudstack", "acme/widgets"),
        prs_per_repo: int = 20,
        seed: int = 42,
        **options: Any,
    ) -> FakeGitHub:
        """A fake (not started) holding deterministic realistic data; ``options`` go to the constructor."""
        fake = cls(**options)
        fake.populate(repos, prs_per_repo, seed)
        return fake

    def start(self) -> FakeGitHub:
        """Bind 127.0.0.1 (port 0 = any free port) and serve in a daemon thread."""
        if self._server is not None:
            raise RuntimeError("FakeGitHub already started")
        self._server = _Server(("127.0.0.1", self._port), _Handler, self)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the listening socket (idempotent)."""
        server, thread = self._server, self._thread
        self._server, self._thread = None, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> FakeGitHub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("FakeGitHub not started")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """Base URL, ``http://127.0.0.1:PORT`` (no trailing slash)."""
        return f"http://127.0.0.1:{self.port}"

    def _api_base(self) -> str:
        return self.url if self._server is not None else "http://127.0.0.1"

    # ---- clock -----------------------------------------------------------------------------------

    @property
    def now(self) -> datetime:
        """The fake clock (aware UTC) that stamps every new or updated timestamp."""
        with self._lock:
            return self._clock

    def advance(self, seconds: float) -> datetime:
        """Move the fake clock forward; returns the new time."""
        if seconds < 0:
            raise ValueError("the fake clock only moves forward")
        with self._lock:
            self._clock += timedelta(seconds=seconds)
            return self._clock

    def _stamp(self) -> datetime:
        """The current fake time, whole seconds (the wire format's precision)."""
        return self._clock.replace(microsecond=0)

    # ---- faults ----------------------------------------------------------------------------------

    def fail_next(self, n: int = 1, status: int = 502) -> None:
        """The next ``n`` requests get ``status`` (a 5xx) with a JSON error body, costing no budget."""
        with self._lock:
            self._faults.fail, self._faults.fail_status = n, status

    def secondary_limit_next(self, n: int = 1, retry_after: int | None = 1, status: int = 403) -> None:
        """The next ``n`` requests hit a secondary rate limit (403 or 429, ``Retry-After`` unless None)."""
        with self._lock:
            self._faults.secondary, self._faults.secondary_status = n, status
            self._faults.secondary_retry_after = retry_after

    def malformed_json_next(self, n: int = 1, path_contains: str = "") -> None:
        """The next ``n`` 200 answers whose path+query contains ``path_contains`` carry truncated JSON."""
        with self._lock:
            self._faults.malformed, self._faults.malformed_path = n, path_contains

    def drop_connection_next(self, n: int = 1) -> None:
        """The next ``n`` requests are answered by closing the socket, with no response at all."""
        with self._lock:
            self._faults.drop = n

    def clear_faults(self) -> None:
        with self._lock:
            self._faults = _Faults()

    # ---- request log and budgets -----------------------------------------------------------------

    @staticmethod
    def _digest(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()

    @staticmethod
    def fingerprint(token: str) -> str:
        """How the request log names a token: the first 8 hex digits of its sha256."""
        return FakeGitHub._digest(token)[:8]

    @property
    def requests(self) -> list[RequestRecord]:
        """A copy of the request log, oldest first."""
        with self._lock:
            return list(self._requests)

    def reset_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    def request_counts(self) -> dict[str, int]:
        """Logged requests per repository (``owner/name``); requests naming no repository are left out."""
        with self._lock:
            return dict(Counter(r.repo for r in self._requests if r.repo is not None))

    def _identity(self, token: str | None) -> str:
        return ANONYMOUS if token is None else self.fingerprint(token)

    def _budget(self, identity: str) -> _Budget:
        """The identity's budget, refilled when the wall clock has reached its reset epoch."""
        wall = self._wall()
        budget = self._budgets.get(identity)
        if budget is None or wall >= budget.reset:
            limit = self.anonymous_rate_limit if identity == ANONYMOUS else self.rate_limit
            budget = _Budget(limit=limit, reset=math.ceil(wall + self.rate_limit_window))
            self._budgets[identity] = budget
        return budget

    def rate_limit_status(self, token: str | None = None) -> RateLimitStatus:
        """The primary budget of ``token`` (None: anonymous)."""
        with self._lock:
            return self._budget(self._identity(token)).status()

    def set_remaining(self, token: str | None, remaining: int) -> None:
        """Set what is left of a budget in the current window (e.g. 0 to test exhaustion)."""
        with self._lock:
            budget = self._budget(self._identity(token))
            budget.used = max(0, budget.limit - remaining)

    def reset_rate_limits(self) -> None:
        """Forget every budget: the next request of each identity starts a full window."""
        with self._lock:
            self._budgets.clear()

    # ---- serving ---------------------------------------------------------------------------------

    def _serve(self, request: _Request) -> _Reply | None:
        """Answer one request (None: drop the connection) and log it. Called by the HTTP handler."""
        if self.latency > 0:
            time.sleep(self.latency)
        with self._lock:
            exchange = _Exchange(request)
            reply = self._respond(exchange)
            self._requests.append(
                RequestRecord(
                    method=request.method,
                    path=request.target,
                    status=0 if reply is None else reply.status,
                    conditional=request.if_none_match is not None,
                    token=exchange.token,
                    repo=self._repo_named(request.path),
                    counted=exchange.counted,
                    fault=exchange.fault,
                    at=self._wall(),
                )
            )
            return reply

    def _respond(self, ex: _Exchange) -> _Reply | None:
        if self._faults.drop > 0:
            self._faults.drop -= 1
            ex.fault = "drop"
            return None
        if ex.request.method == "POST":
            return self._installation_token(ex)
        identity = self._authenticate(ex)
        if isinstance(identity, _Reply):
            return identity
        budget = self._budget(identity)
        injected = self._injected_failure(ex, budget)
        if injected is not None:
            return injected
        if ex.request.path == "/rate_limit":
            return self._json_reply(200, self._rate_limit_json(budget), budget)
        if budget.remaining <= 0:
            return self._primary_limited(identity, budget)
        return self._answer(ex, budget)

    def _authenticate(self, ex: _Exchange) -> str | _Reply:
        """The budget identity of the request, or the 401 to send."""
        header = ex.request.authorization
        if header is None:
            if self.allow_anonymous:
                return ANONYMOUS
            return self._error(401, "Requires authentication", self._budget(ANONYMOUS))
        scheme, _, token = header.strip().partition(" ")
        token = token.strip()
        if token:
            ex.token = self.fingerprint(token)
        valid = scheme.lower() in ("bearer", "token") and bool(token)
        installation = self._installation_tokens.get(self._digest(token))
        if valid and installation is not None:
            if self._wall() >= installation:
                return self._error(401, "Bad credentials", self._budget(ANONYMOUS))
            return f"installation-{self.installation_id}"
        if not valid or (self._valid_tokens is not None and self._digest(token) not in self._valid_tokens):
            return self._error(401, "Bad credentials", self._budget(ANONYMOUS))
        return self.fingerprint(token)

    def _installation_token(self, ex: _Exchange) -> _Reply:
        """``POST /app/installations/{id}/access_tokens``: a JWT of the App in, an installation token out."""
        budget = self._budget(ANONYMOUS)
        expected = f"/app/installations/{self.installation_id}/access_tokens"
        if self.app_id is None or self.app_public_key is None or ex.request.path != expected:
            return self._error(404, "Not Found", budget)
        scheme, _, token = (ex.request.authorization or "").strip().partition(" ")
        ex.token = self.fingerprint(token.strip()) if token.strip() else None
        import jwt  # only the App flow needs PyJWT; the rest of the fake is standard library

        try:
            claims = jwt.decode(
                token.strip(), self.app_public_key, algorithms=["RS256"], options={"require": ["exp", "iat", "iss"]}
            )
        except jwt.PyJWTError:
            return self._error(401, "A JSON web token could not be decoded", budget)
        if scheme.lower() != "bearer" or str(claims.get("iss")) != str(self.app_id):
            return self._error(401, "A JSON web token could not be decoded", budget)
        issued = f"ghs_{hashlib.sha256(f'{token}:{self.installation_tokens_issued}'.encode()).hexdigest()[:36]}"
        expiry = self._wall() + self.installation_token_ttl
        self._installation_tokens[self._digest(issued)] = expiry
        self.installation_tokens_issued += 1
        payload = {"token": issued, "expires_at": datetime.fromtimestamp(expiry, UTC).strftime(_WIRE_TIME)}
        return self._json_reply(201, payload, budget)

    def _injected_failure(self, ex: _Exchange, budget: _Budget) -> _Reply | None:
        faults = self._faults
        if faults.fail > 0:
            faults.fail -= 1
            ex.fault = "5xx"
            return self._error(faults.fail_status, HTTPStatus(faults.fail_status).phrase, budget)
        if faults.secondary > 0:
            faults.secondary -= 1
            ex.fault = "secondary"
            reply = self._error(faults.secondary_status, SECONDARY_LIMIT_MESSAGE, budget)
            if faults.secondary_retry_after is not None:
                reply.headers.append(("Retry-After", str(faults.secondary_retry_after)))
            return reply
        return None

    def _primary_limited(self, identity: str, budget: _Budget) -> _Reply:
        who = "127.0.0.1" if identity == ANONYMOUS else f"user ID {_stable_int(identity)}"
        return self._error(403, f"API rate limit exceeded for {who}.", budget)

    def _answer(self, ex: _Exchange, budget: _Budget) -> _Reply:
        """Route, then charge the budget unless the answer is a 304."""
        try:
            payload, link = self._route(ex)
        except _HttpError as err:
            budget.used += 1
            ex.counted = True
            return self._error(err.status, err.message, budget)
        body = _encode(payload)
        if self._take_malformed(ex):
            budget.used += 1
            ex.counted = True
            return self._reply(200, body[: max(1, len(body) // 2)], budget, [])
        etag = _weak_etag(body)
        extra = [("ETag", etag)] + ([("Link", link)] if link else [])
        if _etag_matches(ex.request.if_none_match, etag):
            return self._reply(304, b"", budget, extra)
        budget.used += 1
        ex.counted = True
        return self._reply(200, body, budget, extra)

    def _take_malformed(self, ex: _Exchange) -> bool:
        faults = self._faults
        if faults.malformed <= 0 or faults.malformed_path not in ex.request.target:
            return False
        faults.malformed -= 1
        ex.fault = "malformed"
        return True

    def _reply(self, status: int, body: bytes, budget: _Budget, extra: list[tuple[str, str]]) -> _Reply:
        headers = [
            ("Content-Type", "application/json; charset=utf-8"),
            ("Content-Length", str(len(body))),
            ("Cache-Control", "private, max-age=60, s-maxage=60"),
            ("Vary", "Accept, Authorization, Cookie, X-GitHub-OTP, Accept-Encoding"),
            ("X-GitHub-Media-Type", "github.v3; format=json"),
            ("X-GitHub-Api-Version-Selected", "2022-11-28"),
            ("X-RateLimit-Limit", str(budget.limit)),
            ("X-RateLimit-Remaining", str(budget.remaining)),
            ("X-RateLimit-Reset", str(budget.reset)),
            ("X-RateLimit-Used", str(budget.used)),
            ("X-RateLimit-Resource", "core"),
            ("X-GitHub-Request-Id", f"FAKE:{len(self._requests):08X}"),
        ]
        return _Reply(status, headers + extra, body)

    def _json_reply(self, status: int, payload: Any, budget: _Budget) -> _Reply:
        body = _encode(payload)
        return self._reply(status, body, budget, [("ETag", _weak_etag(body))])

    def _error(self, status: int, message: str, budget: _Budget) -> _Reply:
        payload = {"message": message, "documentation_url": "https://docs.github.com/rest"}
        if status in (403, 429):
            payload["documentation_url"] = _RATE_DOCS
        return self._reply(status, _encode(payload), budget, [])

    # ---- routing ---------------------------------------------------------------------------------

    def _route(self, ex: _Exchange) -> tuple[Any, str | None]:
        """The JSON payload and Link header for a GET; raises _HttpError for 404/422."""
        repo, rest = self._resolve(ex.request.path)
        payload = self._endpoint(repo, rest, ex.request.params)
        if isinstance(payload, _Listing):  # only the requested page is rendered
            chunk, link = self._paginate(payload.items, repo, rest, ex.request.query)
            return [payload.render(item) for item in chunk], link
        return payload, None

    def _resolve(self, path: str) -> tuple[Repo, tuple[str, ...]]:
        parts = tuple(p for p in path.split("/") if p)
        if len(parts) >= 3 and parts[0] == "repos":
            repo = self._repos.get(f"{parts[1]}/{parts[2]}")
            rest = parts[3:]
        elif len(parts) >= 2 and parts[0] == "repositories":
            repo = next((r for r in self._repos.values() if str(r.id) == parts[1]), None)
            rest = parts[2:]
        else:
            repo = None
        if repo is None:
            raise _HttpError(404, "Not Found")
        return repo, rest

    def _repo_named(self, path: str) -> str | None:
        """The repository a path names (for the request log), whatever the answer was."""
        try:
            return self._resolve(path)[0].full_name
        except _HttpError:
            return None

    def _endpoint(self, repo: Repo, rest: tuple[str, ...], params: Mapping[str, str]) -> dict[str, Any] | _Listing:
        match rest:
            case ():
                return self._repo_json(repo)
            case ("pulls",):
                return _Listing(self._list_pulls(repo, params), partial(self._pull_json, repo))
            case ("pulls", number):
                return self._pull_json(repo, self._find_pr(repo, number), full=True)
            case ("pulls", number, "reviews"):
                pr = self._find_pr(repo, number)
                return _Listing(pr.reviews, partial(self._review_json, repo, pr))
            case ("issues", "comments"):
                return _Listing(self._list_comments(repo, None, params), partial(self._comment_json, repo))
            case ("issues", number, "labels"):
                return _Listing(self._find_pr(repo, number).labels, partial(self._label_json, repo))
            case ("issues", number, "comments"):
                pr = self._find_pr(repo, number)
                return _Listing(self._list_comments(repo, pr.number, params), partial(self._comment_json, repo))
        raise _HttpError(404, "Not Found")

    @staticmethod
    def _find_pr(repo: Repo, number: str) -> PullRequest:
        pr = repo.pulls.get(int(number)) if number.isdigit() else None
        if pr is None:
            raise _HttpError(404, "Not Found")
        return pr

    @staticmethod
    def _list_pulls(repo: Repo, params: Mapping[str, str]) -> list[PullRequest]:
        state = params.get("state", "open")
        sort = params.get("sort", "created")
        if state not in ("open", "closed", "all") or sort not in ("created", "updated"):
            raise _HttpError(422, "Validation Failed")
        direction = params.get("direction", "desc" if sort == "created" else "asc")
        pulls = [pr for pr in repo.pulls.values() if state in ("all", pr.state)]
        if sort == "created":
            return _ordered(pulls, lambda pr: (pr.created_at, pr.number), direction)
        return _ordered(pulls, lambda pr: (pr.updated_at, pr.number), direction)

    @staticmethod
    def _list_comments(repo: Repo, number: int | None, params: Mapping[str, str]) -> list[IssueComment]:
        """Issue comments (of one issue, or repository-wide), ``since`` and ``sort``/``direction`` applied.

        GitHub quirk reproduced: a ``since`` before 1971 (e.g. the epoch) returns an empty list. Listings
        are cached until the next comment change (each page of a long list would sort it again).
        """
        key = (repo.comment_rev, number, params.get("since"), params.get("sort"), params.get("direction"))
        cached = repo.listings.get(key)
        if cached is None:
            if len(repo.listings) > 64 or any(k[0] != repo.comment_rev for k in repo.listings):
                repo.listings.clear()
            cached = repo.listings[key] = FakeGitHub._sorted_comments(repo, number, params)
        return cached

    @staticmethod
    def _sorted_comments(repo: Repo, number: int | None, params: Mapping[str, str]) -> list[IssueComment]:
        comments = [c for c in repo.comments.values() if number in (None, c.issue_number)]
        if "since" in params:
            since = _parse_since(params["since"])
            if since.year < 1971:
                return []
            comments = [c for c in comments if c.updated_at >= since]
        sort = params.get("sort")
        if sort is None:
            return sorted(comments, key=lambda c: c.id)
        if sort not in ("created", "updated"):
            raise _HttpError(422, "Validation Failed")
        direction = params.get("direction", "asc")
        if sort == "created":
            return _ordered(comments, lambda c: (c.created_at, c.id), direction)
        return _ordered(comments, lambda c: (c.updated_at, c.id), direction)

    def _paginate(
        self, items: Sequence[Any], repo: Repo, rest: tuple[str, ...], query: list[tuple[str, str]]
    ) -> tuple[Sequence[Any], str | None]:
        params = dict(query)
        per_page = _int_param(params, "per_page", DEFAULT_PER_PAGE)
        per_page = DEFAULT_PER_PAGE if per_page < 1 else min(per_page, MAX_PER_PAGE)
        page = max(1, _int_param(params, "page", 1))
        last = max(1, math.ceil(len(items) / per_page))
        kept = [(k, v) for k, v in query if k != "page"]
        base = f"{self._api_base()}/repositories/{repo.id}/{'/'.join(rest)}"

        def link(target: int, rel: str) -> str:
            return f'<{base}?{urlencode([*kept, ("page", str(target))])}>; rel="{rel}"'

        links = []
        if page > 1:
            links.append(link(min(page - 1, last), "prev"))
        if page < last:
            links += [link(page + 1, "next"), link(last, "last")]
        if page > 1:
            links.append(link(1, "first"))
        chunk = items[(page - 1) * per_page : page * per_page]
        return chunk, ", ".join(links) or None

    # ---- JSON shapes -----------------------------------------------------------------------------

    def _user_json(self, login: str) -> dict[str, Any]:
        return {
            "login": login,
            "id": _stable_int(login),
            "node_id": f"U_{_stable_int(login):08x}",
            "type": "Bot" if login.endswith("[bot]") else "User",
            "site_admin": False,
            "url": f"{self._api_base()}/users/{quote(login)}",
            "html_url": f"{HTML_BASE}/{quote(login)}",
        }

    def _repo_json(self, repo: Repo) -> dict[str, Any]:
        owner, name = repo.full_name.split("/", 1)
        api = f"{self._api_base()}/repos/{repo.full_name}"
        return {
            "id": repo.id,
            "node_id": f"R_{repo.id:08x}",
            "name": name,
            "full_name": repo.full_name,
            "private": False,
            "owner": {**self._user_json(owner), "type": "Organization"},
            "html_url": f"{HTML_BASE}/{repo.full_name}",
            "description": f"Fake {name} repository",
            "fork": False,
            "url": api,
            "pulls_url": f"{api}/pulls{{/number}}",
            "issue_comment_url": f"{api}/issues/comments{{/number}}",
            "default_branch": "main",
        }

    def _label_json(self, repo: Repo, name: str) -> dict[str, Any]:
        return {
            "id": _stable_int(f"{repo.full_name}:{name}", 9),
            "node_id": f"LA_{_stable_int(name):08x}",
            "url": f"{self._api_base()}/repos/{repo.full_name}/labels/{quote(name)}",
            "name": name,
            "color": f"{_stable_int(name, 6):06x}",
            "default": False,
            "description": None,
        }

    def _pull_json(self, repo: Repo, pr: PullRequest, *, full: bool = False) -> dict[str, Any]:
        api = f"{self._api_base()}/repos/{repo.full_name}"
        owner = repo.full_name.split("/", 1)[0]
        merged = pr.merged_at is not None
        payload: dict[str, Any] = {
            "url": f"{api}/pulls/{pr.number}",
            "id": pr.id,
            "node_id": f"PR_{pr.id:010x}",
            "html_url": f"{HTML_BASE}/{repo.full_name}/pull/{pr.number}",
            "diff_url": f"{HTML_BASE}/{repo.full_name}/pull/{pr.number}.diff",
            "issue_url": f"{api}/issues/{pr.number}",
            "number": pr.number,
            "state": pr.state,
            "locked": False,
            "title": pr.title,
            "user": self._user_json(pr.user),
            "body": pr.body,
            "created_at": _wire(pr.created_at),
            "updated_at": _wire(pr.updated_at),
            "closed_at": _wire(pr.closed_at),
            "merged_at": _wire(pr.merged_at),
            "merge_commit_sha": _derived_sha(f"merge:{repo.full_name}#{pr.number}") if merged else None,
            "assignee": self._user_json(pr.assignees[0]) if pr.assignees else None,
            "assignees": [self._user_json(login) for login in pr.assignees],
            "requested_reviewers": [],
            "labels": [self._label_json(repo, name) for name in pr.labels],
            "milestone": None,
            "draft": pr.draft,
            "commits_url": f"{api}/pulls/{pr.number}/commits",
            "comments_url": f"{api}/issues/{pr.number}/comments",
            "statuses_url": f"{api}/statuses/{pr.head_sha}",
            "head": {"label": f"{pr.user}:{pr.head_ref}", "ref": pr.head_ref, "sha": pr.head_sha},
            "base": {
                "label": f"{owner}:{pr.base_ref}",
                "ref": pr.base_ref,
                "sha": _derived_sha(f"{repo.full_name}@{pr.base_ref}"),
            },
            "author_association": "CONTRIBUTOR",
            "auto_merge": None,
            "active_lock_reason": None,
        }
        if full:
            payload |= self._pull_details(repo, pr)
        return payload

    def _pull_details(self, repo: Repo, pr: PullRequest) -> dict[str, Any]:
        """Fields only the single-pull endpoint has."""
        merged = pr.merged_at is not None
        return {
            "merged": merged,
            "mergeable": None if pr.state == "closed" else True,
            "mergeable_state": "unknown" if pr.state == "closed" else "clean",
            "merged_by": self._user_json(pr.assignees[0] if pr.assignees else pr.user) if merged else None,
            "comments": sum(1 for c in repo.comments.values() if c.issue_number == pr.number),
            "review_comments": 0,
            "commits": 1,
            "additions": _stable_int(pr.head_sha, 3) % 400,
            "deletions": _stable_int(pr.head_sha[::-1], 3) % 200,
            "changed_files": 1 + _stable_int(pr.head_sha, 2) % 12,
        }

    def _review_json(self, repo: Repo, pr: PullRequest, review: Review) -> dict[str, Any]:
        html = f"{HTML_BASE}/{repo.full_name}/pull/{pr.number}#pullrequestreview-{review.id}"
        return {
            "id": review.id,
            "node_id": f"PRR_{review.id:010x}",
            "user": self._user_json(review.user),
            "body": review.body,
            "state": review.state,
            "html_url": html,
            "pull_request_url": f"{self._api_base()}/repos/{repo.full_name}/pulls/{pr.number}",
            "author_association": "MEMBER",
            "submitted_at": _wire(review.submitted_at),
            "commit_id": review.commit_id,
        }

    def _comment_json(self, repo: Repo, comment: IssueComment) -> dict[str, Any]:
        api = f"{self._api_base()}/repos/{repo.full_name}"
        html = f"{HTML_BASE}/{repo.full_name}/pull/{comment.issue_number}#issuecomment-{comment.id}"
        return {
            "url": f"{api}/issues/comments/{comment.id}",
            "html_url": html,
            "issue_url": f"{api}/issues/{comment.issue_number}",
            "id": comment.id,
            "node_id": f"IC_{comment.id:010x}",
            "user": self._user_json(comment.user),
            "created_at": _wire(comment.created_at),
            "updated_at": _wire(comment.updated_at),
            "author_association": "NONE" if _is_bot(comment.user) else "MEMBER",
            "body": comment.body,
            "performed_via_github_app": None,
        }

    @staticmethod
    def _rate_limit_json(budget: _Budget) -> dict[str, Any]:
        core = {"limit": budget.limit, "used": budget.used, "remaining": budget.remaining, "reset": budget.reset}
        search = {"limit": 30, "used": 0, "remaining": 30, "reset": budget.reset}
        return {"resources": {"core": core, "search": search}, "rate": core}

    # ---- mutations -------------------------------------------------------------------------------

    def _repo(self, name: str) -> Repo:
        repo = self._repos.get(name)
        if repo is None:
            raise KeyError(f"unknown repository {name!r}")
        return repo

    def _pr(self, repo: str, number: int) -> PullRequest:
        pr = self._repo(repo).pulls.get(number)
        if pr is None:
            raise KeyError(f"unknown pull request {repo}#{number}")
        return pr

    def _touch(self, pr: PullRequest, touch: bool = True) -> None:
        if touch:
            pr.updated_at = self._stamp()

    def add_repo(self, full_name: str, repo_id: int | None = None) -> int:
        """Create a repository (``owner/name``); returns its numeric id (default: 1001, 1002, ...)."""
        with self._lock:
            if full_name in self._repos:
                raise ValueError(f"repository {full_name!r} exists")
            rid = repo_id if repo_id is not None else 1001 + len(self._repos)
            self._repos[full_name] = Repo(full_name=full_name, id=rid)
            return rid

    def repo_id(self, full_name: str) -> int:
        with self._lock:
            return self._repo(full_name).id

    @property
    def repos(self) -> list[str]:
        with self._lock:
            return sorted(self._repos)

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
        with self._lock:
            r = self._repo(repo)
            num = r.next_number if number is None else number
            if num in r.pulls:
                raise ValueError(f"{repo}#{num} exists")
            r.next_number = max(r.next_number, num + 1)
            stamp = self._stamp()
            r.pulls[num] = PullRequest(
                id=next(self._ids),
                number=num,
                title=title or f"Change number {num}",
                user=user,
                created_at=stamp,
                updated_at=stamp,
                head_sha=head_sha or _derived_sha(f"{repo}#{num}@{stamp.isoformat()}"),
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
        with self._lock:
            target, (body, spec) = self._pr(repo, pr), _render(content)
            stamp = self._stamp()
            comment = IssueComment(next(self._ids), pr, user, body, stamp, stamp, spec)
            self._repo(repo).comments[comment.id] = comment
            self._repo(repo).comment_rev += 1
            self._touch(target)
            return comment.id

    def edit_comment(self, repo: str, comment_id: int, content: CommentContent) -> None:
        """Replace a comment's body (text, or a bot spec to render); moves its updated_at and the PR's."""
        with self._lock:
            comment = self._repo(repo).comments.get(comment_id)
            if comment is None:
                raise KeyError(f"unknown comment {comment_id} in {repo}")
            comment.body, comment.spec = _render(content)
            comment.updated_at = self._stamp()
            self._repo(repo).comment_rev += 1
            self._touch(self._pr(repo, comment.issue_number))

    def add_label(self, repo: str, pr: int, name: str, *, touch: bool = True) -> None:
        """Add a label (no-op if present); ``touch=False`` leaves updated_at unmoved."""
        with self._lock:
            target = self._pr(repo, pr)
            if name not in target.labels:
                target.labels.append(name)
                self._touch(target, touch)

    def remove_label(self, repo: str, pr: int, name: str, *, touch: bool = True) -> None:
        """Remove a label (KeyError if absent); ``touch=False`` leaves updated_at unmoved."""
        with self._lock:
            target = self._pr(repo, pr)
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
        """Submit a review at ``now`` on the current head; returns its id."""
        if state == "DISMISSED":
            raise ValueError("submit a review, then dismiss it")
        with self._lock:
            target = self._pr(repo, pr)
            review = Review(next(self._ids), user, state, self._stamp(), body, target.head_sha)
            target.reviews.append(review)
            self._touch(target, touch)
            return review.id

    def dismiss_review(self, repo: str, pr: int, review_id: int, *, touch: bool = True) -> None:
        """Set a review's state to DISMISSED (submitted_at is kept)."""
        with self._lock:
            target = self._pr(repo, pr)
            review = next((r for r in target.reviews if r.id == review_id), None)
            if review is None:
                raise KeyError(f"unknown review {review_id} on {repo}#{pr}")
            review.state = "DISMISSED"
            self._touch(target, touch)

    def merge(self, repo: str, pr: int) -> None:
        with self._lock:
            target = self._pr(repo, pr)
            if target.state != "open" or target.draft:
                raise ValueError(f"{repo}#{pr} is not an open, ready pull request")
            target.state, target.merged_at = "closed", self._stamp()
            target.closed_at = target.merged_at
            self._touch(target)

    def close(self, repo: str, pr: int) -> None:
        with self._lock:
            target = self._pr(repo, pr)
            if target.state != "open":
                raise ValueError(f"{repo}#{pr} is not open")
            target.state, target.closed_at = "closed", self._stamp()
            self._touch(target)

    def reopen(self, repo: str, pr: int) -> None:
        with self._lock:
            target = self._pr(repo, pr)
            if target.state != "closed" or target.merged_at is not None:
                raise ValueError(f"{repo}#{pr} is not closed without merge")
            target.state, target.closed_at = "open", None
            self._touch(target)

    def push(self, repo: str, pr: int, sha: str | None = None) -> str:
        """Move the PR's head to a new commit; returns the sha."""
        with self._lock:
            target = self._pr(repo, pr)
            target.head_sha = sha or _derived_sha(f"{target.head_sha}+{self._stamp().isoformat()}")
            self._touch(target)
            return target.head_sha

    def set_draft(self, repo: str, pr: int, draft: bool) -> None:
        with self._lock:
            target = self._pr(repo, pr)
            target.draft = draft
            self._touch(target)

    def set_assignees(self, repo: str, pr: int, logins: Iterable[str]) -> None:
        with self._lock:
            target = self._pr(repo, pr)
            target.assignees = list(dict.fromkeys(logins))
            self._touch(target)

    def set_title(self, repo: str, pr: int, title: str) -> None:
        with self._lock:
            target = self._pr(repo, pr)
            target.title = title
            self._touch(target)

    def add_codecov_report(
        self, repo: str, pr: int, spec: CodecovSpec | None = None, *, rng: random.Random | None = None
    ) -> int:
        """Post Codecov's comment, or edit it in place if the PR has one (same id, updated_at moves).

        Without ``spec``, a random report on the PR's current head is made from ``rng`` (default: seeded
        from the repo, PR and fake clock, so still deterministic).
        """
        with self._lock:
            existing = self._codecov_comment(repo, pr)
            if spec is None:
                previous = existing.spec if existing and isinstance(existing.spec, CodecovSpec) else None
                spec = _random_codecov(rng or self._default_rng(repo, pr), repo, self._pr(repo, pr), previous)
            if existing is None:
                return self.add_comment(repo, pr, CODECOV_BOT, spec)
            self.edit_comment(repo, existing.id, spec)
            return existing.id

    def _default_rng(self, repo: str, pr: int) -> random.Random:
        return random.Random(f"{repo}#{pr}@{self._stamp().isoformat()}")

    def _codecov_comment(self, repo: str, pr: int) -> IssueComment | None:
        comments = self._repo(repo).comments.values()
        return next((c for c in comments if c.issue_number == pr and c.user == CODECOV_BOT), None)

    def add_trillian_result(
        self, repo: str, pr: int, spec: TrillianResultSpec | None = None, *, rng: random.Random | None = None
    ) -> int:
        """Post a Trillian smoke-test result by ``blueorangutan``; without ``spec`` a random one (see
        :meth:`add_codecov_report` for ``rng``)."""
        with self._lock:
            self._pr(repo, pr)
            if spec is None:
                spec = _random_trillian(rng or self._default_rng(repo, pr), pr, next(self._test_ids))
            return self.add_comment(repo, pr, TRILLIAN_BOT, spec)

    # ---- ground truth ----------------------------------------------------------------------------

    def truth(self, repo: str) -> Truth:
        """What a correct scraper must have stored for ``repo`` right now (see :class:`Truth`)."""
        with self._lock:
            r = self._repo(repo)
            comments = sorted(r.comments.values(), key=lambda c: (c.created_at, c.id))
            trillian, test_results = _trillian_truth(comments)
            return Truth(
                pr_states={n: _pr_state(pr) for n, pr in r.pulls.items()},
                labels={(n, name) for n, pr in r.pulls.items() for name in pr.labels},
                approvals=_approvals_truth(r, comments),
                codecov=_codecov_truth(r, comments),
                trillian=trillian,
                test_results=test_results,
            )

    # ---- realistic data --------------------------------------------------------------------------

    def populate(self, repos: Sequence[str], prs_per_repo: int, seed: int) -> None:
        """Add ``prs_per_repo`` PRs with realistic histories to each repo (created if missing).

        Histories span about 90 days from ``now``; their events are applied in time order with the fake
        clock set to each event's time, and the clock ends one hour after the last event.
        """
        rng = random.Random(seed)
        with self._lock:
            start = self._stamp()
            events: list[_Event] = []
            for name in repos:
                if name not in self._repos:
                    self.add_repo(name)
                events += self._plan_repo(name, prs_per_repo, start, rng)
            events.sort(key=lambda event: event[0])
            for when, action in events:
                self._clock = max(self._clock, when)
                action()
            self._clock += timedelta(hours=1)

    def _plan_repo(self, repo: str, count: int, start: datetime, rng: random.Random) -> list[_Event]:
        r = self._repos[repo]
        number = r.next_number + (rng.randint(100, 9000) if not r.pulls else 0)
        events: list[_Event] = []
        created = sorted(start + timedelta(seconds=rng.randint(0, 90 * 86400)) for _ in range(count))
        for when in created:
            events += self._plan_pr(repo, number, when, rng)
            number += rng.choice((1, 1, 1, 2, 3))  # issues share the number sequence
        return events

    def _plan_pr(self, repo: str, number: int, created: datetime, rng: random.Random) -> list[_Event]:
        fate = rng.choices(("open", "merged", "closed", "draft"), weights=(35, 35, 15, 15))[0]
        plan = _Timeline(created, rng)
        plan.at(0, 0, partial(self._seed_pr, repo, number, fate == "draft", rng))
        has_codecov = rng.random() < 0.75
        if has_codecov:
            plan.at(600, 2400, partial(self.add_codecov_report, repo, number, rng=rng))
        for _ in range(rng.randint(0, 3)):
            plan.at(300, 86400, partial(self._random_comment, repo, number, rng))
        if rng.random() < 0.6:
            self._plan_trillian(plan, repo, number)
        for _ in range(rng.randint(0, 2)):
            plan.at(3600, 2 * 86400, partial(self._random_push, repo, number, rng, has_codecov))
        self._plan_reviews(plan, repo, number)
        self._plan_labels(plan, repo, number)
        self._plan_fate(plan, repo, number, fate)
        return plan.events

    def _plan_trillian(self, plan: _Timeline, repo: str, number: int) -> None:
        rng = plan.rng
        human = rng.choice(HUMANS)
        say = partial(self.add_comment, repo, number)
        plan.at(3600, 86400, partial(say, human, "@blueorangutan package"))
        plan.at(30, 120, partial(say, TRILLIAN_BOT, render_packaging_kicked(human, crlf=rng.random() < 0.3)))
        plan.at(3000, 7200, partial(self._random_packaging_result, repo, number, rng))
        for _ in range(rng.randint(1, 3)):
            environment, mgmt = rng.choice(ENVIRONMENTS)
            plan.at(600, 7200, partial(say, human, f"@blueorangutan test {mgmt} {environment}"))
            plan.at(30, 120, partial(say, TRILLIAN_BOT, render_trillian_kicked(human, mgmt, environment)))
            duration = rng.randint(20000, 90000)
            result = partial(self._random_trillian_result, repo, number, rng, (environment, mgmt), duration)
            plan.at(duration, duration, result)
        if rng.random() < 0.25:
            plan.at(600, 86400, partial(self._random_quote, repo, number, rng))

    def _plan_reviews(self, plan: _Timeline, repo: str, number: int) -> None:
        rng = plan.rng
        for _ in range(rng.randint(0, 3)):
            plan.at(600, 86400, partial(self._random_review, repo, number, rng))
        if rng.random() < 0.3:
            plan.at(600, 86400, partial(self._random_dismissal, repo, number, rng))
        for _ in range(rng.randint(0, 2)):
            plan.at(600, 86400, partial(self._random_lgtm, repo, number, rng))

    def _plan_labels(self, plan: _Timeline, repo: str, number: int) -> None:
        rng = plan.rng
        if rng.random() < 0.4:
            plan.at(600, 86400, partial(self._random_label_add, repo, number, rng))
        if rng.random() < 0.3:
            plan.at(600, 86400, partial(self._random_label_removal, repo, number, rng))

    def _plan_fate(self, plan: _Timeline, repo: str, number: int, fate: str) -> None:
        rng = plan.rng
        if fate == "draft" and rng.random() < 0.3:
            plan.at(3600, 86400, partial(self.set_draft, repo, number, False))
        elif fate == "merged":
            plan.at(3600, 3 * 86400, partial(self.merge, repo, number))
        elif fate == "closed":
            plan.at(3600, 10 * 86400, partial(self.close, repo, number))
            if rng.random() < 0.2:
                plan.at(3600, 86400, partial(self.reopen, repo, number))
                plan.at(3600, 86400, partial(self.close, repo, number))

    def _seed_pr(self, repo: str, number: int, draft: bool, rng: random.Random) -> None:
        user = rng.choice(HUMANS)
        self.add_pr(
            repo,
            number=number,
            user=user,
            title=f"{rng.choice(TITLE_VERBS)} {rng.choice(TITLE_SUBJECTS)}",
            draft=draft,
            base_ref=rng.choice(("main", "main", "main", "4.19", "4.20")),
            head_ref=f"{user}/{rng.choice(('fix', 'feature', 'cleanup'))}-{number}",
            head_sha=_random_sha(rng),
            labels=rng.sample(LABELS, rng.randint(0, 2)),
            assignees=rng.sample([h for h in HUMANS if h != user], rng.randint(0, 2)),
            body=rng.choice(HUMAN_COMMENTS),
        )

    def _others(self, repo: str, number: int) -> list[str]:
        """Humans who may review or comment: everyone but the author."""
        author = self._pr(repo, number).user
        return [h for h in HUMANS if h != author]

    def _random_comment(self, repo: str, number: int, rng: random.Random) -> str:
        text = rng.choice(HUMAN_COMMENTS)
        if rng.random() < 0.3:
            text = text.replace("\n", "\r\n") + "\r\n"
        self.add_comment(repo, number, rng.choice(self._others(repo, number)), text)
        return f"comment {repo}#{number}"

    def _random_lgtm(self, repo: str, number: int, rng: random.Random) -> str:
        self.add_comment(repo, number, rng.choice(self._others(repo, number)), rng.choice(LGTM_COMMENTS))
        return f"lgtm {repo}#{number}"

    def _random_review(self, repo: str, number: int, rng: random.Random, touch: bool = True) -> str:
        state = rng.choices(("APPROVED", "CHANGES_REQUESTED", "COMMENTED"), weights=(5, 2, 3))[0]
        user = rng.choice(self._others(repo, number))
        self.add_review(repo, number, user, cast(ReviewState, state), rng.choice(REVIEW_BODIES), touch=touch)
        return f"review {state} {repo}#{number}"

    def _random_dismissal(self, repo: str, number: int, rng: random.Random, touch: bool = True) -> str | None:
        live = [r for r in self._pr(repo, number).reviews if r.state in ("APPROVED", "CHANGES_REQUESTED")]
        if not live:
            return None
        self.dismiss_review(repo, number, rng.choice(live).id, touch=touch)
        return f"dismiss {repo}#{number}"

    def _random_label_add(self, repo: str, number: int, rng: random.Random, touch: bool = True) -> str | None:
        missing = [name for name in LABELS if name not in self._pr(repo, number).labels]
        if not missing:
            return None
        name = rng.choice(missing)
        self.add_label(repo, number, name, touch=touch)
        return f"label +{name} {repo}#{number}"

    def _random_label_removal(self, repo: str, number: int, rng: random.Random, touch: bool = True) -> str | None:
        labels = self._pr(repo, number).labels
        if not labels:
            return None
        name = rng.choice(labels)
        self.remove_label(repo, number, name, touch=touch)
        return f"label -{name} {repo}#{number}"

    def _random_push(self, repo: str, number: int, rng: random.Random, report: bool = True) -> str:
        """A new head commit, and Codecov's report on it (an edit of its comment) if ``report``."""
        self.push(repo, number, _random_sha(rng))
        if not report:
            return f"push {repo}#{number}"
        self.add_codecov_report(repo, number, rng=rng)
        return f"push+codecov {repo}#{number}"

    def _random_trillian_result(
        self,
        repo: str,
        number: int,
        rng: random.Random,
        environment: tuple[str, str] | None = None,
        duration: int | None = None,
    ) -> str:
        """A result by the bot; ``environment`` is (name, mgmt server OS), random when None."""
        spec = _random_trillian(rng, number, next(self._test_ids), environment, duration)
        self.add_comment(repo, number, TRILLIAN_BOT, spec)
        return f"trillian {spec.environment} {repo}#{number}"

    def _random_packaging_result(self, repo: str, number: int, rng: random.Random) -> str:
        results = {dist: rng.random() < 0.85 for dist in ("el8", "el9", "debian", "suse15")}
        body = render_packaging_result(results, rng.randint(4000, 16000), crlf=rng.random() < 0.3)
        self.add_comment(repo, number, TRILLIAN_BOT, body)
        return f"packaging {repo}#{number}"

    def _random_quote(self, repo: str, number: int, rng: random.Random) -> str:
        spec = _random_trillian(rng, number, rng.randint(10000, 20000))
        files = rng.sample([f for _, f in TEST_POOL], 4)
        body = render_trillian_quote(spec, files, crlf=rng.random() < 0.3)
        self.add_comment(repo, number, rng.choice(HUMANS), body)
        return f"human quotes trillian {repo}#{number}"

    def mutate_random(self, n: int, rng: random.Random, *, untouched: float = 0.0) -> list[str]:
        """Make ``n`` mixed changes (advancing the clock 1-900 s before each); returns what was done.

        ``untouched``: probability that a label/review change does not move the PR's updated_at.
        """
        done: list[str] = []
        with self._lock:
            if not self._repos:
                raise ValueError("no repository to mutate")
            while len(done) < n:
                self.advance(rng.randint(1, 900))
                outcome = self._mutate_once(rng.choice(sorted(self._repos)), rng, rng.random() >= untouched)
                if outcome is not None:
                    done.append(outcome)
        return done

    def _mutate_once(self, repo: str, rng: random.Random, touch: bool) -> str | None:
        r = self._repos[repo]
        action = rng.choice(MUTATIONS)
        if action == "new_pr" or not r.pulls:
            number = r.next_number + rng.choice((0, 0, 1))
            self._seed_pr(repo, number, rng.random() < 0.15, rng)
            return f"new pr {repo}#{number}"
        pr = r.pulls[rng.choice(sorted(r.pulls))]
        return self._mutation(action, repo, pr, rng, touch)

    def _mutation(self, action: str, repo: str, pr: PullRequest, rng: random.Random, touch: bool) -> str | None:
        n = pr.number
        simple: dict[str, Callable[[], str | None]] = {
            "comment": partial(self._random_comment, repo, n, rng),
            "lgtm": partial(self._random_lgtm, repo, n, rng),
            "edit_comment": partial(self._random_edit, repo, n, rng),
            "add_label": partial(self._random_label_add, repo, n, rng, touch),
            "remove_label": partial(self._random_label_removal, repo, n, rng, touch),
            "review": partial(self._random_review, repo, n, rng, touch),
            "dismiss": partial(self._random_dismissal, repo, n, rng, touch),
            "codecov": partial(self._random_push, repo, n, rng),
            "trillian": partial(self._random_trillian_result, repo, n, rng),
            "assign": partial(self._random_assign, repo, n, rng),
        }
        if action in simple:
            return simple[action]()
        return self._state_change(action, repo, pr)

    def _state_change(self, action: str, repo: str, pr: PullRequest) -> str | None:
        is_open, merged = pr.state == "open", pr.merged_at is not None
        if action == "merge" and is_open and not pr.draft:
            self.merge(repo, pr.number)
        elif action == "close" and is_open:
            self.close(repo, pr.number)
        elif action == "reopen" and not is_open and not merged:
            self.reopen(repo, pr.number)
        elif action == "ready" and is_open and pr.draft:
            self.set_draft(repo, pr.number, False)
        else:
            return None
        return f"{action} {repo}#{pr.number}"

    def _random_edit(self, repo: str, number: int, rng: random.Random) -> str | None:
        comments = self._repos[repo].comments.values()
        human = [c for c in comments if c.issue_number == number and c.spec is None and not _is_bot(c.user)]
        if not human:
            return None
        comment = rng.choice(human)
        self.edit_comment(repo, comment.id, comment.body + "\n\nEdit: rebased on the latest main.")
        return f"edit comment {comment.id} {repo}#{number}"

    def _random_assign(self, repo: str, number: int, rng: random.Random) -> str:
        self.set_assignees(repo, number, rng.sample(HUMANS, rng.randint(0, 2)))
        return f"assign {repo}#{number}"


# --------------------------------------------------------------------------------------------------
# Truth helpers
# --------------------------------------------------------------------------------------------------


def _approvals_truth(repo: Repo, comments: Sequence[IssueComment]) -> dict[tuple[int, str, datetime], str]:
    approvals = {(c.issue_number, c.user, c.created_at): "LGTM" for c in comments if _is_lgtm(c)}
    for number, pr in repo.pulls.items():
        approvals |= {(number, r.user, r.submitted_at): str(r.state) for r in pr.reviews}
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


# --------------------------------------------------------------------------------------------------
# Realistic content
# --------------------------------------------------------------------------------------------------

HUMANS = ("alice-dev", "bob-ops", "carol-qa", "dmitri-k", "erin-w", "farah-n", "gustavo-r", "hana-s")
LABELS = (
    "type:bug",
    "type:enhancement",
    "component:kvm",
    "component:network",
    "component:ui",
    "Severity:Major",
    "Severity:Minor",
    "status:needs-review",
    "status:ready-to-merge",
    "do-not-merge",
    "dependencies",
    "documentation",
)
TITLE_VERBS = ("Fix", "Add", "Improve", "Refactor", "Remove", "Allow", "Validate")
TITLE_SUBJECTS = (
    "volume snapshot listing",
    "VM migration with local storage",
    "KVM host HA checks",
    "network ACL rule ordering",
    "pagination in the instances view",
    "systemvm template registration",
    "Kubernetes cluster scaling",
    "user data on CPVM",
    "usage records for backups",
)
HUMAN_COMMENTS = (
    "Thanks for the PR! Could you add a unit test for this path?",
    "Rebased on main and fixed the conflicts.",
    "Can you squash the commits before we merge?",
    "The integration failure looks unrelated, re-running.",
    "Does this also need a change in the upgrade path?",
    "I tested this manually on a KVM zone, works as expected.",
    "Please update the description with the steps to reproduce.",
    "ping, any update on this one?",
    "Moved to the next milestone.",
    "Nit: the log message could include the volume id.\n\nOtherwise fine by me.",
    "Not LGTM yet: the upgrade path still drops the old column.",
    "> LGTM\n\nI disagree with the approval above, please wait for the KVM run.",
    "Is this LGTM? I only read the diff.",
)
LGTM_COMMENTS = (
    "LGTM",
    "lgtm",
    "LGTM, thanks!",
    "Code LGTM :+1:",
    "LGTM with the nit addressed",
    "tested, LGTM",
    "Thanks for the fix.\r\n\r\n/lgtm",
)
REVIEW_BODIES = ("", "", "Looks good to me.", "A couple of small comments inline.", "Please handle the null case.")
ENVIRONMENTS = (
    ("kvm-ol8", "ol8"),
    ("kvm-ol9", "ol9"),
    ("kvm-centos7", "7"),
    ("kvm-ubuntu22", "ol8"),
    ("xenserver-71", "7"),
    ("xenserver-84", "ol8"),
    ("vmware-70u3", "a9"),
    ("vmware-80u1", "ol8"),
    ("vmware-67u3", "7"),
)
TEST_POOL = (
    ("test_03_deploy_and_scale_kubernetes_cluster", "test_kubernetes_clusters.py"),
    ("ContextSuite context=TestKubernetesCluster>:teardown", "test_kubernetes_clusters.py"),
    ("test_2_userdata_on_cpvm", "test_systemvm_userdata.py"),
    ("test_01_migrate_VM_and_root_volume", "test_vm_life_cycle.py"),
    ("test_11_migrate_vm", "test_vm_life_cycle.py"),
    ("test_hostha_kvm_host_degraded", "test_hostha_kvm.py"),
    ("test_nic_secondaryip_add_remove", "test_multipleips_per_nic.py"),
    ("test_02_list_snapshots_with_removed_data_store", "test_snapshots.py"),
    ("test_04_rvpc_network_garbage_collector_nics", "test_vpc_redundant.py"),
    ("test_01_cancel_host_maintenace_with_no_migration_jobs", "test_host_maintenance.py"),
    ("test_00_deploy_vm_root_resize", "test_deploy_vm_root_resize.py"),
    ("test_01_create_template_from_snapshot", "test_templates.py"),
)
MUTATIONS = (
    "new_pr",
    "comment",
    "lgtm",
    "edit_comment",
    "add_label",
    "remove_label",
    "review",
    "dismiss",
    "merge",
    "close",
    "reopen",
    "ready",
    "codecov",
    "trillian",
    "assign",
)


@dataclass
class _Timeline:
    """Events of one PR's planned history, each some seconds after the previous one."""

    cursor: datetime
    rng: random.Random
    events: list[_Event] = field(default_factory=list)

    def at(self, low: int, high: int, action: Callable[[], object]) -> None:
        self.cursor += timedelta(seconds=self.rng.randint(low, high))
        self.events.append((self.cursor, action))


def _random_rows(rng: random.Random) -> tuple[TrillianTestRow, ...]:
    if rng.random() < 0.45:
        return ()
    outcomes: tuple[TestOutcome, ...] = ("Failure", "Error", "Skipped")
    rows = [
        TrillianTestRow(name, rng.choices(outcomes, weights=(4, 4, 2))[0], round(rng.uniform(1, 4000), 2), file)
        for name, file in rng.sample(TEST_POOL, rng.randint(1, 4))
    ]
    if rng.random() < 0.05:
        rows.append(rows[0])  # the bot sometimes prints a row twice
    return tuple(rows)


def _random_trillian(
    rng: random.Random,
    pr_number: int,
    test_id: int,
    environment: tuple[str, str] | None = None,
    duration: int | None = None,
) -> TrillianResultSpec:
    env, mgmt = environment or rng.choice(ENVIRONMENTS)
    rows = _random_rows(rng)
    failed = len({r.name for r in rows if r.result != "Skipped"})
    if failed and rng.random() < 0.15:
        failed -= 1  # real summaries sometimes disagree with the table
    return TrillianResultSpec(
        test_id=test_id,
        pr_number=pr_number,
        environment=env,
        passed=rng.randint(80, 150),
        failed=failed,
        skipped=len({r.name for r in rows if r.result == "Skipped"}),
        duration_seconds=duration if duration is not None else rng.randint(20000, 90000),
        rows=rows,
        logs_available=rng.random() > 0.12,
        zone=rng.choice(("Advanced", None)),
        mgmt_server=mgmt,
        crlf=rng.random() < 0.3,
    )


def _random_codecov(rng: random.Random, repo: str, pr: PullRequest, previous: CodecovSpec | None) -> CodecovSpec:
    patch = None if rng.random() < 0.15 else rng.choice((100.0, round(rng.uniform(0, 100), 2)))
    spec = CodecovSpec(
        repo=repo,
        pr_number=pr.number,
        project_coverage=round(rng.uniform(40, 95), 2),
        coverage_change=round(rng.uniform(-2.5, 2.5), 2),
        patch_coverage=patch,
        base_sha=_random_sha(rng),
        head_sha=pr.head_sha,
        base_ref=pr.base_ref,
        missing_lines=0 if patch is None or patch >= 100 else rng.randint(1, 60),
        commits_behind=rng.choice((0, 0, rng.randint(1, 300))),
        files=rng.randint(50, 900),
        lines=rng.randint(5000, 90000),
        fmt=rng.choices(("2025", "2024", "2020"), weights=(7, 2, 1))[0],
        crlf=rng.random() < 0.3,
    )
    return replace(spec, fmt=previous.fmt) if previous else spec


# --------------------------------------------------------------------------------------------------
# HTTP plumbing
# --------------------------------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], fake: FakeGitHub) -> None:
        self.fake = fake
        super().__init__(address, handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 30
    disable_nagle_algorithm = True  # headers and body are separate writes: no 40 ms delayed-ACK stall

    def version_string(self) -> str:
        return "GitHub.com"

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self._handle("POST")

    def _handle(self, method: str) -> None:
        fake = cast(_Server, self.server).fake
        request = _Request(
            method=method,
            target=self.path,
            authorization=self.headers.get("Authorization"),
            if_none_match=self.headers.get("If-None-Match"),
        )
        reply = fake._serve(request)
        if reply is None:
            self._drop()
            return
        self.send_response(reply.status)
        for name, value in reply.headers:
            self.send_header(name, value)
        self.end_headers()
        if reply.body:
            self.wfile.write(reply.body)

    def _drop(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the per-request stderr line; the fake keeps its own request log."""


# --------------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------------


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m scrapesched.testing.fake_github", description="Serve a seeded fake GitHub until SIGTERM."
    )
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: any free port)")
    parser.add_argument("--repos", default="apache/cloudstack,acme/widgets", help="comma-separated owner/name")
    parser.add_argument("--prs", type=int, default=20, help="pull requests per repository")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--tokens", default="", help="comma-separated valid tokens (empty: accept any)")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds slept per request")
    parser.add_argument("--rate-limit", type=int, default=5000, help="primary budget per token per hour")
    return parser.parse_args(argv)


def _split(csv: str) -> list[str]:
    return [item.strip() for item in csv.split(",") if item.strip()]


def main(argv: Sequence[str] | None = None) -> int:
    """Serve seeded data until SIGTERM or SIGINT; prints the base URL on its first line."""
    args = _parse_args(argv)
    repos = _split(args.repos)
    fake = FakeGitHub.seeded(
        repos=repos,
        prs_per_repo=args.prs,
        seed=args.seed,
        port=args.port,
        tokens=_split(args.tokens) or None,
        latency=args.latency,
        rate_limit=args.rate_limit,
    )
    stopping = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    with fake:
        print(f"fake GitHub on {fake.url} serving {', '.join(repos)}", flush=True)
        while not stopping.wait(0.5):
            pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
