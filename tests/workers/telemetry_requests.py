"""One scraper process of the telemetry counting test: N GETs through ``HttpClient`` with the telemetry hook.

Usage: ``telemetry_requests.py DB_URL BASE_URL WORKER CALLS FLUSH_EVERY TIMEOUT_S``

Every ``FLUSH_EVERY`` calls (one "run") it flushes the buffer, then prints one line
``FLUSHED {"calls": done, "flushed": [[host, status, error_type, n], ...]}`` with the cumulative counts
this process made durable, so the test knows the most a kill can have lost. Requests carry
``X-Worker: WORKER`` so the endpoint logs its answers per process.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
from collections import Counter

import structlog

from scrapesched.db.engine import connect_engine
from scrapesched.scrapers.http import HttpClient, TransportFailure
from scrapesched.scrapers.telemetry.buffer import FlushResult, Key, TelemetryBuffer


def main() -> None:
    url, base, worker = sys.argv[1], sys.argv[2], sys.argv[3]
    calls, flush_every, timeout = int(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6])
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    engine = connect_engine(url)
    buffer = TelemetryBuffer(engine, owner=worker, flush_interval=None)
    client = HttpClient(
        timeout=timeout,
        concurrency=1,
        attempts=3,
        first_backoff=0.001,
        max_backoff=0.005,
        headers={"X-Worker": worker},
        hooks=[buffer.record],
    )
    flushed: Counter[Key] = Counter()

    def report(result: FlushResult, done: int) -> None:
        flushed.update(result.counts)
        payload = {"calls": done, "flushed": [[*k, n] for k, n in sorted(flushed.items())]}
        print("FLUSHED " + json.dumps(payload), flush=True)

    for i in range(calls):
        with contextlib.suppress(TransportFailure):  # counted by the hook all the same
            client.get(base + "/mix")
        if (i + 1) % flush_every == 0:
            report(buffer.flush(), i + 1)
    report(buffer.flush(), calls)
    client.close()
    engine.dispose()


if __name__ == "__main__":
    main()
