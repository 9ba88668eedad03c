"""The console's WSGI apps: the page (``/``: Jinja2 templates, fragments that htmx reloads every two
seconds, the vendored static files) and the JSON API (``/api/``), mounted on a replica's health port.

Both read through ``console.queries``. Write actions (``POST /api/jobs/{job}/pause|resume|trigger``) are
refused unless ``console_write_token`` is set, and then need ``Authorization: Bearer <token>``: 401
without a bearer token, 403 with a wrong one or when writes are disabled; every refusal is logged with the
reason, the path and the client address, never the token.
"""

from __future__ import annotations

import hmac
import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from importlib.resources import files
from typing import Any
from urllib.parse import parse_qs

from jinja2 import Environment, PackageLoader, select_autoescape
from pydantic import BaseModel, ValidationError
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from scrapesched.config.log_setup import get_logger
from scrapesched.config.redact import Redactor
from scrapesched.console import models, openapi, queries
from scrapesched.db.vocabulary import RunStatus
from scrapesched.locks import LockBackend
from scrapesched.scheduler import control
from scrapesched.scheduler.plan import PlannedJob

log = get_logger("console")

StartResponse = Callable[..., Any]
Environ = dict[str, Any]
Answer = tuple[str, list[tuple[str, str]], bytes]

STATIC = {"htmx.min.js": "text/javascript", "console.css": "text/css", "htmx.LICENSE": "text/plain"}
ACTION_PATH = re.compile(r"^/api/jobs/(?P<job>[^/]+)/(?P<action>pause|resume|trigger)$")
MAX_BODY = 64 * 1024
REFRESH_EVENT = "console-refresh"
PAGE_RUNS = 20  # runs on the page (the API's default page is longer)


class Refused(Exception):
    """A request answered with an error status and a one-line message."""

    def __init__(self, status: str, message: str, headers: Sequence[tuple[str, str]] = ()) -> None:
        super().__init__(message)
        self.status, self.message, self.headers = status, message, list(headers)


def age(then: datetime | None, now: datetime) -> str:
    """``then`` as a short age before ``now`` (``45s``, ``12m``, ``5h``, ``3d``; ``in 4s`` ahead; ``-``)."""
    if then is None:
        return "-"
    seconds = (now - then).total_seconds()
    span = abs(seconds)
    if span < 60:
        text = f"{int(span)}s"
    elif span < 3600:
        text = f"{int(span // 60)}m"
    elif span < 48 * 3600:
        text = f"{int(span // 3600)}h"
    else:
        text = f"{int(span // 86400)}d"
    return f"in {text}" if seconds < 0 else text


def _path(environ: Environ) -> str:
    raw = str(environ.get("PATH_INFO", "") or "/")
    return raw.encode("latin-1", "replace").decode("utf-8", "replace")  # PEP 3333: bytes as latin-1


def _client(environ: Environ) -> str:
    return str(environ.get("REMOTE_ADDR", "?"))


def _json_answer(status: str, value: Any, headers: Sequence[tuple[str, str]] = ()) -> Answer:
    if isinstance(value, BaseModel):
        body = value.model_dump_json().encode()
    else:
        body = json.dumps(value, default=_dump).encode()
    return status, [("Content-Type", "application/json"), ("Cache-Control", "no-store"), *headers], body


