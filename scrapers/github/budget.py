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

A secondary rate limit (403/429 with ``Retry-After`` or GitHub's message) pauses the token everywhere:
``pause`` stores the retry time in ``rate_limits`` under the resource ``secondary`` (keyed by ``token_id``,
never the token) and syncs at once; every thread of this process sees it at its next ``plan``, every
other replica within ``SYNC_EVERY_S``. Without ``Retry-After`` the pause doubles on each consecutive hit
(``secondary_backoff``) until a request of that token succeeds again.

Sharing is best effort: when the database cannot be reached the budget works from its own observations.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy import Engine

from scrapesched.config.log_setup import get_logger
from scrapesched.db.retry import transaction
from scrapesched.db.schema import rate_limits
from scrapesched.db.upsert import upsert
from scrapesched.scrapers.github.auth import Credential

log = get_logger("scrapers.github.budget")

RESOURCE = "core"
SECONDARY = "secondary"  # the ``rate_limits`` resource of a secondary-limit pause (reset_at: its end)
SYNC_EVERY_S = 1.0


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
    paused: bool = False  # the credential is paused by a secondary rate limit: ``wait`` runs until its end


@dataclass(frozen=True)
class BudgetSnapshot:
    """What ``RateBudget.snapshot`` reports, by ``token_id`` (never a token)."""

    current: dict[str, Observation]
    waits: dict[tuple[str, str], tuple[int, float]]
    deferred: dict[str, int]


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
        self._pauses: dict[str, float] = {}  # token_id -> end of a secondary-limit pause (epoch), all replicas'
        self._dirty_pauses: dict[str, float] = {}
        self._secondary_hits: dict[str, int] = {}
        self._waits: dict[tuple[str, str], tuple[int, float]] = {}  # (token_id, reason) -> (waits, seconds)
        self._deferred: dict[str, int] = {}  # token_id -> requests given up: wait longer than max_wait

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

    def pause(self, token_id: str, until: float) -> None:
        """A secondary rate limit: no request of ``token_id`` before ``until`` (epoch seconds), in any
        thread or replica."""
        with self._lock:
            if until > self._pauses.get(token_id, 0.0):
                self._pauses[token_id] = until
                self._dirty_pauses[token_id] = until
        self.sync(force=True)

    def secondary_backoff(self, token_id: str, base: float) -> float:
        """The pause after a secondary limit without ``Retry-After``: ``base``, doubled on each consecutive hit."""
        with self._lock:
            hits = self._secondary_hits.get(token_id, 0)
            self._secondary_hits[token_id] = hits + 1
        return float(base * 2 ** min(hits, 10))

    def succeeded(self, token_id: str) -> None:
        """A request of ``token_id`` got through: the next secondary limit starts the backoff again."""
        if self._secondary_hits.get(token_id):
            with self._lock:
                self._secondary_hits.pop(token_id, None)

    def paused_until(self, token_id: str) -> float:
        """The end of ``token_id``'s secondary-limit pause (0: none known)."""
        with self._lock:
            return self._pauses.get(token_id, 0.0)

    def current(self, token_id: str) -> Observation | None:
        """The lowest remaining count of the current window seen by any replica (None: nothing known)."""
        now = self._clock()
        with self._lock:
            seen = [o for o in (self._local.get(token_id), self._shared.get(token_id)) if o is not None]
        live = [o for o in seen if o.reset > now]
        if not live:
            return None
        return min(live, key=lambda o: (o.remaining, -o.observed))

    # ---- what /metrics shows (scrapers.github.metrics) ------------------------------------------------

    def record_wait(self, token_id: str, reason: str, seconds: float) -> None:
        """Count a rate-limit wait of ``token_id`` (``pacing``, ``primary_exhausted``, ``secondary_limit``)."""
        with self._lock:
            count, total = self._waits.get((token_id, reason), (0, 0.0))
            self._waits[(token_id, reason)] = (count + 1, total + seconds)

    def record_deferred(self, token_id: str) -> None:
        """Count a request given up because ``token_id``'s budget needed a wait longer than ``max_wait``."""
        with self._lock:
            self._deferred[token_id] = self._deferred.get(token_id, 0) + 1

    def snapshot(self) -> BudgetSnapshot:
        """Every known token's current budget and this process's wait and deferral counts."""
        with self._lock:
            known = set(self._local) | set(self._shared)
            waits, deferred = dict(self._waits), dict(self._deferred)
        current = {token_id: obs for token_id in sorted(known) if (obs := self.current(token_id)) is not None}
        return BudgetSnapshot(current, waits, deferred)

    # ---- planning --------------------------------------------------------------------------------

    def plan(self, credentials: Sequence[Credential]) -> Plan:
        """The first credential that is not exhausted and the pacing wait before its next request; when
        all are exhausted, the one that resets first and the wait until then."""
        if not credentials:
            raise ValueError("no credentials")
        self.sync()
        plan = self._plan(credentials)
        now = self._clock()
        pause = self.paused_until(plan.credential.token_id) - now
        if pause > 0:
            return Plan(plan.credential, max(plan.wait, pause), plan.exhausted, paused=True)
        return plan

    def _plan(self, credentials: Sequence[Credential]) -> Plan:
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
                pauses, self._dirty_pauses = self._dirty_pauses, {}
            try:
                shared, shared_pauses = transaction(
                    self._engine, lambda conn: self._exchange(conn, dirty, pauses, now), what="rate limit sync"
                )
            except Exception as exc:  # best effort: a database hiccup must not stop the scraping
                with self._lock:
                    self._dirty = {**dirty, **self._dirty}
                    self._dirty_pauses = {**pauses, **self._dirty_pauses}
                if not self._warned:
                    log.warning("rate_limit_sync_failed", error_type=type(exc).__name__)
                    self._warned = True
                return
            with self._lock:
                self._shared = shared
                for token_id, until in shared_pauses.items():
                    if until > self._pauses.get(token_id, 0.0):
                        self._pauses[token_id] = until
        finally:
            self._sync_lock.release()

    @staticmethod
    def _exchange(
        conn: sa.Connection, dirty: Mapping[str, Observation], pauses: Mapping[str, float], now: float
    ) -> tuple[dict[str, Observation], dict[str, float]]:
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
        pause_rows = [
            {"token_id": token_id, "resource": SECONDARY, "limit": None, "remaining": 0, "reset_at": _when(until),
             "observed_at": _when(now)}
            for token_id, until in sorted(pauses.items())
        ]
        if rows:
            upsert(conn, rate_limits, rows, newer="observed_at")
        if pause_rows:
            upsert(conn, rate_limits, pause_rows, newer="reset_at")
        shared_pauses = {
            row.token_id: _epoch(row.reset_at)
            for row in conn.execute(
                sa.select(rate_limits.c.token_id, rate_limits.c.reset_at).where(
                    rate_limits.c.resource == SECONDARY, rate_limits.c.reset_at > _when(now)
                )
            )
        }
        result = conn.execute(
            sa.select(
                rate_limits.c.token_id,
                rate_limits.c.limit,
                rate_limits.c.remaining,
                rate_limits.c.reset_at,
                rate_limits.c.observed_at,
            ).where(rate_limits.c.resource == RESOURCE)
        )
        shared = {
            row.token_id: Observation(
                remaining=int(row.remaining or 0),
                reset=_epoch(row.reset_at),
                observed=_epoch(row.observed_at),
                limit=row.limit,
            )
            for row in result
        }
        return shared, shared_pauses


@dataclass(frozen=True)
class StoredBudget:
    """What the fleet last saw of one token's budget (``rate_limits``, by ``token_id``, never a token)."""

    token_id: str
    limit: int | None
    remaining: int | None
    reset_at: datetime | None
    observed_at: datetime | None
    paused_until: datetime | None  # end of a secondary-limit pause, if one was stored


def stored_budgets(conn: sa.Connection) -> list[StoredBudget]:
    """Every token identity's last observed budget and secondary-limit pause (for the web console)."""
    found: dict[str, StoredBudget] = {}
    query = sa.select(
        rate_limits.c.token_id,
        rate_limits.c.resource,
        rate_limits.c.limit,
        rate_limits.c.remaining,
        rate_limits.c.reset_at,
        rate_limits.c.observed_at,
    ).order_by(rate_limits.c.token_id)
    for row in conn.execute(query):
        entry = found.get(row.token_id) or StoredBudget(row.token_id, None, None, None, None, None)
        if row.resource == RESOURCE:
            entry = replace(
                entry, limit=row.limit, remaining=row.remaining, reset_at=row.reset_at, observed_at=row.observed_at
            )
        elif row.resource == SECONDARY:
            entry = replace(entry, paused_until=row.reset_at)
        found[row.token_id] = entry
    return list(found.values())
