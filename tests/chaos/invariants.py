"""The invariants a chaos run must end with, checked with SQL and the fake's ground truth. Each check
returns an :class:`Invariant` with its numbers and, when it failed, what broke it."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from scrapesched.db.schema import canary_runs, job_runs, metadata, telemetry_flushes
from scrapesched.db.vocabulary import RunStatus, Trigger
from scrapesched.scheduler.plan import INTERVAL_ANCHOR
from scrapesched.scheduler.runs import utc
from scrapesched.testing.fake_github import FakeGitHub
from scrapesched.testing.truth import differences, duplicate_keys

from .faults import FaultLog
from .world import INTERVALS, REPOS, World

SHOWN = 8


@dataclass
class Invariant:
    name: str
    numbers: str
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def show(self) -> str:
        head = f"[{'PASS' if self.ok else 'FAIL'}] {self.name}: {self.numbers}"
        more = [f"    - {p}" for p in self.problems[:SHOWN]]
        if len(self.problems) > SHOWN:
            more.append(f"    - ... and {len(self.problems) - SHOWN} more")
        return "\n".join([head, *more])


def all_runs(engine: sa.Engine) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(sa.select(job_runs).order_by(job_runs.c.id)))


def canary_rows(engine: sa.Engine) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(sa.select(canary_runs)))


def no_duplicate_keys(engine: sa.Engine) -> Invariant:
    keyed = [t for t in metadata.sorted_tables if t.info.get("key")]
    problems = duplicate_keys(engine, keyed)
    with engine.connect() as conn:
        for table, cols in ((job_runs, ("job_name", "shard", "scheduled_for", "trigger")),
                            (canary_runs, ("shard", "scheduled_for", "trigger"))):
            key = [table.c[c] for c in cols]
            query = sa.select(*key, sa.func.count().label("n")).group_by(*key).having(sa.func.count() > 1)
            problems += [f"{table.name}: key {tuple(r)[:-1]!r} stored {r.n} times" for r in conn.execute(query)]
    return Invariant("1 no duplicate natural key", f"{len(keyed) + 2} tables checked", problems)


def database_equals_truth(engine: sa.Engine, fake: FakeGitHub) -> Invariant:
    problems: list[str] = []
    for repo in REPOS:
        problems += differences(engine, fake.truth(repo), repo)
    return Invariant("2 database equals the fake's ground truth", f"{len(REPOS)} repositories", problems)


def fires_between(interval: float, start: datetime, end: datetime) -> list[datetime]:
    first = int((start - INTERVAL_ANCHOR).total_seconds() // interval) + 1
    out = []
    k = first
    while (when := INTERVAL_ANCHOR + timedelta(seconds=k * interval)) <= end:
        out.append(when)
        k += 1
    return out


def missing_fires(runs: list[Any], window: tuple[datetime, datetime]) -> tuple[int, list[str]]:
    """(fires of every job shard in the window, those without a run row)."""
    start, end = window
    fires, missing = 0, []
    for job, interval in INTERVALS.items():
        for shard in [""] if job == "canary" else list(REPOS):
            seen = {utc(r.scheduled_for) for r in runs
                    if r.job_name == job and r.shard == shard and r.trigger == Trigger.SCHEDULE}
            expected = fires_between(interval, start, end)
            fires += len(expected)
            missing += [f"{job} [{shard}] fire {w.isoformat()} has no run row" for w in expected if w not in seen]
    return fires, missing


def effects_once(engine: sa.Engine, runs: list[Any], log: FaultLog, window: tuple[datetime, datetime]) -> Invariant:
    problems: list[str] = []
    canaries = canary_rows(engine)
    twice = [c for c in canaries if c.executions != 1]
    problems += [f"canary fire {utc(c.scheduled_for).isoformat()} ({c.trigger}) executed {c.executions} times"
                 for c in twice]
    triggers: dict[datetime, set[str]] = defaultdict(set)
    for c in canaries:
        triggers[utc(c.scheduled_for)].add(c.trigger)
    problems += [f"canary fire {f.isoformat()} executed under triggers {sorted(t)}"
                 for f, t in triggers.items() if len(t) > 1]
    succeeded = Counter((r.job_name, r.shard, utc(r.scheduled_for)) for r in runs if r.status == RunStatus.SUCCEEDED)
    problems += [f"{job} [{shard}] fire {when.isoformat()} succeeded {n} times"
                 for (job, shard, when), n in succeeded.items() if n > 1]
    effects = {(utc(c.scheduled_for), c.trigger) for c in canaries}
    completions = {(utc(r.scheduled_for), r.trigger) for r in runs
                   if r.job_name == "canary" and r.status == RunStatus.SUCCEEDED}
    problems += [f"canary fire {w.isoformat()} ({t}): effect committed without its completion"
                 for w, t in sorted(effects - completions)]
    problems += [f"canary fire {w.isoformat()} ({t}): completed without its effect"
                 for w, t in sorted(completions - effects)]
    problems += log.double_running
    fires, absent = missing_fires(runs, window)
    missing = len(absent)
    problems += absent
    most = max((c.executions for c in canaries), default=0)
    numbers = (f"{len(canaries)} canary execution rows (max executions per row {most}),"
               f" {sum(succeeded.values())} succeeded runs, {fires} fires in the window ({missing} without a run row),"
               f" {len(log.double_running)} samples with two live running runs of one shard")
    return Invariant("3 every fire's effect committed once", numbers, problems)


def http_counts(w: World, runs: list[Any], exits: dict[str, int | None]) -> Invariant:
    """Each replica process counts every HTTP attempt in its telemetry buffer and flushes the counts to
    ``telemetry_flushes`` (after each run, periodically, at shutdown): compared per replica with what the
    fake logged for that replica's token."""
    problems: list[str] = []
    records = w.fake.requests
    fake_by_token = Counter(rec.token for rec in records)
    # The fake closes a "drop" connection before it reads the request's headers: those it cannot attribute.
    dropped = sum(1 for rec in records if rec.token is None and rec.fault == "drop")
    with w.engine.connect() as conn:
        flushed = Counter[str]({
            owner: int(n) for owner, n in conn.execute(
                sa.select(telemetry_flushes.c.owner, sa.func.sum(telemetry_flushes.c.request_count))
                .group_by(telemetry_flushes.c.owner)
            )
        })
    in_runs = Counter[str]()
    for r in runs:
        in_runs[r.owner] += r.requests or 0
    lines = []
    for name, token in w.fleet.token_of.items():
        theirs = fake_by_token.get(FakeGitHub.fingerprint(token), 0)
        ours = flushed.get(name, 0)
        clean = exits.get(name) == 0
        lines.append(f"{name} {ours}/{theirs}" + ("" if clean else f" (-{theirs - ours} unflushed at its death)"))
        if ours > theirs + dropped:
            problems.append(f"{name}: {ours} requests flushed, the fake saw only {theirs} (+{dropped} dropped)")
        elif clean and not theirs <= ours <= theirs + dropped:
            problems.append(f"{name} (exited cleanly): {ours} requests flushed, the fake saw {theirs}")
    total, recorded = len(records), sum(flushed.values())
    if recorded > total:
        problems.append(f"{recorded} requests flushed in all, the fake saw only {total}")
    numbers = (f"fake saw {total} ({dropped} dropped before their headers), flushed {recorded}, in job_runs "
               f"{sum(in_runs.values())}; flushed/fake per replica: {', '.join(lines)}")
    return Invariant("4 HTTP counts never above the fake's log, exact for clean exits", numbers, problems)


