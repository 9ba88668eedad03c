"""The GitHub layer against the fake GitHub's faults: 5xx bursts, secondary and primary rate limits, token
fallback, the budget shared through the database, 401/404 as one-line errors, a GitHub App's installation
tokens, and a planted token that never shows up anywhere."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from github_support import TOKEN, JobRunner, github_settings
from prometheus_client import CollectorRegistry, generate_latest
from structlog.testing import capture_logs

from scrapesched.db.schema import metadata, rate_limits, scrape_cursors
from scrapesched.scrapers.github.auth import AppTokens, Credential, token_id
from scrapesched.scrapers.github.budget import RateBudget
from scrapesched.scrapers.github.client import GitHubClient
from scrapesched.scrapers.github.errors import GitHubAuthError, GitHubBadResponse, GitHubNotFound, GitHubRateLimited
from scrapesched.scrapers.github.metrics import BudgetCollector
from scrapesched.scrapers.http import HttpClient
from scrapesched.testing.fake_github import FakeGitHub
from scrapesched.testing.truth import differences

REPO = "acme/widgets"
SQLITE_ONLY = pytest.mark.parametrize("backend", ["sqlite"])


@pytest.fixture
def fake() -> Iterator[FakeGitHub]:
    with FakeGitHub.seeded(repos=[REPO], prs_per_repo=8, seed=3, tokens=[TOKEN, "ghp_second"]) as f:
        yield f


def runner_for(fake: FakeGitHub, engine: sa.Engine, **github: Any) -> JobRunner:
    return JobRunner(github_settings(fake, [REPO], **github), engine)


@SQLITE_ONLY
def test_5xx_burst_and_dropped_connection_are_retried(fake: FakeGitHub, engine: sa.Engine) -> None:
    runner = runner_for(fake, engine)
    fake.fail_next(3, status=502)
    ctx = runner.run("github_prs", REPO)
    fake.drop_connection_next(1)
    runner.run("pr_states_refresh", REPO)
    runner.close()
    assert ctx.counters.retries >= 3
    assert differences(engine, fake.truth(REPO), REPO) == []


@SQLITE_ONLY
def test_secondary_limit_waits_as_told_then_continues(fake: FakeGitHub, engine: sa.Engine) -> None:
    runner = runner_for(fake, engine)
    fake.secondary_limit_next(2, retry_after=1)
    ctx = runner.run("github_prs", REPO)
    assert ctx.counters.rate_limit_waits >= 2  # every thread that wanted to send during the pause waited
    limited = [i for i, r in enumerate(fake.requests) if r.fault == "secondary"]
    assert len(limited) == 2 and all(fake.requests[i + 1 :] for i in limited)
    fake.secondary_limit_next(2, retry_after=None, status=429)  # no Retry-After: secondary_wait, doubled
    ctx = runner.run("github_prs", REPO)
    runner.close()
    assert ctx.counters.rate_limit_waits >= 2
    assert sum(1 for r in fake.requests if r.fault == "secondary") == 4
    assert differences(engine, fake.truth(REPO), REPO) == []


@SQLITE_ONLY
def test_exhausted_primary_limit_waits_for_the_reset_when_affordable(engine: sa.Engine) -> None:
    with FakeGitHub.seeded(repos=[REPO], prs_per_repo=5, seed=4, rate_limit_window=2) as fake:
        runner = runner_for(fake, engine)
        fake.set_remaining(TOKEN, 0)
        ctx = runner.run("github_prs", REPO)
        runner.close()
        assert ctx.counters.rate_limit_waits >= 1
        limited = [r for r in fake.requests if r.status == 403]
        assert 1 <= len(limited) <= 2  # one per request in flight (pulls and comments): no spinning
        after = [r for r in fake.requests if r.at > limited[-1].at]
        assert after and all(r.status in (200, 304) for r in after)
        assert differences(engine, fake.truth(REPO), REPO) == []


@SQLITE_ONLY
def test_rate_limit_wait_longer_than_the_run_affords_ends_it_with_the_cursor_intact(
    fake: FakeGitHub, engine: sa.Engine
) -> None:
    runner = runner_for(fake, engine, tokens=None, max_wait=5)
    runner.run("github_prs", REPO)
    with engine.connect() as conn:
        before = conn.execute(sa.select(scrape_cursors).order_by(scrape_cursors.c.stream)).all()
    fake.advance(60)
    fake.add_pr(REPO)
    fake.set_remaining(TOKEN, 0)
    fake.reset_requests()
    with pytest.raises(GitHubRateLimited, match=r"github\.max_wait"):
        runner.run("github_prs", REPO)
    runner.close()
    assert len(fake.requests) <= 2 and {r.status for r in fake.requests} == {403}  # one per stream: no spinning
    with engine.connect() as conn:
        assert conn.execute(sa.select(scrape_cursors).order_by(scrape_cursors.c.stream)).all() == before
    # /metrics shows the exhausted budget and the deferred run under the token's identity, never the token.
    registry = CollectorRegistry()
    registry.register(BudgetCollector(runner.resources.github.budget))
    exposition = generate_latest(registry).decode()
    ident = token_id(TOKEN)
    assert f'scrapesched_github_budget_remaining{{token_id="{ident}"}} 0.0' in exposition
    assert re.search(rf'scrapesched_github_deferred_total{{token_id="{ident}"}} [12]\.0', exposition)  # per stream
    assert TOKEN not in exposition and TOKEN[4:20] not in exposition


@SQLITE_ONLY
def test_second_token_is_used_only_when_the_first_is_exhausted(fake: FakeGitHub, engine: sa.Engine) -> None:
    runner = runner_for(fake, engine, tokens="ghp_second")
    runner.run("github_prs", REPO)
    assert {r.token for r in fake.requests} == {FakeGitHub.fingerprint(TOKEN)}
    fake.set_remaining(TOKEN, 0)
    fake.advance(60)
    fake.add_pr(REPO)
    fake.reset_requests()
    runner.run("github_prs", REPO)
    runner.close()
    first, second = FakeGitHub.fingerprint(TOKEN), FakeGitHub.fingerprint("ghp_second")
    refused = [r for r in fake.requests if r.status == 403]
    assert 1 <= len(refused) <= 2 and {r.token for r in refused} == {first}  # one per stream in flight
    assert {r.token for r in fake.requests if r.status != 403} == {second}
    assert differences(engine, fake.truth(REPO), REPO) == []


def test_replicas_share_one_budget_through_the_database(engine: sa.Engine) -> None:
    now = [1_700_000_000.0]
    first = RateBudget(engine, reserve=10, slowdown=100, sync_every=0, clock=lambda: now[0])
    second = RateBudget(engine, reserve=10, slowdown=100, sync_every=0, clock=lambda: now[0])
    credential = Credential("tok-shared", "Bearer secret")
    assert second.plan([credential]).wait == 0
    headers = {"x-ratelimit-remaining": "60", "x-ratelimit-reset": str(int(now[0]) + 500), "x-ratelimit-limit": "5000"}
    first.observe("tok-shared", headers)
    plan = second.plan([credential])  # the other replica slows down too: 500 s spread over 50 requests
    assert plan.wait == pytest.approx(0.0) and not plan.exhausted
    assert second.plan([credential]).wait == pytest.approx(10.0)
    first.observe("tok-shared", {**headers, "x-ratelimit-remaining": "5"})
    exhausted = second.plan([credential])
    assert exhausted.exhausted and exhausted.wait == pytest.approx(501.0)
    with engine.connect() as conn:
        stored = conn.execute(sa.select(rate_limits.c.token_id, rate_limits.c.remaining)).all()
    assert [tuple(r) for r in stored] == [("tok-shared", 5)]


@SQLITE_ONLY
def test_missing_repository_fails_its_shard_in_one_line_and_others_go_on(fake: FakeGitHub, engine: sa.Engine) -> None:
    runner = runner_for(fake, engine)
    with pytest.raises(GitHubNotFound) as missing:
        runner.run("github_prs", "acme/nothing")
    with pytest.raises(GitHubNotFound):
        runner.run("pr_states_refresh", "acme/nothing")
    runner.run("github_prs", REPO)
    runner.close()
    message = str(missing.value)
    assert "\n" not in message and "/repos/acme/nothing/" in message and "404" in message
    assert differences(engine, fake.truth(REPO), REPO) == []


@SQLITE_ONLY
def test_refused_token_is_one_clear_line(fake: FakeGitHub, engine: sa.Engine) -> None:
    runner = runner_for(fake, engine, token="ghp_wrong_token_value")
    with pytest.raises(GitHubAuthError) as refused:
        runner.run("github_prs", REPO)
    runner.close()
    assert "401" in str(refused.value) and "\n" not in str(refused.value)
    assert "ghp_wrong_token_value" not in str(refused.value)


@SQLITE_ONLY
def test_link_to_another_host_is_refused(engine: sa.Engine, fake: FakeGitHub) -> None:
    client = GitHubClient(github_settings(fake, [REPO]), engine)
    with pytest.raises(GitHubBadResponse, match="refusing to send credentials"):
        client.url("https://evil.example/repos/x/y/pulls?page=2")
    client.close()


@SQLITE_ONLY
def test_planted_token_never_appears_in_logs_errors_database_or_request_log(
    fake: FakeGitHub, engine: sa.Engine, capfd: pytest.CaptureFixture[str]
) -> None:
    errors: list[str] = []
    with capture_logs() as logs:
        runner = runner_for(fake, engine)
        fake.fail_next(2)
        fake.secondary_limit_next(1, retry_after=1)
        runner.run("github_prs", REPO)
        for repo in ("acme/nothing", REPO):
            fake.malformed_json_next(1)
            try:
                runner.run("github_prs", repo)
            except Exception as exc:
                errors.append(f"{type(exc).__name__}: {exc!r} {exc}")
        fake.set_remaining(TOKEN, 0)
        fake.advance(10)
        fake.add_pr(REPO)
        try:
            runner_for(fake, engine, max_wait=1).run("github_prs", REPO)
        except Exception as exc:
            errors.append(f"{exc!r} {exc}")
        runner.run("flaky_tests_summary", REPO)
        runner.close()
    assert len(errors) == 3
    out, err = capfd.readouterr()
    dumped = []
    with engine.connect() as conn:
        for table in metadata.sorted_tables:
            if sa.inspect(conn).has_table(table.name):
                dumped += [repr(tuple(row)) for row in conn.execute(sa.select(table))]
    for text in (repr(logs), out, err, "\n".join(errors), "\n".join(dumped), repr(fake.requests)):
        assert TOKEN not in text
        assert TOKEN[4:20] not in text


@SQLITE_ONLY
def test_github_app_installation_token_is_exchanged_and_refreshed_before_it_expires(engine: sa.Engine) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    with FakeGitHub.seeded(
        repos=[REPO], prs_per_repo=4, seed=9, tokens=[], app_id=77, app_public_key=public, installation_id=5,
        installation_token_ttl=301.5,
    ) as fake:
        http = HttpClient()
        app = AppTokens(fake.url, 77, private, 5, http)
        first = app.credentials()
        assert first == app.credentials() and fake.installation_tokens_issued == 1
        time.sleep(2.0)  # now within five minutes of the expiry: refreshed
        second = app.credentials()
        assert fake.installation_tokens_issued == 2 and second[0].header != first[0].header
        assert second[0].token_id == "app-5" and "ghs_" not in repr(second)
        wrong = AppTokens(fake.url, 78, private, 5, http)
        with pytest.raises(GitHubAuthError, match="App installation token"):
            wrong.credentials()
        http.close()

        key_file = engine.url.database + ".pem" if engine.url.database else "/tmp/app.pem"
        with open(key_file, "w") as fh:
            fh.write(private)
        runner = runner_for(
            fake, engine, token=None, app_id=77, app_private_key_file=key_file, app_installation_id=5,
        )
        runner.run("github_prs", REPO)
        runner.close()
        assert differences(engine, fake.truth(REPO), REPO) == []
        with engine.connect() as conn:
            assert conn.execute(sa.select(rate_limits.c.token_id)).scalars().all() == ["app-5"]


@SQLITE_ONLY
def test_5xx_beyond_the_retries_fails_the_run_in_one_line(fake: FakeGitHub, engine: sa.Engine) -> None:
    runner = runner_for(fake, engine)
    fake.fail_next(50, status=503)
    with pytest.raises(GitHubBadResponse, match=r"answered 503 \d+ times in a row") as failed:
        runner.run("github_prs", REPO)
    fake.clear_faults()
    runner.run("github_prs", REPO)
    runner.close()
    assert "\n" not in str(failed.value)
    assert differences(engine, fake.truth(REPO), REPO) == []
