"""``scrapesched trigger JOB [--shard S] [--param KEY=VALUE]``: run a job once now, on whichever replica
has a free slot."""

from __future__ import annotations

import click

from scrapesched.cli.app import App
from scrapesched.cli.commands.run_once import parse_params


@click.command("trigger")
@click.argument("job")
@click.option("--shard", "shards", multiple=True, help="Run only this shard (repeatable; default: all).")
@click.option("--param", "params", multiple=True, metavar="KEY=VALUE", help="Job parameter (repeatable).")
@click.pass_obj
def command(app: App, job: str, shards: tuple[str, ...], params: tuple[str, ...]) -> None:
    """Ask the fleet to run JOB once now: a running replica with a free slot claims it within a second or
    two and runs it through the same claim and lease as a scheduled fire (trigger `manual`, once across
    the fleet). Returns at once; `status` shows the run. A paused shard runs once resumed. Exit 0 queued,
    1 database unreachable or not migrated, 2 unknown job, shard or parameter."""
    from scrapesched.cli.targets import checked_shards, label, planned_job, requester
    from scrapesched.db.migrate import require_head
    from scrapesched.scheduler import control

    planned = planned_job(app.require_settings(), job)
    given = parse_params(params)
    planned.run_params(given)  # unknown or mistyped parameter: exit 2 here, not on a replica
    targets = checked_shards(planned, shards) or list(planned.shards)
    engine = app.engine()
    require_head(engine)
    control.request(engine, job, targets, given, requester())
    with engine.connect() as conn:
        current = control.read(conn)
    paused = [s for s in targets if current.paused(job, s)]
    click.echo(f"triggered {label(job, targets)}: the first replica with a free slot runs it (trigger manual)")
    if paused:
        click.echo(f"{label(job, paused)} paused: runs once resumed (`scrapesched resume {job}`)")
