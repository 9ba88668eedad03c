"""The fleet console (issue 15): its JSON API against a database filled by real replicas, the OpenAPI
document checked by schemathesis against the app, and the page in a real browser (Debian's chromium
driven by Playwright) while replicas run, die and get paused."""

from __future__ import annotations

import json
import shutil
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings

from conftest import REDIS_URL, SERVERS, cli_env, run_cli
from replicas import fleet, runs_of, wait_for, write_config
from scrapesched import locks
from scrapesched.config.redact import Redactor
from scrapesched.config.settings import load_settings
from scrapesched.console.web import Console
from scrapesched.db.clock import server_time
from scrapesched.db.schema import http_error_summary, rate_limits
from scrapesched.scheduler.plan import build_plan
from scrapesched.scheduler.plugins import load_registry
from scrapesched.testing.local_servers import free_port
from scrapesched.testing.scratch import migrated_database

CHROMIUM = "/usr/bin/chromium"
TOKEN = "console-token-h6-planted-secret"
CANARY = '[jobs.canary]\ninterval = "1s"\nlease_ttl = "3s"\nshards = ["a", "b"]\nparams = { seconds = %s }\n'


def _url(engine: sa.Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def _settings(backend: str, engine: sa.Engine, redis_prefix: str) -> dict[str, str]:
    lock = {"sqlite": "table", "mariadb": f"{REDIS_URL}?prefix={redis_prefix}", "postgres": _url(engine)}[backend]
    return {"database_url": _url(engine), "lock_url": lock}


def _console_env(port: int, token: str | None = None) -> dict[str, str]:
    env = {"SCRAPESCHED_HTTP_PORT": str(port), "SCRAPESCHED_HTTP_HOST": "127.0.0.1"}
    if token:
        env["SCRAPESCHED_CONSOLE_WRITE_TOKEN"] = token
    return env


def _get(base: str, path: str) -> Any:
    answer = httpx.get(base + path, timeout=30)
    assert answer.status_code == 200, (path, answer.status_code, answer.text[:300])
    return answer.json()


def _up(base: str) -> bool:
    try:
        return httpx.get(base + "/healthz", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


@pytest.mark.slow
def test_api_shows_what_real_replicas_did_and_refuses_writes_without_the_token(
    engine: sa.Engine, backend: str, redis_prefix: str, tmp_path: Path
) -> None:
    config = write_config(tmp_path / "c.toml", CANARY % "0.2")
    settings_ = _settings(backend, engine, redis_prefix)
    writable, readonly = free_port(), free_port()
    with engine.begin() as conn:  # what the GitHub client and the telemetry buffer record (their own tests)
        now = server_time(conn)
        conn.execute(rate_limits.insert(), [{"token_id": "t-1a2b", "resource": "core", "limit": 5000,
                                             "remaining": 4321, "reset_at": now, "observed_at": now}])
        conn.execute(http_error_summary.insert(), [
            {"host": "api.github.com", "status_code": code, "error_type": "", "count": n, "first_seen": now,
             "last_seen": now} for code, n in ((200, 7), (304, 5), (502, 1))
        ])
    with fleet(tmp_path, **settings_) as f:
        f.start("r0", config, extra_env=_console_env(writable, TOKEN))
        f.start("r1", config, extra_env=_console_env(readonly))
        base, other = f"http://127.0.0.1:{writable}", f"http://127.0.0.1:{readonly}"
        assert wait_for(lambda: _up(base) and _up(other), 60), f.by_name("r0").log()[-2000:]

        def fleet_doc() -> dict[str, Any]:
            return dict(_get(base, "/api/fleet"))

        assert wait_for(lambda: {r["instance_id"] for r in fleet_doc()["replicas"]} == {"r0", "r1"}, 30)
        assert wait_for(lambda: all(s["last_success"] for s in fleet_doc()["shards"]), 30)
        doc = fleet_doc()
        assert {(s["job"], s["shard"]) for s in doc["shards"]} == {("canary", "a"), ("canary", "b")}
        assert all(s["schedule"] == "every 1s" and s["next_fire"] for s in doc["shards"])
        assert {r["instance_id"] for r in _get(other, "/api/fleet")["replicas"]} == {"r0", "r1"}

        # status --json is the same query layer: the same shards and replicas, with the same keys
        status = json.loads(run_cli("--config", str(config), "status", "--json", env=cli_env(**settings_)).stdout)
        assert set(status["shards"][0]) == set(doc["shards"][0])
        assert {r["instance_id"] for r in status["replicas"]} == {"r0", "r1"}

        # recent runs: filters and keyset pages
        assert wait_for(lambda: len(_get(base, "/api/runs?status=succeeded&shard=a")["runs"]) >= 3, 30)
        first = _get(base, "/api/runs?job=canary&shard=a&status=succeeded&limit=2")
        assert len(first["runs"]) == 2 and first["next_before"] == first["runs"][-1]["run_id"]
        run = first["runs"][0]
        assert run["shard"] == "a" and run["status"] == "succeeded" and run["trigger"] == "schedule"
        assert run["fencing_token"] and run["rows_written"] == 1 and run["duration_s"] >= 0.2
        older = _get(base, f"/api/runs?job=canary&shard=a&status=succeeded&limit=2&before={first['next_before']}")
        assert all(r["run_id"] < first["next_before"] for r in older["runs"])
        assert httpx.get(base + "/api/runs?limit=0").status_code == 400
        assert httpx.get(base + "/api/runs?status=exploded").status_code == 400

        (host,) = _get(base, "/api/hosts")
        assert (host["host"], host["requests"], host["ok"], host["not_modified"], host["server_errors"]) == (
            "api.github.com", 13, 7, 5, 1)
        assert [b["token_id"] for b in _get(base, "/api/github")["budgets"]] == ["t-1a2b"]

        # writes: refused without the token (401), with a wrong one (403), on a read-only console (403)
        pause = "/api/jobs/canary/pause"
        assert httpx.post(base + pause, json={"shard": "a"}).status_code == 401
        wrong = httpx.post(base + pause, json={"shard": "a"}, headers={"Authorization": "Bearer wrong-" + TOKEN})
        assert wrong.status_code == 403
        disabled = httpx.post(other + pause, json={"shard": "a"}, headers={"Authorization": "Bearer " + TOKEN})
        assert disabled.status_code == 403 and "disabled" in disabled.json()["error"]
        assert _get(other, "/api/info")["write_enabled"] is False
        assert all(s["paused"] is None for s in fleet_doc()["shards"])
        unknown = httpx.post(base + "/api/jobs/nope/pause", headers={"Authorization": "Bearer " + TOKEN})
        assert unknown.status_code == 404
        f.stop_all()
    logs = f.by_name("r0").log() + f.by_name("r1").log()
    assert logs.count("console_write_refused") >= 3
    assert TOKEN not in logs  # neither the right token nor the wrong one that contains it


@pytest.fixture(scope="module")
def console_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    """The console's WSGI apps in this process, on a SQLite database a real ``run-once`` wrote to."""
    tmp = tmp_path_factory.mktemp("console")
    with migrated_database("sqlite", tmp, SERVERS) as (url, engine):
        for shard in ("a", "b"):
            assert run_cli("run-once", "canary", "--shard", shard, env=cli_env(database_url=url)).returncode == 0
        config = write_config(tmp / "c.toml", CANARY % "0")
        plan = build_plan(load_settings(config, database_url=url), load_registry())
        lease_backend = locks.connect("table", engine=engine, holder_id="schemathesis")
        yield Console(engine, lease_backend, plan, "schemathesis", "0", TOKEN, Redactor())
        lease_backend.close()


def test_api_answers_as_its_openapi_document_says(console_app: Console) -> None:
    """schemathesis generates requests for every operation of ``/api/openapi.json`` (valid and invalid
    parameters and bodies) and checks each answer against the document: no 5xx, documented status codes,
    content types and schemas, refused without authentication."""
    routes = console_app.routes()

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        path = environ.get("PATH_INFO", "")
        return routes["/api/" if path.startswith("/api/") else "/"](environ, start_response)

    api = schemathesis.openapi.from_wsgi("/api/openapi.json", app)
    operations = [result.ok() for result in api.get_all_operations()]
    assert len(operations) >= 8  # every GET and the three write actions
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=15, deadline=None, suppress_health_check=list(HealthCheck), database=None, derandomize=True
        )
        def check(case: Any) -> None:
            case.call_and_validate()

        check()


def _chromium() -> str | None:
    return CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["postgres"])