def _dump(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    raise TypeError(type(value).__name__)


def _html_answer(body: str, status: str = "200 OK", headers: Sequence[tuple[str, str]] = ()) -> Answer:
    head = [("Content-Type", "text/html; charset=utf-8"), ("Cache-Control", "no-store"), *headers]
    return status, head, body.encode()


def _one(query: dict[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    if not values:
        return None
    if len(values) > 1:
        raise Refused("400 Bad Request", f"{name} given more than once")
    return values[0]


def _int(query: dict[str, list[str]], name: str, low: int, high: int | None = None) -> int | None:
    text = _one(query, name)
    if text is None:
        return None
    if not re.fullmatch(r"[0-9]{1,19}", text.strip()):
        raise Refused("400 Bad Request", f"{name} must be a whole number")
    value = int(text)
    if value < low or (high is not None and value > high):
        raise Refused("400 Bad Request", f"{name} must be between {low} and {high}" if high else f"{name} < {low}")
    return value


@dataclass
class Console:
    """The console of one replica: what it reads, and the write token (None: read-only)."""

    engine: Engine
    locks: LockBackend
    plan: Sequence[PlannedJob]
    instance_id: str
    version: str
    write_token: str | None
    redactor: Redactor

    def __post_init__(self) -> None:
        self._templates = Environment(
            loader=PackageLoader("scrapesched.console", "templates"),
            autoescape=select_autoescape(default=True),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self._templates.filters["age"] = age
        self._openapi = json.dumps(openapi.document(self.version)).encode()

    # ---- mounting --------------------------------------------------------------------------------

    def routes(self) -> dict[str, Callable[[Environ, StartResponse], Iterable[bytes]]]:
        """The WSGI apps to mount on the health server: the page at ``/``, the JSON API at ``/api/``."""
        return {"/": self.page_app, "/api/": self.api_app}

    def page_app(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        return self._serve(environ, start_response, self._page, html=True)

    def api_app(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        from_page = bool(environ.get("HTTP_HX_REQUEST"))  # htmx (the page's buttons): HTML answers
        return self._serve(environ, start_response, self._api, html=from_page)

    def _serve(
        self, environ: Environ, start_response: StartResponse, handler: Callable[[Environ], Answer], html: bool
    ) -> Iterable[bytes]:
        try:
            status, headers, body = handler(environ)
        except Refused as exc:
            status, headers, body = self._error(exc.status, exc.message, html, exc.headers)
        except SQLAlchemyError as exc:
            log.warning("console_database_error", error_type=type(exc).__name__)
            status, headers, body = self._error(
                "503 Service Unavailable", self.redactor(f"database unavailable: {type(exc).__name__}"), html
            )
        except Exception as exc:
            log.error("console_error", error_type=type(exc).__name__, error=self.redactor(str(exc))[:500])
            failed = f"internal error: {type(exc).__name__}"
            status, headers, body = self._error("500 Internal Server Error", failed, html)
        headers.append(("Content-Length", str(len(body))))
        start_response(status, headers)
        return [] if environ.get("REQUEST_METHOD") == "HEAD" else [body]

    def _error(self, status: str, message: str, html: bool, headers: Sequence[tuple[str, str]] = ()) -> Answer:
        if html:
            return _html_answer(self._templates.get_template("_problem.html").render(message=message), status, headers)
        return _json_answer(status, models.Problem(error=message), headers)

    # ---- the page --------------------------------------------------------------------------------

    def _page(self, environ: Environ) -> Answer:
        path, method = _path(environ), environ.get("REQUEST_METHOD", "GET")
        if path.startswith("/static/"):
            return self._static(path.removeprefix("/static/"), method)
        pages = {"/": "index.html", "/fragments/fleet": "_fleet.html", "/fragments/runs": "_runs.html",
                 "/fragments/github": "_github.html"}
        template = pages.get(path)
        if template is None:
            raise Refused("404 Not Found", f"no page {path}")
        if method not in ("GET", "HEAD"):
            raise Refused("405 Method Not Allowed", "use GET", [("Allow", "GET, HEAD")])
        query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        context: dict[str, Any] = {"info": self.info(), "statuses": [s.value for s in RunStatus]}
        if template in ("index.html", "_fleet.html"):
            context["fleet"] = queries.fleet(self.engine, self.locks, self.plan)
        if template in ("index.html", "_runs.html"):
            filters = self._filters(query, blank_is_any=True, default_limit=PAGE_RUNS)
            context["filters"] = filters
            context["page"] = queries.run_page(self.engine, filters)
            context["jobs"] = sorted(p.name for p in self.plan)
        if template in ("index.html", "_github.html"):
            context["github"] = queries.github(self.engine, self.plan)
            context["hosts"] = queries.hosts(self.engine)
        now = context.get("fleet", context.get("github"))
        context["now"] = now.now if now is not None else None
        return _html_answer(self._templates.get_template(template).render(**context))

    def _static(self, name: str, method: str) -> Answer:
        if name not in STATIC:
            raise Refused("404 Not Found", f"no static file {name}")
        if method not in ("GET", "HEAD"):
            raise Refused("405 Method Not Allowed", "use GET", [("Allow", "GET, HEAD")])
        body = (files("scrapesched.console") / "static" / name).read_bytes()
        return "200 OK", [("Content-Type", STATIC[name]), ("Cache-Control", "max-age=3600")], body

    # ---- the API ---------------------------------------------------------------------------------

    def _api(self, environ: Environ) -> Answer:
        path, method = _path(environ), environ.get("REQUEST_METHOD", "GET")
        found = ACTION_PATH.match(path)
        if found:
            if method != "POST":
                raise Refused("405 Method Not Allowed", "use POST", [("Allow", "POST")])
            self._authorize(environ, path)
            result = self._act(environ, found["action"], found["job"])
            if environ.get("HTTP_HX_REQUEST"):
                done = self._templates.get_template("_done.html").render(result=result)
                return _html_answer(done, headers=[("HX-Trigger", REFRESH_EVENT)])
            return _json_answer("200 OK", result)
        reads: dict[str, Callable[[dict[str, list[str]]], Any]] = {
            "/api/info": lambda q: self.info(),
            "/api/fleet": lambda q: queries.fleet(self.engine, self.locks, self.plan),
            "/api/runs": lambda q: queries.run_page(self.engine, self._filters(q, blank_is_any=False)),
            "/api/github": lambda q: queries.github(self.engine, self.plan),
            "/api/hosts": lambda q: queries.hosts(self.engine),
        }
        if path == "/api/openapi.json":
            read: Callable[[dict[str, list[str]]], Any] | None = None
        else:
            read = reads.get(path)
            if read is None:
                raise Refused("404 Not Found", f"no API endpoint {path}")
        if method not in ("GET", "HEAD"):
            raise Refused("405 Method Not Allowed", "use GET", [("Allow", "GET, HEAD")])
        if read is None:
            return "200 OK", [("Content-Type", "application/json")], self._openapi
        query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        return _json_answer("200 OK", read(query))

    def info(self) -> models.Info:
        enabled = self.write_token is not None
        return models.Info(instance_id=self.instance_id, version=self.version, write_enabled=enabled)

    def _filters(
        self, query: dict[str, list[str]], blank_is_any: bool, default_limit: int = queries.DEFAULT_PAGE
    ) -> queries.RunFilter:
        def text(name: str) -> str | None:
            value = _one(query, name)
            return None if value is None or (blank_is_any and value == "") else value

        if blank_is_any:  # the page's form sends every field, empty when not chosen
            query = {k: v for k, v in query.items() if v != [""]}
        status = text("status")
        if status is not None and status not in {s.value for s in RunStatus}:
            raise Refused("400 Bad Request", f"status must be one of {', '.join(s.value for s in RunStatus)}")
        limit = _int(query, "limit", 1, queries.MAX_PAGE)
        return queries.RunFilter(
            job=text("job"),
            shard=text("shard"),
            status=status,
            before=_int(query, "before", 1, queries.MAX_RUN_ID),
            limit=limit if limit is not None else default_limit,
        )

    # ---- write actions ---------------------------------------------------------------------------

    def _authorize(self, environ: Environ, path: str) -> None:
        def refuse(status: str, reason: str, message: str, headers: Sequence[tuple[str, str]] = ()) -> Refused:
            log.warning("console_write_refused", reason=reason, path=path, client=_client(environ))
            return Refused(status, message, headers)

        if self.write_token is None:
            raise refuse(
                "403 Forbidden",
                "writes_disabled",
                "write actions are disabled on this console (set SCRAPESCHED_CONSOLE_WRITE_TOKEN to enable them)",
            )
        header = str(environ.get("HTTP_AUTHORIZATION", ""))
        scheme, _, given = header.partition(" ")
        if scheme.lower() != "bearer" or not given.strip():
            raise refuse(
                "401 Unauthorized", "missing_token", "a bearer token is required", [("WWW-Authenticate", "Bearer")]
            )
        if not hmac.compare_digest(given.strip().encode(), self.write_token.encode()):
            raise refuse("403 Forbidden", "wrong_token", "the bearer token is not valid")

    def _body(self, environ: Environ) -> models.Action:
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError as exc:
            raise Refused("400 Bad Request", "Content-Length is not a number") from exc
        if length > MAX_BODY:
            raise Refused("413 Content Too Large", f"the body is larger than {MAX_BODY} bytes")
        raw = environ["wsgi.input"].read(length) if length > 0 else b""
        kind = str(environ.get("CONTENT_TYPE", "")).split(";")[0].strip().lower()
        try:
            if not raw.strip():
                data: Any = {}
            elif kind == "application/x-www-form-urlencoded":
                form = parse_qs(raw.decode("utf-8"), keep_blank_values=True)
                data = {k: v[-1] for k, v in form.items() if v[-1] != ""}
            else:
                data = json.loads(raw)
            return models.Action.model_validate(data)
        except (UnicodeDecodeError, ValueError) as exc:
            first = exc.errors()[0] if isinstance(exc, ValidationError) else None
            where = f" ({'.'.join(str(p) for p in first['loc'])}: {first['msg']})" if first else ""
            raise Refused("400 Bad Request", f"the body is not a valid action{where}") from exc

    def _act(self, environ: Environ, action: str, job: str) -> models.ActionResult:
        body = self._body(environ)
        planned = {p.name: p for p in self.plan}.get(job)
        if planned is None:
            raise Refused("404 Not Found", f"unknown job {job!r}")
        if body.shard is not None and body.shard not in planned.shards:
            raise Refused("404 Not Found", f"job {job} has no shard {body.shard!r}")
        by = f"console@{self.instance_id} ({_client(environ)})"[:255]
        shards = [body.shard] if body.shard is not None else []
        if action == "pause":
            scope = body.shard if body.shard is not None else control.ALL_SHARDS
            control.pause(self.engine, job, scope, body.reason, by)
            message = f"paused {job}{_which(shards)}: every replica skips its fires within a second or two"
        elif action == "resume":
            lifted = control.resume(self.engine, job, body.shard)
            message = f"resumed {job}{_which(shards)} ({lifted} pause{'s' if lifted != 1 else ''} lifted)"
        else:
            shards = shards or list(planned.shards)
            control.request(self.engine, job, shards, {}, by)
            message = f"triggered {job}{_which(shards)}: a replica with a free slot runs it once"
        log.info("console_action", action=action, job=job, shards=shards, client=_client(environ))
        result = models.ActionResult(action=action, job=job, shards=shards, message=message)  # type: ignore[arg-type]
        return result


def _which(shards: Sequence[str]) -> str:
    named = [s for s in shards if s]
    return f" [{', '.join(named)}]" if named else ""
