"""The fake GitHub's primary rate limits: one ``core`` budget per identity (a token's fingerprint, an App
installation, or ``anonymous``) and window.

The windows use the wall clock (default :func:`time.time`), not the fake clock, because a scraper sleeps
in real time until ``X-RateLimit-Reset``: a budget refills once the wall clock reaches the reset epoch
(``window`` seconds after the identity's first request).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

ANONYMOUS = "anonymous"


@dataclass(frozen=True)
class RateLimitStatus:
    """A snapshot of one identity's primary (``core``) budget."""

    limit: int
    used: int
    remaining: int
    reset: int


@dataclass
class Budget:
    """What one identity may still spend in its current window (``reset``: Unix seconds)."""

    limit: int
    reset: int
    used: int = 0

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.used)

    def status(self) -> RateLimitStatus:
        return RateLimitStatus(self.limit, self.used, self.remaining, self.reset)


class Budgets:
    """The budget of every identity; not locked (the fake calls it under its lock)."""

    def __init__(self, limit: int, anonymous_limit: int, window: float, wall_clock: Callable[[], float]) -> None:
        self.limit = limit
        self.anonymous_limit = anonymous_limit
        self.window = window
        self._wall = wall_clock
        self._budgets: dict[str, Budget] = {}

    def of(self, identity: str) -> Budget:
        """The identity's budget, refilled when the wall clock has reached its reset epoch."""
        wall = self._wall()
        budget = self._budgets.get(identity)
        if budget is None or wall >= budget.reset:
            limit = self.anonymous_limit if identity == ANONYMOUS else self.limit
            budget = Budget(limit=limit, reset=math.ceil(wall + self.window))
            self._budgets[identity] = budget
        return budget

    def clear(self) -> None:
        """Forget every budget: the next request of each identity starts a full window."""
        self._budgets.clear()
