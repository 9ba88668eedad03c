"""The long-running scheduler of one replica (``scrapesched run``).

Every replica runs APScheduler 3 with the same triggers. APScheduler only decides *when*; a custom
executor hands each fire's nominal times to ``dispatch``, which claims the fire shard by shard (in this
replica's own shuffled order, one free slot at a time, so the fleet shares the shards) and runs it through
the ``Runner``. A sweeper marks runs with stale heartbeats ``abandoned`` and re-runs them once when the job
asks for recovery. At start-up, fires missed while no replica was running are recorded and, with
``catchup``, run once, coalesced.
"""

from __future__ import annotations

import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import structlog
from apscheduler.events import EVENT_JOB_MISSED, JobExecutionEvent
from apscheduler.executors.base import BaseExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import Engine

from scrapesched.db.clock import server_time
from scrapesched.db.vocabulary import RunStatus, Trigger
from scrapesched.scheduler import runs
from scrapesched.scheduler.plan import PlannedJob
from scrapesched.scheduler.runner import Runner

log = structlog.get_logger("scheduler")

SWEEP_EVERY_MAX_S = 1.0  # abandoned runs are noticed within a second of their lease ttl
MAX_EARLY_WAIT_S = 300.0


class _ClaimingExecutor(BaseExecutor):  # type: ignore[misc]
    """APScheduler executor that passes the fire's nominal run times to the service."""

    def __init__(self, service: SchedulerService) -> None:
        super().__init__()
        self._service = service

    def _do_submit_job(self, job: Any, run_times: list[datetime]) -> None:
        self._service.dispatch(job.id, run_times)
        self._run_job_success(job.id, [])  # overlap is ours to police (leases), not APScheduler's


