"""The telemetry jobs on real servers: ``http_telemetry`` (samples once per bucket, bad endpoints recorded
and survived), ``telemetry_rollup`` (equal to a recomputation, idempotent) and ``retention`` (old rows
only, in bounded batches, reported)."""

from __future__ import annotations

import random
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from lock_helpers import closed_port
from sqlalchemy import event
from structlog.testing import capture_logs
from telemetry_support import (
    JSON_PATHS,
    EndpointServer,
    assert_same,
    recompute,
    rollups,
    run_context,
)

from scrapesched.cli.wiring import scraper_resources
from scrapesched.config.settings import Settings, load_settings
from scrapesched.db.schema import (
    http_error_summary,
    http_etags,
    job_runs,
    telemetry_flushes,
    telemetry_hourly,
    telemetry_samples,
    telemetry_scrapes,
    telemetry_series,
)
from scrapesched.scheduler.plugins import load_registry
from scrapesched.scrapers.resources import ScraperResources
from scrapesched.scrapers.retention import run_retention
from scrapesched.scrapers.telemetry.jobs import run_http_telemetry, run_rollup

T0 = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
ROLLUP = {"lookback_hours": 2, "max_hours": 48}


def settings_for(db: sa.Engine, endpoints: list[dict[str, Any]], **telemetry: Any) -> Settings:
    return load_settings(
        database_url=db.url.render_as_string(hide_password=False),
        instance_id="test",
        telemetry={"endpoints": endpoints, **telemetry},
    )


def rows(db: sa.Engine, table: sa.Table) -> list[sa.Row[Any]]:
    with db.connect() as conn:
        return list(conn.execute(sa.select(table).order_by(table.c.id)))


def scrape_all(db: sa.Engine, settings: Settings, when: datetime, resources: ScraperResources) -> None:
    for endpoint in settings.telemetry.endpoints:
        run_http_telemetry(
            run_context(db, settings, "http_telemetry", when, shard=endpoint.name, resources=resources)
        )


def test_bad_endpoints_are_recorded_with_a_clear_message_and_the_others_still_sampled(
    db: sa.Engine, server: EndpointServer
) -> None:
    dead = closed_port()
    settings = settings_for(
        db,
        [
            {"name": "good", "url": server.url + "/prom/good", "labels": {"env": "test"}},
            {"name": "malformed", "url": server.url + "/malformed/x"},
            {"name": "not-json", "url": server.url + "/html/x", "format": "json", "paths": ["a"]},
            {"name": "field", "url": server.url + "/text-json/x", "format": "json",
             "paths": ["queue.waiting", "queue.running"]},
            {"name": "unreachable", "url": f"http://127.0.0.1:{dead}/metrics", "timeout": "1s"},
            {"name": "down", "url": server.url + "/status/503"},
        ],
    )
    resources = scraper_resources(settings, db)
    scrape_all(db, settings, T0, resources)  # no endpoint raises: every run goes on
    resources.close()
    scrapes = {r.endpoint: r for r in rows(db, telemetry_scrapes)}
    assert {k: (r.status_code, r.error_type, r.samples) for k, r in scrapes.items()} == {
        "good": (200, "", 4),
        "malformed": (200, "parse", 0),
        "not-json": (200, "parse", 0),
        "field": (200, "field", 1),
        "unreachable": (0, "connect", 0),
        "down": (503, "server_error", 0),
    }
    assert scrapes["good"].error is None
    assert scrapes["malformed"].error.startswith(
        "malformed Prometheus exposition at line 3 ('this line { is not exposition')"
    )
    assert scrapes["not-json"].error.startswith("body is not JSON: Expecting value: line 1 column 1")
    assert scrapes["field"].error == "queue.waiting: not numeric (a string)"
    assert f"GET http://127.0.0.1:{dead}/metrics: connect error after 2 attempts" in scrapes["unreachable"].error
    assert scrapes["down"].error == "HTTP 503 Service Unavailable"
    series = {(r.endpoint, r.name): r.labels for r in rows(db, telemetry_series)}
    assert series[("good", "good_up")] == '{"endpoint":"good","env":"test"}'
    assert series[("field", "queue.running")] == '{"endpoint":"field"}'
    assert len(rows(db, telemetry_series)) == 5 and len(rows(db, telemetry_samples)) == 5
    # The scraper's own requests are in the per-host summary (flushed by resources.close at shutdown).
    t = http_error_summary
    with db.connect() as conn:
        summary = {(r.status_code, r.error_type): r.n for r in conn.execute(sa.select(t, t.c.count.label("n")))}
    assert summary == {
        (200, ""): 4,
        (503, "server_error"): 2,
        (0, "connect"): 2,
    }


