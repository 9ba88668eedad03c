"""``scrapesched status``: per job and shard, the last run, last success, current lease holder, and
``stale`` when there has been no success for two intervals (seed 000's "stuck scrapers" query)."""

from __future__ import annotations

import json
import sys

import click

from scrapesched.cli.app import App
from scrapesched.db.clock import server_time
from scrapesched.db.migrate import require_head
from scrapesched.scheduler import runs
from scrapesched.scheduler.checks import fire_interval, is_stale
from scrapesched.scheduler.plan import build_plan
from scrapesched.scheduler.plugins import load_registry


@click.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_obj
def command(app: App, as_json: bool) -> int:
    """Show the health of every job shard: last run, last success, lease holder, staleness."""
    settings = app.require_settings()
    plan = build_plan(settings, load_registry())
    engine = app.engine()
    require_head(engine)
    locks = app.locks()
    with engine.connect() as conn:
        now = server_time(conn)
        last = runs.last_runs(conn)
        successes = runs.last_successes(conn)
        first_starts = runs.first_starts(conn)
    rows = []
    for p in plan:
        if not p.scheduled and not any(k[0] == p.name for k in last):
            continue
        interval = fire_interval(p, now)
        for shard in p.shards:
            run = last.get((p.name, shard))
            success = successes.get((p.name, shard))
            holder = locks.holder(runs.lease_name(p.name, shard))
            stale = is_stale(p, shard, now, successes, first_starts, interval)
            rows.append(
                {
                    "job": p.name,
                    "shard": shard,
                    "last_run": run.scheduled_for.isoformat() if run else None,
                    "last_status": run.status if run else None,
                    "last_owner": run.owner if run else None,
                    "last_error": run.error if run else None,
                    "last_success": success.isoformat() if success else None,
                    "holder": holder.holder if holder else None,
                    "lease_until": holder.until.isoformat() if holder and holder.until else None,
                    "stale": stale,
                }
            )
    if as_json:
        click.echo(json.dumps(rows, indent=2))
    else:
        from rich.console import Console
        from rich.table import Table

        table = Table("job", "shard", "last run", "status", "last success", "holder", "lease until", "stale", box=None)
        for r in rows:
            table.add_row(
                *(
                    str(r[k] if r[k] is not None else "-")
                    for k in (
                        "job",
                        "shard",
                        "last_run",
                        "last_status",
                        "last_success",
                        "holder",
                        "lease_until",
                        "stale",
                    )
                )
            )
        Console(file=sys.stdout, width=None if sys.stdout.isatty() else 220).print(table)
    return 1 if any(r["stale"] for r in rows) else 0
