"""``scrapesched resume JOB [--shard S]``: lift a pause of ``scrapesched pause``."""

from __future__ import annotations

import click

from scrapesched.cli.app import App


@click.command("resume")
@click.argument("job")
@click.option("--shard", default=None, help="Lift only this shard's own pause (default: every pause of the job).")
@click.pass_obj
def command(app: App, job: str, shard: str | None) -> None:
    """Resume JOB: lift its pauses (with --shard, only that shard's own pause), on every replica within a
    second or two; pending triggers of it then run. Exit 0 resumed or not paused, 1 database unreachable
    or not migrated, 2 unknown job or shard."""
    from scrapesched.cli.targets import checked_shards, label, planned_job
    from scrapesched.db.migrate import require_head
    from scrapesched.scheduler import control

    planned = planned_job(app.require_settings(), job)
    shards = checked_shards(planned, [shard] if shard is not None else [])
    engine = app.engine()
    require_head(engine)
    lifted = control.resume(engine, job, shards[0] if shards else None)
    what = label(job, shards)
    if not lifted:
        click.echo(f"{what} was not paused")
    else:
        click.echo(f"resumed {what}: every replica runs its fires again within a second or two")
    if shards:
        with engine.connect() as conn:
            whole = control.read(conn).paused(job, control.ALL_SHARDS)
        if whole is not None:
            click.echo(f"{job} is still paused as a whole (paused {whole.describe()}): `scrapesched resume {job}`")
