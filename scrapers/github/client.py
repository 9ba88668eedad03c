"""The GitHub layer on the one HTTP client: authentication, conditional requests, Link pagination and rate
limits, for every GitHub job.

``GitHubClient`` is created once per process by the app wiring (with the telemetry buffer's hook) and
reaches the runs as ``ctx.resources.github``; ``client.session(...)`` gives a run its view with the run's
counters observer and its cancellable ``sleep``. Every attempt goes through ``HttpClient``'s hooks
(telemetry) and the run's observer.

One GET (``GitHubSession.get``):

1. the stored validator of the URL (``http_etags``) is sent: ``If-None-Match`` with the stored ETag when
   the same token got it, else with the ETag GitHub computes for this token from the stored body (GitHub
   binds ETags to tokens, see ``scrapers.github.etags``); a 304 is answered from the stored body and Link
   header and costs no rate limit;
2. the rate-limit budget picks the credential and the pacing wait, or the wait until a secondary-limit
   pause of that token ends, wherever it was hit (``scrapers.github.budget``);
3. 5xx and transport errors are retried by ``HttpClient`` (bounded, with backoff); with ``adaptive=True``
   (the list streams) they are not: ``GitHubUnavailable`` comes back at once and the caller retries
   with a smaller ``per_page``;
4. a secondary rate limit (403/429 with ``Retry-After`` or GitHub's message, or any 429) pauses the token
   in every thread and replica until ``Retry-After``, or ``github.secondary_wait`` doubled on each repeat;
   an exhausted primary limit marks the token exhausted and the budget switches token or waits for the
   reset. A wait longer than ``github.max_wait`` raises ``GitHubRateLimited`` (the run ends ``deferred``,
   its cursor intact, the next fire continues);
5. 401 raises ``GitHubAuthError`` at once (its rate-limit headers describe the anonymous budget and are
   ignored, so nothing waits for "pacing"); 404 and other 403s raise one-line ``GitHubError``\\ s; malformed
   JSON raises ``GitHubBadResponse``.

The response's new validator comes back as ``Fetched.etag_row``: the caller stores it in the transaction
that writes the data derived from the body.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx

from scrapesched.config.log_setup import get_logger
from scrapesched.scrapers.github.auth import Credential, TokenSource, token_source
from scrapesched.scrapers.github.budget import RateBudget
from scrapesched.scrapers.github.errors import (
    GitHubAuthError,
    GitHubBadResponse,
    GitHubError,
    GitHubForbidden,
    GitHubNotFound,
    GitHubRateLimited,
    GitHubUnavailable,
    GitHubUnprocessable,
    describe_request,
)
from scrapesched.scrapers.github.etags import Cached, EtagStore, etag_row, needs_touch
from scrapesched.scrapers.http import DEFAULT_RETRY_STATUSES, Hook, HttpClient, TransportFailure

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from scrapesched.config.settings import Settings

log = get_logger("scrapers.github")

ACCEPT = "application/vnd.github+json"
API_VERSION = "2022-11-28"
HTTP_ATTEMPTS = 5
SECONDARY_MESSAGE = re.compile(r"secondary rate limit|abuse detection", re.IGNORECASE)
PRIMARY_MESSAGE = re.compile(r"API rate limit exceeded", re.IGNORECASE)
_LINK = re.compile(r'<([^>]*)>\s*;\s*rel="?([^",;]+)"?')


@dataclass(frozen=True)
class Fetched:
    """A usable answer: ``data`` is the parsed JSON (from the body, or from the database after a 304)."""

    url: str
    data: Any
    next_url: str | None
    not_modified: bool
    etag_row: dict[str, Any] | None  # store with the data derived from ``data`` (None: nothing to store)
    last_page: int | None = None  # the page number of ``Link: rel="last"`` (an estimate of the list's size)


def link_rel(link: str | None, wanted: str) -> str | None:
    """The URL of one relation (``next``, ``last``) of a Link header."""
    for url, rel in _LINK.findall(link or ""):
        if wanted in rel.split():
            return str(url)
    return None


def link_next(link: str | None) -> str | None:
    """The ``rel="next"`` URL of a Link header."""
    return link_rel(link, "next")


def query_int(url: str | None, name: str) -> int | None:
    """An integer query parameter of a URL (``page``, ``per_page``), None when absent."""
    for key, value in parse_qsl(urlsplit(url or "").query):
        if key == name and value.isdigit():
            return int(value)
    return None


def with_page(url: str, page: int) -> str:
    """``url`` with its ``page`` parameter set to ``page`` (other parameters kept in order)."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "page"] + [("page", str(page))]
    return urlunsplit(parts._replace(query=urlencode(query)))


