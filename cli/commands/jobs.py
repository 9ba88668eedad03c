"""``scrapesched jobs``: every job, its schedule, shards, policies, next fire time and the distribution that
provides it (jobs are plug-ins)."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime

import click

from scrapesched.cli.app import App
from scrapesched.scheduler.plan import PlannedJob, build_plan
from scrapesched.scheduler.plugins import load_registry


def _row(p: PlannedJob, now: datetime, provided_by: str) -> dict[str, object]:
    nxt = p.next_fire(now) if p.scheduled else None
    return {
        "job": p.name,
        "scheduled": p.scheduled,
        "schedule": p.schedule,
        "shards": p.shards,
        "next_fire": nxt.isoformat() if nxt else None,
        "lease_ttl_s": p.lease_ttl,
        "overlap": p.overlap,
        "catchup": p.catchup,
        "recover": p.recover,
        "description": p.spec.description,
        "provided_by": provided_by,
    }


@click.command("jobs")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_obj
def command(app: App, as_json: bool) -> None:
    """List jobs, schedules, shards and next fire times (no database needed)."""
    now = datetime.now(UTC)
    registry = load_registry()
    rows = [_row(p, now, registry.origin(p.name)) for p in build_plan(app.require_settings(), registry)]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("job", "schedule", "shards", "next fire (UTC)", "lease ttl", "overlap", box=None)
    for r in rows:
        shards = r["shards"]
        assert isinstance(shards, list)
        shard_text = ", ".join(s for s in shards if s) or "-"
        sched = str(r["schedule"]) if r["scheduled"] else f"{r['schedule']} (not scheduled)"
        table.add_row(
            str(r["job"]), sched, shard_text, str(r["next_fire"] or "-"), f"{r['lease_ttl_s']:g}s", str(r["overlap"])
        )
    Console(file=sys.stdout, width=None if sys.stdout.isatty() else 200).print(table)
