"""The per-host HTTP summary of every scraper: a hook on ``HttpClient`` that counts each attempt in memory,
and flushes that add those counts to ``http_error_summary`` with one batched increment upsert.

What is counted: every attempt ``HttpClient`` makes, successes included, by (host, status code, error
type): ``(host, 200, "")``, ``(host, 304, "")``, ``(host, 404, "client_error")``, ``(host, 503,
"server_error")``, and ``(host, 0, "timeout" | "connect" | "protocol")`` for attempts that got no response.

One buffer per process, created by the app wiring at start-up and hooked into the HTTP clients it builds.
When it is written: at the end of every run (``flush_quietly("run_end")``, an ``on_run_end`` hook the wiring
gives the runner), every ``telemetry.flush_interval`` seconds from a background thread while requests keep
coming, and at shutdown (``close()``, called by the wiring). A flush is one transaction: an idempotency
check, the flush's id (``telemetry_flushes``) and one multi-row upsert ``count = count + n``, never a
read-modify-write.

Exactly once: ``flush()`` first seals the pending counts into a batch with a new random id, and forgets
the batch only after its transaction committed. A failed flush keeps the sealed batch, and the next flush
writes it again under the same id before sealing anything new. A retry (by ``db.transaction`` after a
lost connection, or by the next flush) that finds its id already stored knows the earlier COMMIT went
through and writes nothing. A crash loses the unflushed counts of that process, never a written row, and
never counts a flushed one twice.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial

from sqlalchemy import Connection, Engine, select

from scrapesched.config.log_setup import get_logger
from scrapesched.db.prune import delete_before
from scrapesched.db.retry import transaction
from scrapesched.db.schema import http_error_summary, telemetry_flushes
from scrapesched.db.upsert import DEFAULT_BATCH_SIZE, upsert
from scrapesched.scrapers.http import RequestRecord

DEFAULT_FLUSH_INTERVAL_S = 10.0

Key = tuple[str, int, str]  # host, status_code (0: no response), error_type ("" for 2xx/3xx)

log = get_logger("scrapers.telemetry")


class _Entry:
    """Count and first/last time (Unix seconds) of one key."""

    __slots__ = ("count", "first", "last")

    def __init__(self, count: int, first: float, last: float) -> None:
        self.count = count
        self.first = first
        self.last = last


@dataclass(frozen=True)
class _Batch:
    """Counts sealed under one flush id: written exactly once, however often the write is retried."""

    flush_id: str
    entries: dict[Key, _Entry]

    @property
    def requests(self) -> int:
        return sum(e.count for e in self.entries.values())


@dataclass(frozen=True)
class FlushResult:
    """What one ``flush()`` made durable."""

    batches: int = 0
    """Batches written (0: nothing was pending)."""
    keys: int = 0
    requests: int = 0
    duplicates: int = 0
    """Batches whose id was already stored: an earlier COMMIT had gone through, nothing was written again."""
    seconds: float = 0.0
    counts: dict[Key, int] = field(default_factory=dict)
    """Per key, the counts now in the database because of this flush (duplicates included)."""


def _utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


class TelemetryBuffer:
    """In-memory counts of HTTP attempts per (host, status, error type); thread-safe, one per process.

    ``record`` is the ``HttpClient`` hook. ``flush`` writes what is pending (see the module docstring);
    ``close`` stops the periodic flusher and flushes a last time.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        owner: str = "",
        flush_interval: float | None = DEFAULT_FLUSH_INTERVAL_S,
        attempts: int = 6,
        batch_size: int = DEFAULT_BATCH_SIZE,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._engine = engine
        self._owner = owner[:255]
        self._interval = flush_interval
        self._attempts = attempts
        self._batch_size = batch_size
        self._clock = clock
        self._pending: dict[Key, _Entry] = {}
        self._sealed: _Batch | None = None
        self._lock = threading.Lock()  # guards _pending and _sealed; held for microseconds
        self._flush_lock = threading.Lock()  # one flush at a time
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._closed = False

    # --- counting -----------------------------------------------------------------------------------
    def record(self, rec: RequestRecord) -> None:
        """The ``HttpClient`` hook: count one attempt."""
        self.add(rec.host, rec.status_code, rec.error_type)

    def add(self, host: str, status_code: int, error_type: str, n: int = 1, at: float | None = None) -> None:
        """Count ``n`` attempts of one key (``at``: Unix time, default now)."""
        now = self._clock() if at is None else at
        key = (host[:255], status_code, error_type)  # the key column's bound (DNS names stop at 253)
        with self._lock:
            entry = self._pending.get(key)
            if entry is None:
                self._pending[key] = _Entry(n, now, now)
            else:
                entry.count += n
                if now > entry.last:
                    entry.last = now
                if now < entry.first:
                    entry.first = now
            if self._thread is None and self._interval and not self._closed:
                self._start_flusher()

    def unflushed(self) -> dict[Key, int]:
        """Counts not yet known to be in the database (pending and sealed), per key."""
        with self._lock:
            out = {k: e.count for k, e in self._pending.items()}
            if self._sealed is not None:
                for k, e in self._sealed.entries.items():
                    out[k] = out.get(k, 0) + e.count
        return out

    # --- writing ------------------------------------------------------------------------------------
    def flush(self) -> FlushResult:
        """Write the sealed batch left by a failed flush (if any), then everything pending, once each.

        Raises the database error when a write fails after the retries; the counts stay buffered and the
        next flush writes them (the sealed batch under its original id, so never twice).
        """
        started = time.perf_counter()
        batches = duplicates = 0
        counts: dict[Key, int] = {}
        with self._flush_lock:
            for _ in range(2):  # at most: the batch a failed flush left behind, then the pending counts
                with self._lock:
                    leftover = self._sealed is not None
                    if self._sealed is None:
                        if not self._pending:
                            break
                        self._sealed = _Batch(uuid.uuid4().hex, self._pending)
                        self._pending = {}
                    batch = self._sealed
                written = transaction(
                    self._engine, partial(self._write, batch), attempts=self._attempts, what="telemetry flush"
                )
                with self._lock:
                    self._sealed = None
                batches += 1
                for k, e in batch.entries.items():
                    counts[k] = counts.get(k, 0) + e.count
                if not written:
                    duplicates += 1
                    log.info("telemetry_flush_already_written", flush_id=batch.flush_id, requests=batch.requests)
                if not leftover:
                    break
        return FlushResult(
            batches=batches,
            keys=len(counts),
            requests=sum(counts.values()),
            duplicates=duplicates,
            seconds=time.perf_counter() - started,
            counts=counts,
        )

    def _write(self, batch: _Batch, conn: Connection) -> bool:
        """One flush transaction; False when the batch's id shows it was already written."""
        flushes = telemetry_flushes
        if conn.execute(select(flushes.c.id).where(flushes.c.flush_id == batch.flush_id)).first() is not None:
            return False
        # A plain INSERT, not an upsert: should an ambiguous COMMIT still be in flight on the server, this
        # waits for it and fails on the unique key instead of counting the batch a second time.
        conn.execute(
            flushes.insert().values(
                flush_id=batch.flush_id,
                owner=self._owner,
                flushed_at=datetime.now(UTC),
                key_count=len(batch.entries),
                request_count=batch.requests,
            )
        )
        rows = [
            {
                "host": host,
                "status_code": status,
                "error_type": error_type,
                "count": e.count,
                "first_seen": _utc(e.first),
                "last_seen": _utc(e.last),
            }
            for (host, status, error_type), e in batch.entries.items()
        ]
        upsert(
            conn,
            http_error_summary,
            rows,
            increment=["count"],
            least=["first_seen"],
            greatest=["last_seen"],
            batch_size=self._batch_size,
        )
        return True

    # --- life cycle ---------------------------------------------------------------------------------
    def _start_flusher(self) -> None:
        self._thread = threading.Thread(target=self._flush_loop, name="telemetry-flush", daemon=True)
        self._thread.start()

    def _flush_loop(self) -> None:
        interval = self._interval or DEFAULT_FLUSH_INTERVAL_S
        while not self._stop.wait(interval):
            self.flush_quietly("interval")

    def flush_quietly(self, reason: str) -> FlushResult | None:
        """``flush()``, logging instead of raising (counts that could not be written stay buffered)."""
        try:
            result = self.flush()
        except Exception as exc:  # the database is down: keep counting, try again at the next flush
            log.warning(
                "telemetry_flush_failed",
                reason=reason,
                error=f"{type(exc).__name__}: {exc}".splitlines()[0],
                unflushed=sum(self.unflushed().values()),
            )
            return None
        if result.batches:
            log.debug("telemetry_flushed", reason=reason, keys=result.keys, requests=result.requests,
                      seconds=round(result.seconds, 4))
        return result

    def close(self) -> None:
        """Stop the periodic flusher and flush what is left (logged, not raised, if the database is down)."""
        with self._lock:
            self._closed = True
            thread = self._thread
        self._stop.set()
        if thread is not None:
            thread.join(timeout=30)
        self.flush_quietly("shutdown")


