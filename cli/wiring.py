"""The app wiring of the commands that run jobs (``run``, ``run-once``): clients built once, closed once.

At start-up this module creates the telemetry buffer, the HTTP client of the telemetry scrapes and the GitHub
client, hooks them together once (the buffer's ``record`` is a hook of both clients, so every attempt is
counted in the per-host summary), and hands them to the ``Runner``, which gives them to every run as
``ctx.resources``. The runner's ``on_run_end`` hook flushes the buffer after each run; at shutdown the
clients are closed and the buffer flushed a last time. The scheduler never knows what the resources are.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from scrapesched.scheduler.runner import RunHook, Runner
from scrapesched.scrapers.github.client import GitHubClient
from scrapesched.scrapers.github.metrics import BudgetCollector
from scrapesched.scrapers.resources import ScraperResources
from scrapesched.scrapers.telemetry.buffer import TelemetryBuffer
from scrapesched.scrapers.telemetry.jobs import scrape_client

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from scrapesched.cli.app import App
    from scrapesched.config.settings import Settings
    from scrapesched.scheduler.context import RunContext
    from scrapesched.scheduler.health import WSGIApp
    from scrapesched.scheduler.metrics import Metrics
    from scrapesched.scheduler.plan import PlannedJob


def scraper_resources(settings: Settings, engine: Engine) -> ScraperResources:
    """The per-process clients of the scraper jobs, with the telemetry buffer hooked into both."""
    buffer = TelemetryBuffer(
        engine,
        owner=settings.instance_id,
        flush_interval=settings.telemetry.flush_interval,
        attempts=settings.db_retry_attempts,
        batch_size=settings.db_batch_size,
    )
    hooks = [buffer.record]
    github = GitHubClient(settings, engine, hooks=hooks)
    return ScraperResources(telemetry=buffer, http=scrape_client(settings, hooks), github=github)


def run_end_hooks(resources: ScraperResources) -> list[RunHook]:
    """What the runner calls after every run: write this process's buffered HTTP summary (never raises)."""

    def flush_telemetry(_ctx: RunContext[Any]) -> None:
        resources.telemetry.flush_quietly("run_end")

    return [flush_telemetry]


def console_routes(app: App, plan: Sequence[PlannedJob]) -> dict[str, WSGIApp]:
    """The web console's WSGI apps (the page at ``/``, the JSON API at ``/api/``) for the health server."""
    from scrapesched.console.web import Console
    from scrapesched.scheduler.replicas import package_version

    settings = app.require_settings()
    token = settings.console_write_token
    console = Console(
        engine=app.engine(),
        locks=app.locks(),
        plan=plan,
        instance_id=settings.instance_id,
        version=package_version(),
        write_token=token.get_secret_value() if token is not None else None,
        redactor=app.redactor,
    )
    return dict(console.routes())


@contextmanager
def wired_runner(app: App, metrics: Metrics, shutdown: threading.Event | None = None) -> Iterator[Runner]:
    """A ``Runner`` with this process's resources and hooks; the resources are closed when the block ends."""
    settings = app.require_settings()
    engine = app.engine()
    locks = app.locks()
    resources = scraper_resources(settings, engine)
    metrics.register(BudgetCollector(resources.github.budget))
    try:
        yield Runner(
            settings,
            engine,
            locks,
            resources,
            metrics,
            app.redactor,
            shutdown=shutdown,
            on_run_end=run_end_hooks(resources),
        )
    finally:
        resources.close()