def test_a_bucket_sampled_twice_stores_each_sample_once_and_keeps_the_first(
    db: sa.Engine, server: EndpointServer
) -> None:
    settings = settings_for(db, [{"name": "api", "url": server.url + "/prom/api"},
                                 {"name": "q", "url": server.url + "/json/q", "format": "json", "paths": JSON_PATHS}])
    resources = scraper_resources(settings, db)
    scrape_all(db, settings, T0, resources)
    first = {(r.series_id, r.observed_at): r.value for r in rows(db, telemetry_samples)}
    scrape_all(db, settings, T0, resources)  # a second replica, or a recovery re-run, of the same fire
    assert {(r.series_id, r.observed_at): r.value for r in rows(db, telemetry_samples)} == first
    assert server.requests["/prom/api"] == 2, "both scrapes really happened; the endpoint's values changed"
    scrape_all(db, settings, T0 + timedelta(minutes=1), resources)
    samples = rows(db, telemetry_samples)
    assert len(samples) == 2 * len(first) == 2 * 7
    assert len(rows(db, telemetry_series)) == 7
    assert len(rows(db, telemetry_scrapes)) == 4
    resources.close()


def test_an_endpoint_interval_samples_once_per_bucket(db: sa.Engine, server: EndpointServer) -> None:
    settings = settings_for(db, [{"name": "api", "url": server.url + "/prom/api", "interval": "10m"}])
    resources = scraper_resources(settings, db)
    for minutes in (2, 5, 9, 10, 14, 21):
        scrape_all(db, settings, T0 + timedelta(minutes=minutes), resources)
    assert server.requests["/prom/api"] == 3
    buckets = sorted({r.observed_at for r in rows(db, telemetry_samples)})
    assert buckets == [T0, T0 + timedelta(minutes=10), T0 + timedelta(minutes=20)]
    resources.close()


def test_http_telemetry_fills_the_run_counters(db: sa.Engine, server: EndpointServer) -> None:
    settings = settings_for(db, [{"name": "api", "url": server.url + "/prom/api"},
                                 {"name": "down", "url": server.url + "/status/500"}])
    resources = scraper_resources(settings, db)
    ok = run_context(db, settings, "http_telemetry", T0, shard="api", resources=resources)
    run_http_telemetry(ok)
    down = run_context(db, settings, "http_telemetry", T0, shard="down", resources=resources)
    run_http_telemetry(down)
    assert ok.counters.as_dict() == {"rows_written": 5, "requests": 1, "not_modified": 0, "retries": 0,
                                     "rate_limit_waits": 0}
    assert (down.counters.requests, down.counters.retries, down.counters.rows_written) == (2, 1, 1)
    assert ok.resources.telemetry.unflushed() == {("127.0.0.1", 200, ""): 1, ("127.0.0.1", 500, "server_error"): 2}
    resources.close()


def _seed_samples(db: sa.Engine, series: int, minutes: list[int], seed: int = 7) -> None:
    rng = random.Random(seed)
    with db.begin() as conn:
        for i in range(series):
            conn.execute(telemetry_series.insert().values(
                series_hash=f"{i:064x}", endpoint="e", name=f"m{i}", labels="{}", first_seen=T0))
        ids = [r.id for r in conn.execute(sa.select(telemetry_series.c.id))]
        conn.execute(telemetry_samples.insert(), [
            {"series_id": sid, "observed_at": T0 + timedelta(minutes=m), "value": rng.uniform(-50, 50)}
            for sid in ids for m in minutes if rng.random() < 0.9
        ])


def test_rollup_equals_a_recomputation_from_raw_samples_and_rerunning_changes_nothing(db: sa.Engine) -> None:
    _seed_samples(db, series=6, minutes=[0, 7, 15, 59, 60, 61, 119, 120, 150, 179])
    settings = settings_for(db, [])
    run_rollup(run_context(db, settings, "telemetry_rollup", T0, params=ROLLUP))
    expected = recompute(db)
    assert len({h for _, h in expected}) == 3
    assert_same(rollups(db), expected)
    before = rows(db, telemetry_hourly)
    run_rollup(run_context(db, settings, "telemetry_rollup", T0, params=ROLLUP))
    run_rollup(run_context(db, settings, "telemetry_rollup", T0, params=ROLLUP))
    assert rows(db, telemetry_hourly) == before


def test_two_rollups_at_once_give_the_same_rows_as_one(db: sa.Engine) -> None:
    _seed_samples(db, series=40, minutes=list(range(0, 240, 5)))
    settings = settings_for(db, [])
    errors: list[BaseException] = []

    def rollup() -> None:
        try:
            run_rollup(run_context(db, settings, "telemetry_rollup", T0, params=ROLLUP))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=rollup) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert_same(rollups(db), recompute(db))


def test_rollup_catches_up_after_a_gap_and_updates_the_newest_hours(db: sa.Engine) -> None:
    _seed_samples(db, series=3, minutes=[0, 30])
    settings = settings_for(db, [])
    ctx = run_context(db, settings, "telemetry_rollup", T0, params=ROLLUP)
    run_rollup(ctx)
    with db.begin() as conn:  # new samples: later in the same hour, and two days later
        conn.execute(telemetry_samples.insert(), [
            {"series_id": sid, "observed_at": T0 + timedelta(minutes=m), "value": float(m)}
            for sid in (1, 2, 3) for m in (45, 48 * 60 + 5)
        ])
    run_rollup(run_context(db, settings, "telemetry_rollup", T0, params=ROLLUP))
    assert_same(rollups(db), recompute(db))
    assert ctx.counters.rows_written == 3