def delete_flushes_before(conn: Connection, cutoff: datetime, limit: int) -> int:
    """Delete up to ``limit`` of the oldest flush ids written before ``cutoff`` (for the ``retention`` job);
    a flush retried after that could be counted twice, so the retention is days, not seconds. Rows deleted."""
    return delete_before(conn, telemetry_flushes.c.flushed_at, cutoff, limit)


@dataclass(frozen=True)
class SummaryRow:
    """One ``http_error_summary`` row: how often a host answered ``status_code`` (0: a transport failure
    of ``error_type``)."""

    host: str
    status_code: int
    error_type: str
    count: int
    first_seen: datetime
    last_seen: datetime


def summary_rows(conn: Connection, limit: int = 1000) -> list[SummaryRow]:
    """The per-host HTTP summary (for the web console), by host then status; at most ``limit`` rows."""
    t = http_error_summary
    rows = conn.execute(
        select(t.c.host, t.c.status_code, t.c.error_type, t.c.count.label("n"), t.c.first_seen, t.c.last_seen)
        .order_by(t.c.host, t.c.status_code, t.c.error_type)
        .limit(limit)
    )
    return [
        SummaryRow(r.host, int(r.status_code), r.error_type or "", int(r.n), r.first_seen, r.last_seen)
        for r in rows
    ]
