"""GitHub's primary rate limit, shared by every replica through the ``rate_limits`` table.

Every response's ``X-RateLimit-Remaining``/``-Reset`` is an observation of one token's budget (by
``token_id``, never the token). Observations are written to ``rate_limits`` (newest observation wins) and
the other replicas' observations are read back every few seconds, so all replicas see the lowest remaining
count of the current window and slow down together:

- above ``slowdown`` remaining: no delay;
- between ``reserve`` and ``slowdown``: requests are spaced evenly over the time left until the reset;
- at ``reserve`` or below (or after a 403 with ``remaining: 0``): the token is exhausted. The next token
  that is not exhausted is used (tokens are a fallback, never a pool); when all are, the caller waits for
  the earliest reset, or gives up if that is longer than it may wait.

Sharing is best effort: when the database cannot be reached the budget works from its own observations.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
import structlog
from sqlalchemy import Engine

from scrapesched.db.retry import transaction
from scrapesched.db.schema import rate_limits
from scrapesched.db.upsert import upsert
from scrapesched.scrapers.github.auth import Credential

log = structlog.get_logger("scrapers.github.budget")

RESOURCE = "core"
SYNC_EVERY_S = 2.0


@dataclass(frozen=True)
class Observation:
    """One look at a budget: ``reset`` and ``observed`` are epoch seconds."""

    remaining: int
    reset: float
    observed: float
    limit: int | None = None


@dataclass(frozen=True)
class Plan:
    """Which credential to use next and how long to wait before using it."""

    credential: Credential
    wait: float
    exhausted: bool  # every credential is exhausted: ``wait`` runs until the earliest reset


def observation_from(headers: Mapping[str, str], now: float) -> Observation | None:
    """The budget a response reports, or None when it carries no rate-limit headers."""
    try:
        remaining = int(headers["x-ratelimit-remaining"])
        reset = float(headers["x-ratelimit-reset"])
    except (KeyError, ValueError):
        return None
    limit_text = headers.get("x-ratelimit-limit")
    limit = int(limit_text) if limit_text and limit_text.isdigit() else None
    return Observation(remaining=remaining, reset=reset, observed=now, limit=limit)


def _epoch(value: datetime | None) -> float:
    if value is None:
        return 0.0
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()


def _when(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


class RateBudget:
    """The budgets of this process's credentials, merged with what other replicas saw. Thread-safe."""

    def __init__(
        self,
        engine: Engine | None,
        *,
        reserve: int,
        slowdown: int,
        sync_every: float = SYNC_EVERY_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._engine = engine
        self.reserve = reserve
        self.slowdown = max(slowdown, reserve)
        self._sync_every = sync_every
        self._clock = clock
        self._lock = threading.Lock()
        self._sync_lock = threading.Lock()
        self._local: dict[str, Observation] = {}
        self._shared: dict[str, Observation] = {}
        self._dirty: dict[str, Observation] = {}
        self._next_slot: dict[str, float] = {}
        self._last_sync = 0.0
        self._warned = False

    # ---- observations ----------------------------------------------------------------------------

    def observe(self, token_id: str, headers: Mapping[str, str]) -> Observation | None:
        """Record what a response says about ``token_id``'s budget."""
        obs = observation_from(headers, self._clock())
        if obs is None:
            return None
        self._record(token_id, obs)
        return obs

    def exhausted(self, token_id: str, reset: float) -> None:
        """A 403/429 said the primary limit is reached until ``reset`` (epoch seconds)."""
        self._record(token_id, Observation(remaining=0, reset=reset, observed=self._clock()))

    def _record(self, token_id: str, obs: Observation) -> None:
        with self._lock:
            old = self._local.get(token_id)
            if old is None or obs.observed >= old.observed:
                self._local[token_id] = obs
                self._dirty[token_id] = obs
        if obs.remaining <= self.reserve:
            self.sync(force=True)  # the others must know at once
        else:
            self.sync()

    def current(self, token_id: str) -> Observation | None:
        """The lowest remaining count of the current window seen by any replica (None: nothing known)."""
        now = self._clock()
        with self._lock:
            seen = [o for o in (self._local.get(token_id), self._shared.get(token_id)) if o is not None]
        live = [o for o in seen if o.reset > now]
        if not live:
            return None
        return min(live, key=lambda o: (o.remaining, -o.observed))

    # ---- planning --------------------------------------------------------------------------------

    def plan(self, credentials: Sequence[Credential]) -> Plan:
        """The first credential that is not exhausted and the pacing wait before its next request; when
        all are exhausted, the one that resets first and the wait until then."""
        if not credentials:
            raise ValueError("no credentials")
        self.sync()
        now = self._clock()
        for credential in credentials:
            obs = self.current(credential.token_id)
            if obs is None:
                return Plan(credential, 0.0, False)
            left = obs.remaining - self.reserve
            if left <= 0:
                continue
            if obs.remaining >= self.slowdown:
                return Plan(credential, 0.0, False)
            return Plan(credential, self._pace(credential.token_id, (obs.reset - now) / left, now), False)
        resets = [(self.current(c.token_id), c) for c in credentials]
        soonest, credential = min(
            ((o.reset if o else now, c) for o, c in resets), key=lambda pair: pair[0]
        )
        return Plan(credential, max(0.0, soonest - now) + 1.0, True)

    def _pace(self, token_id: str, interval: float, now: float) -> float:
        """Reserve the next request slot of ``token_id``, ``interval`` after the previous one."""
        with self._lock:
            slot = max(now, self._next_slot.get(token_id, now))
            self._next_slot[token_id] = slot + interval
        return slot - now

    # ---- sharing through the database ------------------------------------------------------------

    def sync(self, *, force: bool = False) -> None:
        """Write our new observations and read everyone's, at most every few seconds unless ``force``."""
        if self._engine is None:
            return
        now = self._clock()
        if not force and now - self._last_sync < self._sync_every:
            return
        if not self._sync_lock.acquire(blocking=force):
            return
        try:
            self._last_sync = now
            with self._lock:
                dirty, self._dirty = self._dirty, {}
            try:
                shared = transaction(self._engine, lambda conn: self._exchange(conn, dirty), what="rate limit sync")
            except Exception as exc:  # best effort: a database hiccup must not stop the scraping
                with self._lock:
                    self._dirty = {**dirty, **self._dirty}
                if not self._warned:
                    log.warning("rate_limit_sync_failed", error_type=type(exc).__name__)
                    self._warned = True
                return
            with self._lock:
                self._shared = shared
        finally:
            self._sync_lock.release()

    @staticmethod
    def _exchange(conn: sa.Connection, dirty: Mapping[str, Observation]) -> dict[str, Observation]:
        rows = [
            {
                "token_id": token_id,
                "resource": RESOURCE,
                "limit": obs.limit,
                "remaining": obs.remaining,
                "reset_at": _when(obs.reset),
                "observed_at": _when(obs.observed),
            }
            for token_id, obs in sorted(dirty.items())
        ]
        if rows:
            upsert(conn, rate_limits, rows, newer="observed_at")
        result = conn.execute(
            sa.select(
                rate_limits.c.token_id,
                rate_limits.c.limit,
                rate_limits.c.remaining,
                rate_limits.c.reset_at,
                rate_limits.c.observed_at,
            ).where(rate_limits.c.resource == RESOURCE)
        )
        return {
            row.token_id: Observation(
                remaining=int(row.remaining or 0),
                reset=_epoch(row.reset_at),
                observed=_epoch(row.observed_at),
                limit=row.limit,
            )
            for row in result
        }