class SchedulerService:
    """One replica's scheduler loop, sweeper and worker slots."""

    def __init__(self, engine: Engine, runner: Runner, plan: list[PlannedJob], max_concurrent: int) -> None:
        self.engine = engine
        self.runner = runner
        self.plan = {p.name: p for p in plan if p.scheduled}
        self.owner = runner.owner
        self._slots = threading.BoundedSemaphore(max_concurrent)
        self._pool = ThreadPoolExecutor(max_workers=max_concurrent + 2, thread_name_prefix="run")
        self._dispatchers: set[threading.Thread] = set()
        self._accepting = threading.Event()
        self._stopped = threading.Event()
        self._rng = random.Random()
        self._last_tick = time.monotonic()
        ttl = min((p.lease_ttl for p in self.plan.values()), default=30.0)
        self._sweep_every = max(0.2, min(SWEEP_EVERY_MAX_S, ttl / 4))
        self._aps = BackgroundScheduler(timezone=UTC, executors={"default": _ClaimingExecutor(self)})
        self._sweeper = threading.Thread(target=self._sweep_loop, name="sweeper", daemon=True)

    # --- life cycle -------------------------------------------------------------------------------
    def start(self) -> None:
        self._accepting.set()
        self.catch_up()
        for p in self.plan.values():
            self._aps.add_job(
                _never_called,
                trigger=p.trigger,
                id=p.name,
                name=p.name,
                misfire_grace_time=max(1, int(p.misfire_grace)),
                coalesce=True,
                max_instances=1_000_000,
                replace_existing=True,
            )
        self._aps.add_listener(self._on_missed, EVENT_JOB_MISSED)
        self._aps.start()
        self._sweeper.start()
        log.info("scheduler_started", instance=self.owner, jobs=sorted(self.plan))

    def alive(self) -> bool:
        """The APScheduler loop runs and the sweeper ticked recently."""
        return bool(self._aps.running) and time.monotonic() - self._last_tick < 3 * self._sweep_every + 5

    def stop(self, grace: float) -> None:
        """Stop taking fires; let running jobs finish within ``grace`` seconds, then cancel them."""
        if not self._accepting.is_set():
            return
        self._accepting.clear()
        if self._aps.running:
            self._aps.shutdown(wait=False)
        deadline = time.monotonic() + grace
        log.info("draining", running=self.runner.running_count(), grace_s=grace)
        for thread in list(self._dispatchers):
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
        if self.runner.running_count():
            self.runner.cancel_all("shutdown grace period over")
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._stopped.set()
        self._sweeper.join(timeout=2)
        log.info("scheduler_stopped", instance=self.owner)

    # --- fires --------------------------------------------------------------------------------------
    def dispatch(self, job: str, run_times: list[datetime]) -> None:
        """Handle one (possibly coalesced) fire: claim and run it shard by shard in a thread of its own."""
        if not self._accepting.is_set():
            return
        planned = self.plan[job]
        times = sorted(t.astimezone(UTC) for t in run_times)
        thread = threading.Thread(target=self._fire, args=(planned, times), name=f"fire-{job}", daemon=True)
        self._dispatchers.add(thread)
        thread.start()

    def _wait_for_database_time(self, scheduled_for: datetime) -> None:
        """A replica whose clock runs fast fires early: wait until the database's clock reaches the fire,
        so a fire is never claimed before its time (and never collides with the previous one's lease)."""
        with self.engine.connect() as conn:
            early = (scheduled_for - server_time(conn)).total_seconds()
        if early > 0:
            log.info("waiting_for_database_clock", seconds=round(early, 3), scheduled_for=scheduled_for.isoformat())
            self._stopped.wait(min(early, MAX_EARLY_WAIT_S))

    def _fire(self, planned: PlannedJob, times: list[datetime]) -> None:
        try:
            scheduled_for = times[-1]
            self._wait_for_database_time(scheduled_for)
            for missed in times[:-1]:
                self._record_missed(planned, missed, f"coalesced into the fire of {scheduled_for.isoformat()}")
            self.run_shards(planned, scheduled_for, Trigger.SCHEDULE)
        except Exception:
            log.exception("fire_failed", job=planned.name)
        finally:
            self._dispatchers.discard(threading.current_thread())

    def run_shards(self, planned: PlannedJob, scheduled_for: datetime, trigger: str) -> None:
        """Claim and run every shard of a fire, one free slot at a time, in this replica's own order."""
        shards = list(planned.shards)
        self._rng.shuffle(shards)
        futures = []
        for shard in shards:
            while not self._slots.acquire(timeout=0.5):
                if not self._accepting.is_set():
                    return
            if not self._accepting.is_set():
                self._slots.release()
                return
            futures.append(self._pool.submit(self._run_in_slot, planned, shard, scheduled_for, trigger))
        for future in futures:
            future.result()

    def _run_in_slot(self, planned: PlannedJob, shard: str, scheduled_for: datetime, trigger: str) -> None:
        try:
            self.runner.execute(planned, shard, scheduled_for, trigger)
        except Exception:
            log.exception("run_crashed", job=planned.name, shard=shard)
        finally:
            self._slots.release()

    def _record_skipped(self, planned: PlannedJob, shard: str, when: datetime, reason: str) -> None:
        """A fire that will not run, made visible in ``job_runs`` (a no-op if a replica recorded it)."""
        runs.claim(
            self.engine,
            planned.name,
            shard,
            when,
            Trigger.SCHEDULE,
            self.owner,
            planned.lease_ttl,
            status=RunStatus.SKIPPED,
            error=reason,
        )

    def _record_missed(self, planned: PlannedJob, when: datetime, reason: str) -> None:
        for shard in planned.shards:
            self._record_skipped(planned, shard, when, reason)

    def _on_missed(self, event: JobExecutionEvent) -> None:
        planned = self.plan.get(event.job_id)
        if planned is not None:
            when = event.scheduled_run_time.astimezone(UTC)
            log.warning("fire_missed", job=planned.name, scheduled_for=when.isoformat())
            self._record_missed(planned, when, "misfire: later than misfire_grace")

    def catch_up(self) -> None:
        """Record fires missed while no replica ran; run the newest once (coalesced) when allowed."""
        with self.engine.connect() as conn:
            now = server_time(conn)
        for planned in self.plan.values():
            last = runs.last_scheduled(self.engine, planned.name, planned.shards)
            for shard in planned.shards:
                if shard not in last:
                    continue
                missed = planned.fires_between(last[shard], now)
                if not missed:
                    continue
                newest = missed[-1]
                late = (now - newest).total_seconds()
                run_newest = planned.catchup or late <= planned.misfire_grace
                for when in missed[:-1] if run_newest else missed:
                    reason = (
                        f"missed while no replica ran; coalesced into {newest.isoformat()}"
                        if run_newest
                        else "missed while no replica ran; catchup is off"
                    )
                    self._record_skipped(planned, shard, when, reason)
                if run_newest:
                    log.info(
                        "catching_up",
                        job=planned.name,
                        shard=shard,
                        missed=len(missed),
                        scheduled_for=newest.isoformat(),
                    )
                    self._pool.submit(self._catch_up_one, planned, shard, newest)

    def _catch_up_one(self, planned: PlannedJob, shard: str, when: datetime) -> None:
        with self._slots:
            self.runner.execute(planned, shard, when, Trigger.SCHEDULE)

    # --- abandoned runs --------------------------------------------------------------------------------
    def _sweep_loop(self) -> None:
        while not self._stopped.wait(self._sweep_every * (0.5 + 0.5 * self._rng.random())):
            self._last_tick = time.monotonic()
            if not self._accepting.is_set():
                continue
            try:
                for run in runs.sweep_abandoned(self.engine, self.owner):
                    log.warning("run_abandoned", job=run.job, shard=run.shard, run_id=run.run_id, owner=run.owner)
                    planned = self.plan.get(run.job)
                    if planned is not None and planned.recover and run.trigger != Trigger.RECOVERY:
                        self._pool.submit(self._recover, planned, run)
            except Exception as exc:  # database briefly unavailable: try again next tick
                log.warning("sweep_failed", error=str(exc))

    def _recover(self, planned: PlannedJob, run: runs.Abandoned) -> None:
        with self._slots:
            log.info("recovering", job=run.job, shard=run.shard, scheduled_for=run.scheduled_for.isoformat())
            self.runner.execute(planned, run.shard, run.scheduled_for, Trigger.RECOVERY, lease_wait=planned.lease_ttl)


def _never_called() -> None:  # pragma: no cover - the claiming executor never calls job functions
    raise AssertionError("fires go through SchedulerService.dispatch")
