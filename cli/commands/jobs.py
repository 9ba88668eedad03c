"""``scrapesched jobs``: every job, its schedule, shards, policies, next fire time and the distribution that
provides it (jobs are plug-ins), and its pauses and pending triggers when the database can be read (the
rest needs no database)."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from scrapesched.cli.app import App
from scrapesched.config.errors import ScrapeschedError

if TYPE_CHECKING:
    from scrapesched.scheduler import control
    from scrapesched.scheduler.plan import PlannedJob


def _controls(app: App) -> control.Controls | None:
    """Pauses and pending triggers, or None (with a line on stderr) when the database cannot be read; a
    SQLite file that does not exist yet has none (and is not created)."""
    from sqlalchemy.engine import make_url

    from scrapesched.db.migrate import require_head
    from scrapesched.scheduler import control

    url = make_url(app.require_settings().database_url)
    if url.get_backend_name() == "sqlite" and url.database and not Path(url.database).exists():
        return control.Controls()
    try:
        engine = app.engine()
        require_head(engine)
        with engine.connect() as conn:
            return control.read(conn)
    except ScrapeschedError as exc:
        click.echo(f"scrapesched: pauses and triggers unknown: {app.redactor(str(exc))}", err=True)
        return None


def _state(r: dict[str, object]) -> str:
    paused = r.get("paused")
    triggered = r.get("pending_triggers")
    parts = []
    if isinstance(paused, list) and paused:
        parts.append("paused " + ", ".join(p["shard"] or "(all)" for p in paused))
    if isinstance(triggered, list) and triggered:
        parts.append(f"{len(triggered)} triggered")
    return "; ".join(parts) or ("?" if paused is None else "-")


def _row(p: PlannedJob, now: datetime, provided_by: str, controls: control.Controls | None) -> dict[str, object]:
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
        "paused": [x.as_dict() for x in controls.pauses_of(p.name)] if controls else None,
        "pending_triggers": [x.as_dict() for x in controls.triggers_of(p.name)] if controls else None,
    }


@click.command("jobs")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_obj
def command(app: App, as_json: bool) -> None:
    """List jobs, schedules, shards, next fire times, and pauses and pending triggers (those read from the
    database; without it the rest is still listed)."""
    from scrapesched.scheduler.plan import build_plan
    from scrapesched.scheduler.plugins import load_registry

    now = datetime.now(UTC)
    registry = load_registry()
    plan = build_plan(app.require_settings(), registry)
    controls = _controls(app)
    rows = [_row(p, now, registry.origin(p.name), controls) for p in plan]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("job", "schedule", "shards", "next fire (UTC)", "lease ttl", "overlap", "state", box=None)
    for r in rows:
        shards = r["shards"]
        assert isinstance(shards, list)
        shard_text = ", ".join(s for s in shards if s) or "-"
        sched = str(r["schedule"]) if r["scheduled"] else f"{r['schedule']} (not scheduled)"
        table.add_row(
            str(r["job"]),
            sched,
            shard_text,
            str(r["next_fire"] or "-"),
            f"{r['lease_ttl_s']:g}s",
            str(r["overlap"]),
            _state(r),
        )
    Console(file=sys.stdout, width=None if sys.stdout.isatty() else 200).print(table)
