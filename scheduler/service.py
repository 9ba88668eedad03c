"""The long-running scheduler of one replica (``scrapesched run``).

Every replica runs APScheduler 3 with the same triggers. APScheduler only decides *when*; a custom
executor hands each fire's nominal times to ``dispatch``, which claims the fire shard by shard (in this
replica's own shuffled order, one free slot at a time, so the fleet shares the shards) and runs it through
the ``Runner``. At start-up, fires missed while no replica was running are recorded and, with ``catchup``,
run once, coalesced.

A "fleet" thread runs the fleet tick (scheduler/tick.py) about once a second: ONE statement that reads the
pauses and pending triggers of ``scrapesched pause/trigger``, when the first running run's lease expires
and the abandoned runs nobody recovers, and every ``heartbeat_s`` also refreshes this replica's heartbeat
row. A paused fire is claimed and recorded ``skipped`` (``paused by ...``), never run; a pending trigger is
run by a replica with a free slot, through the same claim and lease as a scheduled fire. Only once a lease
has expired does the replica sweep (``runs.sweep_abandoned``: mark its run ``abandoned`` and, when the job
asks for recovery, re-run it once); it wakes up at the earliest expiry the tick reported, so an abandoned
run is marked at its lease ttl without polling, and an idle replica runs nothing but its ticks.
"""

from __future__ import annotations

import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.events import EVENT_JOB_MISSED, JobExecutionEvent
from apscheduler.executors.base import BaseExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import Engine

from scrapesched.config.errors import ConfigError
from scrapesched.config.log_setup import get_logger
from scrapesched.db.clock import server_time
from scrapesched.db.retry import read, transaction
from scrapesched.db.vocabulary import RunStatus, Trigger
from scrapesched.scheduler import control, replicas, runs, tick
from scrapesched.scheduler.outcome import OutcomeStatus
from scrapesched.scheduler.plan import PlannedJob
from scrapesched.scheduler.runner import Runner

log = get_logger("scheduler")

