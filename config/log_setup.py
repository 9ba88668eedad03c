"""Logging set-up, done once at start-up: structlog, JSON lines or console, secrets redacted.

Standard-library loggers (APScheduler, Alembic, SQLAlchemy) go through the same processors, so their
lines are formatted and redacted like ours.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any, TextIO

import structlog

from scrapesched.config.redact import Redactor

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


def _redacting(redactor: Redactor) -> structlog.types.Processor:
    def redact(_logger: Any, _name: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        for key, value in event.items():
            if isinstance(value, str):
                event[key] = redactor(value)
            elif isinstance(value, BaseException):
                event[key] = redactor(f"{type(value).__name__}: {value}")
            elif value is not None and not isinstance(value, int | float | bool):
                event[key] = redactor(str(value))
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
