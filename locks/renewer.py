"""The keep-alive of every lease of one backend: one schedule, one scheduling thread, a reusable worker.

A ``Renewer`` belongs to one ``LockBackend``. Its scheduling thread is started by the first lease that
asks for a keep-alive and stopped by ``close()``. It keeps a heap of deadlines, ONE entry per lease:

- a *renewal* entry at ``confirmed + ttl / 3`` (confirmed: the start of the lease's last successful acquire
  or renew, as before the shared keep-alive): when it comes due, the renewal is handed to a worker thread,
  and the lease's entry becomes
- a *watch* entry at the lease's deadline (``confirmed + ttl``): if the renewal is still running then, the
  scheduling thread marks the lease lost itself (``lost_event``, one ``lease_lost`` line) instead of
  waiting for the renewal's network call to end. When the renewal ends, the next renewal entry replaces it.

Why workers, and not renewals on the scheduling thread with short timeouts: a renewal's time is bounded
only by its driver's timeouts (redis-py 2 s, PyMySQL 3 s; a psycopg call on a session lock connection
has no client-side read timeout at all, and a table renewal may wait for a row lock that a fenced write
holds), while a ttl may be shorter than any of them. So the scheduling thread never talks to a server, and
one renewal that hangs cannot make another lease miss its ttl: a due renewal always gets a worker, and a
second worker is started only while the first is still busy with a renewal (normally the two threads
sleep; at most one idle worker is kept, the others exit once their renewal returns). That is a thread per
renewal in flight, never a thread per lease.

Adding a lease wakes the scheduling thread only when its first renewal comes before the time that thread
already waits for; releasing one wakes nobody: its entry leaves the heap (a linear search: the heap holds the
leases this backend holds right now), except the first entry, which stays in as a dead one until its time
(the thread waits for it, and an empty heap would make the next lease wake the thread). A loop of short
leases thus wakes the thread about twice per ``ttl / 3``, not once per lease.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections import deque
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from scrapesched.locks.base import Lease

    _Entry = tuple[float, int, Lease]  # (when, sequence number, lease)

MAX_IDLE_WORKERS = 1


class Renewer:
    """Renews the leases of one backend every ``ttl / 3`` after their last confirmation, on shared threads."""

    def __init__(self, label: str) -> None:
        self.label = label
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)  # the scheduling thread waits here
        self._work = threading.Condition(self._lock)  # idle workers wait here
        self._heap: list[_Entry] = []
        self._seq = itertools.count()  # ties in time: first pushed, first due (leases do not compare)
        self._entries: dict[Lease, _Entry] = {}  # every live entry of the heap, by its lease
        self._running: set[Lease] = set()  # leases whose renewal a worker is running
        self._ready: deque[Lease] = deque()  # renewals waiting for a worker
        self._idle = 0  # workers waiting for a renewal, not yet promised one
        self._waiting_until: float | None = None  # when the scheduling thread wakes up next (None: not waiting)
        self._thread: threading.Thread | None = None
        self._closed = False

    # -- called by leases and the backend ----------------------------------------------------------

    def add(self, lease: Lease) -> None:
        """Renew ``lease`` from now on, every ``ttl / 3`` after its last confirmation (idempotent)."""
        with self._lock:
            if self._closed or lease in self._entries:
                return
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._schedule, name=f"lease-renewer:{self.label}", daemon=True)
                self._thread.start()
            self._push(lease, lease._confirmed + lease.ttl / 3)

    def discard(self, lease: Lease) -> None:
        """Stop renewing ``lease`` (released or lost); a renewal already running ends as it does."""
        with self._lock:
            self._remove(lease)

    def close(self) -> None:
        """Stop the threads (a worker inside a renewal ends with it); leases are no longer renewed."""
        with self._lock:
            self._closed = True
            self._heap.clear()
            self._entries.clear()
            self._ready.clear()
            self._wake.notify_all()
            self._work.notify_all()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)

    # -- under self._lock ----------------------------------------------------------------------------

    def _push(self, lease: Lease, when: float) -> None:
        """Make ``(when, lease)`` the lease's one entry (replacing the one it had)."""
        self._remove(lease)
        entry = (when, next(self._seq), lease)
        self._entries[lease] = entry
        heapq.heappush(self._heap, entry)
        if self._waiting_until is not None and when < self._waiting_until:
            self._wake.notify()

    def _remove(self, lease: Lease) -> None:
        entry = self._entries.pop(lease, None)
        if entry is None or entry is self._heap[0]:
            return  # the first entry stays, dead, until it comes due
        index = self._heap.index(entry)
        last = self._heap.pop()
        if index < len(self._heap):
            self._heap[index] = last
            heapq.heapify(self._heap)

    # -- the scheduling thread -----------------------------------------------------------------------

    def _schedule(self) -> None:
        with self._lock:
            while not self._closed:
                now = time.monotonic()
                expired: list[Lease] = []
                while self._heap and self._heap[0][0] <= now:
                    entry = heapq.heappop(self._heap)
                    lease = entry[2]
                    if self._entries.get(lease) is entry:
                        del self._entries[lease]
                        self._due(lease, now, expired)
                if self._ready:
                    self._dispatch()
                if expired:
                    self._lock.release()  # _mark_lost logs, and calls discard()
                    try:
                        for lease in expired:
                            lease._mark_lost(
                                f"no confirmed renewal within the ttl of {lease.ttl:g} s (its renewal is still running)"
                            )
                    finally:
                        self._lock.acquire()
                    continue
                self._waiting_until = self._heap[0][0] if self._heap else float("inf")
                self._wake.wait(None if not self._heap else max(0.0, self._waiting_until - now))
                self._waiting_until = None

    def _due(self, lease: Lease, now: float, expired: list[Lease]) -> None:
        """The entry of ``lease`` came due (and left the heap): renew it, or (its renewal still running) check
        its deadline; a lease past its deadline is appended to ``expired``."""
        if lease._finished():
            return
        if lease in self._running:
            if now >= lease._deadline:
                expired.append(lease)  # without an entry: the worker's return schedules nothing
            else:
                self._push(lease, lease._deadline)
        elif now < lease._confirmed + lease.ttl / 3:  # renewed by hand meanwhile
            self._push(lease, lease._confirmed + lease.ttl / 3)
        else:
            self._running.add(lease)
            self._ready.append(lease)
            self._push(lease, lease._deadline)

    def _dispatch(self) -> None:
        promised = min(self._idle, len(self._ready))
        self._idle -= promised
        self._work.notify(promised)
        for _ in range(len(self._ready) - promised):
            threading.Thread(target=self._serve, name=f"lease-renewal:{self.label}", daemon=True).start()

    # -- workers -------------------------------------------------------------------------------------

    def _serve(self) -> None:
        self._lock.acquire()
        try:
            while not self._closed:
                if not self._ready:
                    if self._idle >= MAX_IDLE_WORKERS:
                        return
                    self._idle += 1  # the dispatcher takes it back when it promises this worker a renewal
                    self._work.wait()
                    continue
                lease = self._ready.popleft()
                self._lock.release()
                try:
                    lease._keepalive_renew()
                finally:
                    self._lock.acquire()
                self._running.discard(lease)
                if lease in self._entries and not lease._finished():
                    self._push(lease, lease._confirmed + lease.ttl / 3)
                else:
                    self._remove(lease)
        finally:
            self._lock.release()
