"""The GitHub jobs, one shard per repository of ``settings.repos``:

- ``github_prs``: incremental sync of pull requests and their labels, reviews, LGTM comments, Codecov
  reports and Trillian results (``scrapers.github.sync.RepoSync``);
- ``pr_states_refresh``: re-checks the pull requests still open in the database (``RefreshSync``);
- ``flaky_tests_summary``: aggregates ``test_results`` into ``flaky_tests_summary``.

The GitHub client exists once per process (``ctx.resources.github``, built by the app wiring with the
telemetry hook); each run gets a session that counts its requests, 304s, retries and rate-limit waits in
``ctx.counters``. Their ``JobSpec``s (plug-ins: entry points of ``scrapesched.jobs``) are in ``scrapers/specs.py``.
"""

from __future__ import annotations

from datetime import timedelta

from scrapesched.config.log_setup import get_logger
from scrapesched.scheduler import runs
from scrapesched.scrapers.github.client import GitHubSession
from scrapesched.scrapers.github.flaky import summarise_flaky_tests
from scrapesched.scrapers.github.sync import RefreshSync, RepoSync, SyncEnv
from scrapesched.scrapers.http import run_observer
from scrapesched.scrapers.resources import JobContext

log = get_logger("scrapesched.scrapers.github.jobs")


def session_for(ctx: JobContext) -> GitHubSession:
    """The run's session on the process's GitHub client: its counters, its cancellable sleep."""
    return ctx.resources.github.session(
        observer=run_observer(ctx.counters), sleep=ctx.sleep, on_wait=lambda: ctx.counters.add(rate_limit_waits=1)
    )


def sync_env(ctx: JobContext) -> SyncEnv:
    settings = ctx.settings
    return SyncEnv(
        repo=ctx.shard,
        session=session_for(ctx),
        engine=ctx.engine,
        transaction=lambda work: ctx.transaction(work, what=f"{ctx.job} write"),
        check=ctx.check,
        add_rows=lambda n: ctx.counters.add(rows_written=n),
        trillian_bot=settings.github.trillian_bot_login,
        codecov_bots=frozenset(login.lower() for login in settings.github.codecov_bot_logins),
        overlap=timedelta(seconds=settings.github.sync_overlap),
        per_page=max(1, min(100, int(ctx.params.get("per_page", 100)))),
        workers=settings.http_concurrency,
        batch_size=settings.db_batch_size,
        sleep=ctx.sleep,
        requests=lambda: ctx.counters.requests,
        progress=lambda conn, line: runs.set_progress(conn, ctx.run_id, line),
        on_retry=lambda: ctx.counters.add(retries=1),
        report=ctx.report_progress,
        finish=lambda work: ctx.transaction(work, what=f"{ctx.job} last write", final=True, rows=lambda n: n),
    )


def run_github_prs(ctx: JobContext) -> None:
    stats = RepoSync(sync_env(ctx)).run()
    log.info("github_prs_synced", repo=ctx.shard, **stats.as_log())


def run_pr_states_refresh(ctx: JobContext) -> None:
    stats = RefreshSync(sync_env(ctx)).run()
    log.info("pr_states_refreshed", repo=ctx.shard, **stats.as_log())


def run_flaky_tests_summary(ctx: JobContext) -> None:
    # Its one write is its last: the summary and the run's completion commit together.
    ctx.transaction(
        lambda conn: summarise_flaky_tests(conn, ctx.shard), what="flaky tests summary", final=True, rows=lambda n: n
    )