@pytest.mark.skipif(_chromium() is None, reason="chromium is not installed (.ci/run installs Debian's package)")
def test_page_in_a_browser_follows_a_dying_replica_and_pauses_a_job_with_the_token(
    engine: sa.Engine, backend: str, redis_prefix: str, tmp_path: Path
) -> None:
    from playwright.sync_api import expect, sync_playwright

    config = write_config(tmp_path / "c.toml", CANARY % "4")  # long runs: a replica is always running one
    settings_ = _settings(backend, engine, redis_prefix)
    writable, readonly = free_port(), free_port()
    with fleet(tmp_path, **settings_) as f, sync_playwright() as pw:
        f.start("r0", config, extra_env=_console_env(writable, TOKEN))
        f.start("r1", config, extra_env=_console_env(readonly))
        f.start("r2", config)
        base = f"http://127.0.0.1:{writable}"
        assert wait_for(lambda: _up(base) and _up(f"http://127.0.0.1:{readonly}"), 60), f.by_name("r0").log()[-2000:]
        browser = pw.chromium.launch(executable_path=_chromium(), chromium_sandbox=False)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(base + "/")
        page.evaluate("window.notReloaded = true")
        for name in ("r0", "r1", "r2"):
            expect(page.locator(f'#replicas tr[data-replica="{name}"] .state')).to_have_text("live", timeout=30_000)

        def running_victim() -> tuple[str, int] | None:  # r2: r0 and r1 serve the consoles the test opens
            # A run r2 holds the lease of (its token recorded: not a fire claimed only to wait and be skipped)
            # and started under 2.5 s ago by the database's clock, so at least 1.5 s of its 4 are left for the
            # kill. Not the replica's heartbeat: it lists the running runs up to a beat late, and a run it
            # still listed had once ended just before the kill, leaving nothing to abandon.
            with engine.connect() as conn:
                now = server_time(conn)
            for run in runs_of(engine):
                leased = run.status == "running" and run.fencing_token is not None
                if run.owner == "r2" and leased and (now - run.started_at).total_seconds() < 2.5:
                    return "r2", int(run.id)
            return None

        assert wait_for(running_victim, 90)
        victim, run_id = running_victim() or ("", 0)
        f.by_name(victim).signal(signal.SIGKILL)
        f.by_name(victim).wait()
        expect(page.locator(f'#replicas tr[data-replica="{victim}"] .state')).to_have_text("silent", timeout=30_000)
        page.select_option('#run-filters select[name="status"]', "abandoned")
        expect(page.locator(f'#runs-table tr[data-run="{run_id}"] .status')).to_have_text("abandoned", timeout=30_000)

        # pause shard b through the page, with the token; `scrapesched status` sees it
        page.fill("#token", TOKEN)
        page.fill("#reason", "from the browser")
        page.locator('#shards tr[data-job="canary"][data-shard="b"] button.pause').click()
        expect(page.locator("#flash")).to_contain_text("paused canary [b]", timeout=15_000)
        expect(page.locator('#shards tr[data-shard="b"] .flag-paused')).to_contain_text("from the browser")
        assert page.evaluate("window.notReloaded") is True  # every change came without a reload
        page.screenshot(path=str(tmp_path / "console.png"), full_page=True)
        status = json.loads(run_cli("--config", str(config), "status", "--json", env=cli_env(**settings_)).stdout)
        paused = {s["shard"]: s["paused"] for s in status["shards"]}
        assert paused["a"] is None and paused["b"]["reason"] == "from the browser"
        assert paused["b"]["paused_by"].startswith("console@r0")

        # a console without a token: no buttons, and its POST is refused
        page.goto(f"http://127.0.0.1:{readonly}/")
        expect(page.locator("#controls")).to_contain_text("Read-only")
        expect(page.locator('#shards tr[data-shard="a"]')).to_be_visible()
        assert page.locator("#shards button").count() == 0
        refused = page.request.post(f"http://127.0.0.1:{readonly}/api/jobs/canary/resume", data={"shard": "b"})
        assert refused.status == 403
        browser.close()
        f.close()
    assert TOKEN not in "".join(f.by_name(n).log() for n in ("r0", "r1", "r2"))
