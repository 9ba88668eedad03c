"""How one fire ended for the replica that handled it: ``Runner.execute``'s answer, from which ``run-once``
chooses its exit status. Kept apart from the runner so the command line can read it without importing the
runner's dependencies."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class OutcomeStatus(StrEnum):
    """How one fire ended for this replica (``run-once`` chooses its exit status from it)."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    DEFERRED = "deferred"
    """Ran and stopped cleanly because a budget (GitHub's rate limit) was spent; the next fire continues."""
    LOST = "lost"
    """Claimed by another replica (or an earlier attempt)."""
    BUSY = "busy"
    """Claimed, but the shard's lease is held elsewhere: recorded ``skipped``."""


@dataclass(frozen=True)
class Outcome:
    """How one fire ended for this replica."""

    status: OutcomeStatus
    run_id: int | None = None
    detail: str = ""
    holder: str | None = None
    until: datetime | None = None