EXPIRY_WAKE_S = 0.02  # the tick after a lease's expiry runs this long after it (by the database's clock)
RECOVER_WITHIN_S = 600.0  # an abandoned run without a recovery run is recovered by any replica this long
SIDE_RUN_JOIN_S = 10.0  # at shutdown, how long a cancelled recovery or catch-up run may take to record its end
RECOVER_AFTER_S = 2.0  # ... once it has been abandoned this long (its sweeper's own recovery claims first)
MAX_EARLY_WAIT_S = 300.0
CLOCK_FRESH_S = 5.0  # a fleet tick's reading of the database clock this recent stands in for a read per fire
EARLY_LOG_S = 0.05  # a wait for the database clock this long is logged (shorter: the reading's own latency)
CONTROL_POLL_S = 1.0  # the fleet tick's shortest period (jittered up to 1.6x): controls reach every replica within 2 s
# On MariaDB/MySQL the tick after a heartbeat comes this much later: in 5 s, (5 - 0.25) / 1.3 ticks + 1 beat = 4.65.
BEAT_DELAYS_TICK_S = 0.25
HEARTBEAT_MIN_S, HEARTBEAT_MAX_S = 1.0, 5.0  # replica heartbeat: a third of the shortest lease ttl, in these


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
        self.known = {p.name: p for p in plan}  # a trigger may name a job that is not scheduled
        self.owner = runner.owner
        self._slots = threading.BoundedSemaphore(max_concurrent)
        self._pool = ThreadPoolExecutor(max_workers=max_concurrent + 2, thread_name_prefix="run")
        self._dispatchers: set[threading.Thread] = set()
        self._accepting = threading.Event()
        self._stopped = threading.Event()
        self._rng = random.Random()
        self._last_tick = time.monotonic()
        ttl = min((p.lease_ttl for p in self.plan.values()), default=30.0)
        self.heartbeat_s = max(HEARTBEAT_MIN_S, min(HEARTBEAT_MAX_S, ttl / 3))
        self._controls = control.Controls()
        self._inflight_triggers: set[int] = set()
        self._last_fire: dict[str, datetime] = {}
        self._db_clock: tuple[datetime, float] | None = None  # (database time, monotonic time after reading it)
        self._recovering: set[int] = set()
        self._side_runs: set[threading.Thread] = set()  # recovery and catch-up runs (threads of their own)
        recoverable = [name for name, p in self.plan.items() if p.recover]
        self._tick_statement = tick.statement(recoverable, RECOVER_WITHIN_S, RECOVER_AFTER_S)
        self._fleet = threading.Thread(target=self._fleet_loop, name="fleet", daemon=True)
        self._aps = BackgroundScheduler(timezone=UTC, executors={"default": _ClaimingExecutor(self)})

    # --- life cycle -------------------------------------------------------------------------------
    def start(self) -> None:
        replicas.register(self.engine, self.owner, self.heartbeat_s)
        self._apply_controls(self._tick(beat=False).controls, take_triggers=False)  # pauses known before any fire
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
        self._fleet.start()
        log.info("scheduler_started", instance=self.owner, jobs=sorted(self.plan))

    def alive(self) -> bool:
        """The APScheduler loop runs and the fleet thread ticked recently."""
        return bool(self._aps.running) and time.monotonic() - self._last_tick < 3 * CONTROL_POLL_S + 5

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
        while (self.runner.running_count() or self._inflight_triggers) and time.monotonic() < deadline:
            time.sleep(0.05)  # runs started outside a fire's thread (triggers, catch-up, recovery)
        if self.runner.running_count():
            self.runner.cancel_all("shutdown grace period over")
        self._pool.shutdown(wait=True, cancel_futures=True)
        for thread in list(self._side_runs):  # recoveries and catch-ups: cancelled above, recorded before exit
            thread.join(timeout=max(SIDE_RUN_JOIN_S, deadline - time.monotonic()))
        self._stopped.set()
        self._fleet.join(timeout=2)
        try:
            replicas.stopped(self.engine, self.owner)
        except Exception as exc:  # the row then turns silent: the truth, as far as anyone can tell
            log.warning("replica_stop_not_recorded", error=str(exc))
        log.info("scheduler_stopped", instance=self.owner)

    # --- fires --------------------------------------------------------------------------------------
    def dispatch(self, job: str, run_times: list[datetime]) -> None:
        """Handle one (possibly coalesced) fire: claim and run it shard by shard in a thread of its own."""
        if not self._accepting.is_set():
            return
        planned = self.plan[job]
        times = sorted(t.astimezone(UTC) for t in run_times)
        times = sorted(set(self._coalesced_away(planned, times[-1])) | set(times))
        thread = threading.Thread(target=self._fire, args=(planned, times), name=f"fire-{job}", daemon=True)
        self._dispatchers.add(thread)
        thread.start()

    def _coalesced_away(self, planned: PlannedJob, scheduled_for: datetime) -> list[datetime]:
        """The fires between this replica's previous fire of the job and this one, which APScheduler's
        coalescing dropped without a word (the replica was frozen or starved): they get recorded ``skipped``
        like any coalesced fire (a no-op where another replica claimed them). Called from APScheduler's
        thread only."""
        previous = self._last_fire.get(planned.name)
        self._last_fire[planned.name] = max(previous or scheduled_for, scheduled_for)
        if previous is None or scheduled_for <= previous:
            return []
        return planned.fires_between(previous, scheduled_for)[:-1]

    def _wait_for_database_time(self, scheduled_for: datetime) -> None:
        """A replica whose clock runs fast fires early: wait until the database's clock reaches the fire,
        so a fire is never claimed before its time (and never collides with the previous one's lease)."""
        early = (scheduled_for - self._database_time()).total_seconds()
        if early > 0:
            if early >= EARLY_LOG_S:
                log.info("waiting_for_database_clock", seconds=round(early, 3),
                         scheduled_for=scheduled_for.isoformat())
            self._stopped.wait(min(early, MAX_EARLY_WAIT_S))

    def _database_time(self) -> datetime:
        """The database's clock, never ahead of it: from the last fleet tick's reading when that is fresh (no
        statement per fire; the reading was taken before the tick returned, so adding the time elapsed since
        gives a lower bound), else read."""
        known = self._db_clock
        if known is not None and (elapsed := time.monotonic() - known[1]) < CLOCK_FRESH_S:
            return known[0] + timedelta(seconds=elapsed)
        return transaction(self.engine, server_time, what="read the database clock")

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
            paused = self._controls.paused(planned.name, shard)
            if paused is not None:
                self._record_paused(planned, shard, scheduled_for, trigger, paused)
                continue
            got_slot = False
            while not (got_slot := self._slots.acquire(timeout=0.5)):
                if not self._accepting.is_set():
                    return
                if trigger == Trigger.SCHEDULE and _later_than(scheduled_for, planned.misfire_grace):
                    break  # every slot stayed busy: a misfire, recorded (a no-op where another replica ran it)
            if not got_slot:
                reason = f"misfire: no free slot within misfire_grace ({planned.misfire_grace:g} s)"
                self._record_skipped(planned, shard, scheduled_for, reason)
                continue
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

    def _record_paused(
        self, planned: PlannedJob, shard: str, when: datetime, trigger: str, paused: control.Pause
    ) -> None:
        got = runs.claim(
            self.engine,
            planned.name,
            shard,
            when,
            trigger,
            self.owner,
            planned.lease_ttl,
            status=RunStatus.SKIPPED,
            error=f"paused {paused.describe()}",
        )
        if isinstance(got, runs.Claim):
            log.info("fire_paused", job=planned.name, shard=shard, scheduled_for=when.isoformat())

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
        now = read(self.engine, server_time, what="catch-up clock")
        for planned in self.plan.values():
            # Fires after ``now`` and before APScheduler's first one (catch-up can take seconds) are the
            # first fire's coalesced ones (``_coalesced_away``), so none goes unrecorded.
            self._last_fire[planned.name] = now
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
                paused = self._controls.paused(planned.name, shard)
                if paused is not None:
                    for when in missed:
                        self._record_skipped(planned, shard, when, f"paused {paused.describe()}")
                    continue
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
                    self._side_run(self._catch_up_one, planned, shard, newest)  # not the pool: see _submit_recovery

    def _catch_up_one(self, planned: PlannedJob, shard: str, when: datetime) -> None:
        try:
            with self._slots:
                self.runner.execute(planned, shard, when, Trigger.SCHEDULE)
        except Exception as exc:  # database trouble: the fire stays recorded as claimed or not at all
            log.warning("catch_up_failed", job=planned.name, shard=shard, error=str(exc))

    # --- abandoned runs --------------------------------------------------------------------------------
    def _sweep(self, found: tick.Tick) -> None:
        """Act on what a tick found: mark expired runs abandoned (``runs.sweep_abandoned``) and recover them
        and the abandoned runs whose sweeper died before its recovery claimed the fire."""
        if found.expired:
            for run in runs.sweep_abandoned(self.engine, self.owner):
                log.warning("run_abandoned", job=run.job, shard=run.shard, run_id=run.run_id, owner=run.owner)
                self._submit_recovery(run)
        for run in found.unrecovered:
            self._submit_recovery(run)

    def _submit_recovery(self, run: runs.Abandoned) -> None:
        planned = self.plan.get(run.job)
        if planned is None or not planned.recover or run.trigger == Trigger.RECOVERY or run.run_id in self._recovering:
            return
        self._recovering.add(run.run_id)
        # A thread of its own, not the pool: a recovery waiting for a slot must not hold a pool worker that
        # the run owning the slot needs (with enough recoveries queued, that deadlocked the replica).
        self._side_run(self._recover, planned, run)

    def _side_run(self, target: Any, *args: Any) -> None:
        def run() -> None:
            try:
                target(*args)
            finally:
                self._side_runs.discard(threading.current_thread())

        thread = threading.Thread(target=run, name=f"side-{getattr(target, '__name__', 'run')}", daemon=True)
        self._side_runs.add(thread)
        thread.start()

    def _recover(self, planned: PlannedJob, run: runs.Abandoned) -> None:
        try:
            if self._controls.paused(run.job, run.shard) is not None:
                log.info("recovery_paused", job=run.job, shard=run.shard, scheduled_for=run.scheduled_for.isoformat())
                return
            while not self._slots.acquire(timeout=0.5):
                if not self._accepting.is_set():
                    return
            if not self._accepting.is_set():
                self._slots.release()
                return
            try:
                log.info("recovering", job=run.job, shard=run.shard, scheduled_for=run.scheduled_for.isoformat())
                self.runner.execute(
                    planned, run.shard, run.scheduled_for, Trigger.RECOVERY, lease_wait=planned.lease_ttl
                )
            finally:
                self._slots.release()
        except Exception as exc:  # database trouble: any replica's next sweep finds it unrecovered
            log.warning("recovery_failed", job=run.job, shard=run.shard, error=str(exc))
        finally:
            self._recovering.discard(run.run_id)


    # --- the fleet tick: controls, lease expiries and this replica's heartbeat -------------------------------
    def _tick(self, *, beat: bool) -> tick.Tick:
        heartbeat = None
        if beat:
            heartbeat = replicas.beat(self.owner, [replicas.RunningRun(*r) for r in self.runner.running_runs()])
        found = tick.tick(self.engine, self._tick_statement, heartbeat)
        now = found.now if found.now.tzinfo is not None else found.now.replace(tzinfo=UTC)
        self._db_clock = (now, time.monotonic())
        return found

    def _tick_period(self) -> float:
        return CONTROL_POLL_S * (1.0 + 0.6 * self._rng.random())

    def _fleet_loop(self) -> None:
        """One tick every 1 to 1.6 ``CONTROL_POLL_S`` (jittered, so replicas spread out: under one statement a
        second per replica, beats included), and one just after the
        earliest lease expiry the last tick reported, when that comes first."""
        next_beat = time.monotonic() + self.heartbeat_s
        next_tick = time.monotonic() + self._tick_period()
        expiry_at: float | None = None  # monotonic time of the earliest lease expiry known
        while not self._stopped.wait(max(0.0, min(next_tick, expiry_at or next_tick) - time.monotonic())):
            self._last_tick = now = time.monotonic()
            next_tick = now + self._tick_period()
            beat = now >= next_beat  # also while draining: a stopping replica is not silent
            if beat:
                next_beat = now + self.heartbeat_s
                if tick.beat_costs_a_round_trip(self.engine):  # a statement of its own: the next tick waits a
                    next_tick += BEAT_DELAYS_TICK_S  # little longer, so beats included it stays under 1 a second
            accepting = self._accepting.is_set()
            try:
                found = self._tick(beat=beat)
            except Exception as exc:  # database briefly unavailable: the last known controls stay
                log.warning("fleet_tick_failed", error=str(exc))
                expiry_at = None  # the next tick, a second away, learns it again
                continue
            to_expiry = found.seconds_to_expiry()
            expiry_at = None if to_expiry is None or to_expiry <= 0 else time.monotonic() + to_expiry + EXPIRY_WAKE_S
            self._apply_controls(found.controls, take_triggers=accepting)
            if not accepting:
                continue
            try:
                self._sweep(found)
            except Exception as exc:  # database briefly unavailable: the next tick sees the expiry again
                log.warning("sweep_failed", error=str(exc))

    def _apply_controls(self, new: control.Controls, *, take_triggers: bool) -> None:
        old, self._controls = self._controls, new
        for p in set(new.pauses) - set(old.pauses):
            log.info("pause_seen", job=p.job, shard=p.shard, paused_by=p.paused_by, reason=p.reason)
        lifted = {(p.job, p.shard) for p in old.pauses} - {(p.job, p.shard) for p in new.pauses}
        for job, shard in sorted(lifted):
            log.info("pause_lifted", job=job, shard=shard)
        if take_triggers:
            self._take_triggers(new)

    def _take_triggers(self, controls: control.Controls) -> None:
        """Start every pending trigger this replica knows the job of, one free slot each."""
        for t in controls.triggers:
            planned = self.known.get(t.job)
            if t.trigger_id in self._inflight_triggers or planned is None or controls.paused(t.job, t.shard):
                continue
            if not self._slots.acquire(blocking=False):
                return
            self._inflight_triggers.add(t.trigger_id)
            self._pool.submit(self._run_trigger, planned, t)

    def _run_trigger(self, planned: PlannedJob, t: control.PendingTrigger) -> None:
        try:
            try:
                params = planned.run_params(t.params)
            except ConfigError as exc:  # this replica's config disagrees with the one that asked: never runs here
                log.error("trigger_refused", job=t.job, shard=t.shard, error=str(exc))
                control.claimed(self.engine, t.trigger_id)
                return
            outcome = self.runner.execute(planned, t.shard, t.requested_at, Trigger.MANUAL, params)
            if outcome.status == OutcomeStatus.LOST:
                log.info("trigger_claimed_by_other", job=t.job, shard=t.shard, holder=outcome.holder)
            control.claimed(self.engine, t.trigger_id)  # claimed here or elsewhere: nothing left to do
        except Exception as exc:  # not claimed (database trouble): the trigger stays pending
            log.warning("trigger_failed", job=t.job, shard=t.shard, error=str(exc))
        finally:
            self._inflight_triggers.discard(t.trigger_id)
            self._slots.release()


def _later_than(scheduled_for: datetime, grace: float) -> bool:
    """The fire is more than ``grace`` seconds late by this replica's clock."""
    return (datetime.now(UTC) - scheduled_for).total_seconds() > grace


def _never_called() -> None:  # pragma: no cover - the claiming executor never calls job functions
    raise AssertionError("fires go through SchedulerService.dispatch")
