"""HTTP endpoints of a replica: ``/healthz`` (alive), ``/readyz`` (database and lock backend reachable)
and ``/metrics``, served from a daemon thread.

``/metrics`` is prometheus-client's own WSGI app (``make_wsgi_app``): it negotiates the format from the
``Accept`` header (OpenMetrics for a Prometheus that asks for it, the text format otherwise), gzips when
``Accept-Encoding`` allows it and honours ``?name[]=`` filters. The probes answer GET and HEAD (a HEAD gets
the status and headers without a body). The server is the standard library's WSGI server, threaded.

More WSGI apps can be mounted by path prefix (``routes``, e.g. the web console at ``/`` and ``/api/``): the
wiring that starts the server hands them in, so this module never imports what it serves. The longest
matching prefix wins; the three endpoints above always come first. A mounted app sees the full path.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app
from prometheus_client.exposition import ThreadingWSGIServer

Check = Callable[[], str | None]  # None when fine, else what is wrong
StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

PROBE_METHODS = ("GET", "HEAD")


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # quiet: probes are frequent
        return


class HealthServer:
    """Serves the three endpoints until ``close``."""

    def __init__(
        self,
        host: str,
        port: int,
        alive: Check,
        ready: Check,
        registry: CollectorRegistry,
        routes: Mapping[str, WSGIApp] | None = None,
    ) -> None:
        metrics_app = make_wsgi_app(registry)
        probes = {"/healthz": alive, "/readyz": ready}
        mounted = sorted((routes or {}).items(), key=lambda item: len(item[0]), reverse=True)

        def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
            path = environ.get("PATH_INFO", "")
            if path == "/metrics":
                return metrics_app(environ, start_response)  # type: ignore[no-any-return]
            check = probes.get(path)
            if check is None:
                for prefix, mounted_app in mounted:
                    if path.startswith(prefix) or path == prefix.rstrip("/"):
                        return mounted_app(environ, start_response)
                return _plain(start_response, "404 Not Found", b"not found\n", environ)
            if environ["REQUEST_METHOD"] not in PROBE_METHODS:
                return _plain(
                    start_response, "405 Method Not Allowed", b"use GET or HEAD\n", environ, allow=PROBE_METHODS
                )
            problem = check()
            body = (problem or "ok").encode() + b"\n"
            return _plain(start_response, "503 Service Unavailable" if problem else "200 OK", body, environ)

        self._server = make_server(host, port, app, ThreadingWSGIServer, handler_class=_QuietHandler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="health", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _plain(
    start_response: StartResponse,
    status: str,
    body: bytes,
    environ: dict[str, Any],
    allow: tuple[str, ...] = (),
) -> list[bytes]:
    headers = [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))]
    if allow:
        headers.append(("Allow", ", ".join(allow)))
    start_response(status, headers)
    return [] if environ["REQUEST_METHOD"] == "HEAD" else [body]
