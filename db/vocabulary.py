"""The words stored in ``job_runs``: run statuses and triggers. Their one owner; the schema's CHECK
constraints, the scheduler, the command line and the tests all use these enums, never string literals."""

from __future__ import annotations

from enum import StrEnum


class RunStatus(StrEnum):
    """Where a ``job_runs`` row stands."""

    RUNNING = "running"
    """Claimed and (once its lease is held) executing; kept alive by its heartbeat."""
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    ABANDONED = "abandoned"
    """Its heartbeat stopped for longer than the lease ttl (replica killed, frozen or cut off)."""
    SKIPPED = "skipped"
    """Never run: overlap with the shard's previous fire, or a misfire that is not caught up."""
    DEFERRED = "deferred"
    """Stopped cleanly before the end because a budget (GitHub's rate limit) was spent; ``error`` says until
    when. Its cursor is saved: the next fire continues where it stopped."""


class Trigger(StrEnum):
    """Why a run exists."""

    SCHEDULE = "schedule"
    MANUAL = "manual"
    """An operator's "run it now": ``scrapesched run-once`` (on that machine) or ``scrapesched trigger`` (on
    whichever replica has a free slot; ``scheduled_for`` is the trigger's request time)."""
    RECOVERY = "recovery"
    """The one re-run of an abandoned fire (``recover = true``)."""
