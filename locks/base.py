"""The lease interface every backend implements, and the machinery they all share.

A ``LockBackend`` hands out ``Lease`` objects; each backend module implements five small hooks
(``_try_acquire``, ``_renew``, ``_release``, ``_holder``, ``_close``) and this module does the rest:
argument checks, bounded waiting, the keep-alive (one ``Renewer`` per backend, ``locks/renewer.py``), the lost
signal and its one log line.

Rules every backend keeps:

- Expiry is decided by the lock server's clock (Redis ``PX``, the database's ``now()``, a session timeout
  on MySQL/PostgreSQL), never by this replica's wall clock.
- A lease is *confirmed* until ``ttl`` after the start of its last successful acquire or renew, measured
  with this process's monotonic clock. The server never expires it earlier than that, so while ``lost`` is
  False no other holder can exist. Once that time has passed without a renewal (a paused process, a late
  keep-alive, a slow server) ``lost`` turns True for good: a later renewal may still succeed on the server,
  but the work that relied on the lease has already been told to stop.
- A lost lease sets ``lost_event`` (the stop signal for the holder's work) and is logged once as
  ``lease_lost``.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import random
import re
import socket
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import ClassVar

from scrapesched.config.log_setup import get_logger
from scrapesched.locks.errors import InvalidLockArgument, InvalidLockName, LockError, LockNotOwned, LockUnavailable
from scrapesched.locks.renewer import Renewer

log = get_logger("locks")
# The same logger's standard-library side: its level says whether a debug line would go anywhere. Asking it
# costs a dict lookup, a structlog call filtered out at its level costs a whole bind (about 10 us).
_stdlib_log = logging.getLogger("locks")

MAX_NAME_LENGTH = 255  # the lease table's name column
MAX_HOLDER_LENGTH = 255  # the lease table's holder column
MAX_TTL_S = 7 * 86400.0
# Bounded waiting polls with jittered exponential backoff between these two delays.
POLL_FIRST_S = 0.005
POLL_MAX_S = 0.2
_CONTROL = re.compile("[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class LeaseInfo:
    """Who holds a name: ``holder`` (``hostname:pid`` by default), its fencing ``token``, and ``until`` (the
    lock server's expiry time, UTC) or None where the lock has no fixed expiry (MySQL/PostgreSQL session
    locks live as long as their holder's connection keeps answering)."""

    name: str
    holder: str
    token: int
    until: datetime | None


def validate_name(name: object) -> str:
    """The name, or InvalidLockName: a non-empty str of at most 255 characters without control characters."""
    if type(name) is str and 0 < len(name) <= MAX_NAME_LENGTH and _CONTROL.search(name) is None:
        return name  # the common case, checked in one pass
    if not isinstance(name, str):
        raise InvalidLockName(f"lease name must be a string, not {type(name).__name__}")
    if not name:
        raise InvalidLockName("lease name is empty")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidLockName(f"lease name is {len(name)} characters long, the limit is {MAX_NAME_LENGTH}")
    if _CONTROL.search(name):
        raise InvalidLockName(f"lease name {name!r} contains control characters")
    return name


def validate_ttl(ttl: object) -> float:
    """The ttl in seconds, or InvalidLockArgument unless it is a finite number in (0, 7 days]."""
    if (type(ttl) is float or type(ttl) is int) and 0 < ttl <= MAX_TTL_S:  # NaN fails both comparisons
        return float(ttl)
    if isinstance(ttl, bool) or not isinstance(ttl, int | float):
        raise InvalidLockArgument(f"lease ttl must be a number of seconds, not {type(ttl).__name__}")
    if not math.isfinite(ttl) or ttl <= 0:
        raise InvalidLockArgument(f"lease ttl must be a positive number of seconds, got {ttl!r}")
    if ttl > MAX_TTL_S:
        raise InvalidLockArgument(f"lease ttl {ttl!r} s is longer than the limit of {MAX_TTL_S:.0f} s")
    return float(ttl)


def validate_wait(wait: object) -> float:
    """The wait in seconds, or InvalidLockArgument unless it is a finite number >= 0."""
    if (type(wait) is float or type(wait) is int) and 0 <= wait < math.inf:  # NaN fails both comparisons
        return float(wait)
    if isinstance(wait, bool) or not isinstance(wait, int | float) or not math.isfinite(wait) or wait < 0:
        raise InvalidLockArgument(f"lease wait must be a number of seconds >= 0, got {wait!r}")
    return float(wait)


def default_holder_id() -> str:
    """``hostname:pid``: unique per replica process, readable in ``status``."""
    return f"{socket.gethostname()}:{os.getpid()}"


def validate_holder(holder: object) -> str:
    """The holder id, or InvalidLockArgument unless it is a non-empty str of at most 255 characters."""
    if not isinstance(holder, str) or not holder or len(holder) > MAX_HOLDER_LENGTH:
        raise InvalidLockArgument(f"holder id must be 1 to {MAX_HOLDER_LENGTH} characters, got {holder!r}")
    return holder


def name_digest(name: str) -> str:
    """A stable hex digest of a lease name (SHA-256), for backends whose names are shorter or stricter."""
    return hashlib.sha256(name.encode("utf-8")).hexdigest()


class Lease:
    """A held name: ``token`` is its fencing token, ``lost`` turns True once it can no longer be trusted.

    Use it as a context manager (released on exit) or call ``release()``. The keep-alive (started by
    ``acquire`` unless ``keepalive=False``) renews it every ``ttl / 3`` on the backend's shared renewer
    threads. When a renewal fails, or ``ttl`` passes without one, ``lost_event`` is set: pass it to the work
    as its stop signal.
    """

    def __init__(self, backend: LockBackend, name: str, token: int, ttl: float, handle: object, started: float) -> None:
        self.name = name
        self.holder = backend.holder_id
        self.token = token
        self.ttl = ttl
        self.acquired_at = backend.clock()  # this replica's wall clock: for display only
        self.lost_event = threading.Event()
        self._backend = backend
        self._handle = handle
        self._confirmed = started  # monotonic start of the last successful acquire or renew
        self._deadline = started + ttl
        self._released = False
        self._lost_reason: str | None = None
        self._op_lock = threading.Lock()  # one server operation at a time (connections are not shared)
        self._state_lock = threading.Lock()
        self._keepalive = False

    def __repr__(self) -> str:
        state = "released" if self._released else "lost" if self.lost_event.is_set() else "held"
        return f"<Lease {self.name!r} token={self.token} holder={self.holder!r} {state}>"

    @property
    def lost(self) -> bool:
        """True once the lease can no longer be trusted (never False again)."""
        if self.lost_event.is_set():
            return True
        if not self._released and time.monotonic() > self._deadline:
            self._mark_lost(f"no confirmed renewal within the ttl of {self.ttl:g} s (paused process or late renewal)")
            return True
        return False

    @property
    def lost_reason(self) -> str | None:
        """Why the lease was lost, or None."""
        return self._lost_reason

    @property
    def released(self) -> bool:
        """True once ``release()`` succeeded."""
        return self._released

    def remaining(self) -> float:
        """Seconds the lease is certainly still held without a renewal (0 when lost or released)."""
        if self._released or self.lost:
            return 0.0
        return max(0.0, self._deadline - time.monotonic())

    def _expired_locally(self) -> bool:
        return time.monotonic() > self._deadline

    def _finished(self) -> bool:
        return self._released or self.lost_event.is_set()

    def renew(self) -> None:
        """Extend the lease to a full ttl from now; LockNotOwned (and lost) if it is no longer ours."""
        with self._op_lock:
            if self._released:
                raise LockNotOwned(f"lease {self.name!r} (token {self.token}) was released")
            if self.lost:  # lost, or its ttl passed unconfirmed: a renewal now would not make it trusted again
                raise LockNotOwned(f"lease {self.name!r} (token {self.token}) was lost: {self._lost_reason}")
            started = time.monotonic()
            try:
                self._backend._renew(self, self._handle)
            except LockError as exc:
                self._mark_lost(f"renew failed: {exc}")
                raise
            except Exception as exc:  # a driver error a backend did not map: still a lost lease
                self._mark_lost(f"renew failed: {type(exc).__name__}: {exc}")
                raise LockUnavailable(f"renew of lease {self.name!r} failed: {type(exc).__name__}: {exc}") from exc
            self._confirmed = started
            self._deadline = started + self.ttl

    def release(self) -> None:
        """Give the name up. Idempotent once it succeeded; LockNotOwned if the lease is no longer ours
        (expired, taken by another holder, or its connection dropped); LockUnavailable if the server
        cannot be reached (the lease then expires by its ttl)."""
        with self._op_lock:
            if self._released:
                return
            if self._keepalive:
                self._backend._renewer.discard(self)
            try:
                self._backend._release(self, self._handle)
            except LockNotOwned as exc:
                self._mark_lost(f"release found the lease gone: {exc}")
                raise
            except LockError as exc:
                self._mark_lost(f"release failed: {exc}")
                raise
            except Exception as exc:
                self._mark_lost(f"release failed: {type(exc).__name__}: {exc}")
                raise LockUnavailable(f"release of lease {self.name!r} failed: {type(exc).__name__}: {exc}") from exc
            self._released = True
        self._backend._forget(self)

    def start_keepalive(self) -> None:
        """Renew the lease every ``ttl / 3`` after its last confirmation, on the backend's renewer, until it is
        released or lost (idempotent)."""
        with self._state_lock:
            if self._keepalive or self._released or self.lost_event.is_set():
                return
            self._keepalive = True
        self._backend._renewer.add(self)

    def _keepalive_renew(self) -> None:
        """One renewal by the keep-alive: a failure marks the lease lost (``renew``), and is not raised."""
        try:
            self.renew()
        except LockError:
            pass  # renew() marked the lease lost (or it was released meanwhile)
        except Exception as exc:  # pragma: no cover - renew() maps every failure to a LockError
            self._mark_lost(f"keep-alive failed: {type(exc).__name__}: {exc}")

    def _mark_lost(self, reason: str) -> None:
        with self._state_lock:
            if self.lost_event.is_set() or self._released:
                return
            self._lost_reason = reason
            self.lost_event.set()
        if self._keepalive:
            self._backend._renewer.discard(self)
        log.warning(
            "lease_lost",
            name=self.name,
            holder=self.holder,
            token=self.token,
            backend=self._backend.kind,
            reason=reason,
        )

    def __enter__(self) -> Lease:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        was_lost = self.lost_event.is_set()
        try:
            self.release()
        except LockError as error:
            # Never raised from here: it would hide the body's own exception, and a lost lease was already
            # logged (lease_lost) and signalled (lost_event). Call release() to see the error.
            if not was_lost:
                log.warning(
                    "lease_release_failed", name=self.name, holder=self.holder, token=self.token, error=str(error)
                )


class LockBackend(ABC):
    """Hands out leases on names. ``acquire`` returns None only when another holder has the name; a server
    that cannot be reached raises LockUnavailable within a bounded time."""

    kind: ClassVar[str] = "abstract"

    def __init__(self, *, holder_id: str | None = None, clock: Callable[[], float] = time.time) -> None:
        self.holder_id = validate_holder(holder_id if holder_id is not None else default_holder_id())
        self.clock = clock  # only for display (Lease.acquired_at); never for expiry
        self._active: set[Lease] = set()
        self._active_lock = threading.Lock()
        self._renewer = Renewer(self.kind)
        self._closed = False

    @property
    def description(self) -> str:
        """What the backend talks to, for messages (never a password)."""
        return self.kind

    def acquire(self, name: str, ttl: float, wait: float = 0, *, keepalive: bool = True) -> Lease | None:
        """A lease on ``name`` for ``ttl`` seconds, or None if another holder keeps it for ``wait`` seconds.

        Raises LockUnavailable when the lock server cannot be reached, InvalidLockName/InvalidLockArgument
        for bad input. With ``keepalive`` the lease is renewed every ``ttl / 3`` until released or lost.
        """
        name = validate_name(name)
        ttl = validate_ttl(ttl)
        deadline = time.monotonic() + validate_wait(wait)
        delay = POLL_FIRST_S
        while True:
            if self._closed:
                raise LockError(f"the {self.kind} lock backend is closed")
            lease = self._try_acquire(name, ttl)
            if lease is not None and lease._expired_locally():
                # Acquiring took longer than the ttl (a pause between taking the lock and reading the token):
                # the server may already have handed the name to someone else. Treat it as not acquired.
                self._release_quietly(lease)
                lease = None
            if lease is not None:
                if _stdlib_log.isEnabledFor(logging.DEBUG):
                    log.debug("lease_acquired", name=name, holder=self.holder_id, token=lease.token, backend=self.kind)
                if keepalive:
                    lease.start_keepalive()
                return lease
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            time.sleep(min(remaining, delay * random.uniform(0.5, 1.0)))
            delay = min(delay * 2, POLL_MAX_S)

    def holder(self, name: str) -> LeaseInfo | None:
        """Who holds ``name`` now (on the lock server), or None if nobody does."""
        if self._closed:
            raise LockError(f"the {self.kind} lock backend is closed")
        return self._holder(validate_name(name))

    def close(self) -> None:
        """Release every lease still held (their work is told to stop first), then close connections."""
        if self._closed:
            return
        self._closed = True
        with self._active_lock:
            active = list(self._active)
        for lease in active:
            lease._mark_lost("the lock backend was closed")
            self._release_quietly(lease)
        self._renewer.close()
        self._close()

    def __enter__(self) -> LockBackend:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- for backends -------------------------------------------------------------------------------

    def _new_lease(self, name: str, token: int, ttl: float, handle: object, started: float) -> Lease:
        """A Lease confirmed from ``started`` (monotonic time taken before the request that won it)."""
        lease = Lease(self, name, token, ttl, handle, started)
        with self._active_lock:
            self._active.add(lease)
        return lease

    def _forget(self, lease: Lease) -> None:
        with self._active_lock:
            self._active.discard(lease)

    def _release_quietly(self, lease: Lease) -> None:
        try:
            lease.release()
        except LockError as exc:
            log.debug("lease_release_failed", name=lease.name, token=lease.token, error=str(exc))
        self._forget(lease)

    @abstractmethod
    def _try_acquire(self, name: str, ttl: float) -> Lease | None:
        """One non-blocking attempt: a Lease (via ``_new_lease``), None if held by another, or LockUnavailable."""

    @abstractmethod
    def _renew(self, lease: Lease, handle: object) -> None:
        """Extend the lease on the server; LockNotOwned if it is not ours any more, LockUnavailable if unreachable."""

    @abstractmethod
    def _release(self, lease: Lease, handle: object) -> None:
        """Release on the server, touching nobody else's lease; LockNotOwned if it is not ours any more."""

    @abstractmethod
    def _holder(self, name: str) -> LeaseInfo | None:
        """The current holder according to the server."""

    @abstractmethod
    def _close(self) -> None:
        """Close connections; called once."""
