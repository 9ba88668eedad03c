"""``scrapesched pause JOB [--shard S] [--reason TEXT]``: stop a job (or one shard) on every replica."""

from __future__ import annotations

import click

from scrapesched.cli.app import App


@click.command("pause")
@click.argument("job")
@click.option("--shard", default=None, help="Pause only this shard (default: every shard of the job).")
@click.option("--reason", default=None, help="Why; shown by `status`, `jobs` and in the skipped runs.")
@click.pass_obj
def command(app: App, job: str, shard: str | None, reason: str | None) -> None:
    """Pause JOB (or one shard of it) on every replica, within a second or two.

    Its fires are still claimed, and recorded `skipped` with the error `paused by ...`, never run; runs
    already running finish; `trigger`s of it wait. Stored in the database until `resume`. Exit 0 paused,
    1 database unreachable or not migrated, 2 unknown job or shard.
    """
    from scrapesched.cli.targets import checked_shards, label, planned_job, requester
    from scrapesched.db.migrate import require_head
    from scrapesched.scheduler import control

    planned = planned_job(app.require_settings(), job)
    shards = checked_shards(planned, [shard] if shard is not None else [])
    engine = app.engine()
    require_head(engine)
    control.pause(engine, job, shards[0] if shards else control.ALL_SHARDS, reason, requester())
    what = label(job, shards) if shards else f"{job} (every shard)"
    click.echo(f"paused {what}: every replica skips its fires within a second or two; `scrapesched resume {job}`")
