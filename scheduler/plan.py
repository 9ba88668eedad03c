"""The schedule plan: the registry's jobs joined with the config's ``[jobs.NAME]`` tables, validated.

Built once at start-up; any bad cron expression, time zone, unknown job or unknown parameter is a
ConfigError (exit 2) naming it. Interval schedules are anchored at 2000-01-01 UTC so that every replica,
whenever it started, computes the same fire times.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from scrapesched.config.errors import ConfigError
from scrapesched.config.settings import JobSettings, Settings
from scrapesched.scheduler.registry import JobSpec, Registry

INTERVAL_ANCHOR = datetime(2000, 1, 1, tzinfo=UTC)
MAX_ENUMERATED_FIRES = 1000


@dataclass(frozen=True)
class PlannedJob:
    """A job with its effective schedule, shards, parameters and policies."""

    spec: JobSpec
    trigger: BaseTrigger | None
    schedule: str
    scheduled: bool
    shards: list[str]
    params: dict[str, Any]
    lease_ttl: float
    misfire_grace: float
    catchup: bool
    overlap: str
    recover: bool

    @property
    def name(self) -> str:
        return self.spec.name

    def run_params(self, given: Mapping[str, str]) -> dict[str, Any]:
        """The parameters of a manual run (``run-once``, ``trigger``): the planned ones overlaid with ``given``
        (``KEY=VALUE`` strings, coerced); an unknown or mistyped parameter is a ConfigError naming it."""
        coerced = self.spec.resolve_params(given)
        return {**self.params, **{k: coerced[k] for k in given}}

    def next_fire(self, after: datetime) -> datetime | None:
        if self.trigger is None:
            return None
        fire = self.trigger.get_next_fire_time(None, after)
        return fire.astimezone(UTC) if fire else None

    def fires_between(self, start: datetime, end: datetime) -> list[datetime]:
        """Nominal fire times in (start, end], oldest first (at most MAX_ENUMERATED_FIRES, the newest)."""
        out: list[datetime] = []
        if self.trigger is None:
            return out
        # The first fire after ``start`` comes from ``start`` as "now" with no previous fire: an interval
        # trigger adds its interval to a previous fire, so an instant that is not a fire (a catch-up's clock
        # reading) would shift every fire after it off the schedule.
        current, previous = start, None
        while True:
            fire = self.trigger.get_next_fire_time(previous, current + timedelta(microseconds=1))
            if fire is None or fire.astimezone(UTC) > end:
                break
            current = previous = fire.astimezone(UTC)
            out.append(current)
            if len(out) > MAX_ENUMERATED_FIRES:
                out.pop(0)
        return out


def _trigger(name: str, cfg: JobSettings, spec: JobSpec) -> tuple[BaseTrigger | None, str]:
    try:
        tz = ZoneInfo(cfg.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"job {name}: unknown time zone {cfg.timezone!r}") from None
    cron = cfg.cron or (spec.cron if cfg.interval is None else None)
    interval = cfg.interval or (spec.interval if cron is None else None)
    if cron:
        try:
            return CronTrigger.from_crontab(cron, timezone=tz), f"cron {cron} ({cfg.timezone})"
        except ValueError as exc:
            raise ConfigError(f"job {name}: bad cron expression {cron!r}: {exc}") from None
    if interval:
        return IntervalTrigger(seconds=interval, start_date=INTERVAL_ANCHOR, timezone=UTC), f"every {interval:g}s"
    return None, "manual only"


def build_plan(settings: Settings, registry: Registry) -> list[PlannedJob]:
    """Every registered job; those with a ``[jobs.NAME]`` table (enabled, with a schedule) are scheduled."""
    for name in settings.jobs:
        registry.get(name)  # unknown job in the config: ConfigError naming it
    plan: list[PlannedJob] = []
    for spec in registry:
        configured = spec.name in settings.jobs
        cfg = settings.jobs.get(spec.name, JobSettings())
        trigger, schedule = _trigger(spec.name, cfg, spec)
        shards = list(cfg.shards) if cfg.shards is not None else spec.shards(settings)
        plan.append(
            PlannedJob(
                spec=spec,
                trigger=trigger,
                schedule=schedule,
                scheduled=configured and cfg.enabled and trigger is not None,
                shards=shards,
                params=spec.resolve_params(cfg.params),
                lease_ttl=cfg.lease_ttl or spec.lease_ttl,
                misfire_grace=cfg.misfire_grace,
                catchup=cfg.catchup,
                overlap=cfg.overlap,
                recover=cfg.recover,
            )
        )
    return plan
