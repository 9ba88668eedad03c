"""``python -m tests.chaos --replicas N --seconds S --seed K --db mariadb|postgres --lock redis|table|mysql|postgres``

Starts the world (``world``), lets the fleet warm up, injects faults at seeded random times for S
seconds (``faults``), stops the faults, waits for clean cycles (every job succeeded on every shard with
a run that started after the last fault), sends SIGTERM to every replica and checks the invariants
(``invariants``). Prints the faults by kind, the runs by status, the requests and every invariant with
its numbers; exits 0 only if all hold (1 otherwise, 2 if the world could not be set up).
"""

from __future__ import annotations

import argparse
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from scrapesched.scheduler.runs import succeeded_since

from . import invariants as inv
from .faults import FaultLog, Injector, db_time
from .world import DATABASES, GITHUB_JOBS, LOCKS, REPOS, World, world

CLEAN_TIMEOUT_S = 120.0


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m tests.chaos", description=__doc__.split("\n\n")[1])
    p.add_argument("--replicas", type=int, default=3)
    p.add_argument("--seconds", type=float, default=120.0, help="how long faults are injected")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--db", choices=DATABASES, default="mariadb")
    p.add_argument("--lock", choices=LOCKS, default="redis")
    p.add_argument("--keep", action="store_true", help="keep the work directory (replica logs)")
    return p.parse_args(argv)


