"""The ``memory`` backend: leases inside one backend object of one process, for tests and ``run-once``.

The backend object is the lock server: two ``connect("memory")`` calls are two separate lock spaces, and
nothing is shared with other processes. Expiry uses this process's monotonic clock (it is the server's).
With an engine, fencing tokens come from its lease table like every other backend's; without one they
are counted in the backend object and ``fenced`` (which needs the table) cannot be used.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from scrapesched.locks.base import Lease, LeaseInfo, LockBackend
from scrapesched.locks.errors import LockNotOwned
from scrapesched.locks.tokens import TokenStore


@dataclass
class _Slot:
    value: str
    holder: str
    token: int
    expires: float  # monotonic


class MemoryBackend(LockBackend):
    """Leases in a dict guarded by a lock; one process only."""

    kind = "memory"

    def __init__(
        self,
        *,
        engine: Engine | None = None,
        holder_id: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(holder_id=holder_id, clock=clock)
        self._tokens = TokenStore(engine) if engine is not None else None
        self._slots: dict[str, _Slot] = {}
        self._counters: dict[str, int] = {}
        self._values = itertools.count(1)  # every acquisition's own value
        self._lock = threading.Lock()

    def _try_acquire(self, name: str, ttl: float) -> Lease | None:
        with self._lock:
            started = time.monotonic()
            slot = self._slots.get(name)
            if slot is not None and slot.expires > started:
                return None
            if self._tokens is not None:
                token = self._tokens.issue(name, self.holder_id, ttl)
            else:
                token = self._counters.get(name, 0) + 1
                self._counters[name] = token
            value = str(next(self._values))
            self._slots[name] = _Slot(value, self.holder_id, token, started + ttl)
            return self._new_lease(name, token, ttl, value, started)

    def _ours(self, lease: Lease, handle: object, now: float) -> _Slot:
        slot = self._slots.get(lease.name)
        if slot is None or slot.value != handle or slot.expires <= now:
            raise LockNotOwned(f"lease {lease.name!r} (token {lease.token}) expired or was taken by another holder")
        return slot

    def _renew(self, lease: Lease, handle: object) -> None:
        with self._lock:
            now = time.monotonic()
            self._ours(lease, handle, now).expires = now + lease.ttl

    def _release(self, lease: Lease, handle: object) -> None:
        with self._lock:
            slot = self._slots.get(lease.name)
            if slot is None or slot.value != handle:
                raise LockNotOwned(f"lease {lease.name!r} (token {lease.token}) was taken by another holder")
            del self._slots[lease.name]

    def _holder(self, name: str) -> LeaseInfo | None:
        with self._lock:
            slot = self._slots.get(name)
            left = slot.expires - time.monotonic() if slot is not None else 0.0
            if slot is None or left <= 0:
                return None
            return LeaseInfo(name, slot.holder, slot.token, datetime.now(UTC) + timedelta(seconds=left))

    def _close(self) -> None:
        with self._lock:
            self._slots.clear()
        if self._tokens is not None:
            self._tokens.close()
