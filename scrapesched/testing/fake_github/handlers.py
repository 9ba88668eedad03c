"""The fake GitHub's HTTP plumbing: a threading HTTP/1.1 server on 127.0.0.1 whose request handler turns
each GET or POST into a :class:`Request`, hands it to the fake's ``serve`` function and writes the reply
back (or drops the connection when ``serve`` says so). Standard library only.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast

from scrapesched.testing.fake_github.protocol import Reply, Request

Serve = Callable[[Request], Reply | None]


class FakeServer(ThreadingHTTPServer):
    """The listening server; ``serve`` answers each request (None: drop the connection)."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], serve: Serve) -> None:
        self.serve = serve
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 30
    disable_nagle_algorithm = True  # headers and body are separate writes: no 40 ms delayed-ACK stall

    def version_string(self) -> str:
        return "GitHub.com"

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self._handle("POST")

    def _handle(self, method: str) -> None:
        request = Request(
            method=method,
            target=self.path,
            authorization=self.headers.get("Authorization"),
            if_none_match=self.headers.get("If-None-Match"),
            if_modified_since=self.headers.get("If-Modified-Since"),
            accept=self.headers.get("Accept"),
            cookie=self.headers.get("Cookie"),
        )
        reply = cast(FakeServer, self.server).serve(request)
        if reply is None:
            self._drop()
            return
        self.send_response(reply.status)
        for name, value in reply.headers:
            self.send_header(name, value)
        self.end_headers()
        if reply.body:
            self.wfile.write(reply.body)

    def _drop(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the per-request stderr line; the fake keeps its own request log."""
