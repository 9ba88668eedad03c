"""Benchmark of the per-host HTTP telemetry: its overhead on a 10,000-request scrape and the cost of a flush.

(a) Overhead: a local endpoint (``ThreadingHTTPServer`` on 127.0.0.1 in a child process, HTTP/1.1
    keep-alive, a 200 with a small body) is scraped with ``--requests`` sequential GETs through
    ``HttpClient`` without telemetry and ``--requests`` with it (the ``TelemetryBuffer`` hook on the client,
    the periodic flusher at its default 10 s, and the run's end-of-run flush inside the timed section).
    The two clients take turns of ``--block`` requests (who goes first alternates), so changes of machine
    load hit both alike. Both wall time and the client process's CPU time are measured (CPU time is what
    the hook costs and is less disturbed by other load on the machine); the table reports the medians
    over ``--reps`` repetitions and the median of the per-repetition overheads.
(b) Hook cost: ``TelemetryBuffer.record`` called 1,000,000 times on one thread (microseconds per call),
    and the same as a share of the median request time measured in (a) -- the floor of the overhead that
    does not depend on timing noise.
(c) Flush cost: on each backend (a fresh database ``bench_<random>`` per server backend, dropped at the
    end; a temporary file for SQLite), one flush of a buffer holding ``K`` distinct (host, status, error
    type) keys, for K in 6 (one host, the usual mix), 100 and 1,000; median of ``--flush-reps`` flushes,
    each adding to the rows the previous ones wrote (the steady state of a long-running replica).

Usage::

    .venv/bin/python -m bench.telemetry [--requests 10000] [--reps 5] [--block 250] [--flush-reps 20]
                                        [--backend postgres] [--flush-backends sqlite,mariadb,postgres]

Prints Markdown tables. Timings are never a test.
"""

from __future__ import annotations

import argparse
import logging
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import structlog

from scrapesched.scrapers.http import HttpClient, RequestRecord
from scrapesched.scrapers.telemetry.buffer import TelemetryBuffer
from scrapesched.testing.scratch import BACKENDS, ServerUrls, migrated_database

BODY = b'{"ok": true, "items": [1, 2, 3]}'
FLUSH_KEYS = (6, 100, 1000)
HOOK_CALLS = 1_000_000


# --- the endpoint (child process) -----------------------------------------------------------------------------
class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)

    def log_message(self, format: str, *args: Any) -> None:
        return


def serve() -> None:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    print(httpd.server_address[1], flush=True)
    httpd.serve_forever()


