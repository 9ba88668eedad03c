"""The lease errors: one family under ``LockError``, each a specific failure a caller must not ignore.

``acquire`` returns None only when another holder has the name; everything else is one of these:

- ``LockUnavailable``: the lock server (or the database holding the fencing tokens) cannot be reached.
  Raised within a bounded time, never swallowed into "acquired" or "not acquired".
- ``LockNotOwned``: a renew or release of a lease this holder no longer has (expired, taken, lost).
- ``FencedOut``: a fenced write refused because a newer holder of the name exists.
- ``InvalidLockName`` / ``InvalidLockArgument``: bad input (empty or oversized name, ``ttl <= 0``).
- ``LockConfigError``: an unusable lock URL (unknown scheme, missing database, a pooling proxy).
"""

from __future__ import annotations

from scrapesched.config.errors import ScrapeschedError


class LockError(ScrapeschedError):
    """Base of every lease error."""

    exit_code = 1


class LockUnavailable(LockError):
    """The lock server or the token database cannot be reached; nothing was acquired."""


class LockNotOwned(LockError):
    """The lease is no longer held by this holder: it expired, was taken by another, or was lost."""


class FencedOut(LockError):
    """A write was refused: a newer fencing token has been issued for the name since this holder's."""


class InvalidLockArgument(LockError, ValueError):
    """A lease argument is out of range (``ttl <= 0``, negative ``wait``)."""

    exit_code = 2


class InvalidLockName(InvalidLockArgument):
    """A lease name is empty, too long, or contains control characters."""


class LockConfigError(LockError):
    """The lock URL or set-up cannot work (unknown scheme, no database for tokens, a pooling proxy)."""

    exit_code = 2
