"""``scrapesched run-once JOB``: run one job now, through the same claim and lease path (trigger manual).

Exit 0 on success, 1 if the job failed, 75 if another replica holds a shard's lease or a run was deferred
(its rate-limit budget spent: the line says until when; the next run continues from its cursor). SIGTERM or SIGINT
(Ctrl-C) cancels the running job the way ``run`` cancels at the end of its grace period: the run is recorded
failed (``cancelled: interrupted by SIGTERM``), its lease is released at once, the remaining shards are not
run, one line says so, and the exit status is 143 (SIGTERM) or 130 (SIGINT). A second signal ends the process
at once (the run is then left to the abandoned-run sweep and its lease to its ttl).

The job runs in a worker thread; the signal handler only records the signal, and the main thread, which
polls for it, does the cancelling (a handler that took the runner's lock could deadlock the main thread).
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import contextmanager
from contextvars import copy_context
from datetime import datetime
from types import FrameType
from typing import TYPE_CHECKING

import click

from scrapesched.cli.app import App
from scrapesched.config.errors import ConfigError

if TYPE_CHECKING:
    from scrapesched.scheduler.outcome import Outcome
    from scrapesched.scheduler.runner import Runner

EXIT_FAILED = 1
EXIT_BUSY = 75  # EX_TEMPFAIL: try again later
SIGNALS = (signal.SIGTERM, signal.SIGINT)  # exit 128 + the signal's number: 143, 130
POLL_S = 0.1  # how often the main thread looks for a signal while the job runs


def parse_params(pairs: tuple[str, ...]) -> dict[str, str]:
    """``--param KEY=VALUE`` options as a dict (``trigger`` takes them too); a pair without ``=`` is exit 2."""
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
    from scrapesched.db.clock import server_time
    from scrapesched.db.migrate import require_head
    from scrapesched.db.vocabulary import Trigger
    from scrapesched.scheduler.metrics import Metrics
    from scrapesched.scheduler.outcome import OutcomeStatus
    from scrapesched.scheduler.plan import build_plan
    from scrapesched.scheduler.plugins import load_registry

    settings = app.require_settings()
    plan = {p.name: p for p in build_plan(settings, load_registry())}
    if job not in plan:
        raise ConfigError(f"unknown job {job!r} (known: {', '.join(sorted(plan))})")
    planned = plan[job]
    run_params = planned.run_params(parse_params(params))  # unknown or mistyped parameter: ConfigError, exit 2
    planned.spec.function()  # a job module that fails to import: exit 2 before any connection
    targets = list(shards) or planned.shards
    engine = app.engine()
    require_head(engine)
    outcomes: list[tuple[str, Outcome]] = []
    with wired_runner(app, Metrics()) as runner, _signals_caught() as caught:
        for shard in targets:
            if caught:
                break
            with engine.connect() as conn:
                now = server_time(conn)
            label = f"{job}" + (f" [{shard}]" if shard else "")

            def execute(shard: str = shard, now: datetime = now) -> Outcome:
                return runner.execute(planned, shard, now, Trigger.MANUAL, run_params)

            if sys.stdout.isatty():
                outcome = _with_progress_bar(runner, label, lambda: _run_cancellable(runner, execute, caught))
            else:
                outcome = _run_cancellable(runner, execute, caught)
            if caught:
                click.echo(f"scrapesched: interrupted by {caught[0].name}: {_interrupted(label, outcome)}", err=True)
                return 128 + caught[0].value
            outcomes.append((label, outcome))
            click.echo(_describe(label, outcome))
        if caught:  # between two shards
            click.echo(f"scrapesched: interrupted by {caught[0].name}: {job}: remaining shards not run", err=True)
            return 128 + caught[0].value
    if any(o.status == OutcomeStatus.FAILED for _, o in outcomes):
        return EXIT_FAILED
    if any(o.status in (OutcomeStatus.BUSY, OutcomeStatus.LOST, OutcomeStatus.DEFERRED) for _, o in outcomes):
        return EXIT_BUSY
    return 0


@contextmanager
def _signals_caught() -> Iterator[list[signal.Signals]]:
    """SIGTERM and SIGINT recorded in the yielded list (the first one only) instead of ending the process;
    a second signal gets the default action. The previous handlers are restored when the block ends."""
    caught: list[signal.Signals] = []
    previous = {sig: signal.getsignal(sig) for sig in SIGNALS}

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        if not caught:
            caught.append(signal.Signals(signum))
        for sig in SIGNALS:  # the next one ends the process
            signal.signal(sig, signal.SIG_DFL if sig == signal.SIGTERM else signal.default_int_handler)

    for sig in SIGNALS:
        signal.signal(sig, on_signal)
    try:
        yield caught
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _with_progress_bar(runner: Runner, label: str, run: Callable[[], Outcome]) -> Outcome:
    """``run()`` under a rich progress display on the terminal: a spinner for the run, and a bar per stream
    the job reports progress for (``RunContext.report_progress``: items done of GitHub's estimate)."""
    import threading

    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TaskID,
        TextColumn,
        TimeElapsedColumn,
    )

    done = threading.Event()
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), transient=True) as bars:
        bars.add_task(f"running {label}", total=None)
        tasks: dict[str, TaskID] = {}

        def refresh() -> None:
            while not done.wait(0.5):
                for name, (count, total) in runner.running_progress().items():
                    if name not in tasks:
                        tasks[name] = bars.add_task(name, total=total)
                    bars.update(tasks[name], completed=count, total=max(total, count) if total else None)

        watcher = threading.Thread(target=refresh, daemon=True)
        watcher.start()
        try:
            return run()
        finally:
            done.set()
            watcher.join(timeout=2)


def _run_cancellable(runner: Runner, execute: Callable[[], Outcome], caught: list[signal.Signals]) -> Outcome:
    """``execute()`` in a worker thread (with this log context); once a signal was caught, the runner is told
    to stop: a lease wait ends, and the run is cancelled as soon as it is running."""
    cancelled = False
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="run-once") as pool:
        future = pool.submit(copy_context().run, execute)
        while True:
            try:
                return future.result(timeout=POLL_S)
            except FutureTimeout:
                pass
            if caught and not cancelled:
                runner.shutdown.set()
                if runner.running_count():
                    runner.cancel_all(f"interrupted by {caught[0].name}")
                    cancelled = True


def _interrupted(label: str, outcome: Outcome) -> str:
    from scrapesched.scheduler.outcome import OutcomeStatus

    if outcome.status == OutcomeStatus.FAILED and outcome.detail.startswith("cancelled:"):
        return f"{label} run {outcome.run_id} cancelled, lease released"
    return _describe(label, outcome)


def _describe(label: str, outcome: Outcome) -> str:
    from scrapesched.scheduler.outcome import OutcomeStatus

    if outcome.status == OutcomeStatus.SUCCEEDED:
        return f"{label}: succeeded (run {outcome.run_id})"
    if outcome.status == OutcomeStatus.BUSY:
        until = f" until {outcome.until.isoformat()}" if outcome.until else ""
        return f"{label}: not run, held by {outcome.holder}{until}"
    if outcome.status == OutcomeStatus.LOST:
        return f"{label}: not run, {outcome.detail}"
    return f"{label}: {outcome.status}: {outcome.detail}"
