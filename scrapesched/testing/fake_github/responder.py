"""How the fake GitHub answers one request, in GitHub's order: a dropped connection if one is armed; the
App's token exchange for a POST; authentication (401, charged to the anonymous budget); an injected 5xx
or secondary rate limit; the free ``/rate_limit``; the primary rate limit (403 once the budget is spent);
then the resource (:mod:`.routes`; a slow big list page may answer 502/504), and a free ``304`` when the
request's validators match.

Conditional requests as on GitHub (docs/github.md, "The fake's fidelity"): the ETag is the sha256 of
the request's ``Accept``, ``Authorization`` and ``Cookie`` values and the body, so an ``If-None-Match``
saved under another token never matches; ``If-Modified-Since`` is compared with ``Last-Modified``, which
only single resources send, whatever the token; when both are sent, ``If-None-Match`` decides.

Every answer carries GitHub's headers (``X-RateLimit-*`` of the identity's budget, a request id) and
every request, answered or dropped, goes to the request log.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any

from scrapesched.testing.fake_github.auth import Credentials
from scrapesched.testing.fake_github.dataset import Dataset
from scrapesched.testing.fake_github.faults import Faults
from scrapesched.testing.fake_github.model import stable_int
from scrapesched.testing.fake_github.protocol import (
    Exchange,
    HttpError,
    Reply,
    Request,
    RequestRecord,
    encode,
    etag_matches,
    weak_etag,
)
from scrapesched.testing.fake_github.rate_limits import ANONYMOUS, Budget, Budgets
from scrapesched.testing.fake_github.routes import Routed, per_page_of, repo_named, route
from scrapesched.testing.fake_github.shapes import rate_limit_json

_RATE_DOCS = "https://docs.github.com/rest/overview/resources-in-the-rest-api#rate-limiting"


class Responder:
    """Answers requests from the data set, spending budgets and taking armed faults; logs each request."""

    def __init__(
        self,
        data: Dataset,
        credentials: Credentials,
        budgets: Budgets,
        faults: Faults,
        log: list[RequestRecord],
        wall_clock: Callable[[], float],
        api_base: Callable[[], str],
        limits: Callable[[], tuple[int | None, int | None]] = lambda: (None, None),
    ) -> None:
        self._data, self._credentials, self._budgets, self._faults = data, credentials, budgets, faults
        self._log, self._wall, self._api_base, self._limits = log, wall_clock, api_base, limits

    def serve(self, request: Request) -> Reply | None:
        """Answer one request (None: drop the connection) and log it."""
        with self._data.lock:
            exchange = Exchange(request)
            reply = self._respond(exchange)
            self._log.append(
                RequestRecord(
                    method=request.method,
                    path=request.target,
                    status=0 if reply is None else reply.status,
                    conditional=request.if_none_match is not None or request.if_modified_since is not None,
                    token=exchange.token,
                    repo=repo_named(self._data, request.path),
                    counted=exchange.counted,
                    fault=exchange.fault,
                    at=self._wall(),
                    if_modified_since=request.if_modified_since is not None,
                )
            )
            return reply

    def _respond(self, ex: Exchange) -> Reply | None:
        if self._faults.take_drop(ex):
            return None
        if ex.request.method == "POST":
            return self._installation_token(ex)
        try:
            identity = self._credentials.authenticate(ex)
        except HttpError as err:  # GitHub charges a refused token to the anonymous budget
            anonymous = self._budgets.of(ANONYMOUS)
            anonymous.used += 1
            ex.counted = True
            return self._error(err, anonymous)
        budget = self._budgets.of(identity)
        injected = self._faults.take_failure(ex)
        if injected is not None:
            return self._error(injected, budget)
        if ex.request.path == "/rate_limit":
            return self._json_reply(200, rate_limit_json(budget), budget)
        if budget.remaining <= 0:
            who = "127.0.0.1" if identity == ANONYMOUS else f"user ID {stable_int(identity)}"
            return self._error(HttpError(403, f"API rate limit exceeded for {who}."), budget)
        return self._answer(ex, budget)

    def _installation_token(self, ex: Exchange) -> Reply:
        budget = self._budgets.of(ANONYMOUS)
        try:
            payload = self._credentials.issue_installation_token(ex)
        except HttpError as err:
            return self._error(err, budget)
        return self._json_reply(201, payload, budget)

    def _answer(self, ex: Exchange, budget: Budget) -> Reply:
        """Route, then charge the budget unless the answer is a 304 (or an injected slow-page 5xx)."""
        try:
            pages, items = self._limits()
            routed = route(
                self._data, self._api_base(), ex.request, viewer=ex.viewer, page_limit=pages, item_limit=items
            )
        except HttpError as err:
            budget.used += 1
            ex.counted = True
            return self._error(err, budget)
        slow = self._faults.take_slow(ex, per_page_of(ex.request), isinstance(routed.payload, list))
        if slow is not None:
            return self._error(slow, budget)
        body = encode(routed.payload)
        if self._faults.take_malformed(ex):
            budget.used += 1
            ex.counted = True
            return self._reply(200, body[: max(1, len(body) // 2)], budget, [])
        etag = weak_etag(body, ex.request)
        extra = [("ETag", etag)]
        if routed.last_modified is not None:
            extra.append(("Last-Modified", _http_date(routed.last_modified)))
        if routed.link:
            extra.append(("Link", routed.link))
        if _not_modified(ex.request.if_none_match, ex.request.if_modified_since, etag, routed):
            return self._reply(304, b"", budget, extra)
        budget.used += 1
        ex.counted = True
        return self._reply(200, body, budget, extra)

    def _reply(
        self, status: int, body: bytes, budget: Budget, extra: list[tuple[str, str]], *, rate_headers: bool = True
    ) -> Reply:
        headers = [
            ("Content-Type", "application/json; charset=utf-8"),
            ("Content-Length", str(len(body))),
            ("Cache-Control", "private, max-age=60, s-maxage=60"),
            ("Vary", "Accept, Authorization, Cookie, X-GitHub-OTP, Accept-Encoding"),
            ("X-GitHub-Media-Type", "github.v3; format=json"),
            ("X-GitHub-Api-Version-Selected", "2022-11-28"),
        ]
        if rate_headers:
            headers += [
                ("X-RateLimit-Limit", str(budget.limit)),
                ("X-RateLimit-Remaining", str(budget.remaining)),
                ("X-RateLimit-Reset", str(budget.reset)),
                ("X-RateLimit-Used", str(budget.used)),
                ("X-RateLimit-Resource", "core"),
            ]
        headers.append(("X-GitHub-Request-Id", f"FAKE:{len(self._log):08X}"))
        return Reply(status, headers + extra, body)

    def _json_reply(self, status: int, payload: Any, budget: Budget) -> Reply:
        body = encode(payload)
        return self._reply(status, body, budget, [("ETag", weak_etag(body))])

    def _error(self, err: HttpError, budget: Budget) -> Reply:
        """GitHub's error body: ``message``, ``documentation_url`` and ``status`` (a string)."""
        docs = err.documentation_url or (_RATE_DOCS if err.status in (403, 429) else "https://docs.github.com/rest")
        payload = {"message": err.message, "documentation_url": docs, "status": str(err.status)}
        return self._reply(err.status, encode(payload), budget, list(err.headers), rate_headers=err.rate_headers)


def _http_date(when: datetime) -> str:
    """An HTTP date (``Wed, 07 Jun 2023 04:02:03 GMT``), as in ``Last-Modified``."""
    return format_datetime(when.replace(microsecond=0), usegmt=True)


def _not_modified(if_none_match: str | None, if_modified_since: str | None, etag: str, routed: Routed) -> bool:
    """RFC 9110's order: If-None-Match decides when sent; else If-Modified-Since, where Last-Modified is."""
    if if_none_match is not None:
        return etag_matches(if_none_match, etag)
    if if_modified_since is None or routed.last_modified is None:
        return False
    try:
        since = parsedate_to_datetime(if_modified_since)
    except (TypeError, ValueError):
        return False
    return since.tzinfo is not None and routed.last_modified.replace(microsecond=0) <= since
