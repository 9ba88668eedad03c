"""What a running job sees: its shard, parameters, counters, stop signal, resources and fenced transactions.

Every write a job makes goes through ``ctx.transaction``: one retried database transaction that first
runs the run's write guard (fencing token still the newest, run row still ours and running), so a
replica that lost its lease (paused, partitioned) can never overwrite what the newer holder wrote.

``ctx.resources`` holds the per-process objects the app wiring built once at start-up (HTTP clients, the
telemetry buffer) and handed to the runner. The scheduler never looks inside: ``RunContext`` is generic in
their type, so a job declares what it expects (``RunContext[ScraperResources]``) and the canary, which
needs none, takes a plain ``RunContext``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic

import structlog
from sqlalchemy import Connection, Engine
from typing_extensions import TypeVar

from scrapesched.db.retry import transaction

if TYPE_CHECKING:
    from scrapesched.config.settings import Settings
    from scrapesched.locks import Lease

T = TypeVar("T")
R = TypeVar("R", default=object, covariant=True)
"""The type of ``RunContext.resources``: what the app wiring hands to every run (``object``: the job needs none)."""
STOP_POLL_S = 0.05  # how quickly a sleeping job notices a lost lease


class RunCancelled(Exception):
    """The run was told to stop (lease lost, shutdown); raised at the next check or transaction."""


@dataclass
class Counters:
    """What a run reports; stored on its ``job_runs`` row and exported as metrics."""

    rows_written: int = 0
    requests: int = 0
    not_modified: int = 0
    retries: int = 0
    rate_limit_waits: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False, compare=False)

    def add(self, **increments: int) -> None:
        """Add to some counters; safe from the worker threads of a run."""
        with self._lock:
            for name, n in increments.items():
                setattr(self, name, getattr(self, name) + n)

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self) if not f.name.startswith("_")}


@dataclass
class RunContext(Generic[R]):
    """One run of one job on one shard."""

    job: str
    shard: str
    params: dict[str, Any]
    scheduled_for: datetime
    trigger: str
    run_id: int
    owner: str
    settings: Settings
    engine: Engine
    lease: Lease | None
    stop_event: threading.Event
    resources: R
    """The per-process clients the app wiring built at start-up (the same object for every run)."""
    counters: Counters = field(default_factory=Counters)
    stop_reason: str = ""
    write_guard: Callable[[Connection], None] | None = None
    """Run at the end of every write transaction, before COMMIT: raises (FencedOut, RunCancelled) when this
    run may no longer write, which rolls the whole transaction back. The runner sets it to "fencing token
    still the newest and run row still ours"."""

    @property
    def log(self) -> structlog.stdlib.BoundLogger:
        """The jobs' logger; the runner has bound job, shard, run_id, instance, trigger and fencing token
        in the log context (``structlog.contextvars``), so every line of the run carries them."""
        return structlog.get_logger("job")  # type: ignore[no-any-return]

    def should_stop(self) -> bool:
        """True once the lease is lost or the process is shutting down."""
        return self.stop_event.is_set() or (self.lease is not None and self.lease.lost)

    def check(self) -> None:
        """Raise RunCancelled if the run must stop."""
        if self.should_stop():
            raise RunCancelled(self.stop_reason or ("lease lost" if self.lease and self.lease.lost else "stopped"))

    def sleep(self, seconds: float) -> None:
        """Sleep, waking at once (RunCancelled) when the run must stop."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            self.check()
            self.stop_event.wait(min(STOP_POLL_S, left))
        self.check()

    def transaction(self, work: Callable[[Connection], T], *, what: str = "job write") -> T:
        """``work(conn)`` in one retried transaction, refused (FencedOut) if a newer lease holder exists."""
        self.check()
        guard = self.write_guard

        def guarded_work(conn: Connection) -> T:
            result = work(conn)
            # Last, just before COMMIT: the guard row-locks the lease row (which the keep-alive renews on
            # the table backend) and the run row, so it must hold them only for a moment.
            if guard is not None:
                guard(conn)
            return result

        return transaction(self.engine, guarded_work, attempts=self.settings.db_retry_attempts, what=what)
