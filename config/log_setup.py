"""Logging set-up, done once at start-up: structlog, JSON lines or console, secrets redacted.

Standard-library loggers (APScheduler, Alembic, SQLAlchemy) go through the same processors, so their
lines are formatted and redacted like ours. Redaction reaches into nested values and keeps their shape:
a dict or list field is a JSON object or array in a JSON line, with every string in it redacted. The log
context a run binds (``structlog.contextvars``) is merged into every line.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any, TextIO

import structlog

from scrapesched.config.redact import Redactor

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


# Keys ProcessorFormatter adds for its own use (the LogRecord itself): not part of the line.
_META_KEYS = frozenset({"_record", "_from_structlog"})


def redacted(value: Any, redactor: Redactor) -> Any:
    """``value`` with every string in it redacted; dicts, lists and tuples stay structures (JSON objects and
    arrays in JSON lines), numbers, booleans and None stay as they are, anything else becomes its text."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return redactor(value)
    if isinstance(value, BaseException):
        return redactor(f"{type(value).__name__}: {value}")
    if isinstance(value, Mapping):
        return {redacted(k, redactor) if isinstance(k, str) else k: redacted(v, redactor) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [redacted(v, redactor) for v in value]
    return redactor(str(value))


def _redacting(redactor: Redactor) -> structlog.types.Processor:
    def redact(_logger: Any, _name: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        for key, value in event.items():
            if key not in _META_KEYS:
                event[key] = redacted(value, redactor)
        return event

    return redact


def configure_logging(
    level: str = "info", fmt: str = "auto", redactor: Redactor | None = None, stream: TextIO | None = None
) -> None:
    """Configure structlog and the standard logging module for this process."""
    stream = stream or sys.stderr
    redactor = redactor or Redactor()
    json_lines = fmt == "json" or (fmt == "auto" and not stream.isatty())
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        _redacting(redactor),
    ]
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer() if json_lines else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS[level]),
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(_LEVELS[level])
    # Chatty libraries stay at warning unless we debug.
    for name in ("apscheduler", "alembic", "sqlalchemy", "httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.DEBUG if level == "debug" else logging.WARNING)
