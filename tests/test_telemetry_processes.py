"""Telemetry with OS processes on real servers: scraper processes counted exactly (and a killed one never
over-counted), and ``scrapesched run`` replicas sampling endpoints once per fire with exact rollups."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import sqlalchemy as sa
from telemetry_support import (
    JSON_PATHS,
    EndpointServer,
    assert_same,
    ensure_flush_table,
    mix_responder,
    recompute,
    rollups,
    telemetry_responder,
)

from conftest import REPO_ROOT, cli_env, scrapesched_cmd
from replicas import fleet, wait_for, write_config
from scrapesched.db.schema import (
    http_error_summary,
    job_runs,
    telemetry_flushes,
    telemetry_samples,
    telemetry_scrapes,
    telemetry_series,
)

pytestmark = pytest.mark.slow

WORKERS = 4
CALLS = 500
FLUSH_EVERY = 50
CLIENT_TIMEOUT = 0.5
WORKER = REPO_ROOT / "tests" / "workers" / "telemetry_requests.py"
Key = tuple[int, str]


def _url(engine: sa.Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def _start(engine: sa.Engine, base: str, worker: str) -> subprocess.Popen[str]:
    env = cli_env()
    env["PYTHONPATH"] = str(REPO_ROOT)
    return subprocess.Popen(
        [sys.executable, str(WORKER), _url(engine), base, worker, str(CALLS), str(FLUSH_EVERY), str(CLIENT_TIMEOUT)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _summary(engine: sa.Engine) -> Counter[Key]:
    with engine.connect() as conn:
        t = http_error_summary
        out: Counter[Key] = Counter()
        for r in conn.execute(sa.select(t, t.c.count.label("n"))):
            assert r.host == "127.0.0.1"
            out[(r.status_code, r.error_type)] += r.n
        return out


def _flushed_by_owner(engine: sa.Engine) -> Counter[str]:
    t = telemetry_flushes
    with engine.connect() as conn:
        return Counter({o: int(n) for o, n in conn.execute(
            sa.select(t.c.owner, sa.func.sum(t.c.request_count)).group_by(t.c.owner))})


def _reported(line: str) -> Counter[Key]:
    payload = json.loads(line.removeprefix("FLUSHED "))
    return Counter({(status, error_type): n for _host, status, error_type, n in payload["flushed"]})


@pytest.fixture
def db(engine: sa.Engine) -> sa.Engine:
    ensure_flush_table(engine)
    return engine


@pytest.mark.parametrize("backend", ["mariadb", "postgres"], indirect=True)
def test_four_processes_count_exactly_what_the_endpoint_answered(db: sa.Engine) -> None:
    with EndpointServer(mix_responder(seed=20240501, timeout_sleep=CLIENT_TIMEOUT * 5)) as server:
        procs = [_start(db, server.url, f"w{i}") for i in range(WORKERS)]
        outcomes = [p.communicate(timeout=180) for p in procs]
        assert [p.returncode for p in procs] == [0] * WORKERS, [err[-2000:] for _, err in outcomes]
        served = server.totals()
    assert set(served) == {(200, ""), (404, "client_error"), (500, "server_error"), (0, "timeout")}
    assert sum(served.values()) > WORKERS * CALLS  # retried 500s and timeouts are requests too
    assert _summary(db) == served
    for i, (out, _) in enumerate(outcomes):
        last = [line for line in out.splitlines() if line.startswith("FLUSHED ")][-1]
        assert _reported(last) == server.by_tag(f"w{i}")
    assert _flushed_by_owner(db) == {f"w{i}": sum(server.by_tag(f"w{i}").values()) for i in range(WORKERS)}


@pytest.mark.parametrize("backend", ["mariadb", "postgres"], indirect=True)
def test_a_process_killed_mid_run_loses_at_most_its_unflushed_part_and_never_over_counts(db: sa.Engine) -> None:
    with EndpointServer(mix_responder(seed=7, timeout_sleep=CLIENT_TIMEOUT * 5)) as server:
        procs = [_start(db, server.url, f"w{i}") for i in range(WORKERS)]
        victim = procs[0]
        assert victim.stdout is not None
        reports: list[str] = []
        while len(reports) < 2:
            line = victim.stdout.readline()
            assert line, "the victim ended before its second flush"
            if line.startswith("FLUSHED "):
                reports.append(line)
        flushed = sum(_reported(reports[-1]).values())
        deadline = time.monotonic() + 30
        while sum(server.by_tag("w0").values()) < flushed + 10 and time.monotonic() < deadline:
            time.sleep(0.001)  # a few requests into its third run, before that run's flush
        os.kill(victim.pid, signal.SIGKILL)
        victim.communicate(timeout=30)
        others = [p.communicate(timeout=180) for p in procs[1:]]
        assert [p.returncode for p in procs[1:]] == [0] * (WORKERS - 1), [err[-2000:] for _, err in others]
        time.sleep(0.5)  # let the server log a request the victim sent just before it died
        served, victim_served = server.totals(), server.by_tag("w0")
        others_served = served - victim_served
    counted = _summary(db)
    assert all(counted[k] <= served[k] for k in counted | served), "a count is higher than the endpoint's log"
    victim_counted = counted - others_served
    assert counted == others_served + victim_counted, "another process lost counts"
    last_report = _reported(reports[-1])
    for key in victim_served:
        assert last_report[key] <= victim_counted[key] <= victim_served[key], key
    assert sum(victim_counted.values()) < sum(victim_served.values()), "killed with unflushed counts"
    by_owner = _flushed_by_owner(db)
    assert {o: n for o, n in by_owner.items() if o != "w0"} == {
        f"w{i}": sum(server.by_tag(f"w{i}").values()) for i in range(1, WORKERS)
    }
    assert by_owner["w0"] == sum(victim_counted.values())


ENDPOINTS = ("alpha", "beta", "gamma", "queue", "cache")


def _config(tmp_path: Path, base: str) -> Path:
    body = """