def runs_settled(runs: list[Any], log: FaultLog) -> Invariant:
    problems: list[str] = []
    by_id = {r.id: r for r in runs}
    running = [r for r in runs if r.status == RunStatus.RUNNING]
    problems += [f"run {r.id} {r.job_name} [{r.shard}] still running (owner {r.owner})" for r in running]
    abandoned_held = 0
    for held in log.held:
        r = by_id[held.run_id]
        if r.status == RunStatus.ABANDONED:
            abandoned_held += 1
        elif not (r.finished_at is not None and utc(r.finished_at) <= held.at + timedelta(seconds=0.5)):
            problems.append(f"run {r.id} {r.job_name} [{r.shard}] held by {held.owner} at a {held.kind} fault "
                            f"ended {r.status}, not abandoned")
    recovered = Counter[str]()
    for r in runs:
        if r.status != RunStatus.ABANDONED or r.trigger == Trigger.RECOVERY:
            continue
        rec = [x for x in runs if (x.job_name, x.shard, x.scheduled_for, x.trigger)
               == (r.job_name, r.shard, r.scheduled_for, Trigger.RECOVERY)]
        if not rec:
            problems.append(f"abandoned run {r.id} {r.job_name} [{r.shard}] {utc(r.scheduled_for).isoformat()} "
                            "was never recovered")
        elif rec[0].status == RunStatus.RUNNING:
            problems.append(f"recovery run {rec[0].id} of abandoned run {r.id} is still running")
        else:
            recovered[rec[0].status] += 1
    abandoned = sum(1 for r in runs if r.status == RunStatus.ABANDONED)
    numbers = (f"{len(running)} running at the end; {len(log.held)} runs held by faulted replicas, "
               f"{abandoned_held} of them abandoned; {abandoned} abandoned in all, recoveries by status "
               f"{dict(recovered)}")
    return Invariant("5 nothing left running; killed replicas' runs abandoned and recovered", numbers, problems)


