"""Helpers of the GitHub scraper tests: settings pointing at a fake GitHub, and running a GitHub job on one
repository through a real ``RunContext`` (no lease: these tests are about the scraping, not the fencing)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine

from scrapesched.config.settings import Settings, load_settings
from scrapesched.scheduler.context import RunContext
from scrapesched.scrapers.github.client import GitHubClient
from scrapesched.scrapers.resources import ScraperResources
from scrapesched.scrapers.specs import FLAKY_TESTS_SUMMARY, GITHUB_PRS, PR_STATES_REFRESH
from scrapesched.scrapers.telemetry.buffer import TelemetryBuffer
from scrapesched.scrapers.telemetry.jobs import scrape_client
from scrapesched.testing.fake_github import FakeGitHub

TOKEN = "ghp_plantedSecretToken0123456789abcdefXYZ"
JOBS = {spec.name: spec for spec in (GITHUB_PRS, PR_STATES_REFRESH, FLAKY_TESTS_SUMMARY)}


def github_settings(fake: FakeGitHub, repos: list[str], **github: Any) -> Settings:
    """Settings for scraping ``fake``: quick waits, no reserve, a planted token; ``github``: more ``[github]`` keys."""
    table: dict[str, Any] = {
        "api_url": fake.url,
        "token": TOKEN,
        "secondary_wait": 0.2,
        "rate_limit_reserve": 0,
        "rate_limit_slowdown": 0,
        "max_wait": 30,
    }
    table.update(github)
    return load_settings(repos=repos, http_concurrency=4, github=table)


@dataclass
class JobRunner:
    """Runs GitHub jobs in this process, sharing one GitHub client like a replica does (built here with quick
    retries and no telemetry hook, instead of by the app wiring)."""

    settings: Settings
    engine: Engine
    resources: ScraperResources = field(init=False)
    run_ids: int = 0

    def __post_init__(self) -> None:
        settings, engine = self.settings, self.engine
        self.resources = ScraperResources(
            telemetry=TelemetryBuffer(engine, owner="test", flush_interval=None),
            http=scrape_client(settings),
            github=GitHubClient(settings, engine, first_backoff=0.02),
        )

    def run(self, job: str, repo: str, **params: Any) -> RunContext[ScraperResources]:
        return self.execute(self.context(job, repo, **params))

    def execute(self, ctx: RunContext[ScraperResources]) -> RunContext[ScraperResources]:
        JOBS[ctx.job].function()(ctx)
        return ctx

    def context(self, job: str, repo: str, **params: Any) -> RunContext[ScraperResources]:
        """A fresh run's context (its ``completer`` may be set before ``execute``)."""
        self.run_ids += 1
        spec = JOBS[job]
        return RunContext(
            job=job,
            shard=repo,
            params=spec.resolve_params(params),
            scheduled_for=datetime.now(UTC),
            trigger="manual",
            run_id=self.run_ids,
            owner="test",
            settings=self.settings,
            engine=self.engine,
            lease=None,
            stop_event=threading.Event(),
            resources=self.resources,
        )

    def close(self) -> None:
        self.resources.close()


@contextmanager
def job_runner(settings: Settings, engine: Engine) -> Iterator[JobRunner]:
    runner = JobRunner(settings, engine)
    try:
        yield runner
    finally:
        runner.close()