def wait_started(w: World, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(r.started() for r in w.fleet.live.values()):
            return
        dead = [r.name for r in w.fleet.live.values() if not r.running()]
        if dead:
            raise RuntimeError(f"replica(s) exited at start-up: {dead}: {w.fleet.live[dead[0][:2]].log()[-1500:]}")
        time.sleep(0.2)
    raise RuntimeError("replicas did not start in time")


def wait_clean(w: World, since: object, injector: Injector) -> bool:
    wanted = {(job, repo) for job in GITHUB_JOBS for repo in REPOS} | {("canary", "")}
    deadline = time.monotonic() + CLEAN_TIMEOUT_S
    while time.monotonic() < deadline:
        with w.engine.connect() as conn:
            done = succeeded_since(conn, since)  # type: ignore[arg-type]
        if wanted <= done:
            return True
        injector.watch(0.5)
    with w.engine.connect() as conn:
        missing = wanted - succeeded_since(conn, since)  # type: ignore[arg-type]
    print(f"clean cycles incomplete after {CLEAN_TIMEOUT_S:g} s: no success yet for {sorted(missing)}")
    return False


def wait_rows(w: World, window: tuple[object, object], injector: Injector) -> bool:
    """Every fire up to the end of the window has its run row (claimed, or recorded skipped), before SIGTERM:
    a loaded fleet claims late, and the fires still queued in a stopping replica are not recorded."""
    deadline = time.monotonic() + CLEAN_TIMEOUT_S
    while time.monotonic() < deadline:
        if not inv.missing_fires(inv.all_runs(w.engine), window)[1]:  # type: ignore[arg-type]
            return True
        injector.watch(0.5)
    print(f"fires without a run row {CLEAN_TIMEOUT_S:g} s after the faults ended")
    return False


def stop_fleet(w: World) -> dict[str, int | None]:
    exits: dict[str, int | None] = {name: None for name in w.fleet.token_of}
    live = [r for r in w.fleet.live.values() if r.running()]
    for r in live:
        r.signal(signal.SIGTERM)
    for r in live:
        try:
            exits[r.name] = r.wait(60)
        except subprocess.TimeoutExpired:
            r.kill()
    return exits


def write_diagnostics(w: World, log: FaultLog, path: Path) -> None:
    """What a failed run needs to be explained: the fake's mutations (with its clock) and every request of
    the comment feeds and pull request lists, in order."""
    lines = ["# mutations of the fake", *log.changes, "", "# list requests (wall time, status, path)"]
    t0 = w.fake.requests[0].at if w.fake.requests else 0.0
    for rec in w.fake.requests:
        if "/comments" in rec.path or rec.path.split("?")[0].endswith("/pulls"):
            lines.append(f"{rec.at - t0:8.2f} {rec.status} {'C' if rec.conditional else '-'} {rec.token} {rec.path}")
    path.write_text("\n".join(lines) + "\n")


def run(args: argparse.Namespace, workdir: Path) -> int:
    rng = random.Random(args.seed)
    print(f"chaos: {args.replicas} replicas, {args.seconds:g} s of faults, seed {args.seed}, "
          f"database {args.db}, lock {args.lock}; work directory {workdir}", flush=True)
    with world(args.db, args.lock, args.replicas, args.seed, workdir, keep=args.keep) as w:
        wait_started(w)
        log = FaultLog()
        injector = Injector(w, rng, log)
        started = db_time(w.engine)
        injector.watch(5.0)  # warm-up: first fires, first syncs
        deadline = time.monotonic() + args.seconds
        next_mutation = time.monotonic() + rng.uniform(2.0, 5.0)
        while True:
            injector.watch(rng.uniform(1.0, 4.0))
            if time.monotonic() >= next_mutation:
                injector.mutate()
                next_mutation = time.monotonic() + rng.uniform(2.0, 5.0)
            if time.monotonic() >= deadline:
                break
            injector.inject()
        w.fake.clear_faults()
        faults_end = db_time(w.engine)
        print(f"faults stopped ({log.mutations} mutations of the fake); waiting for clean cycles", flush=True)
        clean = wait_clean(w, faults_end, injector)
        window = (started + inv.timedelta(seconds=5), db_time(w.engine) - inv.timedelta(seconds=2))
        clean = wait_rows(w, window, injector) and clean
        exits = stop_fleet(w)
        runs = inv.all_runs(w.engine)

        print("\nfaults by kind: " + ", ".join(f"{k} {n}" for k, n in sorted(log.counts.items())))
        if log.missed:
            print("faults not injected (no target at that moment): "
                  + ", ".join(f"{k} {n}" for k, n in sorted(log.missed.items())))
        by_job: dict[str, Counter[str]] = {}
        for r in runs:
            by_job.setdefault(r.job_name, Counter())[r.status] += 1
        print("runs by status: " + "; ".join(
            f"{job}: " + ", ".join(f"{s} {n}" for s, n in sorted(c.items())) for job, c in sorted(by_job.items())))
        statuses = Counter(rec.status for rec in w.fake.requests)
        print(f"requests to the fake: {sum(statuses.values())} (by status: "
              + ", ".join(f"{s} {n}" for s, n in sorted(statuses.items())) + ")")
        print("replica exits: " + ", ".join(f"{n} {'killed' if c is None else c}" for n, c in exits.items()))

        checks = [
            inv.no_duplicate_keys(w.engine),
            inv.database_equals_truth(w.engine, w.fake),
            inv.effects_once(w.engine, runs, log, window),
            inv.http_counts(w, runs, exits),
            inv.runs_settled(runs, log),
            inv.fencing_held(w.engine, runs),
        ]
        if not clean:
            checks.append(inv.Invariant("clean cycles after the faults", "incomplete", ["see above"]))
        print()
        for check in checks:
            print(check.show())
        ok = all(c.ok for c in checks)
        if not ok:
            write_diagnostics(w, log, workdir / "diagnostics.txt")
            print(f"diagnostics (the fake's mutations and comment-feed requests): {workdir / 'diagnostics.txt'}")
        print(f"\nchaos {'PASSED' if ok else 'FAILED'}: seed {args.seed}, {args.db} + {args.lock}, "
              f"{args.replicas} replicas, {args.seconds:g} s")
        return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    workdir = Path(tempfile.mkdtemp(prefix=f"chaos-{args.db}-{args.lock}-{args.seed}-"))
    try:
        return run(args, workdir)
    except RuntimeError as exc:
        print(f"chaos: could not run: {exc}", file=sys.stderr)
        return 2
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
