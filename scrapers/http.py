"""The one HTTP client of every scraper: httpx with keep-alive, timeouts, bounded concurrency, the
project's retry policy for transport errors and 5xx, and one hook point for telemetry.

Every attempt (response or transport error) produces one ``RequestRecord`` passed to the client's hooks
(process-wide, given once at construction by the app wiring: the telemetry buffer's ``record``) and to the
call's ``observer`` (per run: ``run_observer(ctx.counters)``). Records carry host, status, error type and
duration; never headers, never query strings (tokens can hide there).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx

from scrapesched.config.errors import ScrapeschedError
from scrapesched.db.retry import retrying

if TYPE_CHECKING:
    from scrapesched.scheduler.context import Counters

DEFAULT_RETRY_STATUSES = frozenset({500, 502, 503, 504})
TRANSPORT_STATUS = 0  # status_code recorded for a request that got no HTTP response


@dataclass(frozen=True)
class RequestRecord:
    """One HTTP attempt as telemetry sees it."""

    host: str
    method: str
    path: str
    status_code: int  # 0 when no response arrived
    error_type: str  # "" (2xx/3xx), client_error, server_error, timeout, connect, protocol
    duration_s: float
    attempt: int

    @property
    def not_modified(self) -> bool:
        return self.status_code == 304


Hook = Callable[[RequestRecord], None]


def run_observer(counters: Counters) -> Hook:
    """A per-call ``observer`` that fills a run's counters (safe from its worker threads): every attempt is a
    request, attempts after the first are retries, 304s are ``not_modified``."""

    def observe(rec: RequestRecord) -> None:
        counters.add(requests=1, retries=int(rec.attempt > 1), not_modified=int(rec.not_modified))

    return observe


class TransportFailure(ScrapeschedError):
    """No usable response after the bounded retries (connection refused, timeouts, 5xx bursts)."""


def error_type_of(status: int) -> str:
    if status >= 500:
        return "server_error"
    if status >= 400:
        return "client_error"
    return ""


def transport_error_type(exc: httpx.TransportError) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return "timeout"
    if isinstance(exc, httpx.ConnectError):
        return "connect"
    return "protocol"


class _RetryableStatus(Exception):
    def __init__(self, response: httpx.Response) -> None:
        super().__init__(f"HTTP {response.status_code}")
        self.response = response


class HttpClient:
    """A shared, thread-safe HTTP client; the app wiring creates it at start-up, with its hooks, and passes it in."""

    def __init__(
        self,
        *,
        timeout: float = 10.0,
        concurrency: int = 8,
        attempts: int = 4,
        first_backoff: float = 0.5,
        max_backoff: float = 30.0,
        headers: Mapping[str, str] | None = None,
        hooks: Iterable[Hook] = (),
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._client = httpx.Client(
            timeout=httpx.Timeout(timeout),
            limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
            headers={"User-Agent": "scrapesched", **(headers or {})},
            transport=transport,
            follow_redirects=True,
        )
        self._slots = threading.BoundedSemaphore(concurrency)
        self._hooks: tuple[Hook, ...] = tuple(hooks)
        self.attempts = attempts
        self.first_backoff = first_backoff
        self.max_backoff = max_backoff

    def _emit(self, record: RequestRecord, observer: Hook | None) -> None:
        for hook in self._hooks:
            hook(record)
        if observer is not None:
            observer(record)

    def _once(self, method: str, url: str, attempt: int, observer: Hook | None, **kwargs: Any) -> httpx.Response:
        parts = urlsplit(url)
        host, path = parts.hostname or "", parts.path
        started = time.monotonic()
        with self._slots:
            try:
                response = self._client.request(method, url, **kwargs)
            except httpx.TransportError as exc:
                self._emit(
                    RequestRecord(
                        host,
                        method,
                        path,
                        TRANSPORT_STATUS,
                        transport_error_type(exc),
                        time.monotonic() - started,
                        attempt,
                    ),
                    observer,
                )
                raise
        self._emit(
            RequestRecord(
                host,
                method,
                path,
                response.status_code,
                error_type_of(response.status_code),
                time.monotonic() - started,
                attempt,
            ),
            observer,
        )
        return response

    def request(
        self,
        method: str,
        url: str,
        *,
        observer: Hook | None = None,
        retry_statuses: frozenset[int] = DEFAULT_RETRY_STATUSES,
        attempts: int | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        """Send a request; transport errors and ``retry_statuses`` are retried with backoff, up to
        ``attempts`` tries (default: the client's).

        After the last attempt a retryable status is returned as the response; a transport error raises
        TransportFailure (one line, no URL query, no headers).
        """
        attempt = 0
        tries = self.attempts if attempts is None else max(1, attempts)

        def call() -> httpx.Response:
            nonlocal attempt
            attempt += 1
            response = self._once(method, url, attempt, observer, **kwargs)
            if response.status_code in retry_statuses and attempt < tries:
                response.close()
                raise _RetryableStatus(response)
            return response

        policy = retrying(
            lambda exc: isinstance(exc, httpx.TransportError | _RetryableStatus),
            attempts=tries,
            first_wait=self.first_backoff,
            max_wait=self.max_backoff,
            what=f"HTTP {method} {urlsplit(url).hostname}",
        )
        try:
            for try_ in policy:
                with try_:
                    return call()
        except httpx.TransportError as exc:
            parts = urlsplit(url)
            raise TransportFailure(
                f"{method} {parts.scheme}://{parts.netloc}{parts.path}: {transport_error_type(exc)} error "
                f"after {attempt} attempts ({type(exc).__name__})"
            ) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def close(self) -> None:
        self._client.close()
