"""Executing one fire of one job shard: claim, lease, heartbeat, run, fenced finish, release.

The same path serves scheduled fires, ``run-once`` (trigger ``manual``) and recovery re-runs. A fire
whose lease cannot be taken never runs: it is recorded ``skipped`` (overlap) or ``failed`` (lock server
unavailable), never run unguarded.

Every log line of a fire, the job's and the scrapers' below it included, carries ``job``, ``shard``,
``trigger``, ``instance`` and ``scheduled_for``, then ``run_id`` once claimed and ``fencing_token`` once
leased: the runner binds them once in the log context (``structlog.contextvars.bound_contextvars``).

When a leased run has been recorded, the runner calls the ``on_run_end`` hooks the app wiring gave it
(the telemetry flush, for one); the scheduler itself knows nothing of what they do.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from functools import partial
from typing import Any

from sqlalchemy import Connection, Engine
from structlog.contextvars import bound_contextvars

from scrapesched.config.log_setup import get_logger
from scrapesched.config.redact import Redactor
from scrapesched.config.settings import Settings
from scrapesched.db.retry import single
from scrapesched.db.vocabulary import RunStatus, Trigger
from scrapesched.locks import FencedOut, Lease, LockBackend, LockError, fenced
from scrapesched.scheduler import runs
from scrapesched.scheduler.context import RunCancelled, RunContext, RunDeferred
from scrapesched.scheduler.heartbeats import RunHeartbeats
from scrapesched.scheduler.metrics import Metrics
from scrapesched.scheduler.outcome import Outcome, OutcomeStatus
from scrapesched.scheduler.plan import PlannedJob
from scrapesched.scheduler.runs import lease_name

log = get_logger("scheduler.runner")

RunHook = Callable[[RunContext[Any]], None]
"""Called with the run's context after a leased run ended and was recorded, before its lease is released.
A hook that raises is logged; it never changes the run's outcome."""