def _retry_after(headers: Mapping[str, str]) -> float | None:
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


class GitHubClient:
    """Per-process GitHub client: the HTTP client, credentials, shared rate-limit budget and ETag store.

    ``hooks`` see every request record (the app wiring passes the telemetry buffer's ``record``)."""

    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        *,
        hooks: Iterable[Hook] = (),
        transport: httpx.BaseTransport | None = None,
        first_backoff: float = 0.5,
    ) -> None:
        github = settings.github
        self.api_url = github.api_url.rstrip("/")
        self._origin = urlsplit(self.api_url)[:2]
        self.http = HttpClient(
            timeout=settings.http_timeout,
            concurrency=settings.http_concurrency,
            attempts=HTTP_ATTEMPTS,
            first_backoff=first_backoff,
            max_backoff=10.0,
            headers={"Accept": ACCEPT, "X-GitHub-Api-Version": API_VERSION},
            hooks=hooks,
            transport=transport,
        )
        self.auth: TokenSource = token_source(
            api_url=self.api_url,
            http=self.http,
            tokens=github.all_tokens(),
            app_id=github.app_id,
            app_private_key_file=github.app_private_key_file,
            app_installation_id=github.app_installation_id,
        )
        self.budget = RateBudget(engine, reserve=github.rate_limit_reserve, slowdown=github.rate_limit_slowdown)
        self.etags = EtagStore(engine)
        self.secondary_wait = github.secondary_wait
        self.max_wait = github.max_wait

    def url(self, path: str, params: Mapping[str, Any] | None = None) -> str:
        """The absolute URL of an API path (or a URL from a Link header), with ``params`` in the given order."""
        base = path if "://" in path else f"{self.api_url}/{path.lstrip('/')}"
        if urlsplit(base)[:2] != self._origin:
            raise GitHubBadResponse(f"refusing to send credentials to {urlsplit(base).netloc} (not the API host)")
        if not params:
            return base
        return f"{base}{'&' if '?' in base else '?'}{urlencode(list(params.items()))}"

    def session(
        self,
        *,
        observer: Hook | None = None,
        sleep: Callable[[float], None] = time.sleep,
        on_wait: Callable[[], None] | None = None,
    ) -> GitHubSession:
        """A run's view of the client: its request observer, its (cancellable) sleep and wait counter."""
        return GitHubSession(self, observer, sleep, on_wait)

    def close(self) -> None:
        """Share the last rate-limit observations, then close the connections."""
        self.budget.sync(force=True)
        self.http.close()


