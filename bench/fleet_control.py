"""How fast ``pause``/``resume`` and ``trigger`` reach a fleet (issue 13: "effective on every replica within
a second or two").

Three real ``scrapesched run`` replicas (canary scheduled once a year, so only triggers run) on a fresh
database per backend. Each trial writes a pause (or lifts it) through ``scheduler.control`` exactly as the
commands do and measures, from just before the write, when the **last** replica logged ``pause_seen`` /
``pause_lifted`` (the log lines' timestamps; same host clock); then writes a trigger and measures when its
run started (``job_runs.started_at``, set when the lease is attached) and that exactly one run exists.

    python -m bench.fleet_control [--backends sqlite,mariadb,postgres] [--trials 10]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa

from bench.machine import machine
from scrapesched.db.engine import connect_engine
from scrapesched.db.migrate import upgrade
from scrapesched.db.schema import job_runs
from scrapesched.scheduler import control
from scrapesched.testing.fleet import Fleet, replica_env, wait_until
from scrapesched.testing.scratch import ServerUrls, scratch_database

CONFIG = '[jobs.canary]\ncron = "0 0 1 1 *"\nlease_ttl = "3s"\n'
REPLICAS = 3


def _seen(log: str, event: str, after: float) -> float | None:
    """Wall-clock time of the first ``event`` line logged after ``after`` (epoch seconds), or None."""
    for line in log.splitlines():
        if f'"{event}"' not in line:
            continue
        try:
            stamp = datetime.fromisoformat(json.loads(line)["timestamp"]).timestamp()
        except (ValueError, KeyError):
            continue
        if stamp >= after:
            return stamp
    return None


def _propagation(fleet: Fleet, event: str, start: float) -> float:
    def all_seen() -> bool:
        return all(_seen(r.log(), event, start) is not None for r in fleet.replicas)

    if not wait_until(all_seen, 30, every=0.05):
        raise RuntimeError(f"not every replica logged {event} within 30 s")
    return max(_seen(r.log(), event, start) or 0.0 for r in fleet.replicas) - start


def _manual_starts(engine: sa.Engine) -> list[float]:
    """``started_at`` (epoch seconds) of every finished manual run, oldest first."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(job_runs.c.started_at)
            .where(job_runs.c.trigger == "manual", job_runs.c.finished_at.is_not(None))
            .order_by(job_runs.c.started_at)
        )
        return [r.started_at.timestamp() for r in rows]


def bench(backend: str, trials: int, workdir: Path, servers: ServerUrls) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {"pause": [], "resume": [], "trigger": []}
    with scratch_database(backend, workdir, servers, prefix="h2_bench_") as url:
        engine = connect_engine(url)
        upgrade(engine)
        config = workdir / f"{backend}.toml"
        config.write_text(CONFIG)
        lock = "table" if backend == "sqlite" else url
        if backend == "mariadb":
            lock = servers.lock_url("redis", f"bench-fleet-{int(time.time())}:")
        with Fleet(workdir, replica_env(database_url=url, lock_url=lock), config=config) as fleet:
            for i in range(REPLICAS):
                fleet.start(f"{backend}-{i}")
            if not wait_until(lambda: all(r.started() for r in fleet.replicas), 120):
                raise RuntimeError("replicas did not start")
            for _ in range(trials):
                start = time.time()
                control.pause(engine, "canary", "", "bench", "bench")
                out["pause"].append(_propagation(fleet, "pause_seen", start))
                start = time.time()
                control.resume(engine, "canary", None)
                out["resume"].append(_propagation(fleet, "pause_lifted", start))
                start = time.time()
                control.request(engine, "canary", [""], {}, "bench")

                done = len(out["trigger"])
                if not wait_until(lambda: len(_manual_starts(engine)) > done, 30, every=0.05):  # noqa: B023
                    raise RuntimeError("trigger did not run within 30 s")
                starts = _manual_starts(engine)
                if len(starts) != len(out["trigger"]) + 1:
                    raise RuntimeError(f"a trigger ran {len(starts) - len(out['trigger'])} times")
                out["trigger"].append(starts[-1] - start)
                time.sleep(1.5)  # let every replica forget the trigger before the next trial
            fleet.stop_all()
        engine.dispose()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="sqlite,mariadb,postgres")
    parser.add_argument("--trials", type=int, default=10)
    args = parser.parse_args()
    servers = ServerUrls.from_env()
    print(machine())
    print(f"{REPLICAS} replicas; seconds from the write to the last replica noticing (pause, resume) or to the run")
    print("starting (trigger): p50 / max over trials")
    for backend in args.backends.split(","):
        with tempfile.TemporaryDirectory(prefix="h2-bench-") as tmp:
            result = bench(backend, args.trials, Path(tmp), servers)
        cells = ", ".join(f"{k} {statistics.median(v):.2f} / {max(v):.2f}" for k, v in result.items())
        print(f"{backend:9} n={args.trials}: {cells}")


if __name__ == "__main__":
    main()
