"""The faults of a chaos run, injected at seeded random times and each logged with what it hit.

- ``kill``: SIGKILL of a lease holder (a replica with a leased, running run), restarted under a new name;
- ``stop_past_ttl``: SIGSTOP of a lease holder for longer than the lease ttl, then SIGCONT;
- ``window``: SIGSTOP of a replica inside the canary's final transaction, between its write and its
  completion (the canary's ``hold`` parameter keeps that window open; the replica's log line
  ``canary_write_pending`` says when it is in it), past the ttl but within the idle-transaction limit;
- ``in_transaction``: the same, frozen past the server's idle-transaction limit (the server ends it);
- ``redis_restart``: the run's own Redis killed and started again, every key lost (``--lock redis``);
- ``db_connections``: every connection to the chaos database killed (MariaDB ``KILL``, PostgreSQL
  ``pg_terminate_backend``);
- ``github_burst``: 5xx, secondary limits, truncated JSON, dropped connections or slow pages from the fake.

While faults run the fake is also mutated (``mutate_random``) every few seconds.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import random
import signal
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from scrapesched.db.clock import server_time
from scrapesched.db.schema import job_runs
from scrapesched.db.vocabulary import RunStatus
from scrapesched.scheduler.runs import utc
from scrapesched.testing.scratch import kill_sessions

from .world import IDLE_TRANSACTION_S, TTL_S, World

WINDOW_LINE = '"canary_write_pending"'


@dataclass
class HeldRun:
    """A run a faulted replica held when the fault hit (checked at the end)."""

    run_id: int
    owner: str
    kind: str
    at: datetime  # database time of the fault


@dataclass
class FaultLog:
    started: float = field(default_factory=time.monotonic)
    counts: Counter[str] = field(default_factory=Counter)
    missed: Counter[str] = field(default_factory=Counter)
    held: list[HeldRun] = field(default_factory=list)
    mutations: int = 0
    double_running: list[str] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)  # the fake's mutations, for the diagnostics file

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def note(self, kind: str, detail: str) -> None:
        self.counts[kind] += 1
        print(f"[{time.monotonic() - self.started:7.2f}s] fault {kind}: {detail}", flush=True)

    def miss(self, kind: str, why: str) -> None:
        self.missed[kind] += 1
        print(f"[{time.monotonic() - self.started:7.2f}s] fault {kind} not injected: {why}", flush=True)


def db_time(engine: sa.Engine) -> datetime:
    for attempt in range(20):
        try:
            with engine.connect() as conn:
                return server_time(conn)
        except sa.exc.DBAPIError:
            if attempt == 19:
                raise
            time.sleep(0.2)
    raise AssertionError("unreachable")


def _read(engine: sa.Engine, query: Any) -> list[Any]:
    for attempt in range(20):  # our own connections die with the others on a db_connections fault
        try:
            with engine.connect() as conn:
                return list(conn.execute(query))
        except sa.exc.DBAPIError:
            if attempt == 19:
                raise
            time.sleep(0.2)
    return []


def leased_running(engine: sa.Engine) -> list[Any]:
    """Running runs that hold their lease (a fencing token), freshest first."""
    return _read(
        engine,
        sa.select(job_runs.c.id, job_runs.c.owner, job_runs.c.job_name, job_runs.c.shard)
        .where(job_runs.c.status == RunStatus.RUNNING, job_runs.c.fencing_token.is_not(None))
        .order_by(job_runs.c.id.desc()),
    )


class Injector:
    """Picks and applies faults for one chaos run (``rng`` seeded: the same seed, the same choices)."""

    KINDS = ("kill", "stop_past_ttl", "window", "in_transaction", "redis_restart", "db_connections", "github_burst")

    def __init__(self, w: World, rng: random.Random, log: FaultLog) -> None:
        self.w, self.rng, self.log = w, rng, log
        self.offsets: dict[str, int] = {}
        self.kinds = [k for k in self.KINDS if k != "redis_restart" or w.redis_server is not None]

    # ---- helpers ----------------------------------------------------------------------------------
    def _holders(self) -> list[tuple[str, Any]]:
        """(slot, replica) of live replicas holding a lease now, with the runs they hold."""
        out = []
        for row in leased_running(self.w.engine):
            found = self.w.fleet.by_name(row.owner)
            if found is not None and all(found[1].name != r.name for _, r in out):
                out.append(found)
        return out

    def _hold_runs(self, owner: str, kind: str) -> None:
        at = db_time(self.w.engine)
        for row in leased_running(self.w.engine):
            if row.owner == owner:
                self.log.held.append(HeldRun(row.id, owner, kind, at))

    def _sigstop_for(self, replica: Any, seconds: float) -> None:
        self.w.fleet.faulted.add(replica.name)
        replica.signal(signal.SIGSTOP)
        try:
            self.watch(seconds)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.kill(replica.proc.pid, signal.SIGCONT)

    def watch(self, seconds: float) -> None:
        """Wait ``seconds``, sampling the invariant "no two live running runs per (job, shard)"."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            self.sample_running()
            time.sleep(min(0.5, left))

    def sample_running(self) -> None:
        now = db_time(self.w.engine)
        rows = _read(
            self.w.engine,
            sa.select(
                job_runs.c.job_name, job_runs.c.shard, job_runs.c.id, job_runs.c.heartbeat_at, job_runs.c.started_at
            ).where(job_runs.c.status == RunStatus.RUNNING, job_runs.c.fencing_token.is_not(None))
            .order_by(job_runs.c.fencing_token),
        )
        live: dict[tuple[str, str], list[Any]] = {}
        for r in rows:  # a run is alive while its heartbeat is within its ttl (a dead one can no longer act)
            if (now - utc(r.heartbeat_at)).total_seconds() <= TTL_S:
                live.setdefault((r.job_name, r.shard), []).append(r)
        for key, found in live.items():
            # Two leased runs of one shard alive at once: the older one's lease expired moments before its
            # row goes stale (the lease and the row are renewed apart); it is a violation only if the older
            # run still heartbeated after the newer one started (a resumed replica reviving its run).
            for old, new in itertools.pairwise(found):
                if utc(old.heartbeat_at) > utc(new.started_at):
                    self.log.double_running.append(
                        f"{key}: run {old.id} heartbeated at {utc(old.heartbeat_at).isoformat()} after run "
                        f"{new.id} started at {utc(new.started_at).isoformat()}")

    def _window_replica(self, timeout: float) -> Any | None:
        """The first live replica that logs ``canary_write_pending`` from now on (None after ``timeout``)."""
        for replica in self.w.fleet.live.values():
            self.offsets[replica.name] = replica.log_path.stat().st_size if replica.log_path.exists() else 0
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for replica in self.w.fleet.live.values():
                if not replica.running() or not replica.log_path.exists():
                    continue
                with replica.log_path.open("rb") as f:
                    f.seek(self.offsets.get(replica.name, 0))
                    chunk = f.read()
                self.offsets[replica.name] = self.offsets.get(replica.name, 0) + len(chunk)
                if WINDOW_LINE.encode() in chunk:
                    return replica
            time.sleep(0.02)
        return None

    # ---- faults -----------------------------------------------------------------------------------
    def inject(self) -> None:
        kind = self.rng.choice(self.kinds)
        getattr(self, kind)()

    def kill(self) -> None:
        holders = self._holders()
        if not holders:
            self.log.miss("kill", "no lease holder right now")
            return
        slot, replica = self.rng.choice(holders)
        self._hold_runs(replica.name, "kill")
        self.w.fleet.faulted.add(replica.name)
        replica.signal(signal.SIGKILL)
        replica.wait(10)
        self.log.note("kill", f"SIGKILL {replica.name} (lease holder)")
        self.watch(self.rng.uniform(0.5, 2.0))
        new = self.w.fleet.start(slot)
        print(f"            restarted {slot} as {new.name}", flush=True)

    def stop_past_ttl(self) -> None:
        holders = self._holders()
        if not holders:
            self.log.miss("stop_past_ttl", "no lease holder right now")
            return
        _, replica = self.rng.choice(holders)
        seconds = TTL_S + self.rng.uniform(1.0, 2.5)
        self._hold_runs(replica.name, "stop_past_ttl")
        self.log.note("stop_past_ttl", f"SIGSTOP {replica.name} (lease holder) for {seconds:.1f} s")
        self._sigstop_for(replica, seconds)

    def _stop_in_window(self, kind: str, seconds: float) -> None:
        replica = self._window_replica(timeout=5.0)
        if replica is None:
            self.log.miss(kind, "no canary entered its final transaction within 5 s")
            return
        replica.signal(signal.SIGSTOP)
        self.w.fleet.faulted.add(replica.name)
        self._hold_runs(replica.name, kind)
        self.log.note(kind, f"SIGSTOP {replica.name} between its canary write and completion for {seconds:.1f} s")
        self._sigstop_for(replica, seconds)

    def window(self) -> None:
        self._stop_in_window("window", TTL_S + self.rng.uniform(0.5, min(2.0, IDLE_TRANSACTION_S - TTL_S - 0.5)))

    def in_transaction(self) -> None:
        self._stop_in_window("in_transaction", IDLE_TRANSACTION_S + self.rng.uniform(1.0, 2.0))

    def redis_restart(self) -> None:
        assert self.w.redis_server is not None
        self.w.redis_server.restart()
        self.log.note("redis_restart", f"redis-server on port {self.w.redis_server.port} restarted (keys lost)")
        self.watch(self.rng.uniform(1.0, 2.0))

    def db_connections(self) -> None:
        name = self.w.engine.url.database
        killed = kill_sessions(self.w.db, self.w.engine.url.render_as_string(hide_password=False), self.w.servers)
        self.log.note("db_connections", f"killed {killed} connections to {name}")
        self.watch(self.rng.uniform(0.5, 1.5))

    def github_burst(self) -> None:
        fake, rng = self.w.fake, self.rng
        what = rng.choice(("5xx", "secondary", "malformed", "drop", "slow"))
        n = rng.randint(2, 8)
        if what == "5xx":
            fake.fail_next(n, rng.choice((500, 502, 503)))
        elif what == "secondary":
            fake.secondary_limit_next(n, retry_after=1)
        elif what == "malformed":
            fake.malformed_json_next(n)
        elif what == "drop":
            fake.drop_connection_next(n)
        else:
            fake.slow_pages(per_page_above=2, n=n)
        self.log.note("github_burst", f"{what} x{n}")
        self.watch(self.rng.uniform(0.5, 1.5))

    def mutate(self) -> None:
        changed = self.w.fake.mutate_random(self.rng.randint(1, 4), self.rng)
        self.log.mutations += len(changed)
        self.log.changes += [f"[{self.log.elapsed():7.2f}s] fake clock {self.w.fake.now.isoformat()}: {c}"
                             for c in changed]
