"""One module per CLI command; each exports ``command`` (a click command). Found here, added by the CLI.

Commands are loaded lazily (click's "lazily loading subcommands" pattern): the root group lists the module
names of this package without importing them, and imports a command's module only when that command runs
or ``--help`` shows its one-line help. A command module imports at its top only what its click decorators
need (click, ``cli.app``, ``config.errors``); the rest (SQLAlchemy, pydantic, the scheduler, the scrapers)
inside the command, so ``--help`` loads none of them and each command loads only what it uses.
"""

from __future__ import annotations

import importlib
import pkgutil

import click


def command_names() -> list[str]:
    """The command of every module in this package (``run_once`` -> ``run-once``), sorted, none imported."""
    return sorted(info.name.replace("_", "-") for info in pkgutil.iter_modules(__path__))


def load_command(name: str) -> click.Command | None:
    """The ``command`` of the module of command ``name`` (imported now), or None when there is none."""
    if name not in command_names():
        return None
    module = importlib.import_module(f"{__name__}.{name.replace('-', '_')}")
    command = getattr(module, "command", None)
    return command if isinstance(command, click.Command) else None


class LazyGroup(click.Group):
    """A click group whose subcommands are the modules of this package, each imported when it is used."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *command_names()})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return super().get_command(ctx, cmd_name) or load_command(cmd_name)
