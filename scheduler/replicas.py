"""The ``scrapesched_replicas`` table: one heartbeat row per ``scrapesched run`` replica.

A replica registers at start-up (instance id, host, pid, version, start time), refreshes ``last_seen`` and
its running runs every ``heartbeat_s`` seconds (``beat``, in its fleet tick), and sets ``stopped_at`` when
it exits cleanly. A replica not seen for ``SILENT_AFTER_BEATS`` of its own heartbeat periods (and at least
``SILENT_AFTER_MIN_S``) that did not stop cleanly is **silent** (killed, frozen, cut off from the database).
Rows not seen for ``FORGET_AFTER`` are left out of every listing and deleted when a replica starts.
Times come from the database's clock.

``listing`` is the one read of the table: ``status``, ``check`` and the web console use it.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection, Engine

from scrapesched.db.clock import db_now, server_time
from scrapesched.db.retry import transaction
from scrapesched.db.schema import replicas
from scrapesched.db.upsert import upsert

SILENT_AFTER_BEATS = 3
"""A replica is silent once it has not been seen for this many of its heartbeat periods..."""
SILENT_AFTER_MIN_S = 10.0
"""... and for at least this long (a busy machine or database delays a heartbeat by seconds)."""
FORGET_AFTER = timedelta(hours=24)
"""Replicas not seen for this long are left out of listings and ``check`` (and deleted at start-up)."""
MAX_LISTED_RUNS = 50


@dataclass(frozen=True)
class RunningRun:
    """A run a replica executes (as of its last heartbeat)."""

    run_id: int
    job: str
    shard: str

    def label(self) -> str:
        return f"{self.job}[{self.shard}]" if self.shard else self.job


@dataclass(frozen=True)
class Replica:
    """One replica's heartbeat row, judged against the database clock at ``now``."""

    instance_id: str
    host: str
    pid: int
    version: str
    started_at: datetime
    last_seen: datetime
    stopped_at: datetime | None
    heartbeat_s: float
    running: int
    runs: tuple[RunningRun, ...]
    now: datetime

    @property
    def state(self) -> str:
        """``live``, ``stopped`` (exited cleanly) or ``silent``."""
        if self.stopped_at is not None:
            return "stopped"
        if self.now - self.last_seen > silent_after(self.heartbeat_s):
            return "silent"
        return "live"

    def as_dict(self) -> dict[str, Any]:
        return {
            "instance_id": self.instance_id,
            "state": self.state,
            "host": self.host,
            "pid": self.pid,
            "version": self.version,
            "started_at": self.started_at.isoformat(),
            "last_seen": self.last_seen.isoformat(),
            "stopped_at": self.stopped_at.isoformat() if self.stopped_at else None,
            "heartbeat_s": self.heartbeat_s,
            "running": self.running,
            "running_runs": [{"run_id": r.run_id, "job": r.job, "shard": r.shard} for r in self.runs],
        }


def silent_after(heartbeat_s: float) -> timedelta:
    """How long a replica with this heartbeat period may go unseen before it counts as silent."""
    return timedelta(seconds=max(SILENT_AFTER_BEATS * heartbeat_s, SILENT_AFTER_MIN_S))


def package_version() -> str:
    try:
        return version("scrapesched")
    except PackageNotFoundError:  # pragma: no cover - a checkout without install
        return "0+unknown"


def _runs_json(running: Sequence[RunningRun]) -> str:
    return json.dumps([[r.run_id, r.job, r.shard] for r in running[:MAX_LISTED_RUNS]])


def register(engine: Engine, instance_id: str, heartbeat_s: float) -> None:
    """This process starts as replica ``instance_id`` (a row of the same id is taken over); rows of
    replicas not seen for ``FORGET_AFTER`` are deleted."""

    def work(conn: Connection) -> None:
        now = server_time(conn)
        conn.execute(sa.delete(replicas).where(replicas.c.last_seen < now - FORGET_AFTER))
        row = {
            "instance_id": instance_id,
            "host": socket.gethostname()[:255],
            "pid": os.getpid(),
            "version": package_version()[:64],
            "started_at": now,
            "last_seen": now,
            "stopped_at": None,
            "heartbeat_s": heartbeat_s,
            "running": 0,
            "running_runs": "[]",
        }
        upsert(conn, replicas, [row])

    transaction(engine, work, what="register replica")


def beat(instance_id: str, running: Sequence[RunningRun]) -> sa.Update:
    """The UPDATE that refreshes ``last_seen`` and the running runs; it rides in the replica's fleet tick
    (scheduler/tick.py), which runs it."""
    return (
        sa.update(replicas)
        .where(replicas.c.instance_id == instance_id)
        .values(last_seen=db_now(), running=len(running), running_runs=_runs_json(running))
    )


def stopped(engine: Engine, instance_id: str) -> None:
    """The replica exits cleanly: it is ``stopped``, never ``silent``."""

    def work(conn: Connection) -> None:
        conn.execute(
            sa.update(replicas)
            .where(replicas.c.instance_id == instance_id)
            .values(last_seen=db_now(), stopped_at=db_now(), running=0, running_runs="[]")
        )

    transaction(engine, work, attempts=2, what="replica stopped")


def listing(conn: Connection) -> list[Replica]:
    """Every replica seen within ``FORGET_AFTER``: live first, then silent, then stopped; by instance id."""
    now = server_time(conn)
    rows = conn.execute(
        sa.select(replicas).where(replicas.c.last_seen >= now - FORGET_AFTER).order_by(replicas.c.instance_id)
    ).all()
    out = [
        Replica(
            instance_id=r.instance_id,
            host=r.host,
            pid=r.pid,
            version=r.version,
            started_at=r.started_at,
            last_seen=r.last_seen,
            stopped_at=r.stopped_at,
            heartbeat_s=r.heartbeat_s,
            running=r.running,
            runs=tuple(RunningRun(int(i), str(j), str(s)) for i, j, s in json.loads(r.running_runs or "[]")),
            now=now,
        )
        for r in rows
    ]
    order = {"live": 0, "silent": 1, "stopped": 2}
    return sorted(out, key=lambda r: (order[r.state], r.instance_id))
