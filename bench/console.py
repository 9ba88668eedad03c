"""Benchmark of the web console with history: how fast the page, its fragments and the JSON API answer
when ``job_runs`` holds ``--rows`` rows (default 200,000).

On each backend (SQLite, MariaDB, PostgreSQL; a fresh database ``bench_<random>`` per server backend,
dropped at the end, a temporary file for SQLite) it migrates to head, writes ``--rows`` finished runs
spread over ``--jobs`` x ``--shards`` job shards (the newest of each shard ``running``; a mix of
succeeded, failed, skipped, abandoned and deferred), three replica heartbeat rows, GitHub budgets, cursors
and an HTTP summary, then serves the console on a real health server (``scheduler.health``, port 0) and
times ``--requests`` GETs of each path over HTTP after two warm-up requests: median and slowest, in ms,
first without the indexes migration 0008 adds (dropped), then with them (created again), to show what
they are for.

Usage::

    .venv/bin/python -m bench.console [--backends sqlite,mariadb,postgres] [--rows 200000]
                                      [--requests 15]

Prints a Markdown table. Timings are never a test.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from prometheus_client import CollectorRegistry

from bench.machine import machine
from scrapesched import locks
from scrapesched.config.redact import Redactor
from scrapesched.config.settings import Settings
from scrapesched.console.web import Console
from scrapesched.db.schema import http_error_summary, job_runs, rate_limits, replicas, scrape_cursors
from scrapesched.scheduler.health import HealthServer
from scrapesched.scheduler.plan import build_plan
from scrapesched.scheduler.plugins import load_registry
from scrapesched.testing.scratch import ServerUrls, migrated_database

CONSOLE_INDEXES = (
    "ix_job_runs_job_shard_id",
    "ix_job_runs_status_id",
    "ix_job_runs_job_shard_started",
    "ix_job_runs_job_shard_status_finished",
)
STATUSES = ("succeeded",) * 14 + ("failed", "skipped", "abandoned", "deferred")


def _paths(job: str, shard: str, middle: int) -> list[str]:
    return [
        "/",
        "/fragments/fleet",
        "/fragments/runs",
        "/api/fleet",
        "/api/runs",
        f"/api/runs?job={job}&shard={shard}",
        "/api/runs?status=failed",
        f"/api/runs?job={job}",
        f"/api/runs?before={middle}",
        "/api/github",
        "/api/hosts",
    ]


def _settings(url: str, jobs: int, shards: int) -> Settings:
    names = ["canary", "retention", "telemetry_rollup", "pr_states_refresh"][:jobs]
    schedules = {n: {"interval": "1m", "shards": [f"org/repo{i:03d}" for i in range(shards)]} for n in names}
    return Settings.model_validate({"database_url": url, "jobs": schedules})


def fill(engine: sa.Engine, settings: Settings, rows: int) -> None:
    """``rows`` runs over the configured job shards, oldest first, plus the console's other tables."""
    keys = [(name, shard) for name, job in settings.jobs.items() for shard in job.shards or []]
    per_shard = rows // len(keys)
    now = datetime.now(UTC).replace(microsecond=0)
    batch: list[dict[str, Any]] = []
    with engine.begin() as conn:
        for step in range(per_shard):
            for n, (job, shard) in enumerate(keys):
                at = now - timedelta(minutes=per_shard - step)
                newest = step == per_shard - 1
                status = "running" if newest else STATUSES[(step * 7 + n) % len(STATUSES)]
                batch.append(
                    {
                        "job_name": job,
                        "shard": shard,
                        "scheduled_for": at,
                        "trigger": "schedule",
                        "status": status,
                        "owner": f"replica-{n % 3}",
                        "fencing_token": step + 1,
                        "lease_ttl_s": 600.0,
                        "started_at": at,
                        "heartbeat_at": now if newest else at + timedelta(seconds=20),
                        "finished_at": None if newest else at + timedelta(seconds=20),
                        "error": "boom: the server said 502" if status == "failed" else None,
                        "rows_written": 10,
                        "requests": 12,
                        "not_modified": 3,
                        "progress": "pulls 120/~400" if newest else None,
                    }
                )
                if len(batch) >= 5000:
                    conn.execute(job_runs.insert(), batch)
                    batch = []
        if batch:
            conn.execute(job_runs.insert(), batch)
        conn.execute(
            replicas.insert(),
            [
                {"instance_id": f"replica-{i}", "host": "bench", "pid": 100 + i, "version": "bench",
                 "started_at": now, "last_seen": now, "stopped_at": None, "heartbeat_s": 1.0, "running": 1,
                 "running_runs": "[]"}
                for i in range(3)
            ],
        )
        conn.execute(
            rate_limits.insert(),
            [{"token_id": f"token{i}", "resource": "core", "limit": 5000, "remaining": 4000 - i, "reset_at": now,
              "observed_at": now} for i in range(2)],
        )
        conn.execute(
            scrape_cursors.insert(),
            [{"repo": shard, "stream": "pulls", "high_water": now, "state": '{"in_pass": true, "done": 5}',
              "updated_at": now} for _job, shard in keys[:10]],
        )
        conn.execute(
            http_error_summary.insert(),
            [{"host": f"host{h}.example", "status_code": code, "error_type": "", "count": 10, "first_seen": now,
              "last_seen": now} for h in range(5) for code in (200, 304, 404, 502)],
        )


