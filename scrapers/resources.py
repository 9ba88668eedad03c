"""What the scraper jobs share within a process: the clients the app wiring builds once at start-up.

The command line's wiring (``cli/wiring.py``) creates the telemetry buffer, the HTTP client of the
telemetry scrapes and the GitHub client, hooks the buffer's ``record`` into both clients, and hands the
result to the runner; every run sees it as ``ctx.resources`` (a job declares ``ctx: JobContext``).
"""

from __future__ import annotations

from dataclasses import dataclass

from scrapesched.scheduler.context import RunContext
from scrapesched.scrapers.github.client import GitHubClient
from scrapesched.scrapers.http import HttpClient
from scrapesched.scrapers.telemetry.buffer import TelemetryBuffer


@dataclass(frozen=True)
class ScraperResources:
    """The per-process clients of the scraper jobs."""

    telemetry: TelemetryBuffer
    """The per-host HTTP summary; its ``record`` is a hook of both clients."""
    http: HttpClient
    """The client of the telemetry scrapes (``http_telemetry``)."""
    github: GitHubClient
    """The GitHub client of the GitHub jobs (its own ``HttpClient`` inside)."""

    def close(self) -> None:
        """At shutdown: close the clients, then flush the telemetry buffer a last time."""
        try:
            self.github.close()
            self.http.close()
        finally:
            self.telemetry.close()


JobContext = RunContext[ScraperResources]
"""What a scraper job gets: a run's context with the scraper resources."""
