"""Support of the telemetry tests and their worker processes: a real local HTTP endpoint
(``ThreadingHTTPServer`` on 127.0.0.1, port 0) that logs what it answered, and ``RunContext`` building.

Each request is answered by a ``responder(path, headers) -> Answer`` and the answer is logged before it
is sent: ``log[(tag, status_code, error_type)]`` counts what the endpoint answered, in the same terms as
``http_error_summary`` (a "timeout" answer sleeps longer than the client waits and is logged as status 0,
error type ``timeout``). ``tag`` is the request's ``X-Worker`` header (or the path when absent).

``mix_responder(seed)`` answers a seeded mix of 200, 404, 500 and timeouts; ``telemetry_responder()``
serves Prometheus text and JSON documents whose values change with every request.

``run_context`` builds the context a job function gets from the runner, with ``lease=None`` (no fencing).
"""

from __future__ import annotations

import json
import math
import random
import socket
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import sqlalchemy as sa

from scrapesched.config.settings import Settings
from scrapesched.db.schema import metadata, telemetry_flushes, telemetry_hourly, telemetry_samples
from scrapesched.scheduler.context import RunContext


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    sleep: float = 0.0  # > the client's timeout: the client sees a timeout

    @property
    def logged_as(self) -> tuple[int, str]:
        if self.sleep > 0:
            return 0, "timeout"
        if self.status >= 500:
            return self.status, "server_error"
        if self.status >= 400:
            return self.status, "client_error"
        return self.status, ""


Responder = Callable[[str, Mapping[str, str]], Answer]