def test_a_rollup_from_fewer_samples_never_replaces_one_from_more(db: sa.Engine) -> None:
    _seed_samples(db, series=2, minutes=[0, 10, 20, 30])
    settings = settings_for(db, [])
    run_rollup(run_context(db, settings, "telemetry_rollup", T0, params=ROLLUP))
    before = rollups(db)
    with db.begin() as conn:  # raw samples of the hour partly gone (retention), then a rollup again
        conn.execute(telemetry_samples.delete().where(telemetry_samples.c.observed_at < T0 + timedelta(minutes=15)))
    run_rollup(run_context(db, settings, "telemetry_rollup", T0, params=ROLLUP))
    assert rollups(db) == before


def _now(db: sa.Engine) -> datetime:
    from scrapesched.db.clock import server_time

    with db.connect() as conn:
        return server_time(conn)


def test_retention_deletes_only_old_rows_in_bounded_batches_and_reports_them(db: sa.Engine) -> None:
    now = _now(db)
    old, new = now - timedelta(days=10), now - timedelta(hours=1)
    with db.begin() as conn:
        conn.execute(telemetry_series.insert().values(series_hash="a" * 64, endpoint="e", name="m", labels="{}",
                                                      first_seen=old))
        conn.execute(telemetry_samples.insert(), [
            {"series_id": 1, "observed_at": (old if i < 23 else new) + timedelta(seconds=i), "value": 1.0}
            for i in range(30)
        ])
        conn.execute(telemetry_scrapes.insert(), [
            {"endpoint": "e", "observed_at": t, "status_code": 200, "error_type": "", "samples": 1} for t in (old, new)
        ])
        conn.execute(telemetry_hourly.insert(), [
            {"series_id": 1, "hour": t, "min": 0, "max": 0, "avg": 0, "count": 1, "last": 0, "last_at": t}
            for t in (now - timedelta(days=500), old)
        ])
        run = {"shard": "", "trigger": "schedule", "owner": "x", "lease_ttl_s": 10.0, "status": "succeeded"}
        conn.execute(job_runs.insert(), [
            {**run, "job_name": "old", "scheduled_for": old, "started_at": old, "finished_at": old},
            {**run, "job_name": "older", "scheduled_for": now - timedelta(days=40), "started_at": old,
             "finished_at": now - timedelta(days=40)},
            {**run, "job_name": "new", "scheduled_for": new, "started_at": new, "finished_at": new},
            {**run, "job_name": "running", "scheduled_for": old, "started_at": old, "finished_at": None,
             "status": "running"},
        ])
        conn.execute(http_etags.insert(), [
            {"url_hash": h, "url": "u", "fetched_at": t, "used_at": t}
            for h, t in (("1" * 64, now - timedelta(days=31)), ("2" * 64, new))
        ])
        conn.execute(telemetry_flushes.insert(), [
            {"flush_id": f"{i:032x}", "owner": "x", "flushed_at": t, "key_count": 1, "request_count": 1}
            for i, t in enumerate((old, new))
        ])
    settings = load_settings(database_url=db.url.render_as_string(hide_password=False), instance_id="test",
                             retention={"samples": "7d", "batch_size": 5})
    deletes: list[str] = []

    @event.listens_for(db, "before_cursor_execute")
    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("DELETE") and "telemetry_samples" in statement:
            deletes.append(statement)

    with capture_logs() as logs:
        run_retention(run_context(db, settings, "retention", now))
    event.remove(db, "before_cursor_execute", seen)
    report = next(e for e in logs if e["event"] == "retention_deleted")
    assert report["deleted"] == {
        "telemetry_samples": 23,
        "telemetry_scrapes": 1,
        "telemetry_hourly": 1,
        "job_runs": 1,
        "http_etags": 1,
        "telemetry_flushes": 1,
    }
    assert report["total"] == 28
    assert len(deletes) == 5, "23 rows at most 5 per statement"
    assert len(rows(db, telemetry_samples)) == 7
    assert {r.job_name for r in rows(db, job_runs)} == {"old", "new", "running"}
    assert [r.used_at for r in rows(db, http_etags)] == [new]
    assert [r.observed_at for r in rows(db, telemetry_scrapes)] == [new]
    assert [r.hour for r in rows(db, telemetry_hourly)] == [old]


def test_the_telemetry_and_retention_jobs_are_registered_with_their_functions() -> None:
    registry = load_registry()
    assert registry.get("http_telemetry").function() is run_http_telemetry
    assert registry.get("telemetry_rollup").function() is run_rollup
    assert registry.get("retention").function() is run_retention
