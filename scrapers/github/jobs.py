"""The GitHub jobs, one shard per repository of ``settings.repos``:

- ``github_prs``: incremental sync of pull requests and their labels, reviews, LGTM comments, Codecov
  reports and Trillian results (``scrapers.github.sync.RepoSync``);
- ``pr_states_refresh``: re-checks the pull requests still open in the database (``RefreshSync``);
- ``flaky_tests_summary``: aggregates ``test_results`` into ``flaky_tests_summary``.

The GitHub client exists once per process (``ctx.services``), with the process's telemetry hook; each run
gets a session that counts its requests, 304s, retries and rate-limit waits in ``ctx.counters``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import Any

import structlog

from scrapesched.config.settings import Settings
from scrapesched.scheduler.context import RunContext
from scrapesched.scheduler.registry import JobSpec, Param
from scrapesched.scrapers.github.client import GitHubClient, GitHubSession, run_observer
from scrapesched.scrapers.github.flaky import summarise_flaky_tests
from scrapesched.scrapers.github.sync import RefreshSync, RepoSync, SyncEnv
from scrapesched.scrapers.http import Hook

log = structlog.get_logger("scrapesched.scrapers.github.jobs")

GITHUB_SERVICE = "github"


def repositories(settings: Settings) -> list[str]:
    """The shards of the GitHub jobs: the configured repositories."""
    return list(settings.repos)


def client_factory(settings: Settings, engine: Any, hooks: Iterable[Hook] = ()) -> Callable[[], GitHubClient]:
    """A factory for ``ctx.services.get(GITHUB_SERVICE, ...)``: the client, with ``hooks`` on every request."""
    extra = list(hooks)
    return lambda: GitHubClient(settings, engine, hooks=extra)


def _telemetry_hooks(ctx: RunContext) -> list[Hook]:
    try:
        from scrapesched.scrapers.telemetry.buffer import buffer_for
    except ImportError:  # telemetry not installed in this build
        return []
    return [buffer_for(ctx).record]


def github_client(ctx: RunContext) -> GitHubClient:
    """This process's GitHub client (created on first use, with the telemetry hook)."""
    hooks = _telemetry_hooks(ctx)  # before services.get: a factory must not call services.get
    return ctx.services.get(GITHUB_SERVICE, client_factory(ctx.settings, ctx.engine, hooks))


def _locked_add(ctx: RunContext) -> Callable[..., None]:
    """``ctx.counters.add`` made safe for the run's worker threads."""
    lock = threading.Lock()

    def add(**increments: int) -> None:
        with lock:
            ctx.counters.add(**increments)

    return add


def session_for(ctx: RunContext, add: Callable[..., None]) -> GitHubSession:
    return github_client(ctx).session(
        observer=run_observer(add), sleep=ctx.sleep, on_wait=lambda: add(rate_limit_waits=1)
    )


def sync_env(ctx: RunContext) -> SyncEnv:
    settings = ctx.settings
    add = _locked_add(ctx)
    return SyncEnv(
        repo=ctx.shard,
        session=session_for(ctx, add),
        engine=ctx.engine,
        transaction=lambda work: ctx.transaction(work, what=f"{ctx.job} write"),
        check=ctx.check,
        add_rows=lambda n: add(rows_written=n),
        trillian_bot=settings.trillian_bot_login,
        codecov_bots=frozenset(login.lower() for login in settings.codecov_bot_logins),
        overlap=timedelta(seconds=settings.github_sync_overlap),
        per_page=max(1, min(100, int(ctx.params.get("per_page", 100)))),
        workers=settings.http_concurrency,
        batch_size=settings.db_batch_size,
    )


def run_github_prs(ctx: RunContext) -> None:
    stats = RepoSync(sync_env(ctx)).run()
    log.info("github_prs_synced", repo=ctx.shard, **stats.as_log())


def run_pr_states_refresh(ctx: RunContext) -> None:
    stats = RefreshSync(sync_env(ctx)).run()
    log.info("pr_states_refreshed", repo=ctx.shard, **stats.as_log())


def run_flaky_tests_summary(ctx: RunContext) -> None:
    written = ctx.transaction(lambda conn: summarise_flaky_tests(conn, ctx.shard), what="flaky tests summary")
    ctx.counters.add(rows_written=written)


PER_PAGE = Param(int, 100, "items per page of GitHub lists (1-100)")

SPECS: list[JobSpec] = [
    JobSpec(
        name="github_prs",
        run=run_github_prs,
        description="Incremental sync of pull requests, labels, reviews, LGTM, Codecov and Trillian comments.",
        interval=900.0,
        lease_ttl=300.0,
        shards=repositories,
        params={"per_page": PER_PAGE},
    ),
    JobSpec(
        name="pr_states_refresh",
        run=run_pr_states_refresh,
        description="Re-checks open pull requests (conditional requests) for closes, merges, labels, reviews.",
        interval=3600.0,
        lease_ttl=300.0,
        shards=repositories,
        params={"per_page": PER_PAGE},
    ),
    JobSpec(
        name="flaky_tests_summary",
        run=run_flaky_tests_summary,
        description="Aggregates test_results into flaky_tests_summary (runs, failures, failure rate).",
        interval=3600.0,
        lease_ttl=120.0,
        shards=repositories,
    ),
]
