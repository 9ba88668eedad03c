"""``scrapesched dedupe TABLE [--apply] [--keep newest|oldest]``: delete all but one row per natural key.

A dry run by default (how many keys are duplicated, how many rows would go); ``--apply`` deletes in bounded
batches, each its own transaction (``db/dedupe.py``), with a progress bar on a terminal and the counts at
the end. Never prompts; safe to interrupt and run again. Works on a legacy table before adoption too.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from scrapesched.cli.app import App

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from scrapesched.db.dedupe import Keep

# db.dedupe's Keep values and DEFAULT_BATCH, spelled out so that `--help` does not import SQLAlchemy
# (tests/test_cli_startup.py checks they agree).
KEEP_CHOICES = ("newest", "oldest")
DEFAULT_BATCH = 1000


@click.command("dedupe")
@click.argument("table")
@click.option("--apply", "do_apply", is_flag=True, help="Delete the duplicates (default: only count them).")
@click.option(
    "--keep",
    type=click.Choice(KEEP_CHOICES),
    default=KEEP_CHOICES[0],
    show_default=True,
    help="Which row of each duplicated key survives: the highest id (newest) or the lowest (oldest).",
)
@click.option(
    "--batch-size",
    type=click.IntRange(1, 100_000),
    default=DEFAULT_BATCH,
    show_default=True,
    help="Rows deleted per transaction.",
)
@click.pass_obj
def command(app: App, table: str, do_apply: bool, keep: str, batch_size: int) -> None:
    """Delete all but one row per natural key of TABLE (dry run unless --apply)."""
    from scrapesched.db.dedupe import Keep, count, format_key, keyed_table

    settings = app.require_settings()
    engine = app.engine()
    with engine.connect() as conn:
        found = count(conn, keyed_table(conn, table))
    key = ", ".join(found.key)
    if not found.keys:
        click.echo(f"{table}: no duplicate keys ({key})")
        return
    examples = ", ".join(format_key(e) for e in found.examples)
    click.echo(f"{table}: {found.keys} keys ({key}) held by more than one row, e.g. {examples}")
    if not do_apply:
        click.echo(
            f"{table}: would delete {found.surplus} rows keeping the {keep} of each; "
            f"run `scrapesched dedupe {table} --apply` to delete them"
        )
        return
    deleted = _apply(engine, table, Keep(keep), batch_size, found.surplus, settings.db_retry_attempts)
    click.echo(f"{table}: deleted {deleted} rows, kept the {keep} row of each of {found.keys} keys")


def _apply(engine: Engine, table: str, keep: Keep, batch: int, total: int, attempts: int) -> int:
    from scrapesched.db.dedupe import apply

    if not sys.stdout.isatty():
        return apply(engine, table, keep=keep, batch=batch, attempts=attempts)
    from rich.progress import Progress

    with Progress(transient=True) as progress:
        task = progress.add_task(f"deleting duplicates of {table}", total=total)
        return apply(
            engine, table, keep=keep, batch=batch, attempts=attempts, on_batch=lambda n: progress.advance(task, n)
        )
