"""An OS process holding leases for the lock tests.

``mutex LOCK_URL DB_URL NAME PROCESSES COUNT HOLD_MS OUTDIR``: forks PROCESSES processes (after the imports,
so they start cheaply); each connects, waits for all the others, then takes the lease COUNT times (waiting as
long as needed), holds it HOLD_MS, and writes one JSON line per holding to ``OUTDIR/<holder>.jsonl``: start
and end on ``CLOCK_MONOTONIC`` (system-wide on Linux, so intervals of all processes compare), and the token.
Exits 0 when every process did.

``hold LOCK_URL DB_URL NAME TTL``: takes the lease once (keep-alive on), prints ``{"token": ...}``, then obeys
stdin lines: ``write VALUE`` does a fenced write of VALUE into ``sst_results`` and prints the outcome;
``status`` prints whether the lease is lost; ``exit`` releases and ends.

``try LOCK_URL DB_URL NAME TTL``: one non-blocking acquire; prints this process's ``time.time()`` and the
token (or ``none``). Run under libfaketime to be a replica with a skewed clock.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import sys
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from scrapesched import locks
from scrapesched.config.log_setup import configure_logging
from scrapesched.db.engine import connect_engine
from scrapesched.db.retry import transaction

RESULTS = sa.table("sst_results", sa.column("name"), sa.column("value"), sa.column("token"))


def now() -> float:
    return time.clock_gettime(time.CLOCK_MONOTONIC)


def emit(**fields: object) -> None:
    print(json.dumps(fields), flush=True)


def contend(
    lock_url: str, db_url: str, name: str, count: int, hold_ms: float, holder: str, start_line: Any, out: Path
) -> None:
    engine = connect_engine(db_url)
    backend = locks.connect(lock_url, engine=engine, holder_id=holder)
    start_line.wait(timeout=120)
    with out.open("w") as fh:
        for _ in range(count):
            lease = backend.acquire(name, 10, wait=120)
            if lease is None:
                raise SystemExit("no lease within 120 s")
            start = now()
            time.sleep(hold_ms / 1000)
            end = now()
            lease.release()
            fh.write(json.dumps({"start": start, "end": end, "token": lease.token, "holder": holder}) + "\n")
    backend.close()
    engine.dispose()


def mutex(lock_url: str, db_url: str, name: str, processes: int, count: int, hold_ms: float, outdir: Path) -> None:
    ctx = mp.get_context("fork")  # this process is single-threaded: forking it is safe
    start_line = ctx.Barrier(processes)
    procs = [
        ctx.Process(
            target=contend,
            args=(lock_url, db_url, name, count, hold_ms, f"w{i}", start_line, outdir / f"w{i}.jsonl"),
        )
        for i in range(processes)
    ]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join()
    failed = [proc.exitcode for proc in procs if proc.exitcode != 0]
    if failed:
        raise SystemExit(f"{len(failed)} of {processes} processes failed: exit codes {failed}")


def fenced_write(engine: sa.Engine, lease: locks.Lease, value: str) -> str:
    def write(conn: sa.Connection) -> None:
        conn.execute(sa.update(RESULTS).where(RESULTS.c.name == lease.name).values(value=value, token=lease.token))
        locks.fenced(conn, lease.name, lease.token)

    try:
        transaction(engine, write, what="fenced write")
    except locks.FencedOut as exc:
        return f"fenced: {exc}"
    return "ok"


def hold(lock_url: str, db_url: str, name: str, ttl: float) -> None:
    engine = connect_engine(db_url)
    backend = locks.connect(lock_url, engine=engine, holder_id="paused-holder")
    lease = backend.acquire(name, ttl, wait=10)
    if lease is None:
        raise SystemExit("no lease within 10 s")
    emit(token=lease.token)
    for line in sys.stdin:
        command, _, arg = line.strip().partition(" ")
        if command == "write":
            emit(write=fenced_write(engine, lease, arg), lost=lease.lost)
        elif command == "status":
            emit(lost=lease.lost, reason=lease.lost_reason)
        elif command == "exit":
            break
    backend.close()
    engine.dispose()


def try_once(lock_url: str, db_url: str, name: str, ttl: float) -> None:
    """Print this process's wall clock and the token of a non-blocking acquire (``none`` if refused)."""
    engine = connect_engine(db_url)
    backend = locks.connect(lock_url, engine=engine, holder_id="skewed-replica")
    lease = backend.acquire(name, ttl)
    print(time.time(), lease.token if lease is not None else "none", flush=True)
    backend.close()
    engine.dispose()


def main() -> None:
    configure_logging("warning", fmt="json")  # logs go to stderr; stdout carries the results
    mode, args = sys.argv[1], sys.argv[2:]
    if mode == "mutex":
        mutex(args[0], args[1], args[2], int(args[3]), int(args[4]), float(args[5]), Path(args[6]))
    elif mode == "try":
        try_once(args[0], args[1], args[2], float(args[3]))
    elif mode == "hold":
        hold(args[0], args[1], args[2], float(args[3]))
    else:
        raise SystemExit(f"unknown mode {mode}")


if __name__ == "__main__":
    main()
