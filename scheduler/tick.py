"""The fleet tick: what one replica needs to know about the fleet, in ONE statement about once a second.

A UNION ALL of small reads, each an index lookup or a tiny table:

- every pause and pending trigger (``control.selects``),
- the database's clock,
- when the running runs' leases expire (``runs.lease_expiries_query``: one row per lease ttl), so the replica
  sweeps (``runs.sweep_abandoned``) only when a lease has expired and wakes up at the earliest expiry it
  learned instead of polling,
- the abandoned runs of its recoverable jobs that have no recovery run yet (``runs.unrecovered_query``).

Every ``heartbeat_s`` the replica's heartbeat (``replicas.beat``) rides in the same tick: on PostgreSQL in the
statement itself (a data-modifying ``WITH``), on MariaDB/MySQL and SQLite as a statement before it on the
same connection, after which the replica skips its next tick (one period later), so an idle replica sends
at most about one statement a second there too. MariaDB/MySQL and PostgreSQL ticks use an autocommit
engine (``db.engine.autocommit_engine``: no BEGIN, COMMIT, reset ROLLBACK or ping round trips).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection, Engine

from scrapesched.db.clock import db_now
from scrapesched.db.retry import single
from scrapesched.db.vocabulary import Trigger
from scrapesched.scheduler import control, runs

ATTEMPTS = 2  # the next tick is a second away: a tick that fails twice is logged and skipped


@dataclass(frozen=True)
class Tick:
    """What one tick read, at the database's ``now``."""

    now: datetime
    controls: control.Controls
    expiry: datetime | None
    """When the first running run's lease expires (its heartbeat plus its ttl); None when nothing runs."""
    unrecovered: tuple[runs.Abandoned, ...]

    @property
    def expired(self) -> bool:
        """A running run's lease has expired: ``runs.sweep_abandoned`` has something to mark."""
        return self.expiry is not None and self.expiry <= self.now

    def seconds_to_expiry(self) -> float | None:
        return None if self.expiry is None else (self.expiry - self.now).total_seconds()


def statement(recoverable: Sequence[str], within_s: float, after_s: float) -> sa.CompoundSelect[Any]:
    """The tick's UNION ALL (columns as ``control.selects``); without ``recoverable`` jobs, no recovery branch."""
    expiries = runs.lease_expiries_query().subquery("expiries")
    branches: list[Any] = [
        *control.selects(),
        sa.select(_kind("now"), sa.null(), sa.null(), sa.null(), sa.null(), sa.null(), db_now(), sa.null()),
        sa.select(
            _kind("lease"),
            expiries.c.runs,
            sa.null(),
            sa.null(),
            sa.null(),
            sa.null(),
            expiries.c.oldest,
            expiries.c.lease_ttl_s,
        ),
    ]
    if recoverable:
        lost = runs.unrecovered_query(recoverable, within_s, after_s).subquery("lost")
        branches.append(
            sa.select(
                _kind("abandoned"),
                lost.c.id,
                lost.c.job_name,
                lost.c.shard,
                lost.c.trigger,
                lost.c.owner,
                lost.c.scheduled_for,
                sa.null(),
            )
        )
    return sa.union_all(*branches)


def _kind(name: str) -> sa.ColumnElement[str]:
    return sa.literal_column(f"'{name}'", sa.String)


def read(conn: Connection, stmt: sa.CompoundSelect[Any]) -> Tick:
    rows = list(conn.execute(stmt))
    dialect = conn.dialect
    now: datetime | None = None
    expiry: datetime | None = None
    lost: list[runs.Abandoned] = []
    for r in rows:
        if r.kind == "now":
            now = control.at_of(r, dialect)
        elif r.kind == "lease":
            oldest = control.at_of(r, dialect)
            if oldest is not None:
                at = oldest + timedelta(seconds=float(r.num))
                expiry = at if expiry is None else min(expiry, at)
        elif r.kind == "abandoned":
            when = control.at_of(r, dialect)
            assert when is not None
            lost.append(
                runs.Abandoned(
                    int(r.id), control.key_text(r.job_name), control.key_text(r.shard), when, Trigger(r.text), r.who
                )
            )
    assert now is not None
    return Tick(now, control.from_rows(rows, dialect), expiry, tuple(lost))


def beat_costs_a_round_trip(engine: Engine) -> bool:
    """True where the replica's heartbeat is one more statement to a database server (MariaDB/MySQL), which
    the fleet loop pays for by delaying the next tick; on PostgreSQL it is part of the tick's one statement
    (a data-modifying ``WITH``), on SQLite a local write."""
    return engine.dialect.name in ("mysql", "mariadb")


def tick(engine: Engine, stmt: sa.CompoundSelect[Any], beat: sa.Update | None) -> Tick:
    """Run one tick (``stmt`` from ``statement``) and, when given, the replica's heartbeat ``beat``, with
    ``db.retry.single``: on the autocommit sibling of a MariaDB/MySQL or PostgreSQL ``engine``, in a
    transaction on SQLite (a tick without a heartbeat there is a plain read, which takes no write lock)."""
    if engine.dialect.name == "sqlite" and beat is None:
        with engine.connect() as conn:
            return read(conn, stmt)
    if beat is not None and engine.dialect.name == "postgresql":
        stmt, beat = stmt.add_cte(beat.cte("beat")), None  # one statement: the UPDATE runs inside it

    def work(conn: Connection) -> Tick:
        if beat is not None:  # no atomicity needed: two statements, each safe to run again
            conn.execute(beat)
        return read(conn, stmt)

    return single(engine, work, attempts=ATTEMPTS, what="fleet tick")
