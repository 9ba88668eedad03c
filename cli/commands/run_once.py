"""``scrapesched run-once JOB``: run one job now, through the same claim and lease path (trigger manual).

Exit 0 on success, 1 if the job failed, 75 if another replica holds a shard's lease.
"""

from __future__ import annotations

import sys

import click

from scrapesched.cli.app import App
from scrapesched.config.errors import ConfigError
from scrapesched.db.clock import server_time
from scrapesched.db.migrate import require_head
from scrapesched.db.vocabulary import Trigger
from scrapesched.scheduler.outcome import Outcome, OutcomeStatus
from scrapesched.scheduler.plan import build_plan
from scrapesched.scheduler.plugins import load_registry

EXIT_FAILED = 1
EXIT_BUSY = 75  # EX_TEMPFAIL: try again later


def _parse_params(pairs: tuple[str, ...]) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--param {pair!r}: expected KEY=VALUE")
        out[key.strip()] = value
    return out


@click.command("run-once")
@click.argument("job")
@click.option("--shard", "shards", multiple=True, help="Run only this shard (repeatable; default: all).")
@click.option("--param", "params", multiple=True, metavar="KEY=VALUE", help="Job parameter (repeatable).")
@click.pass_obj
def command(app: App, job: str, shards: tuple[str, ...], params: tuple[str, ...]) -> int:
    """Run JOB now on this machine (trigger `manual`), still claimed and leased like a scheduled fire."""
    from scrapesched.cli.wiring import wired_runner
    from scrapesched.scheduler.metrics import Metrics

    settings = app.require_settings()
    plan = {p.name: p for p in build_plan(settings, load_registry())}
    if job not in plan:
        raise ConfigError(f"unknown job {job!r} (known: {', '.join(sorted(plan))})")
    planned = plan[job]
    given = _parse_params(params)
    coerced = planned.spec.resolve_params(given)  # unknown or mistyped parameter: ConfigError, exit 2
    run_params = {**planned.params, **{k: coerced[k] for k in given}}
    targets = list(shards) or planned.shards
    engine = app.engine()
    require_head(engine)
    outcomes: list[tuple[str, Outcome]] = []
    with wired_runner(app, Metrics()) as runner:
        for shard in targets:
            with engine.connect() as conn:
                now = server_time(conn)
            label = f"{job}" + (f" [{shard}]" if shard else "")
            if sys.stdout.isatty():
                from rich.console import Console

                with Console().status(f"running {label} ..."):
                    outcome = runner.execute(planned, shard, now, Trigger.MANUAL, run_params)
            else:
                outcome = runner.execute(planned, shard, now, Trigger.MANUAL, run_params)
            outcomes.append((label, outcome))
            click.echo(_describe(label, outcome))
    if any(o.status == OutcomeStatus.FAILED for _, o in outcomes):
        return EXIT_FAILED
    if any(o.status in (OutcomeStatus.BUSY, OutcomeStatus.LOST) for _, o in outcomes):
        return EXIT_BUSY
    return 0


def _describe(label: str, outcome: Outcome) -> str:
    if outcome.status == OutcomeStatus.SUCCEEDED:
        return f"{label}: succeeded (run {outcome.run_id})"
    if outcome.status == OutcomeStatus.BUSY:
        until = f" until {outcome.until.isoformat()}" if outcome.until else ""
        return f"{label}: not run, held by {outcome.holder}{until}"
    if outcome.status == OutcomeStatus.LOST:
        return f"{label}: not run, {outcome.detail}"
    return f"{label}: {outcome.status}: {outcome.detail}"
