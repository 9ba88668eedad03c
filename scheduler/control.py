"""Fleet-wide control: the ``scrapesched_pauses`` and ``scrapesched_triggers`` tables.

``scrapesched pause/resume/trigger`` write them from any machine; every replica reads both once a second
in its fleet tick (scheduler/tick.py: one statement, a UNION ALL of these two small tables and what the
tick adds), so a pause or a trigger is effective on the whole fleet within a second or two.

- A pause names a job and a shard; shard ``''`` pauses every shard of the job. A paused fire is not run:
  the replica that claims it records it ``skipped`` with the error ``paused by ...``. Runs already running
  finish. A trigger of a paused shard waits until it is resumed.
- A trigger is one row per shard. A replica with a free slot runs it through the same claim and lease as a
  scheduled fire: ``job_runs(job, shard, scheduled_for = requested_at, trigger = manual)``, whose UNIQUE key
  lets exactly one replica win; the row is deleted once its fire has been claimed (the ``job_runs`` row is
  the record).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection, Dialect, Engine

from scrapesched.db.clock import server_time
from scrapesched.db.retry import transaction
from scrapesched.db.schema import pauses, triggers
from scrapesched.db.types import UTCDateTime
from scrapesched.db.upsert import upsert

ALL_SHARDS = ""
"""The shard of a pause that covers every shard of its job."""


@dataclass(frozen=True)
class Pause:
    """A paused job (``shard == ''``) or job shard."""

    job: str
    shard: str
    reason: str | None
    paused_by: str
    paused_at: datetime

    def describe(self) -> str:
        """``by X since T: reason`` (after "paused"), for ``skipped`` runs and the command line."""
        why = f": {self.reason}" if self.reason else ""
        return f"by {self.paused_by} since {self.paused_at.isoformat()}{why}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "job": self.job,
            "shard": self.shard,
            "reason": self.reason,
            "paused_by": self.paused_by,
            "paused_at": self.paused_at.isoformat(),
        }


@dataclass(frozen=True)
class PendingTrigger:
    """A requested run of one job shard that no replica has claimed yet."""

    trigger_id: int
    job: str
    shard: str
    requested_at: datetime
    params: dict[str, str]
    requested_by: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "job": self.job,
            "shard": self.shard,
            "requested_at": self.requested_at.isoformat(),
            "params": self.params,
            "requested_by": self.requested_by,
        }


@dataclass(frozen=True)
class Controls:
    """Every pause and pending trigger, as read at one moment."""

    pauses: tuple[Pause, ...] = ()
    triggers: tuple[PendingTrigger, ...] = ()

    def paused(self, job: str, shard: str) -> Pause | None:
        """The pause that stops this job shard (the shard's own first, then the job-wide one), or None."""
        found = {(p.job, p.shard): p for p in self.pauses}
        return found.get((job, shard)) or found.get((job, ALL_SHARDS))

    def pauses_of(self, job: str) -> list[Pause]:
        return [p for p in self.pauses if p.job == job]

    def triggers_of(self, job: str) -> list[PendingTrigger]:
        return [t for t in self.triggers if t.job == job]


_AT = UTCDateTime()


def selects() -> list[sa.Select[Any]]:
    """The branches of ``read``'s UNION ALL: every pause, every pending trigger. Their columns are those of
    every branch the fleet tick (scheduler/tick.py) adds: ``kind`` (what the row is), ``id``, ``job_name``,
    ``shard``, ``text``, ``who``, ``at`` (a ``UTCDateTime``) and ``num`` (a number)."""
    kind = sa.literal_column("'pause'", sa.String).label("kind")
    no_number = sa.cast(sa.null(), sa.Double).label("num")
    return [
        sa.select(
            kind,
            pauses.c.id,
            pauses.c.job_name,
            pauses.c.shard,
            pauses.c.reason.label("text"),
            pauses.c.paused_by.label("who"),
            pauses.c.paused_at.label("at"),
            no_number,
        ),
        sa.select(
            sa.literal_column("'trigger'", sa.String),
            triggers.c.id,
            triggers.c.job_name,
            triggers.c.shard,
            triggers.c.params,
            triggers.c.requested_by,
            triggers.c.requested_at,
            sa.null(),
        ),
    ]


def read(conn: Connection) -> Controls:
    """Every pause and pending trigger, in one statement."""
    return from_rows(list(conn.execute(sa.union_all(*selects()))), conn.dialect)


def at_of(row: Any, dialect: Dialect) -> datetime | None:
    """The ``at`` column of a row of the UNION ALL (no type processing on some drivers), aware UTC."""
    return _AT.process_result_value(row.at, dialect)


def from_rows(rows: Sequence[Any], dialect: Dialect) -> Controls:
    """The controls in rows of ``selects()`` (rows of other kinds are skipped)."""
    found_pauses: list[Pause] = []
    found_triggers: list[PendingTrigger] = []
    for r in rows:
        if r.kind not in ("pause", "trigger"):
            continue
        at = at_of(r, dialect)
        assert at is not None
        job, shard = key_text(r.job_name), key_text(r.shard)
        if r.kind == "pause":
            found_pauses.append(Pause(job, shard, r.text, r.who, at))
        else:
            found_triggers.append(PendingTrigger(int(r.id), job, shard, at, json.loads(r.text or "{}"), r.who))
    found_triggers.sort(key=lambda t: (t.requested_at, t.trigger_id))
    return Controls(tuple(sorted(found_pauses, key=lambda p: (p.job, p.shard))), tuple(found_triggers))


def key_text(value: Any) -> str:
    """A key column read through a UNION (no type processing on some drivers): always ``str``."""
    return bytes(value).decode("utf-8") if isinstance(value, bytes | bytearray | memoryview) else str(value)


def pause(engine: Engine, job: str, shard: str, reason: str | None, by: str) -> None:
    """Pause a job shard (``shard=''``: the whole job); pausing again replaces the reason."""
    row = {"job_name": job, "shard": shard, "reason": reason, "paused_by": by}

    def work(conn: Connection) -> None:
        with_time = {**row, "paused_at": server_time(conn)}
        upsert(conn, pauses, [with_time])

    transaction(engine, work, what="pause")


def resume(engine: Engine, job: str, shard: str | None) -> int:
    """Lift the pause of one shard (``shard`` given; ``''`` is the job-wide pause) or every pause of the job
    (``None``); how many pauses were lifted."""

    def work(conn: Connection) -> int:
        stmt = sa.delete(pauses).where(pauses.c.job_name == job)
        if shard is not None:
            stmt = stmt.where(pauses.c.shard == shard)
        return int(conn.execute(stmt).rowcount)

    return transaction(engine, work, what="resume")


def request(engine: Engine, job: str, shards: Sequence[str], params: dict[str, str], by: str) -> None:
    """Ask the fleet to run these shards of a job once, now (one pending trigger per shard)."""
    encoded = json.dumps(params, sort_keys=True) if params else None

    def work(conn: Connection) -> None:
        now = server_time(conn)
        rows = [
            {"job_name": job, "shard": s, "requested_at": now, "params": encoded, "requested_by": by} for s in shards
        ]
        conn.execute(triggers.insert(), rows)

    transaction(engine, work, what="trigger")


def claimed(engine: Engine, trigger_id: int) -> bool:
    """Forget a trigger whose fire has been claimed (by this replica or another); False if already gone."""

    def work(conn: Connection) -> bool:
        return conn.execute(sa.delete(triggers).where(triggers.c.id == trigger_id)).rowcount == 1

    return transaction(engine, work, what="trigger claimed")
