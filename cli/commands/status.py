"""``scrapesched status``: the replicas (live, silent, stopped) and, per job and shard, the last run and its
error, last success, lease holder, pause and pending triggers, and ``stale`` when there has been no success
for two intervals (seed 000's "stuck scrapers" query). The data is ``scheduler.overview``; ``--json`` prints
the web console's ``/api/fleet`` document (``console.queries.fleet``, which adds schedule, next fire,
progress and cursors to the same keys); this module only lays it out, to the terminal's width
(``COLUMNS``), with ages instead of timestamps so nothing is cut."""

from __future__ import annotations

import json
import os
import shutil
import sys
import textwrap
from datetime import datetime
from typing import TYPE_CHECKING

import click

from scrapesched.cli.app import App

if TYPE_CHECKING:
    from rich.table import Table

    from scrapesched.scheduler import overview

EXIT_STALE = 1
PIPE_WIDTH = 200  # output to a pipe or file, unless COLUMNS says otherwise


def age(then: datetime | None, now: datetime) -> str:
    """``then`` as a short age before ``now`` (``45s``, ``12m``, ``5h``, ``3d``), or ``in 4s`` for a future
    time; ``-`` for none."""
    if then is None:
        return "-"
    seconds = (now - then).total_seconds()
    text = _span(abs(seconds))
    return f"in {text}" if seconds < 0 else text


def _span(seconds: float) -> str:
    if seconds < 60:
        return f"{int(seconds)}s"
    if seconds < 3600:
        return f"{int(seconds // 60)}m"
    if seconds < 48 * 3600:
        return f"{int(seconds // 3600)}h"
    return f"{int(seconds // 86400)}d"


def _width() -> int:
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    return shutil.get_terminal_size((PIPE_WIDTH, 24)).columns if sys.stdout.isatty() else PIPE_WIDTH


def _shard_label(job: str, shard: str) -> str:
    return f"{job} [{shard}]" if shard else job


def _row(table: Table, *cells: str) -> None:
    from rich.text import Text

    table.add_row(*(Text(c) for c in cells))  # plain text: a shard like "[a]" is not markup


def _print(view: overview.Overview, width: int) -> None:
    from rich.console import Console
    from rich.table import Table

    now = view.now
    console = Console(file=sys.stdout, width=width, highlight=False, soft_wrap=False)
    counts = {state: sum(1 for r in view.replicas if r.state == state) for state in ("live", "silent", "stopped")}
    console.print(f"database time {now:%Y-%m-%d %H:%M:%S}Z; ages below are before it")
    console.print(f"replicas: {counts['live']} live, {counts['silent']} silent, {counts['stopped']} stopped")
    if view.replicas:
        table = Table(box=None, pad_edge=False, expand=False)
        for name, fold in (("replica", True), ("state", False), ("host", True), ("pid", False), ("version", False),
                           ("up", False), ("seen", False), ("running", True)):
            table.add_column(name, overflow="fold", no_wrap=not fold)
        for r in view.replicas:
            running = ", ".join(run.label() for run in r.runs) if r.runs else str(r.running or "-")
            _row(
                table,
                r.instance_id,
                r.state.upper() if r.state == "silent" else r.state,
                r.host,
                str(r.pid),
                r.version,
                age(r.started_at, now) if r.stopped_at is None else "-",
                age(r.last_seen, now),
                running if r.state == "live" else "-",
            )
        console.print(table)
    console.print()
    table = Table(box=None, pad_edge=False, expand=False)
    for name, fold in (("job", True), ("shard", True), ("last run", False), ("status", False), ("last ok", False),
                       ("lease held by", True), ("flags", True)):
        table.add_column(name, overflow="fold", no_wrap=not fold)
    notes: list[str] = []
    for s in view.shards:
        run = s.last_run
        lease = f"{s.holder} ({age(s.lease_until, now)})" if s.holder and s.lease_until else (s.holder or "-")
        flags = [f for f, on in (("STALE", s.stale), ("paused", s.paused is not None)) if on]
        if s.pending_triggers:
            flags.append(f"{s.pending_triggers} triggered")
        _row(
            table,
            s.job,
            s.shard or "-",
            age(run.scheduled_for, now) if run else "-",
            str(run.status) if run else "-",
            age(s.last_success, now),
            lease,
            " ".join(flags) or "-",
        )
        label = _shard_label(s.job, s.shard)
        if s.paused is not None:
            why = f": {s.paused.reason}" if s.paused.reason else ""
            scope = "" if s.paused.shard else " (whole job)"
            notes.append(f"{label}: paused{scope} by {s.paused.paused_by} {age(s.paused.paused_at, now)} ago{why}")
        if run is not None and run.progress and run.status in ("running", "deferred"):
            notes.append(f"{label}: {run.status} on {run.owner}: {run.progress}")
        if run is not None and run.error and not (s.paused and run.error.startswith("paused by ")):
            notes.append(f"{label}: {run.status} {age(run.scheduled_for, now)} ago on {run.owner}: {run.error}")
    console.print(table)
    if notes:
        console.print()
        for note in notes:
            lines = textwrap.wrap(note, width=width - 2, subsequent_indent="    ", break_long_words=True)
            console.print("\n".join("  " + line for line in lines), markup=False)


@click.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables (full ISO timestamps).")
@click.pass_obj
def command(app: App, as_json: bool) -> int:
    """Show the fleet: replicas (live; silent: unseen for 3 heartbeats, 10 s at least; stopped), what they run, and
    per job shard the last run and its error, last success, lease holder, pause, triggers and staleness.

    Ages are before the database's time, printed on top; the tables fit the terminal (COLUMNS).
    Exit status: 0 no shard is stale; 1 a shard has had no success for two intervals (or the database
    cannot be read); 2 bad configuration; 70 internal error. `scrapesched check` also reports silent
    replicas.
    """
    from scrapesched.db.migrate import require_head
    from scrapesched.scheduler import overview
    from scrapesched.scheduler.plan import build_plan
    from scrapesched.scheduler.plugins import load_registry

    settings = app.require_settings()
    plan = build_plan(settings, load_registry())
    engine = app.engine()
    require_head(engine)
    if as_json:  # the web console's /api/fleet document: one query layer for both
        from scrapesched.console import queries

        fleet = queries.fleet(engine, app.locks(), plan)
        click.echo(json.dumps(fleet.model_dump(mode="json"), indent=2))
        return EXIT_STALE if any(s.stale for s in fleet.shards) else 0
    view = overview.read(engine, app.locks(), plan)
    _print(view, _width())
    return EXIT_STALE if any(s.stale for s in view.shards) else 0
