"""What a running job sees: its shard, parameters, counters, stop signal, resources and fenced transactions.

Every write a job makes goes through ``ctx.transaction``: one retried database transaction that ends
with the run's write guard (fencing token still the newest, run row still ours, running and not stale),
so a replica that lost its lease (paused, partitioned) can never overwrite what the newer holder wrote.
A job's last write passes ``final=True`` (or a test of the write's result, such as "nothing left"): the
run's ``succeeded`` completion then commits in the same transaction as the write, so a replica frozen or
killed after its effect committed never leaves a run that recovery would execute a second time
(docs/scheduler.md, "States of a run").

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

from sqlalchemy import Connection, Engine
from typing_extensions import TypeVar

from scrapesched.config.log_setup import Logger, get_logger
from scrapesched.db.retry import read, transaction

if TYPE_CHECKING:
    from scrapesched.config.settings import Settings
    from scrapesched.locks import Lease

T = TypeVar("T")
R = TypeVar("R", default=object, covariant=True)
"""The type of ``RunContext.resources``: what the app wiring hands to every run (``object``: the job needs none)."""
STOP_POLL_S = 0.05  # how quickly a sleeping job notices a lost lease


class RunCancelled(Exception):
    """The run was told to stop (lease lost, shutdown); raised at the next check or transaction."""


class RunDeferred(Exception):
    """The job stopped cleanly before its end because a budget is spent (GitHub's rate limit) and saved where
    it stopped; the runner records the run ``deferred`` with this message (which says until when), and the
    next fire continues."""


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
    progress: dict[str, tuple[int, int | None]] = field(default_factory=dict)
    """What the job reported with ``report_progress``: items done and the estimated total, per stream."""
    stop_reason: str = ""
    write_guard: Callable[[Connection], None] | None = None
    """Run at the end of every write transaction, before COMMIT: raises (FencedOut, RunCancelled) when this
    run may no longer write, which rolls the whole transaction back. The runner sets it to "fencing token
    still the newest and run row still ours"."""
    completer: Callable[[Connection, dict[str, int]], None] | None = None
    """Records the run ``succeeded`` (with these counters) inside the transaction of the job's last write,
    in place of the write guard: it raises as the guard does when the run may no longer write (the
    completion is itself a conditional write of the run row, so it checks what the guard would). The
    runner sets it. None: the runner records the end itself."""
    completed: bool = False
    """True once the run's completion committed with its last write (``transaction(..., final=...)``)."""

    @property
    def log(self) -> Logger:
        """The jobs' logger; the runner has bound job, shard, run_id, instance, trigger and fencing token
        in the log context (``structlog.contextvars``), so every line of the run carries them."""
        return get_logger("job")

    def report_progress(self, stream: str, done: int, total: int | None) -> None:
        """Record how far one stream of the job is (``run-once`` on a terminal draws it as a progress bar)."""
        self.progress = {**self.progress, stream: (done, total)}

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

    def read(self, work: Callable[[Connection], T], *, what: str = "job read") -> T:
        """``work(conn)``, reads only, on one connection, re-run from its start on transient database errors
        (a connection the server closed among them: pooled connections are not pinged at checkout)."""
        return read(self.engine, work, attempts=self.settings.db_retry_attempts, what=what)

    def transaction(
        self,
        work: Callable[[Connection], T],
        *,
        what: str = "job write",
        final: bool | Callable[[T], bool] = False,
        rows: Callable[[T], int] | None = None,
    ) -> T:
        """``work(conn)`` in one retried transaction, refused (FencedOut, RunCancelled) if a newer lease holder
        exists or the run is no longer ours.

        ``final``: this is the run's last write (or a test of ``work``'s result that says so, e.g. "nothing
        left to do"): the run's ``succeeded`` completion commits in the same transaction, and the job must
        not write again. ``rows``: how many rows the write counts as written (from its result); added to
        ``counters.rows_written`` once it committed, and recorded with the completion.
        """
        if self.completed:
            raise RuntimeError("the run is already completed: its final write was its last")
        self.check()
        guard, complete = self.write_guard, self.completer
        ended = False

        def guarded_work(conn: Connection) -> T:
            nonlocal ended
            result = work(conn)
            # Last, just before COMMIT: the guard (or the completion, which guards as it writes) row-locks
            # the lease row (which the keep-alive renews on the table backend) and the run row, so it must
            # hold them only for a moment.
            ended = bool(final(result)) if callable(final) else final
            if ended and complete is not None:
                counters = self.counters.as_dict()
                counters["rows_written"] += rows(result) if rows is not None else 0
                complete(conn, counters)
            elif guard is not None:
                guard(conn)
            return result

        result = transaction(self.engine, guarded_work, attempts=self.settings.db_retry_attempts, what=what)
        if rows is not None:
            self.counters.add(rows_written=rows(result))
        self.completed = ended and complete is not None
        return result
