"""The ``retention`` job: deletes what is older than its ``[retention]`` setting, table by table.

Which rows are old is each table's owner's business (``scheduler.runs.delete_finished_before`` for
``job_runs``, ``scrapers.github.etags.delete_unused_before`` for ``http_etags``, the ``delete_*_before``
functions of the telemetry package for samples, scrape rows, rollups and flush ids). This job picks the
cutoffs by the database's clock, deletes oldest first, ``retention.batch_size`` rows per statement and per
transaction (so no table stays locked), checks for a stop between batches, and logs what it deleted
(``retention_deleted``, with the count per table, the total and the cutoffs).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection

from scrapesched.config.retention_settings import RetentionSettings
from scrapesched.db.clock import server_time
from scrapesched.scheduler.context import RunContext
from scrapesched.scheduler.runs import delete_finished_before
from scrapesched.scrapers.github.etags import delete_unused_before
from scrapesched.scrapers.telemetry.buffer import delete_flushes_before
from scrapesched.scrapers.telemetry.jobs import delete_hourly_before, delete_samples_before, delete_scrapes_before

Delete = Callable[[Connection, datetime, int], int]
"""``delete(conn, cutoff, limit)``: delete up to ``limit`` of the oldest rows from before ``cutoff``; rows deleted."""


@dataclass(frozen=True)
class Pruned:
    """One table the job prunes: its name (in the log), the ``[retention]`` key of its age, its delete."""

    table: str
    setting: str
    delete: Delete

    def max_age(self, settings: RetentionSettings) -> float:
        """Seconds its rows are kept."""
        return float(getattr(settings, self.setting))


PRUNED: tuple[Pruned, ...] = (
    Pruned("telemetry_samples", "samples", delete_samples_before),
    Pruned("telemetry_scrapes", "samples", delete_scrapes_before),
    Pruned("telemetry_hourly", "hourly", delete_hourly_before),
    Pruned("job_runs", "job_runs", delete_finished_before),  # running rows have no finished_at: never deleted
    Pruned("http_etags", "etags", delete_unused_before),
    Pruned("telemetry_flushes", "flush_ids", delete_flushes_before),
)


def delete_older(ctx: RunContext, pruned: Pruned, cutoff: datetime, batch_size: int, *, last: bool = False) -> int:
    """Delete every row of one table from before ``cutoff``, ``batch_size`` rows per transaction. Rows deleted.

    ``last``: the run's last table: its batch that finds nothing more to delete commits the run's completion.
    """
    total = 0
    while True:
        ctx.check()
        deleted = ctx.transaction(
            lambda conn: pruned.delete(conn, cutoff, batch_size),
            what=f"retention {pruned.table}",
            final=lambda n: last and n < batch_size,
        )
        total += deleted
        if deleted < batch_size:
            return total


def run_retention(ctx: RunContext) -> None:
    """Delete what is older than its retention (the database's clock decides), and log the counts."""
    settings = ctx.settings.retention
    now = ctx.read(server_time, what="retention clock")
    deleted: dict[str, int] = {}
    cutoffs: dict[str, str] = {}
    for pruned in PRUNED:
        cutoff = now - timedelta(seconds=pruned.max_age(settings))
        deleted[pruned.table] = delete_older(ctx, pruned, cutoff, settings.batch_size, last=pruned is PRUNED[-1])
        cutoffs[pruned.table] = cutoff.isoformat()
    ctx.log.info("retention_deleted", total=sum(deleted.values()), deleted=deleted, cutoffs=cutoffs)