class EndpointServer:
    """The server, its thread and its log of answers."""

    def __init__(self, responder: Responder) -> None:
        self.responder = responder
        self.log: Counter[tuple[str, int, str]] = Counter()
        self.requests: Counter[str] = Counter()
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()  # headers and body go out in two writes: no Nagle delay between them
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def do_GET(self) -> None:
                tag = self.headers.get("X-Worker") or self.path
                answer = server.responder(self.path, dict(self.headers))
                status, error_type = answer.logged_as
                with server._lock:
                    server.log[(tag, status, error_type)] += 1
                    server.requests[self.path] += 1
                if answer.sleep:
                    time.sleep(answer.sleep)
                try:
                    self.send_response(answer.status)
                    self.send_header("Content-Type", answer.content_type)
                    self.send_header("Content-Length", str(len(answer.body)))
                    self.end_headers()
                    self.wfile.write(answer.body)
                except OSError:  # the client gave up (timeout): nothing to send to
                    self.close_connection = True

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = int(self.httpd.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def start(self) -> EndpointServer:
        self._thread.start()
        return self

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> EndpointServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def totals(self) -> Counter[tuple[int, str]]:
        """Answers per (status_code, error_type), all tags together."""
        with self._lock:
            out: Counter[tuple[int, str]] = Counter()
            for (_tag, status, error_type), n in self.log.items():
                out[(status, error_type)] += n
            return out

    def by_tag(self, tag: str) -> Counter[tuple[int, str]]:
        with self._lock:
            return Counter({(s, e): n for (t, s, e), n in self.log.items() if t == tag})


MIX = ((200, 74), (404, 12), (500, 13), (-1, 1))  # (status, weight); -1: a timeout


def mix_responder(seed: int, timeout_sleep: float) -> Responder:
    """A seeded mix of 200, 404, 500 and timeouts (the draw order follows the arrival order)."""
    rng = random.Random(seed)
    lock = threading.Lock()
    statuses = [s for s, _ in MIX]
    weights = [w for _, w in MIX]

    def respond(_path: str, _headers: Mapping[str, str]) -> Answer:
        with lock:
            status = rng.choices(statuses, weights)[0]
        if status == -1:
            return Answer(200, b"late", sleep=timeout_sleep)
        return Answer(status, f"status {status}".encode())

    return respond


def prometheus_text(name: str, n: int) -> bytes:
    """A small exposition whose values change with ``n`` (the request number of the endpoint)."""
    return (
        f"# HELP {name}_requests_total Requests served.\n"
        f"# TYPE {name}_requests_total counter\n"
        f'{name}_requests_total{{code="200",method="get"}} {100 + n}\n'
        f'{name}_requests_total{{method="post",code="500"}} {n % 7}\n'
        f"# TYPE {name}_temperature gauge\n"
        f"{name}_temperature {20 + (n * 37) % 11 / 2}\n"
        f"# TYPE {name}_up gauge\n"
        f"{name}_up 1\n"
    ).encode()


def json_document(n: int) -> bytes:
    return json.dumps(
        {"queue": {"waiting": (n * 13) % 50, "running": n % 5}, "workers": [{"busy": n % 2 == 0}, {"busy": True}]}
    ).encode()


JSON_PATHS = ["queue.waiting", "queue.running", "workers.0.busy"]


def telemetry_responder() -> Responder:
    """``/prom/NAME`` serves Prometheus text, ``/json/NAME`` a JSON document; values change per request."""
    counts: Counter[str] = Counter()
    lock = threading.Lock()

    def respond(path: str, _headers: Mapping[str, str]) -> Answer:
        with lock:
            counts[path] += 1
            n = counts[path]
        kind, _, name = path.strip("/").partition("/")
        if kind == "prom":
            return Answer(200, prometheus_text(name.replace("-", "_"), n), "text/plain; version=0.0.4")
        if kind == "json":
            return Answer(200, json_document(n), "application/json")
        if kind == "malformed":
            return Answer(200, b"# TYPE ok gauge\nok 1\nthis line { is not exposition\n")
        if kind == "html":
            return Answer(200, b"<html><body>Service Unavailable</body></html>", "text/html")
        if kind == "text-json":
            return Answer(200, json.dumps({"queue": {"waiting": "many", "running": 3}}).encode(), "application/json")
        if kind == "status":
            return Answer(int(name))
        if kind == "sleep":
            return Answer(200, b"late", sleep=float(name))
        return Answer(404, b"no such path")

    return respond


def ensure_flush_table(engine: sa.Engine) -> None:
    """Create ``telemetry_flushes`` if the migrations do not yet (a no-op once they do)."""
    metadata.create_all(engine, tables=[telemetry_flushes], checkfirst=True)


def run_context(
    engine: sa.Engine,
    settings: Settings,
    job: str,
    scheduled_for: datetime,
    *,
    shard: str = "",
    params: dict[str, Any] | None = None,
    resources: object = None,
    run_id: int = 1,
) -> RunContext[Any]:
    """The context the runner would give one run (no lease: writes are not fenced). ``resources``: the
    process's clients (``cli.wiring.scraper_resources``), which only ``http_telemetry`` uses."""
    return RunContext(
        job=job,
        shard=shard,
        params=dict(params or {}),
        scheduled_for=scheduled_for,
        trigger="schedule",
        run_id=run_id,
        owner=settings.instance_id,
        settings=settings,
        engine=engine,
        lease=None,
        stop_event=threading.Event(),
        resources=resources,
    )


def _rows(engine: sa.Engine, table: sa.Table, *extra: Any) -> list[sa.Row[Any]]:
    with engine.connect() as conn:
        return list(conn.execute(sa.select(table, *extra).order_by(table.c.id)))


Rollup = tuple[float, float, float, int, float, datetime]


def recompute(db: sa.Engine) -> dict[tuple[int, datetime], Rollup]:
    """min, max, avg, count, last and its time per (series, hour), computed here from the raw samples."""
    groups: dict[tuple[int, datetime], list[tuple[datetime, float]]] = defaultdict(list)
    for r in _rows(db, telemetry_samples):
        groups[(r.series_id, r.observed_at.replace(minute=0, second=0, microsecond=0))].append(
            (r.observed_at, r.value))
    out = {}
    for key, points in groups.items():
        values = [v for _, v in points]
        at, last = max(points)
        out[key] = (min(values), max(values), math.fsum(values) / len(values), len(values), last, at)
    return out


def rollups(db: sa.Engine) -> dict[tuple[int, datetime], Rollup]:
    """The rows of telemetry_hourly, by (series, hour)."""
    return {(r.series_id, r.hour): (r.min, r.max, r.avg, r.n, r.last, r.last_at)
            for r in _rows(db, telemetry_hourly, telemetry_hourly.c.count.label("n"))}


def assert_same(got: dict[Any, Any], expected: dict[Any, Any]) -> None:
    """Rollups equal: exactly, but for the average (the database sums in its own order)."""
    assert got.keys() == expected.keys()
    for key, (mn, mx, avg, n, last, at) in expected.items():
        g = got[key]
        assert (g[0], g[1], g[3], g[4], g[5]) == (mn, mx, n, last, at), key
        assert g[2] == pytest.approx(avg, rel=1e-12, abs=1e-12), key