def _time(client: httpx.Client, path: str, requests: int) -> tuple[float, float, int]:
    for _ in range(2):
        client.get(path).raise_for_status()
    times = []
    size = 0
    for _ in range(requests):
        start = time.perf_counter()
        answer = client.get(path)
        times.append((time.perf_counter() - start) * 1000)
        answer.raise_for_status()
        size = len(answer.content)
    return statistics.median(times), max(times), size


def _analyze(engine: sa.Engine, backend: str) -> None:
    """Fresh planner statistics, as after a day of runs."""
    statement = {"postgres": "ANALYZE job_runs", "mariadb": "ANALYZE TABLE job_runs"}.get(backend, "ANALYZE")
    with engine.begin() as conn:
        conn.execute(sa.text(statement))


Row = tuple[str, str, float, float, float, int]


def run_backend(backend: str, args: argparse.Namespace) -> list[Row]:
    """(backend, path, median ms without the indexes, median ms with them, slowest with them, bytes)."""
    out: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp, migrated_database(
        backend, Path(tmp), ServerUrls.from_env(), prefix="bench_"
    ) as (url, engine):
        settings = _settings(url, args.jobs, args.shards)
        fill(engine, settings, args.rows)
        plan = build_plan(settings, load_registry())
        lease_backend = locks.connect("table", engine=engine, holder_id="bench")
        console = Console(engine, lease_backend, plan, "bench", "bench", None, Redactor())
        server = HealthServer("127.0.0.1", 0, lambda: None, lambda: None, CollectorRegistry(), console.routes())
        server.start()
        indexes = [index for index in job_runs.indexes if index.name in CONSOLE_INDEXES]
        try:
            with engine.connect() as conn:
                middle = int(conn.execute(sa.select(sa.func.max(job_runs.c.id))).scalar_one()) // 2
            first = plan[0]
            paths = _paths(first.name, first.shards[0], middle)
            with httpx.Client(base_url=f"http://127.0.0.1:{server.port}", timeout=300) as client:
                with engine.begin() as conn:
                    for index in indexes:
                        index.drop(conn)
                _analyze(engine, backend)
                without = {path: _time(client, path, args.requests)[0] for path in paths}
                with engine.begin() as conn:
                    for index in indexes:
                        index.create(conn)
                _analyze(engine, backend)
                for path in paths:
                    median, slowest, size = _time(client, path, args.requests)
                    out.append((backend, path, without[path], median, slowest, size))
        finally:
            server.close()
            lease_backend.close()
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.console", description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", default="sqlite,mariadb,postgres")
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--shards", type=int, default=25)
    parser.add_argument("--requests", type=int, default=15)
    args = parser.parse_args(argv)
    rows: list[Row] = []
    for backend in args.backends.split(","):
        rows += run_backend(backend, args)
    print(f"machine: {machine()}")
    print(f"{args.rows:,} job_runs rows, {args.jobs} jobs x {args.shards} shards, {args.requests} requests per path")
    print("| backend | path | median ms, no console indexes | median ms | slowest ms | bytes |")
    print("|---|---|---:|---:|---:|---:|")
    for backend, path, without, median, slowest, size in rows:
        print(f"| {backend} | `{path}` | {without:.1f} | {median:.1f} | {slowest:.1f} | {size:,} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
