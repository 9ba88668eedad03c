"""``scrapesched demo``: offline, a fake GitHub, three replicas of ``scrapesched run`` on a SQLite file, two
schedule cycles with changes in between, then a check that the tables equal the fake's ground truth.

Exit 0 only if they do (no difference, no duplicate key, no failed run); 1 otherwise.
"""

from __future__ import annotations

import click

from scrapesched.cli.app import App


@click.command("demo")
@click.option("--prs", default=40, show_default=True, help="Pull requests per fake repository.")
@click.option("--replicas", default=3, show_default=True, help="Replica processes of `scrapesched run`.")
@click.option("--interval", default=3.0, show_default=True, help="Seconds between schedule cycles.")
@click.option("--keep", is_flag=True, help="Keep the work directory (SQLite file, replica logs).")
@click.pass_obj
def command(app: App, prs: int, replicas: int, interval: float, keep: bool) -> int:
    """Run the whole system offline against a fake GitHub and check the result (under a minute)."""
    from scrapesched.cli.demo import DemoOptions, run_demo

    result = run_demo(DemoOptions(prs=prs, replicas=replicas, interval=interval, keep=keep), click.echo)
    if keep and result.workdir is not None:
        click.echo(f"kept {result.workdir}")
    return 0 if result.ok else 1