def fencing_held(engine: sa.Engine, runs: list[Any]) -> Invariant:
    problems: list[str] = []
    ran_at = {(utc(c.scheduled_for), c.trigger): utc(c.ran_at) for c in canary_rows(engine)}
    by_lease: dict[tuple[str, str], list[Any]] = defaultdict(list)
    for r in runs:
        if r.fencing_token is not None:
            by_lease[(r.job_name, r.shard)].append(r)
    checked = 0
    for (job, shard), leased in by_lease.items():
        tokens = Counter(r.fencing_token for r in leased)
        problems += [f"{job} [{shard}]: token {t} used by {n} runs" for t, n in tokens.items() if n > 1]
        leased.sort(key=lambda r: r.fencing_token)
        later_start: datetime | None = None
        for r in reversed(leased):  # walk newest token first: later_start = earliest start of a newer token
            if later_start is not None:
                checked += 1
                beat = utc(r.heartbeat_at) if r.heartbeat_at is not None else None
                if r.status != RunStatus.SUCCEEDED and beat is not None and beat > later_start:
                    problems.append(f"{job} [{shard}] run {r.id} (token {r.fencing_token}) heartbeated at "
                                    f"{beat.isoformat()}, after a newer token's run started at "
                                    f"{later_start.isoformat()}")
                if r.status == RunStatus.SUCCEEDED and r.finished_at is not None and utc(r.finished_at) > later_start:
                    problems.append(f"{job} [{shard}] run {r.id} (token {r.fencing_token}) completed at "
                                    f"{utc(r.finished_at).isoformat()}, after a newer token's run started at "
                                    f"{later_start.isoformat()}")
                write = ran_at.get((utc(r.scheduled_for), r.trigger)) if job == "canary" else None
                if write is not None and write > later_start:
                    problems.append(f"canary run {r.id} (token {r.fencing_token}) wrote at {write.isoformat()}, "
                                    f"after a newer token's run started at {later_start.isoformat()}")
            start = utc(r.started_at)
            later_start = start if later_start is None else min(later_start, start)
    return Invariant("6 fencing: no completion, write or heartbeat after a newer token's run started",
                     f"{checked} leased runs checked against newer tokens", problems)