class Runner:
    """Runs fires for one replica; thread-safe, one instance per process.

    ``resources`` is handed to every run as ``ctx.resources`` (the clients the app wiring built once);
    ``on_run_end`` hooks run after every leased run.
    """

    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        locks: LockBackend,
        resources: object,
        metrics: Metrics,
        redactor: Redactor,
        shutdown: threading.Event | None = None,
        on_run_end: Sequence[RunHook] = (),
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.locks = locks
        self.resources = resources
        self.on_run_end = tuple(on_run_end)
        self.metrics = metrics
        self.redactor = redactor
        self.owner = settings.instance_id
        self.shutdown = shutdown or threading.Event()
        self._running: dict[int, RunContext[object]] = {}
        self._guard = threading.Lock()
        self._heartbeats = RunHeartbeats()

    def cancel_all(self, reason: str) -> None:
        """Tell every running job to stop (shutdown grace period over, ``run-once`` interrupted); a run that
        stops for it is recorded failed with the error ``cancelled: <reason>``."""
        with self._guard:
            for ctx in self._running.values():
                ctx.stop_reason = ctx.stop_reason or reason
                ctx.stop_event.set()
        log.warning("runs_cancelled", reason=reason)

    def running_count(self) -> int:
        with self._guard:
            return len(self._running)

    def running_runs(self) -> list[tuple[int, str, str]]:
        """(run id, job, shard) of every run executing now, oldest claim first (for the replica heartbeat)."""
        with self._guard:
            return [(ctx.run_id, ctx.job, ctx.shard) for _, ctx in sorted(self._running.items())]

    def running_progress(self) -> dict[str, tuple[int, int | None]]:
        """The progress the running jobs reported (``RunContext.report_progress``), by ``shard: stream``."""
        with self._guard:
            contexts = list(self._running.values())
        return {f"{ctx.shard}: {stream}": value for ctx in contexts for stream, value in ctx.progress.items()}

    def execute(
        self,
        planned: PlannedJob,
        shard: str,
        scheduled_for: datetime,
        trigger: str,
        params: dict[str, Any] | None = None,
        *,
        lease_wait: float = 0.0,
    ) -> Outcome:
        with bound_contextvars(
            job=planned.name,
            shard=shard,
            trigger=str(trigger),
            instance=self.owner,
            scheduled_for=scheduled_for.isoformat(),
        ):
            got = runs.claim(
                self.engine,
                planned.name,
                shard,
                scheduled_for,
                trigger,
                self.owner,
                planned.lease_ttl,
                identify=trigger != Trigger.SCHEDULE,  # scheduled fires need not know who won
            )
            if isinstance(got, runs.Taken):
                self.metrics.claims_lost.labels(planned.name).inc()
                owner = got.owner or "another replica"
                log.info("claimed_by_other", owner=got.owner, status=got.status)
                return Outcome(OutcomeStatus.LOST, detail=f"claimed by {owner}", holder=owner)
            with bound_contextvars(run_id=got.run_id):
                return self._lease_and_run(planned, got, params, lease_wait)

    def _lease_and_run(
        self, planned: PlannedJob, claim: runs.Claim, params: dict[str, Any] | None, lease_wait: float
    ) -> Outcome:
        job, shard, trigger = planned.name, claim.shard, claim.trigger
        name = lease_name(job, shard)
        if planned.overlap == "allow":
            name = f"{name}@{claim.scheduled_for.isoformat()}:{trigger}"
        wait = lease_wait
        if planned.overlap == "buffer_one" and not lease_wait:
            wait = planned.misfire_grace
        waited = False
        try:
            lease = self.locks.acquire(name, planned.lease_ttl, wait=0)
            buffered_elsewhere = (
                lease is None
                and planned.overlap == "buffer_one"
                and runs.buffered_waiting(self.engine, job, shard, claim.run_id)
            )
            if lease is None and wait > 0 and not buffered_elsewhere:
                waited = True
                lease = self._wait_for_lease(claim, name, planned.lease_ttl, wait)
        except LockError as exc:
            reason = self.redactor(f"lock backend unavailable, fire not run: {exc}")
            runs.end_unleased(self.engine, claim, RunStatus.FAILED, reason)
            self.metrics.runs.labels(job, RunStatus.FAILED).inc()
            log.error("lease_unavailable", error=reason)
            return Outcome(OutcomeStatus.FAILED, claim.run_id, reason)
        if lease is None:
            info = self.locks.holder(name)
            holder = info.holder if info else "another run"
            until = info.until if info else None
            reason = f"overlap: previous fire still running (lease held by {holder}" + (
                f" until {until.isoformat()})" if until else ")"
            )
            runs.end_unleased(self.engine, claim, RunStatus.SKIPPED, reason)
            self.metrics.runs.labels(job, RunStatus.SKIPPED).inc()
            log.info("fire_skipped", reason=reason)
            return Outcome(OutcomeStatus.BUSY, claim.run_id, reason, holder=holder, until=until)
        with bound_contextvars(fencing_token=lease.token):
            return self._run_leased(
                planned, claim, lease, params if params is not None else planned.params, attach=waited
            )

    def _wait_for_lease(self, claim: runs.Claim, name: str, ttl: float, wait: float) -> Lease | None:
        """Wait up to ``wait`` seconds for the lease, heartbeating the claim meanwhile (a waiting run is alive)."""
        deadline = time.monotonic() + wait
        while (left := deadline - time.monotonic()) > 0 and not self.shutdown.is_set():
            if not runs.touch_waiting(self.engine, claim):
                return None
            lease = self.locks.acquire(name, ttl, wait=min(ttl / 3, left))
            if lease is not None:
                return lease
        return None

    def _run_leased(
        self,
        planned: PlannedJob,
        claim: runs.Claim,
        lease: Lease,
        params: dict[str, Any],
        *,
        attach: bool,
    ) -> Outcome:
        """Run the job under ``lease``. A run that waited for its lease is attached to it first (its start is
        now); one that took it at once records its token with its first heartbeat, write or end."""
        job = planned.name
        stop = threading.Event()
        started = time.monotonic()
        status, error = RunStatus.FAILED, None
        ctx: RunContext[object] = RunContext(
            job=job,
            shard=claim.shard,
            params=dict(params),
            scheduled_for=claim.scheduled_for,
            trigger=claim.trigger,
            run_id=claim.run_id,
            owner=self.owner,
            settings=self.settings,
            engine=self.engine,
            lease=lease,
            stop_event=stop,
            resources=self.resources,
            write_guard=lambda conn: self._guard_write(conn, claim, lease),
            completer=lambda conn, counters: self._complete(conn, claim, lease, counters),
        )
        with self._guard:
            self._running[claim.run_id] = ctx
        self.metrics.in_flight.labels(job).inc()
        try:
            if attach and not runs.attach_lease(self.engine, claim, lease.token):
                raise RunCancelled("run was taken over before it started")
            # beaten in a copy of this context: its lines carry the run's log context
            self._heartbeats.add(claim.run_id, planned.lease_ttl / 3, partial(self._beat, ctx, claim, lease))
            log.info("run_started")
            planned.spec.function()(ctx)
            status = RunStatus.SUCCEEDED
        except RunDeferred as exc:  # a budget is spent: the job saved its cursor, the next fire continues
            status, error = RunStatus.DEFERRED, self.redactor(str(exc))
        except RunCancelled as exc:
            error = f"cancelled: {exc}"
        except FencedOut as exc:
            error = f"fenced out: {exc}"
        except Exception as exc:  # the job's own failure: recorded, never kills the scheduler
            error = self.redactor(f"{type(exc).__name__}: {exc}")
        finally:
            stop.set()
            self._heartbeats.discard(claim.run_id)
        if ctx.completed:  # the job's final write committed the run's completion with it: nothing is undone
            if error is not None:
                log.warning("error_after_completion", error=error)
            status, error = RunStatus.SUCCEEDED, None
        if lease.lost:  # the completion below is fenced and refused for a stale run: the database decides
            self.metrics.lease_losses.labels(job).inc()
        recorded = ctx.completed or self._finish(claim, lease, status, error, ctx)
        self._run_end_hooks(ctx)
        try:
            lease.release()
        except LockError as exc:
            log.warning("lease_release_failed", error=str(exc))
        with self._guard:
            self._running.pop(claim.run_id, None)
        self.metrics.in_flight.labels(job).dec()
        elapsed = time.monotonic() - started
        if not recorded:
            log.warning("completion_refused", status=status, reason="run no longer ours (abandoned or fenced)")
            return Outcome(OutcomeStatus.FAILED, claim.run_id, "completion refused: run no longer ours")
        self.metrics.runs.labels(job, status).inc()
        self.metrics.duration.labels(job).observe(elapsed)
        for name, value in ctx.counters.as_dict().items():
            self.metrics.run_counters[name].labels(job).inc(value)
        if status == RunStatus.SUCCEEDED:  # its freshness is read from job_runs (metrics.FreshnessCollector)
            log.info("run_succeeded", seconds=round(elapsed, 3), **ctx.counters.as_dict())
        elif status == RunStatus.DEFERRED:
            log.warning("run_deferred", seconds=round(elapsed, 3), error=error, **ctx.counters.as_dict())
        else:
            log.error("run_failed", seconds=round(elapsed, 3), error=error)
        return Outcome(OutcomeStatus(status.value), claim.run_id, error or "")

    def _run_end_hooks(self, ctx: RunContext[object]) -> None:
        for hook in self.on_run_end:
            try:
                hook(ctx)
            except Exception as exc:  # a hook's trouble is logged, never the run's
                log.warning("run_end_hook_failed", hook=getattr(hook, "__qualname__", repr(hook)),
                            error=self.redactor(f"{type(exc).__name__}: {exc}"))

    @staticmethod
    def _guard_write(conn: Connection, claim: runs.Claim, lease: Lease) -> None:
        fenced(conn, lease.name, lease.token)
        if not runs.still_ours(conn, claim, lease.token):
            raise RunCancelled("run no longer ours (abandoned after missed heartbeats)")

    @staticmethod
    def _complete(conn: Connection, claim: runs.Claim, lease: Lease, counters: dict[str, int]) -> None:
        """Inside the job's final write transaction, in place of its write guard: the run ``succeeded``."""
        if not runs.finish(conn, claim, lease.name, lease.token, RunStatus.SUCCEEDED, None, counters):
            fenced(conn, lease.name, lease.token)  # FencedOut, naming the newer token, if that was the reason
            raise RunCancelled("run no longer ours (abandoned after missed heartbeats)")

    def _finish(
        self, claim: runs.Claim, lease: Lease, status: str, error: str | None, ctx: RunContext[object]
    ) -> bool:
        def work(conn: Connection) -> bool:  # ONE fenced statement: False once the run is no longer ours
            return runs.finish(conn, claim, lease.name, lease.token, status, error, ctx.counters.as_dict())

        return single(self.engine, work, attempts=self.settings.db_retry_attempts, what="finish run")

    def _beat(self, ctx: RunContext[object], claim: runs.Claim, lease: Lease) -> bool:
        """One heartbeat of the run row (``RunHeartbeats`` calls it every ``ttl / 3``); False once there is
        nothing more to keep alive. It checks first: a lost lease stops the run without a heartbeat, and the
        heartbeat itself checks that no newer token was issued and is refused for a run already stale, so a
        replica resumed after a freeze never revives a run the fleet has given up on."""
        stop = ctx.stop_event
        if stop.is_set() or ctx.completed:  # the final write recorded the end: nothing left to keep alive
            return False
        if lease.lost:
            log.warning("lease_lost", reason="keep-alive failed; run stopped")
            ctx.stop_reason = ctx.stop_reason or "lease lost"
            stop.set()
            return False
        try:
            alive = runs.heartbeat(self.engine, claim, lease.name, lease.token)
        except Exception as exc:  # database trouble: the lease keep-alive decides about the run
            log.warning("heartbeat_failed", error=self.redactor(str(exc)))
            return True
        if not alive and not ctx.completed:
            log.warning("run_taken_over")
            ctx.stop_reason = ctx.stop_reason or "run no longer ours (abandoned, fenced or stale)"
            stop.set()
            return False
        return True
