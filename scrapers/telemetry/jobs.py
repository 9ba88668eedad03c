"""The telemetry jobs: ``http_telemetry`` samples the configured endpoints (one shard each),
``telemetry_rollup`` consolidates raw samples into hourly rows. (The ``retention`` job, in
``scrapers.retention``, deletes old samples, scrape rows and rollups through the ``delete_*_before``
functions here.)

- ``http_telemetry``: GET the endpoint (through the one ``HttpClient``, so the request is counted in the
  per-host HTTP summary too), extract samples (``scrapers.parsers.exposition``), store each series once in
  ``telemetry_series`` and each sample once per (series, bucket) in ``telemetry_samples``, where the bucket
  is the fire's nominal time (``ctx.scheduled_for``, the same on every replica) or the start of the
  endpoint's ``interval``. Replicas that scrape the same endpoint for the same bucket store one sample:
  the first one stored stays. Every scrape, working or not, leaves a ``telemetry_scrapes`` row with its
  status, error type and message; an endpoint that is down never fails the run or other endpoints.
- ``telemetry_rollup``: recomputes min, max, avg, count and last per series and hour from the raw samples
  of the hours since the newest rollup (minus ``lookback_hours``) and upserts them, guarded by ``count``
  so an older, smaller recomputation never replaces a newer one. Re-running it, or running it on two
  replicas at once, gives the same rows.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import Connection, and_, func, select

from scrapesched.config.errors import ConfigError
from scrapesched.config.settings import Settings
from scrapesched.config.telemetry_settings import EndpointSettings
from scrapesched.db.prune import delete_before
from scrapesched.db.schema import (
    telemetry_hourly,
    telemetry_samples,
    telemetry_scrapes,
    telemetry_series,
)
from scrapesched.db.upsert import DEFAULT_BATCH_SIZE, upsert
from scrapesched.scheduler.context import RunContext
from scrapesched.scrapers.http import Hook, HttpClient, RequestRecord, TransportFailure, error_type_of, run_observer
from scrapesched.scrapers.parsers.exposition import ExpositionError, Extraction, extract, with_labels
from scrapesched.scrapers.resources import JobContext

HOUR = timedelta(hours=1)
MAX_NAME_CHARS = 255  # telemetry_series.name
MAX_ERROR_CHARS = 2000
ID_LOOKUP_CHUNK = 500
EMPTY = Extraction(samples=())

# Error types of a scrape besides HttpClient's (client_error, server_error, timeout, connect, protocol).
PARSE_ERROR = "parse"  # the body is not in the endpoint's format: nothing stored
FIELD_ERROR = "field"  # some JSON paths missing or not numeric: the others are stored


# --- http_telemetry ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Scrape:
    """The outcome of one GET of an endpoint: status (0: no response), error type and message, samples."""

    status_code: int
    error_type: str
    error: str
    extraction: Extraction

    @property
    def ok(self) -> bool:
        return not self.error_type


def bucket_start(scheduled_for: datetime, interval: float | None) -> datetime:
    """The time samples of this fire are stored at: the nominal fire time, or the start of its interval
    (buckets anchored at the Unix epoch)."""
    when = scheduled_for.astimezone(UTC)
    if not interval:
        return when
    start = math.floor(when.timestamp() / interval) * interval
    return datetime.fromtimestamp(start, UTC)


def scrape(client: HttpClient, endpoint: EndpointSettings, observer: Hook | None = None) -> Scrape:
    """GET the endpoint and extract its samples (with the endpoint's labels and ``endpoint=<name>``)."""
    seen: list[RequestRecord] = []

    def observe(rec: RequestRecord) -> None:
        seen.append(rec)
        if observer is not None:
            observer(rec)

    try:
        response = client.get(endpoint.url, timeout=endpoint.timeout, observer=observe)
    except TransportFailure as exc:
        error_type = seen[-1].error_type if seen else "connect"
        return Scrape(0, error_type, str(exc), EMPTY)
    status = response.status_code
    if not 200 <= status < 300:
        reason = f" {response.reason_phrase}" if response.reason_phrase else ""
        return Scrape(status, error_type_of(status) or "http", f"HTTP {status}{reason}", EMPTY)
    try:
        extraction = extract(endpoint.format, response.text, endpoint.paths)
    except ExpositionError as exc:
        return Scrape(status, PARSE_ERROR, str(exc), EMPTY)
    extraction = with_labels(extraction, {**endpoint.labels, "endpoint": endpoint.name})
    errors = list(extraction.errors)
    kept = tuple(s for s in extraction.samples if len(s.name) <= MAX_NAME_CHARS)
    if len(kept) < len(extraction.samples):
        errors.append(f"{len(extraction.samples) - len(kept)} series with names over {MAX_NAME_CHARS} characters")
        extraction = Extraction(kept, tuple(errors), extraction.skipped_non_finite)
    if errors:
        return Scrape(status, FIELD_ERROR, "; ".join(errors), extraction)
    return Scrape(status, "", "", extraction)


def _series_ids(conn: Connection, hashes: Sequence[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for start in range(0, len(hashes), ID_LOOKUP_CHUNK):
        chunk = hashes[start : start + ID_LOOKUP_CHUNK]
        stmt = select(telemetry_series.c.series_hash, telemetry_series.c.id).where(
            telemetry_series.c.series_hash.in_(chunk)
        )
        out.update({h: int(i) for h, i in conn.execute(stmt)})
    return out


def store(
    conn: Connection, endpoint: str, bucket: datetime, result: Scrape, *, batch_size: int = DEFAULT_BATCH_SIZE
) -> int:
    """Write one scrape: its series (once), its samples (once per bucket) and its status row. Rows written."""
    samples = result.extraction.samples
    if samples:
        series: list[dict[str, Any]] = [
            {
                "series_hash": s.series_hash,
                "endpoint": endpoint,
                "name": s.name,
                "labels": s.labels_json,
                "first_seen": bucket,
            }
            for s in samples
        ]
        upsert(conn, telemetry_series, series, update=[], batch_size=batch_size)  # insert if absent
        ids = _series_ids(conn, [s.series_hash for s in samples])
        rows = [{"series_id": ids[s.series_hash], "observed_at": bucket, "value": s.value} for s in samples]
        upsert(conn, telemetry_samples, rows, update=[], batch_size=batch_size)  # the first sample stays
    status = {
        "endpoint": endpoint,
        "observed_at": bucket,
        "status_code": result.status_code,
        "error_type": result.error_type,
        "error": result.error[:MAX_ERROR_CHARS] or None,
        "samples": len(samples),
    }
    # A scrape that got more samples replaces the bucket's status row (a success replaces a failure).
    upsert(conn, telemetry_scrapes, [status], newer="samples")
    return len(samples) + 1


def _already_scraped(conn: Connection, endpoint: str, bucket: datetime) -> bool:
    t = telemetry_scrapes
    stmt = select(t.c.id).where(t.c.endpoint == endpoint, t.c.observed_at == bucket, t.c.error_type == "")
    return conn.execute(stmt).first() is not None


def scrape_client(settings: Settings, hooks: Iterable[Hook] = ()) -> HttpClient:
    """The HTTP client of the telemetry scrapes (built once by the app wiring): one quick retry, since the
    next fire samples again anyway."""
    return HttpClient(
        timeout=settings.http_timeout,
        concurrency=settings.http_concurrency,
        attempts=2,
        first_backoff=0.2,
        max_backoff=1.0,
        hooks=hooks,
    )


def endpoint_of(ctx: RunContext) -> EndpointSettings:
    """The endpoint this run's shard names; ConfigError when it is not configured."""
    endpoint = ctx.settings.telemetry.endpoint(ctx.shard)
    if endpoint is None:
        known = ", ".join(e.name for e in ctx.settings.telemetry.endpoints) or "none"
        raise ConfigError(
            f"http_telemetry: no endpoint named {ctx.shard!r} in [[telemetry.endpoints]] (known: {known})"
        )
    return endpoint


def run_http_telemetry(ctx: JobContext) -> None:
    """Sample one endpoint (the shard) for this fire's bucket."""
    endpoint = endpoint_of(ctx)
    bucket = bucket_start(ctx.scheduled_for, endpoint.interval)
    log = ctx.log.bind(endpoint=endpoint.name, bucket=bucket.isoformat())
    if endpoint.interval and ctx.read(lambda conn: _already_scraped(conn, endpoint.name, bucket), what="bucket"):
        log.info("bucket_already_sampled")
        return
    result = scrape(ctx.resources.http, endpoint, run_observer(ctx.counters))
    ctx.check()
    ctx.transaction(  # the run's last write: its completion commits with the samples
        partial(store, endpoint=endpoint.name, bucket=bucket, result=result, batch_size=ctx.settings.db_batch_size),
        what="telemetry samples",
        final=True,
        rows=lambda n: n,
    )
    samples = len(result.extraction.samples)
    if result.ok:
        log.info("endpoint_sampled", samples=samples, skipped_non_finite=result.extraction.skipped_non_finite)
    else:
        log.warning("endpoint_sample_failed", status=result.status_code, error_type=result.error_type,
                    error=result.error[:500], samples=samples)


# --- telemetry_rollup -------------------------------------------------------------------------------------
def floor_hour(when: datetime) -> datetime:
    return when.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def rollup_hour(conn: Connection, hour: datetime, *, batch_size: int = DEFAULT_BATCH_SIZE) -> int:
    """Recompute one hour's rollup of every series with samples in it; rows upserted."""
    s = telemetry_samples
    in_hour = and_(s.c.observed_at >= hour, s.c.observed_at < hour + HOUR)
    aggregates = conn.execute(
        select(
            s.c.series_id,
            func.min(s.c.value).label("min"),
            func.max(s.c.value).label("max"),
            func.avg(s.c.value).label("avg"),
            func.count().label("n"),
            func.max(s.c.observed_at).label("last_at"),
        )
        .where(in_hour)
        .group_by(s.c.series_id)
    ).all()
    latest = select(s.c.series_id, func.max(s.c.observed_at).label("at")).where(in_hour).group_by(s.c.series_id)
    latest_q = latest.subquery()
    last = {
        int(series_id): float(value)
        for series_id, value in conn.execute(
            select(s.c.series_id, s.c.value).join(
                latest_q, and_(s.c.series_id == latest_q.c.series_id, s.c.observed_at == latest_q.c.at)
            )
        )
    }
    rows = [
        {
            "series_id": int(r.series_id),
            "hour": hour,
            "min": float(r.min),
            "max": float(r.max),
            "avg": float(r.avg),
            "count": int(r.n),
            "last": last[int(r.series_id)],
            "last_at": r.last_at,
        }
        for r in aggregates
    ]
    # Samples of an hour only ever grow (until retention): a recomputation from fewer samples (a replica
    # that read before the newest scrape committed) never replaces one from more.
    upsert(conn, telemetry_hourly, rows, newer="count", batch_size=batch_size)
    return len(rows)


def _first_sample_at_or_after(conn: Connection, when: datetime | None) -> datetime | None:
    s = telemetry_samples
    stmt = select(func.min(s.c.observed_at))
    if when is not None:
        stmt = stmt.where(s.c.observed_at >= when)
    value: datetime | None = conn.execute(stmt).scalar()
    return value


def run_rollup(ctx: RunContext) -> None:
    """Roll up every hour with samples since the newest rolled-up hour minus ``lookback_hours``."""
    lookback = timedelta(hours=int(ctx.params["lookback_hours"]))
    max_hours = int(ctx.params["max_hours"])
    newest = ctx.read(lambda conn: conn.execute(select(func.max(telemetry_hourly.c.hour))).scalar())
    cursor: datetime | None = floor_hour(newest - lookback) if newest is not None else None
    hours = rows = 0
    while hours < max_hours:
        ctx.check()
        nxt = ctx.read(partial(_first_sample_at_or_after, when=cursor), what="telemetry rollup")
        if nxt is None:
            break
        hour = floor_hour(nxt)
        last = hours + 1 >= max_hours

        def step(conn: Connection, hour: datetime = hour, last: bool = last) -> tuple[int, bool]:
            written = rollup_hour(conn, hour, batch_size=ctx.settings.db_batch_size)
            return written, not last and _first_sample_at_or_after(conn, hour + HOUR) is not None

        # The hour with nothing after it is the run's last write: its completion commits with it.
        written, more = ctx.transaction(
            step, what="telemetry rollup", final=lambda r: not r[1], rows=lambda r: r[0]
        )
        rows += written
        hours += 1
        cursor = hour + HOUR
        if not more:
            break
    ctx.log.info("rollup_done", hours=hours, rows=rows, newest_before=None if newest is None else newest.isoformat())


# --- what the retention job deletes here ------------------------------------------------------------------
def delete_samples_before(conn: Connection, cutoff: datetime, limit: int) -> int:
    """Delete up to ``limit`` of the oldest raw samples taken before ``cutoff``; rows deleted."""
    return delete_before(conn, telemetry_samples.c.observed_at, cutoff, limit)


def delete_scrapes_before(conn: Connection, cutoff: datetime, limit: int) -> int:
    """Delete up to ``limit`` of the oldest per-scrape status rows from before ``cutoff``; rows deleted."""
    return delete_before(conn, telemetry_scrapes.c.observed_at, cutoff, limit)


def delete_hourly_before(conn: Connection, cutoff: datetime, limit: int) -> int:
    """Delete up to ``limit`` of the oldest hourly rollups of hours before ``cutoff``; rows deleted."""
    return delete_before(conn, telemetry_hourly.c.hour, cutoff, limit)