@contextmanager
def endpoint() -> Iterator[str]:
    child = subprocess.Popen([sys.executable, __file__, "--serve"], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        port = int(child.stdout.readline())
        yield f"http://127.0.0.1:{port}/items"
    finally:
        child.terminate()
        child.wait(timeout=10)


# --- (a) overhead ------------------------------------------------------------------------------------------------
def _timed(client: HttpClient, url: str, n: int) -> tuple[float, float]:
    """(wall seconds, this process's CPU seconds) for ``n`` GETs."""
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(n):
        client.get(url)
    return time.perf_counter() - wall, time.process_time() - cpu


Timing = tuple[float, float]  # wall seconds, client CPU seconds


def _add(a: Timing, b: Timing) -> Timing:
    return a[0] + b[0], a[1] + b[1]


def overhead(url: str, engine: sa.Engine, requests: int, reps: int, block: int) -> list[tuple[Timing, Timing]]:
    """Per repetition: (without telemetry, with it), each (wall s, client CPU s) for ``requests`` GETs.

    Two clients, one with the hook, take turns in blocks of ``block`` requests (who goes first alternates),
    so a change of machine load hits both alike; the run's flush is added to the telemetry side.
    """
    out: list[tuple[Timing, Timing]] = []
    for _ in range(reps):
        buffer = TelemetryBuffer(engine)
        plain = HttpClient(timeout=10, concurrency=1)
        hooked = HttpClient(timeout=10, concurrency=1, hooks=[buffer.record])
        plain.get(url)  # connect outside the timed section
        hooked.get(url)
        buffer.flush()
        without: Timing = (0.0, 0.0)
        with_: Timing = (0.0, 0.0)
        for b in range(requests // block):
            if b % 2 == 0:
                without = _add(without, _timed(plain, url, block))
                with_ = _add(with_, _timed(hooked, url, block))
            else:
                with_ = _add(with_, _timed(hooked, url, block))
                without = _add(without, _timed(plain, url, block))
        wall, cpu = time.perf_counter(), time.process_time()
        buffer.flush()  # the end-of-run flush
        with_ = _add(with_, (time.perf_counter() - wall, time.process_time() - cpu))
        buffer.close()
        plain.close()
        hooked.close()
        out.append((without, with_))
    return out


# --- (b) hook cost -----------------------------------------------------------------------------------------------
def hook_cost(engine: sa.Engine) -> float:
    """Microseconds per ``TelemetryBuffer.record`` call."""
    buffer = TelemetryBuffer(engine, flush_interval=None)
    records = [RequestRecord("api.example", "GET", "/x", (200, 304, 404, 500)[i % 4], "", 0.01, 1) for i in range(100)]
    started = time.perf_counter()
    for i in range(HOOK_CALLS):
        buffer.record(records[i % 100])
    return (time.perf_counter() - started) / HOOK_CALLS * 1e6


# --- (c) flush cost ----------------------------------------------------------------------------------------------
MIX = ((200, ""), (304, ""), (404, "client_error"), (500, "server_error"), (0, "timeout"), (0, "connect"))


def flush_cost(engine: sa.Engine, keys: int, reps: int) -> float:
    """Median milliseconds of one flush of ``keys`` distinct keys."""
    times: list[float] = []
    buffer = TelemetryBuffer(engine, flush_interval=None)
    for _ in range(reps + 1):
        for k in range(keys):
            status, error_type = MIX[k % len(MIX)]
            buffer.add(f"host{k // len(MIX)}.example", status, error_type, n=3)
        times.append(buffer.flush().seconds * 1000)
    return statistics.median(times[1:])  # the first flush inserts the rows; the rest add to them


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--block", type=int, default=250, help="requests per turn of each client")
    parser.add_argument("--flush-reps", type=int, default=20)
    parser.add_argument("--backend", default="postgres", choices=BACKENDS)
    parser.add_argument("--flush-backends", default=",".join(BACKENDS))
    args = parser.parse_args()
    if args.serve:
        serve()
        return
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    workdir = Path(tempfile.mkdtemp(prefix="bench_telemetry_"))
    servers = ServerUrls.from_env()
    with endpoint() as url, migrated_database(args.backend, workdir, servers, "bench_") as (_, engine):
        pairs = overhead(url, engine, args.requests, args.reps, args.block)
        per_call = hook_cost(engine)
    per_request_us = statistics.median(a[0] for a, _ in pairs) / args.requests * 1e6
    print(
        f"## Telemetry overhead ({args.requests:,} GETs per variant, {args.reps} repetitions, "
        f"turns of {args.block}, {args.backend})\n"
    )
    print(
        "| measure | without telemetry (median) | with telemetry (median) | overhead per repetition: median "
        "(min .. max) |"
    )
    print("|---|---:|---:|---:|")
    for i, label in ((0, "wall time"), (1, "client CPU time")):
        ratios = sorted((b[i] - a[i]) / a[i] * 100 for a, b in pairs)
        print(
            f"| {label} | {statistics.median(a[i] for a, _ in pairs):.3f} s | "
            f"{statistics.median(b[i] for _, b in pairs):.3f} s | {statistics.median(ratios):+.2f} % "
            f"({ratios[0]:+.2f} .. {ratios[-1]:+.2f} %) |"
        )
    print()
    print(
        f"hook: {per_call:.2f} us per record() = {per_call / per_request_us * 100:.2f} % of a "
        f"{per_request_us:.0f} us request\n"
    )
    print(f"## One flush (median of {args.flush_reps}, steady state)\n")
    print("| backend | " + " | ".join(f"{k:,} keys" for k in FLUSH_KEYS) + " |")
    print("|---|" + "---:|" * len(FLUSH_KEYS))
    for backend in args.flush_backends.split(","):
        with migrated_database(backend, workdir, servers, "bench_") as (_, engine):
            cells = [f"{flush_cost(engine, k, args.flush_reps):.1f} ms" for k in FLUSH_KEYS]
        print(f"| {backend} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
