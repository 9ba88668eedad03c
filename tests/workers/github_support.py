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
from scrapesched.scheduler.context import RunContext, Services
from scrapesched.scrapers.github.client import GitHubClient
from scrapesched.scrapers.github.jobs import GITHUB_SERVICE, SPECS
from scrapesched.testing.fake_github import FakeGitHub

TOKEN = "ghp_plantedSecretToken0123456789abcdefXYZ"
JOBS = {spec.name: spec for spec in SPECS}


def github_settings(fake: FakeGitHub, repos: list[str], **extra: Any) -> Settings:
    """Settings for scraping ``fake``: quick waits, no reserve, a planted token."""
    values: dict[str, Any] = {
        "github_api_url": fake.url,
        "github_token": TOKEN,
        "repos": repos,
        "github_secondary_wait": 0.2,
        "github_rate_limit_reserve": 0,
        "github_rate_limit_slowdown": 0,
        "http_concurrency": 4,
        "github_max_wait": 30,
    }
    values.update(extra)
    return load_settings(**values)


@dataclass
class JobRunner:
    """Runs GitHub jobs in this process, sharing one GitHub client like a replica does."""

    settings: Settings
    engine: Engine
    services: Services = field(default_factory=Services)
    run_ids: int = 0

    def __post_init__(self) -> None:
        settings, engine = self.settings, self.engine
        self.services.get(GITHUB_SERVICE, lambda: GitHubClient(settings, engine, first_backoff=0.02))

    def run(self, job: str, repo: str, **params: Any) -> RunContext:
        self.run_ids += 1
        spec = JOBS[job]
        ctx = RunContext(
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
            services=self.services,
        )
        spec.run(ctx)
        return ctx

    def close(self) -> None:
        self.services.close()


@contextmanager
def job_runner(settings: Settings, engine: Engine) -> Iterator[JobRunner]:
    runner = JobRunner(settings, engine)
    try:
        yield runner
    finally:
        runner.close()
