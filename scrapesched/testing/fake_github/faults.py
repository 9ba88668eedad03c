"""Faults a test arms on the fake GitHub: 5xx bursts, secondary rate limits, truncated JSON and dropped
connections, each for the next ``n`` requests; and slow big pages (GitHub cuts a request at 10 s and
answers 502 or 504: list requests above a page size answer so, with a probability, for ``n`` of them or
until cleared).

A taken fault marks the exchange (``fault`` in the request log). Not locked: the fake arms and takes
faults under its lock.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, fields
from http import HTTPStatus

from scrapesched.testing.fake_github.protocol import Exchange, HttpError

SECONDARY_LIMIT_MESSAGE = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. "
    "If you reach out to GitHub Support for help, please include the request ID."
)
TIMEOUT_MESSAGE = (
    "We couldn't respond to your request in time. Sorry about that. Please try resubmitting your request "
    "and contact us if the problem persists."
)


@dataclass
class Faults:
    """The armed faults and how many requests each still hits."""

    fail: int = 0
    fail_status: int = 502
    secondary: int = 0
    secondary_retry_after: int | None = 1
    secondary_status: int = 403
    secondary_rate_headers: bool = True
    slow: int | None = 0  # requests still hit (None: until cleared)
    slow_path: str = ""
    slow_above: int = 50
    slow_status: int = 502
    slow_probability: float = 1.0
    slow_rng: random.Random = field(default_factory=random.Random)
    malformed: int = 0
    malformed_path: str = ""
    drop: int = 0

    # ---- arming ----------------------------------------------------------------------------------

    def fail_next(self, n: int, status: int) -> None:
        self.fail, self.fail_status = n, status

    def secondary_limit_next(self, n: int, retry_after: int | None, status: int, rate_headers: bool) -> None:
        self.secondary, self.secondary_status = n, status
        self.secondary_retry_after, self.secondary_rate_headers = retry_after, rate_headers

    def slow_pages(
        self, path_contains: str, per_page_above: int, status: int, n: int | None, probability: float, seed: int
    ) -> None:
        self.slow, self.slow_path, self.slow_above, self.slow_status = n, path_contains, per_page_above, status
        self.slow_probability, self.slow_rng = probability, random.Random(seed)

    def malformed_json_next(self, n: int, path_contains: str) -> None:
        self.malformed, self.malformed_path = n, path_contains

    def drop_connection_next(self, n: int) -> None:
        self.drop = n

    def clear(self) -> None:
        """Disarm every fault (every field back to its default)."""
        for spec in fields(self):
            if spec.name != "slow_rng":
                setattr(self, spec.name, spec.default)

    # ---- taking ----------------------------------------------------------------------------------

    def take_drop(self, ex: Exchange) -> bool:
        """Whether this request is answered by closing the connection."""
        if self.drop <= 0:
            return False
        self.drop -= 1
        ex.fault = "drop"
        return True

    def take_failure(self, ex: Exchange) -> HttpError | None:
        """The injected 5xx or secondary rate limit this request gets, if one is armed."""
        if self.fail > 0:
            self.fail -= 1
            ex.fault = "5xx"
            return HttpError(self.fail_status, HTTPStatus(self.fail_status).phrase)
        if self.secondary > 0:
            self.secondary -= 1
            ex.fault = "secondary"
            retry_after = self.secondary_retry_after
            headers = () if retry_after is None else (("Retry-After", str(retry_after)),)
            return HttpError(
                self.secondary_status, SECONDARY_LIMIT_MESSAGE, headers, rate_headers=self.secondary_rate_headers
            )
        return None

    def take_slow(self, ex: Exchange, per_page: int, is_list: bool) -> HttpError | None:
        """The 502/504 of a list page too big to answer in time, if slow pages are armed and this one is."""
        if self.slow == 0 or not is_list or per_page <= self.slow_above or self.slow_path not in ex.request.target:
            return None
        if self.slow_probability < 1.0 and self.slow_rng.random() >= self.slow_probability:
            return None
        if self.slow is not None:
            self.slow -= 1
        ex.fault = "slow"
        return HttpError(self.slow_status, TIMEOUT_MESSAGE)

    def take_malformed(self, ex: Exchange) -> bool:
        """Whether this 200 answer's JSON is to be truncated."""
        if self.malformed <= 0 or self.malformed_path not in ex.request.target:
            return False
        self.malformed -= 1
        ex.fault = "malformed"
        return True