class GitHubSession:
    """One run's requests through the shared client."""

    def __init__(
        self,
        client: GitHubClient,
        observer: Hook | None,
        sleep: Callable[[float], None],
        on_wait: Callable[[], None] | None,
    ) -> None:
        self.client = client
        self._observer = observer
        self._sleep = sleep
        self._on_wait = on_wait

    def pages(
        self, path: str, params: Mapping[str, Any] | None = None, *, conditional: bool = True
    ) -> Iterator[Fetched]:
        """Every page of a list, following ``Link: rel="next"`` (which may use ``/repositories/{id}`` URLs)."""
        url: str | None = self.client.url(path, params)
        while url is not None:
            page = self.get(url, conditional=conditional)
            yield page
            url = page.next_url

    def get_all(
        self, path: str, params: Mapping[str, Any] | None = None, *, known: Mapping[str, Cached] | None = None
    ) -> tuple[list[Any], list[Fetched]]:
        """All items of a list and the pages they came from (for their validators). ``known``: validators
        already looked up (``prefetch``) for the first page."""
        items: list[Any] = []
        first = self.get(path, params, known=known)
        pages = [first]
        while True:
            last = pages[-1]
            if last.next_url is not None:
                pages.append(self.get(last.next_url))
                continue
            # An oldest-first list grows at its end: a full last page answered 304 (its body unchanged) may
            # have gained a next page since its Link header was stored. Ask for it (an empty page is cheap,
            # and free once its own validator is stored).
            per_page = query_int(last.url, "per_page") or 30
            if last.not_modified and isinstance(last.data, list) and len(last.data) >= per_page:
                probe = self.get(with_page(last.url, (query_int(last.url, "page") or 1) + 1))
                if isinstance(probe.data, list) and probe.data:
                    pages.append(probe)
                    continue
                if probe.etag_row is not None:
                    pages.append(probe)  # empty: kept for its validator
            break
        for page in pages:
            if not isinstance(page.data, list):
                raise GitHubBadResponse(f"{describe_request('GET', page.url)}: expected a JSON list")
            items += page.data
        return items, pages

    def prefetch(self, urls: list[str]) -> dict[str, Cached]:
        """Stored validators of many URLs in one query, for ``get(..., known=...)``."""
        return self.client.etags.lookup_many(urls)

    def get(
        self,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        conditional: bool = True,
        known: Mapping[str, Cached] | None = None,
        adaptive: bool = False,
    ) -> Fetched:
        """One GET (see the module docstring); raises a ``GitHubError`` when no usable answer comes.
        ``known``: validators looked up beforehand (a URL missing from it has none). ``adaptive``: a 5xx or
        timeout raises ``GitHubUnavailable`` at once (the caller retries with a smaller page)."""
        url = self.client.url(path, params)
        cached = None
        if conditional:
            cached = known.get(url) if known is not None else self.client.etags.lookup(url)
        waited = 0.0
        secondary_hits = 0
        budget = self.client.budget
        while True:
            plan = budget.plan(self.client.auth.credentials())
            if plan.wait > 0:
                reason = "secondary_limit" if plan.paused else "primary_exhausted" if plan.exhausted else "pacing"
                waited = self._wait(url, plan.wait, waited, reason, plan.credential)
            response = self._send(url, plan.credential, cached, adaptive)
            status = response.status_code
            if status in (403, 429):
                secondary = self._rate_limited(url, response, plan.credential, secondary_hits)
                if secondary is None:
                    continue  # primary limit: the next plan switches token or waits for the reset
                secondary_hits += 1
                budget.pause(plan.credential.token_id, time.time() + secondary)  # every thread and replica
                continue
            if status < 400:
                budget.succeeded(plan.credential.token_id)
            return self._result(url, response, cached, plan.credential, adaptive)

    # ---- steps -----------------------------------------------------------------------------------

    def _send(self, url: str, credential: Credential, cached: Cached | None, adaptive: bool) -> httpx.Response:
        headers: dict[str, str] = {}
        if credential.header is not None:
            headers["Authorization"] = credential.header
        if cached is not None:
            headers.update(cached.validators(credential.token_key, ACCEPT, credential.header))
        try:
            response = self.client.http.request(
                "GET", url, headers=headers, observer=self._observer, attempts=1 if adaptive else None,
                retry_statuses=frozenset() if adaptive else DEFAULT_RETRY_STATUSES,
            )
        except TransportFailure as exc:
            if adaptive:
                raise GitHubUnavailable(str(exc)) from None
            raise
        response.read()
        if response.status_code != 401:  # a 401 reports the anonymous budget, not this token's
            self.client.budget.observe(credential.token_id, response.headers)
        return response

    def _rate_limited(self, url: str, response: httpx.Response, credential: Credential, hits: int) -> float | None:
        """A secondary limit: the seconds to wait. A primary limit: None, after marking the token exhausted.
        Any other 403: GitHubForbidden."""
        message = self._message(response)
        retry_after = _retry_after(response.headers)
        primary = response.headers.get("x-ratelimit-remaining") == "0" or bool(PRIMARY_MESSAGE.search(message))
        secondary = retry_after is not None or bool(SECONDARY_MESSAGE.search(message))
        if secondary or (response.status_code == 429 and not primary):
            if retry_after is None:
                retry_after = self.client.budget.secondary_backoff(credential.token_id, self.client.secondary_wait)
            wait = max(retry_after, 0.1)
            log.warning("github_secondary_limit", request=describe_request("GET", url), wait_s=round(wait, 3),
                        token_id=credential.token_id)
            return wait
        if primary:
            try:
                reset = float(response.headers["x-ratelimit-reset"])
            except (KeyError, ValueError):
                reset = time.time() + self.client.secondary_wait
            self.client.budget.exhausted(credential.token_id, reset)
            log.warning("github_primary_limit", request=describe_request("GET", url), token_id=credential.token_id,
                        reset=datetime.fromtimestamp(reset, UTC).isoformat())
            return None
        raise GitHubForbidden(f"{describe_request('GET', url)}: {response.status_code} Forbidden: {message}".rstrip())

    def _wait(self, url: str, seconds: float, waited: float, reason: str, credential: Credential) -> float:
        if waited + seconds > self.client.max_wait:
            self.client.budget.record_deferred(credential.token_id)
            until = datetime.fromtimestamp(time.time() + seconds, UTC).replace(microsecond=0)
            raise GitHubRateLimited(
                f"{describe_request('GET', url)}: rate limit ({reason.replace('_', ' ')}) until "
                f"{until.isoformat()}, a wait of {seconds:.0f}s, more than github.max_wait "
                f"({self.client.max_wait:.0f}s): deferred, the next run continues from the cursor",
                until,
            )
        if seconds >= 1.0:
            log.info("github_rate_limit_wait", reason=reason, wait_s=round(seconds, 3), token_id=credential.token_id)
        if self._on_wait is not None and reason != "pacing":
            self._on_wait()
        self.client.budget.record_wait(credential.token_id, reason, seconds)
        self._sleep(seconds)
        return waited + seconds

    def _result(
        self, url: str, response: httpx.Response, cached: Cached | None, credential: Credential, adaptive: bool
    ) -> Fetched:
        status = response.status_code
        where = describe_request("GET", url)
        now = datetime.now(UTC)
        if status == 304 and cached is not None:
            touch = None
            etag = response.headers.get("etag") or cached.etag
            renewed = etag != cached.etag or cached.token_key != credential.token_key
            if renewed or needs_touch(cached, now):  # a new token's ETag is kept for its next request
                touch = etag_row(url, etag=etag, last_modified=cached.last_modified, link=cached.link,
                                 body=cached.body, now=now, token_key=credential.token_key)
            return Fetched(url, self._json(where, cached.body), self._next(cached.link), True, touch,
                           query_int(link_rel(cached.link, "last"), "page"))
        if status == 401:
            raise GitHubAuthError(f"{where}: 401 {self._message(response)}: the GitHub token was refused")
        if status == 404:
            raise GitHubNotFound(
                f"{where}: 404 Not Found: the repository or pull request does not exist or the token cannot see it"
            )
        if status >= 500:
            tries = 1 if adaptive else HTTP_ATTEMPTS
            raise GitHubUnavailable(f"{where}: GitHub answered {status} {tries} times in a row, giving up", status)
        if status == 422:
            raise GitHubUnprocessable(f"{where}: 422 {self._message(response) or 'Unprocessable Entity'}".rstrip())
        if status != 200:
            raise GitHubBadResponse(f"{where}: unexpected status {status} {self._message(response)}".rstrip())
        data = self._json(where, response.content)
        link = response.headers.get("link")
        etag, modified = response.headers.get("etag"), response.headers.get("last-modified")
        row = None
        if etag or modified:
            row = etag_row(url, etag=etag, last_modified=modified, link=link, body=response.content, now=now,
                           token_key=credential.token_key)
        return Fetched(url, data, self._next(link), False, row, query_int(link_rel(link, "last"), "page"))

    def _next(self, link: str | None) -> str | None:
        nxt = link_next(link)
        return None if nxt is None else self.client.url(nxt)

    @staticmethod
    def _json(where: str, body: bytes) -> Any:
        try:
            return json.loads(body)
        except ValueError:
            raise GitHubBadResponse(f"{where}: malformed JSON in the answer ({len(body)} bytes)") from None

    @staticmethod
    def _message(response: httpx.Response) -> str:
        try:
            payload = json.loads(response.content)
        except ValueError:
            return ""
        message = payload.get("message") if isinstance(payload, dict) else None
        return str(message)[:200] if message else ""


__all__ = [
    "Fetched",
    "GitHubClient",
    "GitHubError",
    "GitHubSession",
    "link_next",
]
