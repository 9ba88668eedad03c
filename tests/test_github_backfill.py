"""Issue 11: a cold sync of a big repository always finishes, against a fake GitHub as strict as GitHub: under
a page-depth limit, across rate-limit windows (runs end ``deferred`` and continue), after a SIGKILL (another
replica continues from the cursors), with 502s on big pages (smaller pages), with oldest-first lists that
grow at their end, and with "nothing changed" still free (304) after a token renewal or switch."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from github_support import TOKEN, github_settings, job_runner

from conftest import REPO_ROOT, cli_env, run_cli, scrapesched_cmd
from scrapesched.db.schema import job_runs, pr_approvals, pr_states, scrape_cursors, test_failures, test_results
from scrapesched.scrapers.github.errors import GitHubRateLimited
from scrapesched.testing.fake_github import FakeGitHub, RequestRecord
from scrapesched.testing.truth import differences, duplicate_keys

REPO = "apache/cloudstack"
SQLITE_ONLY = pytest.mark.parametrize("backend", ["sqlite"])


def requests_of(fake: FakeGitHub, contains: str = "") -> list[RequestRecord]:
    return [r for r in fake.requests if r.repo == REPO and contains in r.path]


def assert_truth(engine: sa.Engine, fake: FakeGitHub) -> None:
    assert differences(engine, fake.truth(REPO), REPO) == []
    assert duplicate_keys(engine) == []


def count(engine: sa.Engine, table: sa.Table) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


# ---- in-process runs (one replica's GitHub client) --------------------------------------------------------


def test_cold_sync_under_a_page_depth_limit_equals_the_truth_and_fills_test_failures(engine: sa.Engine) -> None:
    with FakeGitHub.seeded(repos=[REPO], prs_per_repo=40, seed=31, page_limit=5) as fake, job_runner(
        github_settings(fake, [REPO]), engine
    ) as runner:
        runner.run("github_prs", REPO, per_page=5)  # 8 pages of pull requests, ~100 feed pages
        assert_truth(engine, fake)
        refused = [r for r in requests_of(fake) if r.status == 422]
        assert refused and all("/pulls?" in r.path for r in refused)  # the feed never goes deep
        # test_failures holds one row per failed test a Trillian comment lists (Failure or Error)
        with engine.connect() as conn:
            failed = {
                (r.pr_number, r.test_name, r.test_file, r.test_date)
                for r in conn.execute(sa.select(test_results).where(test_results.c.result.in_(("Failure", "Error"))))
            }
            rows = conn.execute(sa.select(test_failures)).all()
        assert failed and {(r.pr_number, r.test_name, r.test_file, r.created_at) for r in rows} == failed
        assert all(r.failure_type in ("Failure", "Error") and "Trillian run tid-" in r.message for r in rows)


def test_cold_sync_deeper_than_twice_the_page_depth_limit_walks_the_middle_by_since(engine: sa.Engine) -> None:
    """Newest first reaches 10 pull requests, oldest first 10 more; the 20 in between are reached through
    ``/issues?sort=updated&direction=asc&since=`` (never deep) and one ``pulls/{n}`` each."""
    with FakeGitHub.seeded(repos=[REPO], prs_per_repo=40, seed=32, page_limit=2) as fake, job_runner(
        github_settings(fake, [REPO]), engine
    ) as runner:
        runner.run("github_prs", REPO, per_page=5)
        assert_truth(engine, fake)
        issues = requests_of(fake, "/issues?")
        assert issues and all(r.status == 200 for r in issues)
        assert not any("page=" in r.path.replace("per_page=", "") for r in issues), "never deep"
        singles = [r for r in requests_of(fake) if r.path.split("?")[0].rsplit("/", 2)[-2] == "pulls"]
        assert 20 <= len(singles) <= 22  # the middle band, fetched one by one
        fake.reset_requests()
        runner.run("github_prs", REPO, per_page=5)  # an incremental run never walks the band again
        assert not requests_of(fake, "/issues?")
        assert [r.path for r in requests_of(fake, "/pulls?")] == [requests_of(fake, "/pulls?")[0].path]
        assert requests_of(fake, "/pulls?")[0].status == 304


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_a_budget_that_runs_out_three_times_defers_and_resumes_to_the_truth(engine: sa.Engine) -> None:
    with FakeGitHub.seeded(
        repos=[REPO], prs_per_repo=12, seed=32, rate_limit=8, rate_limit_window=2.0
    ) as fake, job_runner(github_settings(fake, [REPO], max_wait=0.2), engine) as runner:
        deferred: list[GitHubRateLimited] = []
        for _ in range(40):
            try:
                runner.run("github_prs", REPO, per_page=5)
                break
            except GitHubRateLimited as exc:
                deferred.append(exc)
                assert exc.until is not None and "until" in str(exc) and "\n" not in str(exc)
                while fake.rate_limit_status(TOKEN).remaining == 0:  # the next window
                    time.sleep(0.2)
        assert len(deferred) >= 3
        assert_truth(engine, fake)
        # each deferred run kept what it had written: what is asked again is only what was in flight (a page
        # per stream and the review lists of up to http_concurrency threads), never a restart from scratch
        asked: dict[str, int] = {}
        for r in requests_of(fake):
            if r.counted and r.status == 200:
                asked[r.path] = asked.get(r.path, 0) + 1
        assert sum(n - 1 for n in asked.values()) <= 6 * len(deferred)


@SQLITE_ONLY
def test_a_budget_that_runs_out_inside_the_issue_walk_resumes_there(engine: sa.Engine) -> None:
    with FakeGitHub.seeded(
        repos=[REPO], prs_per_repo=30, seed=33, page_limit=2, rate_limit=25, rate_limit_window=2.0
    ) as fake, job_runner(github_settings(fake, [REPO], max_wait=0.2), engine) as runner:
        deferred_in_walk = 0
        for _ in range(40):
            try:
                runner.run("github_prs", REPO, per_page=5)
                break
            except GitHubRateLimited:
                with engine.connect() as conn:
                    state = conn.execute(sa.select(scrape_cursors.c.state).where(
                        scrape_cursors.c.repo == REPO, scrape_cursors.c.stream == "pulls")).scalar()
                deferred_in_walk += bool(state and '"mode": "issues"' in state)
                while fake.rate_limit_status(TOKEN).remaining == 0:
                    time.sleep(0.2)
        assert deferred_in_walk >= 1
        assert_truth(engine, fake)
        walked = [r.path for r in requests_of(fake, "/issues?") if r.status == 200]
        assert len(walked) - len(set(walked)) <= 2 * deferred_in_walk  # at most the page in flight and the one ahead


@SQLITE_ONLY
def test_502s_on_big_pages_shrink_the_page_size_and_the_sync_completes(engine: sa.Engine) -> None:
    with FakeGitHub.seeded(repos=[REPO], prs_per_repo=20, seed=33) as fake, job_runner(
        github_settings(fake, [REPO]), engine
    ) as runner:
        fake.slow_pages(path_contains="/issues/comments", per_page_above=10, status=502)
        ctx = runner.run("github_prs", REPO, per_page=100)
        assert_truth(engine, fake)
        feed = requests_of(fake, "/issues/comments")
        slow = [r for r in feed if r.fault == "slow"]
        served = [r for r in feed if r.status == 200]
        assert slow and served and all("per_page=10&" in r.path or r.path.endswith("per_page=10") for r in served)
        # 100 -> 50 -> 25 -> 10 once, then one try to grow back every few pages
        assert len(slow) <= 3 + len(served) // 5 + 1
        assert ctx.counters.retries == len(slow)


@SQLITE_ONLY
def test_reviews_appended_after_a_full_last_page_are_all_stored(engine: sa.Engine) -> None:
    with FakeGitHub.seeded(repos=[REPO], prs_per_repo=2, seed=34) as fake, job_runner(
        github_settings(fake, [REPO]), engine
    ) as runner:
        big = fake.add_pr(REPO, title="Many reviewers")
        other = fake.add_pr(REPO, title="Open, reviewed quietly")
        for i in range(250):
            fake.advance(1)
            fake.add_review(REPO, big, f"reviewer-{i:03d}", "COMMENTED")
        for i in range(200):
            fake.advance(1)
            fake.add_review(REPO, other, f"reviewer-{i:03d}", "APPROVED", touch=False)
        runner.run("github_prs", REPO, per_page=100)
        runner.run("pr_states_refresh", REPO, per_page=100)
        assert_truth(engine, fake)
        for i in range(3):  # 250 then 3 more; 200 (a full last page) then 3 more, updated_at unmoved
            fake.advance(1)
            fake.add_review(REPO, big, f"late-{i}", "APPROVED")
            fake.add_review(REPO, other, f"late-{i}", "APPROVED", touch=False)
        runner.run("github_prs", REPO, per_page=100)
        runner.run("pr_states_refresh", REPO, per_page=100)
        with engine.connect() as conn:
            stored = dict(
                conn.execute(
                    sa.select(pr_approvals.c.pr_number, sa.func.count())
                    .where(pr_approvals.c.approval_state != "LGTM")
                    .group_by(pr_approvals.c.pr_number)
                ).all()
            )
        assert stored[big] == 253 and stored[other] == 203
        assert_truth(engine, fake)


def _app_key() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    return private, public


@SQLITE_ONLY
def test_nothing_changed_stays_304_across_an_app_token_renewal_and_a_token_switch(
    engine: sa.Engine, tmp_path: Path
) -> None:
    private, public = _app_key()
    key_file = tmp_path / "app.pem"
    key_file.write_text(private)
    other = "ghp_anotherPlantedToken9876543210zyxwvu"
    with FakeGitHub.seeded(
        repos=[REPO], prs_per_repo=12, seed=35, tokens=[TOKEN, other], app_id=77, app_public_key=public,
        installation_id=5, installation_token_ttl=301.5,
    ) as fake:
        app = github_settings(fake, [REPO], token=None, app_id=77, app_private_key_file=str(key_file),
                              app_installation_id=5)
        with job_runner(app, engine) as runner:
            runner.run("github_prs", REPO, per_page=100)
            runner.run("github_prs", REPO, per_page=100)  # the feed settles on its since= URL
            issued = fake.installation_tokens_issued
            time.sleep(2.0)  # within five minutes of its expiry: the installation token is renewed
            fake.reset_requests()
            ctx = runner.run("github_prs", REPO, per_page=100)
            assert fake.installation_tokens_issued > issued
            renewed = requests_of(fake)
            assert 1 <= len(renewed) <= 3 and all(r.status == 304 and not r.counted for r in renewed)
            assert ctx.counters.rows_written == 0
        for token in (TOKEN, other):  # a personal token, then a switch to another one
            with job_runner(github_settings(fake, [REPO], token=token), engine) as runner:
                fake.reset_requests()
                runner.run("github_prs", REPO, per_page=100)
                switched = requests_of(fake)
                assert 1 <= len(switched) <= 3 and all(r.status == 304 for r in switched), token[:4]
        assert_truth(engine, fake)


# ---- real processes: run-once, SIGKILL, a second replica, status ------------------------------------------


@pytest.fixture
def migrated_env(db_url: str) -> Iterator[dict[str, str]]:
    env = cli_env(DATABASE_URL=db_url)
    done = run_cli("migrate", env=env)
    assert done.returncode == 0, done.stderr
    yield env


def _github_env(base: dict[str, str], fake: FakeGitHub, token: str = TOKEN, **more: str) -> dict[str, str]:
    env = dict(base)
    env.pop("GITHUB_TOKEN", None)
    env.update(
        SCRAPESCHED_GITHUB_API_URL=fake.url, SCRAPESCHED_GITHUB_TOKEN=token, SCRAPESCHED_REPOS=REPO,
        SCRAPESCHED_GITHUB_RATE_LIMIT_RESERVE="0", SCRAPESCHED_GITHUB_RATE_LIMIT_SLOWDOWN="0",
        SCRAPESCHED_GITHUB_SECONDARY_WAIT="0.2", **{f"SCRAPESCHED_{k.upper()}": v for k, v in more.items()},
    )
    return env


@SQLITE_ONLY
def test_a_bad_token_fails_at_once_with_one_line(migrated_env: dict[str, str]) -> None:
    with FakeGitHub.seeded(repos=[REPO], prs_per_repo=3, seed=36, tokens=[TOKEN], anonymous_rate_limit=60) as fake:
        env = _github_env(migrated_env, fake, token="ghp_wrongwrongwrongwrongwrong0123456789")
        for _ in range(2):  # the second run used to wait minutes for "pacing" on the 401's anonymous budget
            done = run_cli("run-once", "github_prs", env=env, timeout=60)
            assert done.returncode == 1, done.stdout + done.stderr
            lines = done.stdout.strip().splitlines()
            assert len(lines) == 1 and "401" in lines[0] and "token was refused" in lines[0]
            assert "Traceback" not in done.stderr and "wrongwrong" not in done.stdout + done.stderr
        assert all(r.status == 401 for r in fake.requests)
        assert len(fake.requests) <= 4  # no retries of a 401


@SQLITE_ONLY
def test_run_once_defers_when_the_budget_is_spent_and_status_shows_it(
    migrated_env: dict[str, str], engine: sa.Engine
) -> None:
    with FakeGitHub.seeded(repos=[REPO], prs_per_repo=20, seed=37, rate_limit=25, rate_limit_window=3600) as fake:
        env = _github_env(migrated_env, fake)
        done = run_cli("run-once", "github_prs", "--param", "per_page=5", env=env, timeout=60)
        assert done.returncode == 75, done.stdout + done.stderr
        line = done.stdout.strip()
        assert "\n" not in line and "deferred" in line and "until" in line
        with engine.connect() as conn:
            status, error, progress = conn.execute(
                sa.select(job_runs.c.status, job_runs.c.error, job_runs.c.progress)
            ).one()
        assert status == "deferred" and "until" in error and progress
        shown = run_cli("status", "--json", env=env)
        shards = json.loads(shown.stdout)
        shards = shards["shards"] if isinstance(shards, dict) else shards
        row = next(s for s in shards if s["job"] == "github_prs")
        assert row["last_status"] == "deferred" and "until" in row["last_error"]
        assert count(engine, pr_states) > 0  # what the spent budget bought is kept


def _wait_for(condition: object, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return
        time.sleep(0.05)
    raise AssertionError("timed out waiting")


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["mariadb"])
def test_sigkill_mid_backfill_then_another_replica_finishes_from_the_cursors(
    migrated_env: dict[str, str], engine: sa.Engine, tmp_path: Path
) -> None:
    config = tmp_path / "jobs.toml"
    config.write_text('[jobs.github_prs]\ninterval = "1h"\nlease_ttl = "8s"\n')
    with FakeGitHub.seeded(repos=[REPO], prs_per_repo=60, seed=38, latency=0.02) as fake:
        env = _github_env(migrated_env, fake, config=str(config), instance_id="replica-a")
        first = subprocess.Popen(
            [*scrapesched_cmd(), "run-once", "github_prs", "--param", "per_page=5"], env=env, cwd=REPO_ROOT,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )

        def some_written() -> bool:
            with engine.connect() as conn:
                states = conn.execute(sa.select(scrape_cursors.c.stream, scrape_cursors.c.state)).all()
            return sum(1 for _, s in states if s and '"in_pass": true' in s) == 2 and count(engine, pr_states) >= 10

        _wait_for(some_written)
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=10)
        with engine.connect() as conn:
            cursors = {r.stream: json.loads(r.state) for r in conn.execute(sa.select(scrape_cursors))}
        listed_by_a = {r.path for r in requests_of(fake) if r.status in (200, 304)}
        fake.reset_requests()
        env_b = {**env, "SCRAPESCHED_INSTANCE_ID": "replica-b"}
        for _ in range(40):  # replica A's lease runs out after its ttl
            done = run_cli("run-once", "github_prs", "--param", "per_page=5", env=env_b, timeout=120)
            if done.returncode != 75:
                break
            time.sleep(0.5)
        assert done.returncode == 0, done.stdout + done.stderr
        assert_truth(engine, fake)
        # B went on where A's cursors stood: its first page of each stream is the one A had not written
        pulls = [r.path for r in requests_of(fake, "/pulls?")]
        feed = [r.path for r in requests_of(fake, "/issues/comments?")]
        resume_page = cursors["pulls"]["next"].rsplit("page=", 1)[-1]
        assert pulls and pulls[0].endswith(f"page={resume_page}")
        since = cursors["comments"]["at"][:19]
        assert feed and since.replace(":", "%3A") in feed[0]
        # the SIGKILL cost at most the page in flight of each stream
        assert len(set(pulls) & listed_by_a) <= 1 and len(set(feed) & listed_by_a) <= 1


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["postgres"])
def test_a_secondary_limit_pauses_every_thread_and_the_other_replica(db_url: str, engine: sa.Engine) -> None:
    from test_github_replicas import REPOS, WORKER

    retry_after = 6
    with FakeGitHub.seeded(repos=REPOS, prs_per_repo=40, seed=39, latency=0.03) as fake:
        procs = [
            subprocess.Popen(
                [sys.executable, str(WORKER), db_url, fake.url, ",".join(REPOS), TOKEN,
                 str(seed)],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO_ROOT,
            )
            for seed in range(2)
        ]
        _wait_for(lambda: len(fake.requests) >= 30)
        fake.secondary_limit_next(1, retry_after=retry_after)
        _wait_for(lambda: any(r.fault == "secondary" for r in fake.requests))
        for proc in procs:
            out, err = proc.communicate(timeout=240)
            assert proc.returncode == 0, out[-2000:] + err[-3000:]
        log = fake.requests
        hit = next(r for r in log if r.fault == "secondary")
        before = [r for r in log if hit.at - 1.0 <= r.at < hit.at]
        # Every thread of this replica stops at once; the other replica within its budget sync (1 s), so
        # from 3 s after the 403 until Retry-After nothing of this token reaches GitHub.
        quiet = [r for r in log if hit.at + 3.0 <= r.at < hit.at + retry_after - 0.2]
        assert len(before) >= 5 and quiet == []
        assert sum(1 for r in log if r.fault == "secondary") == 1
        assert any(r.at >= hit.at + retry_after for r in log)  # and then they went on
        for repo in REPOS:
            assert differences(engine, fake.truth(repo), repo) == []
