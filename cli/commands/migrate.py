"""``scrapesched migrate``: upgrade the database schema to this version's head, or print the DDL."""

from __future__ import annotations

import click

from scrapesched.cli.app import App


@click.command("migrate")
@click.option("--sql", "print_sql", is_flag=True, help="Print the DDL instead of applying it.")
@click.pass_obj
def command(app: App, print_sql: bool) -> None:
    """Create or upgrade the schema (safe to run from several replicas at once)."""
    from scrapesched.config.log_setup import get_logger
    from scrapesched.db.migrate import upgrade, upgrade_sql

    log = get_logger("migrate")
    settings = app.require_settings()
    if print_sql:
        click.echo(upgrade_sql(settings.database_url), nl=False)
        return
    before, after = upgrade(
        app.engine(), adopt_repo=settings.adopt_repo, on_step=lambda step: log.info("adopt_step", step=step)
    )
    log.info("migrated", before=before, after=after, changed=before != after)
    click.echo(f"database schema at revision {after}" + ("" if before != after else " (already up to date)"))
