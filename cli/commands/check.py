"""``scrapesched check``: seed 000's verification checklist as one command (schema at head, UNIQUE keys
present, no duplicate natural keys, no run stuck past its lease, no stale shard, no silent replica). Exit 0
clean, 1 with problems; the checks themselves live in ``scheduler/checks.py`` and ``db/catalog.py``."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING

import click

from scrapesched.cli.app import App

if TYPE_CHECKING:
    from scrapesched.scheduler.checks import Report

SUBJECTS = ("table", "key", "job", "shard", "replica")


def _print(report: Report) -> None:
    rows = [p.as_dict() for p in report.problems]
    if not sys.stdout.isatty():
        for r in rows:
            about = " ".join(f"{k}={r[k]}" for k in SUBJECTS if k in r)
            click.echo(f"{r['check']}: {about + ': ' if about else ''}{r['detail']}")
        click.echo(f"{'ok' if report.ok else f'{len(rows)} problem(s)'}; checked: {', '.join(report.checked)}")
        return
    from rich.console import Console
    from rich.table import Table

    console = Console(file=sys.stdout, highlight=False)
    if rows:
        table = Table("check", "table / job", "key / shard", "detail", box=None)
        for r in rows:
            about = r.get("table", r.get("job", r.get("replica"))) or "-"
            table.add_row(r["check"], about, r.get("key", r.get("shard")) or "-", r["detail"])
        console.print(table)
    console.print(f"{'ok' if report.ok else f'{len(rows)} problem(s)'}; checked: {', '.join(report.checked)}")


@click.command("check")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON document instead of a table.")
@click.pass_obj
def command(app: App, as_json: bool) -> int:
    """Verify the database: schema at head, every UNIQUE key present, no duplicate natural keys, no run
    stuck in running past its lease, no shard without a success for two intervals (paused ones excepted),
    no replica gone silent in the last 24 h (not seen for three heartbeats, no clean stop). Exit 0 clean,
    1 with problems."""
    from scrapesched.scheduler.checks import run_checks
    from scrapesched.scheduler.plan import build_plan
    from scrapesched.scheduler.plugins import load_registry

    plan = build_plan(app.require_settings(), load_registry())
    report = run_checks(app.engine(), plan)
    if as_json:
        doc = {"ok": report.ok, "problems": [p.as_dict() for p in report.problems], "checked": report.checked}
        click.echo(json.dumps(doc, indent=2, default=str))
    else:
        _print(report)
    return 0 if report.ok else 1