[jobs.http_telemetry]
interval = "1s"
lease_ttl = "15s"

[jobs.telemetry_rollup]
interval = "2s"
lease_ttl = "15s"

[telemetry]
flush_interval = "1s"
"""
    for name in ENDPOINTS:
        if name in ("queue", "cache"):
            paths = ", ".join(f'"{p}"' for p in JSON_PATHS)
            body += f'\n[[telemetry.endpoints]]\nname = "{name}"\nurl = "{base}/json/{name}"\nformat = "json"\n'
            body += f"paths = [{paths}]\n"
        else:
            body += f'\n[[telemetry.endpoints]]\nname = "{name}"\nurl = "{base}/prom/{name}"\n'
            body += 'labels = { team = "t" }\n'
    return write_config(tmp_path / "telemetry.toml", body)


def _fewest_runs(engine: sa.Engine) -> int:
    """The number of succeeded http_telemetry runs of the endpoint with the fewest."""
    t = job_runs
    with engine.connect() as conn:
        done = Counter({shard: int(n) for shard, n in conn.execute(
            sa.select(t.c.shard, sa.func.count()).where(t.c.job_name == "http_telemetry", t.c.status == "succeeded")
            .group_by(t.c.shard))})
    return min((done[name] for name in ENDPOINTS), default=0)


@pytest.mark.parametrize("backend", ["mariadb", "postgres"], indirect=True)
def test_three_replicas_sample_each_endpoint_once_per_fire_and_rollups_equal_the_raw_samples(
    db: sa.Engine, tmp_path: Path
) -> None:
    with EndpointServer(telemetry_responder()) as server:
        config = _config(tmp_path, server.url)
        with fleet(tmp_path, database_url=_url(db)) as f:
            for i in range(3):
                f.start(f"replica-{i}", config)
            # All three up first: a replica still starting when the others have sampled enough would be
            # stopped before it installed its signal handlers.
            assert wait_for(lambda: all(r.started() for r in f.replicas), 60), [r.log()[-2000:] for r in f.replicas]
            assert wait_for(lambda: _fewest_runs(db) >= 4, 90), "the replicas did not sample every endpoint 4 times"
            codes = f.stop_all()
            assert codes == [0, 0, 0], [r.log()[-3000:] for r in f.replicas]
        # Two last rollups at once, as two replicas would start them (the lease lets one run, the other
        # exits 75), then one more: the rows it writes are the same.
        env = cli_env(database_url=_url(db))

        def rollup_once() -> subprocess.Popen[str]:
            return subprocess.Popen([*scrapesched_cmd(), "--config", str(config), "run-once", "telemetry_rollup"],
                                    env=env, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    text=True)

        pair = [rollup_once(), rollup_once()]
        outs = [p.communicate(timeout=120)[0] for p in pair]
        assert sorted(p.returncode for p in pair) in ([0, 0], [0, 75]), outs
        after_first = rollups(db)
        again = rollup_once()
        assert again.wait(timeout=120) == 0
        assert rollups(db) == after_first
        requests = Counter({path.rsplit("/", 1)[1]: n for path, n in server.requests.items()})

    with db.connect() as conn:
        runs = list(conn.execute(sa.select(job_runs).where(job_runs.c.job_name == "http_telemetry")))
        scrapes = list(conn.execute(sa.select(telemetry_scrapes)))
        series = {r.id: r.endpoint for r in conn.execute(sa.select(telemetry_series))}
        samples = list(conn.execute(sa.select(telemetry_samples)))
    done = [r for r in runs if r.status == "succeeded"]
    fires = Counter((r.shard, r.scheduled_for) for r in runs)
    assert fires and max(fires.values()) == 1, "a fire of a shard was claimed twice"
    assert len({r.owner for r in done}) >= 2, "the replicas should share the fires"
    per_endpoint = Counter(r.shard for r in done)
    assert set(per_endpoint) == set(ENDPOINTS) and min(per_endpoint.values()) >= 4
    # Each fire of each endpoint was scraped by one replica, once: the endpoint's log agrees.
    others = [(r.shard, r.status, r.owner, r.error) for r in runs if r.status != "succeeded"]
    assert requests == per_endpoint, others
    assert all(r.requests == 1 and r.retries == 0 and r.rows_written > 1 for r in done)
    assert Counter(s.endpoint for s in scrapes) == per_endpoint and {s.error_type for s in scrapes} == {""}
    assert {(s.endpoint, s.observed_at) for s in scrapes} == {(r.shard, r.scheduled_for) for r in done}
    # Each sample stored once: one per series and fire.
    per_series = Counter(s.series_id for s in samples)
    assert all(per_series[sid] == per_endpoint[endpoint] for sid, endpoint in series.items())
    assert len(series) == 3 * 4 + 2 * 3
    assert len({(s.series_id, s.observed_at) for s in samples}) == len(samples)
    assert_same(rollups(db), recompute(db))
    # Every request the replicas made is in the per-host summary (flushed at the latest at shutdown).
    assert _summary(db) == {(200, ""): sum(requests.values())}
