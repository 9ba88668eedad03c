"""``scrapesched run``: the long-running replica. Run the same command in every pod."""

from __future__ import annotations

import signal
import threading
from types import FrameType

import click

from scrapesched.cli.app import App
from scrapesched.config.errors import ConfigError


@click.command("run")
@click.option("--instance-id", default=None, help="This replica's name (default: hostname:pid).")
@click.option(
    "--allow-empty",
    is_flag=True,
    help="Start even when no [jobs.NAME] table schedules anything (otherwise exit 2).",
)
@click.pass_obj
def command(app: App, instance_id: str | None, allow_empty: bool) -> None:
    """Run the scheduler: every fire of every job shard runs once across all replicas."""
    from scrapesched.cli.wiring import console_routes, wired_runner
    from scrapesched.config.log_setup import get_logger
    from scrapesched.db.migrate import require_head
    from scrapesched.scheduler.health import HealthServer
    from scrapesched.scheduler.metrics import Metrics
    from scrapesched.scheduler.plan import build_plan
    from scrapesched.scheduler.plugins import load_registry
    from scrapesched.scheduler.service import SchedulerService

    log = get_logger("run")
    if instance_id:
        app.settings = app.require_settings().model_copy(update={"instance_id": instance_id})
    settings = app.require_settings()
    plan = build_plan(settings, load_registry())  # config errors first: exit 2 before any connection
    for job in plan:  # every job's module now: one that fails to import stops the replica here, not at a fire
        job.spec.function()
    empty = not any(job.scheduled for job in plan)
    if empty and not allow_empty:
        raise ConfigError(
            "nothing is scheduled: add a [jobs.NAME] table with an interval or cron (and not enabled = false)"
            " to the config file, or pass --allow-empty to run without jobs"
        )
    engine = app.engine()
    require_head(engine)
    metrics = Metrics()
    metrics.watch_freshness(engine)
    with wired_runner(app, metrics) as runner:  # the clients, built once; closed after the service stopped
        service = SchedulerService(engine, runner, plan, settings.max_concurrent)
        stop = threading.Event()

        def on_signal(signum: int, _frame: FrameType | None) -> None:
            log.info("signal_received", signal=signal.Signals(signum).name)
            stop.set()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        health = None
        if settings.http_port is not None:
            health = HealthServer(
                settings.http_host,
                settings.http_port,
                alive=lambda: None if service.alive() else "scheduler loop not running",
                ready=lambda: _ready(app),
                registry=metrics.registry,
                routes=console_routes(app, plan),
            )
            health.start()
            log.info("http_listening", port=health.port)
        service.start()
        if empty:
            log.info("nothing_scheduled", jobs=sorted(settings.jobs))
        try:
            while not stop.wait(1.0):
                pass
        finally:
            service.stop(settings.shutdown_grace)
            if health is not None:
                health.close()
    log.info("exited", instance=settings.instance_id)


def _ready(app: App) -> str | None:
    import sqlalchemy as sa

    try:
        with app.engine().connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except Exception as exc:
        return app.redactor(f"database unreachable: {type(exc).__name__}")
    try:
        app.locks().holder("readyz-probe")
    except Exception as exc:
        return app.redactor(f"lock backend unreachable: {type(exc).__name__}: {exc}")
    return None
