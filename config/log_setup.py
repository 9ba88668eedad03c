"""Logging set-up, done once at start-up: structlog, JSON lines or console, secrets redacted.

Standard-library loggers (APScheduler, Alembic, SQLAlchemy) go through the same processors, so their
lines are formatted and redacted like ours. Redaction reaches into nested values and keeps their shape:
a dict or list field is a JSON object or array in a JSON line, with every string in it redacted. The log
context a run binds (``structlog.contextvars``) is merged into every line.

structlog is imported when the first line is logged, not before: importing it (and rich and asyncio, which it
imports) takes about 0.13 s, which ``status`` and ``jobs`` would pay for loggers that never log. Modules get
their logger from ``get_logger``; the CLI calls ``configure_logging_on_first_use``, which sets the levels at
once and configures structlog when a line is first logged, through a logger of ours or a standard-library one.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable, Mapping, MutableMapping
from typing import TYPE_CHECKING, Any, TextIO

from scrapesched.config.redact import Redactor

if TYPE_CHECKING:
    import structlog

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
    """Configure structlog and the standard logging module for this process, now."""
    import structlog

    _deferred.clear()
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
    logging.getLogger().handlers[:] = [handler]
    _set_levels(level)


def _set_levels(level: str) -> None:
    logging.getLogger().setLevel(_LEVELS[level])
    # Chatty libraries stay at warning unless we debug.
    for name in ("apscheduler", "alembic", "sqlalchemy", "httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.DEBUG if level == "debug" else logging.WARNING)


class _Deferred:
    """The configuration ``configure_logging_on_first_use`` left to do, done once by whichever thread logs first."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: Callable[[], None] | None = None

    def set(self, configure: Callable[[], None]) -> None:
        with self._lock:
            self._pending = configure

    def clear(self) -> None:
        self._pending = None

    def run(self) -> None:
        if self._pending is None:  # the common case, without the lock: configured already
            return
        with self._lock:
            configure, self._pending = self._pending, None
            if configure is not None:
                configure()


_deferred = _Deferred()


class _ConfigureOnFirstRecord(logging.Handler):
    """The root handler until the first standard-library record: configures logging, then hands the record to
    the handlers that configuration installed."""

    def emit(self, record: logging.LogRecord) -> None:
        _deferred.run()
        for handler in logging.getLogger().handlers:
            if handler is not self and record.levelno >= handler.level:
                handler.handle(record)


def configure_logging_on_first_use(
    level: str = "info", fmt: str = "auto", redactor: Redactor | None = None, stream: TextIO | None = None
) -> None:
    """Like ``configure_logging``, with structlog imported and configured when the first line is logged.
    Levels apply at once, so a record below them never triggers the import."""
    stream = stream or sys.stderr
    _deferred.set(lambda: configure_logging(level, fmt, redactor, stream))
    logging.getLogger().handlers[:] = [_ConfigureOnFirstRecord()]
    _set_levels(level)


class Logger:
    """A structlog logger that imports structlog, and applies the configuration left for first use, when a
    method is first called (``log.info(...)``, ``log.bind(...)``): what ``get_logger`` returns."""

    __slots__ = ("_logger", "_name")

    def __init__(self, name: str) -> None:
        self._name = name
        self._logger: Any = None

    def __getattr__(self, attr: str) -> Any:
        _deferred.run()  # every call: a logger first used before the CLI configured logging is configured too
        logger = self._logger
        if logger is None:
            import structlog

            logger = self._logger = structlog.get_logger(self._name)
        return getattr(logger, attr)


def get_logger(name: str) -> Logger:
    """The logger a module keeps at module level: ``log = get_logger("db.retry")``."""
    return Logger(name)
