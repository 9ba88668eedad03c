"""What ``pause``, ``resume`` and ``trigger`` share: checking a JOB and ``--shard`` against the plan (exit 2
with one line when unknown) and naming who asked (``user@host``) in the control rows."""

from __future__ import annotations

import getpass
import socket
from collections.abc import Sequence

from scrapesched.config.errors import ConfigError
from scrapesched.config.settings import Settings
from scrapesched.scheduler.plan import PlannedJob, build_plan
from scrapesched.scheduler.plugins import load_registry


def planned_job(settings: Settings, job: str) -> PlannedJob:
    """The planned job named ``job``; ConfigError (exit 2) naming the known ones otherwise."""
    plan = {p.name: p for p in build_plan(settings, load_registry())}
    if job not in plan:
        raise ConfigError(f"unknown job {job!r} (known: {', '.join(sorted(plan))})")
    return plan[job]


def checked_shards(planned: PlannedJob, shards: Sequence[str]) -> list[str]:
    """``shards`` if every one is a shard of the job; ConfigError (exit 2) naming the first unknown one."""
    for shard in shards:
        if shard not in planned.shards:
            known = ", ".join(s for s in planned.shards if s) or "none: the job is not sharded"
            raise ConfigError(f"job {planned.name} has no shard {shard!r} (shards: {known})")
    return list(shards)


def label(job: str, shards: Sequence[str]) -> str:
    """``job`` or ``job [a, b]`` for output lines."""
    named = [s for s in shards if s]
    return f"{job} [{', '.join(named)}]" if named else job


def requester() -> str:
    """Who runs this command, for ``paused_by`` / ``requested_by``: ``user@host``."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no login name (a container with an unnamed uid)
        user = "?"
    return f"{user}@{socket.gethostname()}"[:255]
