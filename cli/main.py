"""The ``scrapesched`` command line: the root group, and ``main`` that turns errors into one line.

Commands live one per module in ``cli/commands/``; each module exports ``command``. Adding a command
is adding a module. The root group imports a command's module only when it is used (``LazyGroup``), so
start-up costs only what the command needs: ``--help`` loads neither pydantic nor SQLAlchemy, ``jobs`` and
``status`` no job module. Only ``main`` prints errors and chooses exit statuses; everything below it raises.
"""

from __future__ import annotations

import sys

import click

from scrapesched.cli.app import App, secrets_of
from scrapesched.cli.commands import LazyGroup
from scrapesched.config.errors import ScrapeschedError

EXIT_INTERNAL = 70


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(None, "--version", "-V", package_name="scrapesched", prog_name="scrapesched")
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False),
    default=None,
    help="TOML config file (default: $SCRAPESCHED_CONFIG). Environment variables beat the file.",
)
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    default=None,
    help="Override SCRAPESCHED_LOG_LEVEL.",
)
@click.pass_context
def cli(ctx: click.Context, config_file: str | None, log_level: str | None) -> None:
    """scrapesched: run scrapers on N replicas, every scheduled fire exactly once, every write an upsert."""
    # Imported here, not at the top: ``--help`` and ``--version`` never load pydantic; structlog is loaded by
    # the first line logged.
    from scrapesched.config.log_setup import configure_logging_on_first_use
    from scrapesched.config.settings import load_settings

    app = ctx.ensure_object(App)
    overrides = {"log_level": log_level} if log_level else {}
    settings = load_settings(config_file, **overrides)
    app.settings = settings
    for secret in secrets_of(settings):
        app.redactor.add(secret)
    configure_logging_on_first_use(settings.log_level, settings.log_format, app.redactor)
    ctx.call_on_close(app.close)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the exit status."""
    app = App()
    try:
        rv = cli.main(args=argv, prog_name="scrapesched", standalone_mode=False, obj=app)
    except click.exceptions.Abort:
        click.echo("scrapesched: interrupted", err=True)
        return 130
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except ScrapeschedError as exc:
        click.echo(f"scrapesched: error: {app.redactor(str(exc))}", err=True)
        return exc.exit_code
    except KeyboardInterrupt:
        click.echo("scrapesched: interrupted", err=True)
        return 130
    except Exception as exc:  # a bug of ours: one line, the traceback only at debug level
        from scrapesched.config.log_setup import get_logger

        get_logger("scrapesched").debug("internal_error", exc_info=True)
        click.echo(
            f"scrapesched: internal error: {app.redactor(f'{type(exc).__name__}: {exc}')} "
            "(run with --log-level debug for the traceback)",
            err=True,
        )
        return EXIT_INTERNAL
    return rv if isinstance(rv, int) else 0


def run() -> None:  # pragma: no cover - console script shim
    sys.exit(main())
