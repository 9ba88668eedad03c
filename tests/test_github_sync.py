"""GitHub sync against the fake GitHub over real HTTP: full then incremental syncs equal the fake's ground
truth on every backend, incremental runs cost almost nothing, newest snapshots win, crashes resume."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from github_support import JobRunner, github_settings

from scrapesched.db.schema import (
    flaky_tests_summary,
    pr_approvals,
    pr_codecov_comments,
    pr_health_labels,
    pr_states,
    scrape_cursors,
)
from scrapesched.scrapers.github.cursors import COMMENTS, read_cursor
from scrapesched.scrapers.github.errors import GitHubBadResponse
from scrapesched.scrapers.github.write import BundleWriter, PrBundle
from scrapesched.testing.fake_github import TRILLIAN_BOT, CodecovSpec, FakeGitHub, RequestRecord
from scrapesched.testing.truth import differences, duplicate_keys

REPOS = ["apache/cloudstack", "acme/widgets"]
REPO = REPOS[0]
# Request budgets do not depend on the database: these run on SQLite only.
REQUEST_COUNTS = pytest.mark.parametrize("backend", ["sqlite"])


@pytest.fixture
def fake() -> Iterator[FakeGitHub]:
    with FakeGitHub.seeded(repos=REPOS, prs_per_repo=14, seed=21) as f:
        yield f


@pytest.fixture
def runner(fake: FakeGitHub, engine: sa.Engine) -> Iterator[JobRunner]:
    r = JobRunner(github_settings(fake, REPOS), engine)
    yield r
    r.close()


def sync_all(runner: JobRunner, per_page: int = 5) -> None:
    for repo in REPOS:
        runner.run("github_prs", repo, per_page=per_page)


def assert_matches_truth(engine: sa.Engine, fake: FakeGitHub) -> None:
    for repo in REPOS:
        assert differences(engine, fake.truth(repo), repo) == []
    assert duplicate_keys(engine) == []


def repo_requests(fake: FakeGitHub, repo: str = REPO) -> list[RequestRecord]:
    return [r for r in fake.requests if r.repo == repo]


def test_full_then_incremental_sync_equals_the_truth(fake: FakeGitHub, runner: JobRunner, engine: sa.Engine) -> None:
    sync_all(runner)
    assert_matches_truth(engine, fake)
    feed = [r.path for r in fake.requests if "/issues/comments?" in r.path]
    assert len(feed) > 10 and not any("page=" in p.replace("per_page=", "") for p in feed), "the feed never pages deep"

    rng = random.Random(5)
    fake.mutate_random(30, rng)
    number = next(n for n, s in fake.truth(REPO).pr_states.items() if s["pr_state"] == "open")
    fake.advance(60)
    fake.add_label(REPO, number, "status:needs-review")
    fake.advance(60)
    fake.remove_label(REPO, number, "status:needs-review")  # removed on GitHub: removed here
    review = fake.add_review(REPO, number, "hana-s", "APPROVED")
    fake.advance(60)
    fake.dismiss_review(REPO, number, review)
    fake.add_codecov_report(REPO, number, rng=rng)
    fake.advance(60)
    fake.add_codecov_report(REPO, number, rng=rng)  # edited in place: the latest report wins
    fake.add_trillian_result(REPO, number, rng=rng)
    lgtm = fake.add_comment(REPO, number, "erin-w", "Thanks, LGTM")
    sync_all(runner)
    assert_matches_truth(engine, fake)

    fake.advance(60)
    fake.edit_comment(REPO, lgtm, "Not LGTM yet: the upgrade path breaks.")  # an approval edited away
    sync_all(runner)
    assert_matches_truth(engine, fake)
    with engine.connect() as conn:
        states = conn.execute(sa.select(pr_approvals.c.approval_state).where(pr_approvals.c.pr_number == number))
        assert "DISMISSED" in states.scalars().all()


@REQUEST_COUNTS
def test_unchanged_repository_costs_at_most_three_requests_all_304(
    fake: FakeGitHub, runner: JobRunner, engine: sa.Engine
) -> None:
    sync_all(runner, per_page=100)
    runner.run("github_prs", REPO)  # the first incremental run moves the comment feed to its since= URL
    fake.reset_requests()
    ctx = runner.run("github_prs", REPO)
    requests = repo_requests(fake)
    assert 1 <= len(requests) <= 3
    assert all(r.status == 304 and not r.counted for r in requests)
    assert ctx.counters.rows_written == 0 and ctx.counters.not_modified == len(requests)


@REQUEST_COUNTS
def test_run_after_a_change_with_nothing_new_is_all_304_again(
    fake: FakeGitHub, runner: JobRunner, engine: sa.Engine
) -> None:
    sync_all(runner, per_page=100)
    runner.run("github_prs", REPO)
    for _ in range(3):  # the comment feed's since= stays put, so its URL and validator do too
        fake.advance(60)
        fake.add_comment(REPO, max(fake.truth(REPO).pr_states), "carol-qa", "Rebased.")
        runner.run("github_prs", REPO)
        fake.reset_requests()
        ctx = runner.run("github_prs", REPO)
        assert ctx.counters.requests == ctx.counters.not_modified <= 3
        assert all(r.status == 304 for r in repo_requests(fake))
    assert differences(engine, fake.truth(REPO), REPO) == []


@REQUEST_COUNTS
def test_ten_changed_pull_requests_cost_at_most_three_requests_each(
    fake: FakeGitHub, runner: JobRunner, engine: sa.Engine
) -> None:
    sync_all(runner, per_page=100)
    runner.run("github_prs", REPO)
    numbers = sorted(fake.truth(REPO).pr_states)[:10]
    for n in numbers:
        fake.advance(30)
        fake.add_comment(REPO, n, "bob-ops", "Rebased on main.")
    fake.reset_requests()
    runner.run("github_prs", REPO)
    assert len(repo_requests(fake)) <= 3 + 3 * len(numbers)
    assert_matches_truth(engine, fake)


def test_refresh_catches_changes_that_do_not_move_updated_at(
    fake: FakeGitHub, runner: JobRunner, engine: sa.Engine
) -> None:
    sync_all(runner)
    open_pr = next(n for n, s in fake.truth(REPO).pr_states.items() if s["pr_state"] == "open")
    review = fake.add_review(REPO, open_pr, "gustavo-r", "CHANGES_REQUESTED", touch=False)
    runner.run("github_prs", REPO, per_page=5)
    assert differences(engine, fake.truth(REPO), REPO) != []  # invisible to the incremental sync
    runner.run("pr_states_refresh", REPO)
    assert differences(engine, fake.truth(REPO), REPO) == []
    fake.dismiss_review(REPO, open_pr, review, touch=False)
    runner.run("pr_states_refresh", REPO)
    assert differences(engine, fake.truth(REPO), REPO) == []
    fake.reset_requests()
    ctx = runner.run("pr_states_refresh", REPO)
    assert all(r.status == 304 for r in repo_requests(fake))  # nothing changed: every answer 304
    assert ctx.counters.not_modified == ctx.counters.requests


def test_the_batch_size_setting_bounds_the_rows_of_each_pull_request_statement(
    fake: FakeGitHub, engine: sa.Engine
) -> None:
    """``db_batch_size`` reaches the GitHub writes: 3 pull requests at a batch size of 2 go in 2 statements."""
    numbers = [fake.add_pr(REPO, labels=["type:bug"]) for _ in range(3)]
    bundles = [PrBundle(n, pull=_pull_json(fake, n), reviews=[]) for n in numbers]
    sent: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO PR_STATES"):
            sent.append(statement)

    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        with engine.begin() as conn:
            BundleWriter(REPO, batch_size=2).write(conn, bundles)
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)
    assert len(sent) == 2


def test_older_snapshot_never_replaces_a_newer_one(fake: FakeGitHub, runner: JobRunner, engine: sa.Engine) -> None:
    number = fake.add_pr(REPO, labels=["type:bug"], title="Old title")
    old_pull = _pull_json(fake, number)
    fake.advance(120)
    fake.set_title(REPO, number, "New title")
    fake.remove_label(REPO, number, "type:bug")
    fake.add_label(REPO, number, "component:ui")
    new_pull = _pull_json(fake, number)
    writer = BundleWriter(REPO)
    with engine.begin() as conn:
        writer.write(conn, [PrBundle(number, pull=new_pull, reviews=[])])
    with engine.begin() as conn:  # a slow replica arrives with what it fetched earlier
        writer.write(conn, [PrBundle(number, pull=old_pull, reviews=[])])
    with engine.connect() as conn:
        title = conn.execute(sa.select(pr_states.c.pr_title).where(pr_states.c.pr_number == number)).scalar_one()
        labels = conn.execute(
            sa.select(pr_health_labels.c.label_name).where(pr_health_labels.c.pr_number == number)
        ).scalars().all()
    assert title == "New title" and labels == ["component:ui"]


def _pull_json(fake: FakeGitHub, number: int) -> dict[str, object]:
    import httpx

    return dict(httpx.get(f"{fake.url}/repos/{REPO}/pulls/{number}", timeout=5).json())


def test_crash_mid_backfill_resumes_from_the_cursor(fake: FakeGitHub, runner: JobRunner, engine: sa.Engine) -> None:
    third_page = "/pulls?state=all&sort=updated&direction=desc&per_page=4&page=3"
    fake.malformed_json_next(1, path_contains=third_page)
    with pytest.raises(GitHubBadResponse, match="malformed JSON"):
        runner.run("github_prs", REPO, per_page=4)
    with engine.connect() as conn:
        written = conn.execute(sa.select(sa.func.count()).select_from(pr_states)).scalar_one()
        state = conn.execute(
            sa.select(scrape_cursors.c.state).where(scrape_cursors.c.stream == "pulls")
        ).scalar_one()
    assert written == 8  # two whole pages, nothing of the third
    assert "page=3" in state
    fake.reset_requests()
    runner.run("github_prs", REPO, per_page=4)
    pulls_pages = [r.path for r in repo_requests(fake) if "/pulls?" in r.path]
    assert pulls_pages and all("page=1" not in p and "page=2" not in p for p in pulls_pages)
    assert differences(engine, fake.truth(REPO), REPO) == []


def test_malformed_reviews_leave_no_pull_request_half_written(
    fake: FakeGitHub, runner: JobRunner, engine: sa.Engine
) -> None:
    sync_all(runner, per_page=100)
    number = next(iter(sorted(fake.truth(REPO).pr_states)))
    fake.advance(60)
    fake.set_title(REPO, number, "Renamed while the reviews answer breaks")
    fake.add_review(REPO, number, "farah-n", "APPROVED")
    fake.malformed_json_next(1, path_contains=f"/pulls/{number}/reviews")
    with pytest.raises(GitHubBadResponse):
        runner.run("github_prs", REPO)
    with engine.connect() as conn:
        title = conn.execute(sa.select(pr_states.c.pr_title).where(pr_states.c.pr_number == number)).scalar_one()
    assert title != "Renamed while the reviews answer breaks"
    runner.run("github_prs", REPO)
    assert differences(engine, fake.truth(REPO), REPO) == []


@REQUEST_COUNTS
def test_unparseable_bot_comment_is_stored_with_its_parse_error(
    fake: FakeGitHub, runner: JobRunner, engine: sa.Engine
) -> None:
    number = fake.add_pr(REPO)
    fake.advance(60)
    fake.add_comment(REPO, number, TRILLIAN_BOT, "<b>[SF] Trillian test result (tid-99)</b>\nthe rest went missing")
    fake.add_codecov_report(REPO, number, CodecovSpec(REPO, number, 80.0, 0.5, None, "b" * 40, "c" * 40))
    runner.run("github_prs", REPO, per_page=100)
    with engine.connect() as conn:
        errors = conn.execute(sa.text("SELECT parse_error FROM pr_trillian_comments")).scalars().all()
        present = conn.execute(
            sa.select(pr_codecov_comments.c.codecov_present).where(pr_codecov_comments.c.pr_number == number)
        ).scalar_one()
    assert any(e and "Environment" in e for e in errors)
    assert present


def test_lgtm_rule_and_review_collisions(fake: FakeGitHub, runner: JobRunner, engine: sa.Engine) -> None:
    number = fake.add_pr(REPO, user="alice-dev")
    fake.advance(60)
    fake.add_comment(REPO, number, "bob-ops", "tested, LGTM")
    fake.add_comment(REPO, number, "carol-qa", "This is not LGTM until tests pass")
    fake.add_comment(REPO, number, "dmitri-k", "> LGTM\n\nI disagree with the reviewer above.")
    fake.add_comment(REPO, number, "erin-w", "LGTM?")
    fake.advance(60)
    fake.add_review(REPO, number, "farah-n", "APPROVED")
    fake.add_comment(REPO, number, "farah-n", "LGTM")  # same login and second as the review: the review wins
    runner.run("github_prs", REPO, per_page=100)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(pr_approvals.c.approver_login, pr_approvals.c.approval_state)
            .where(pr_approvals.c.pr_number == number)
            .order_by(pr_approvals.c.approver_login)
        ).all()
    assert [tuple(r) for r in rows] == [("bob-ops", "LGTM"), ("farah-n", "APPROVED")]
    assert differences(engine, fake.truth(REPO), REPO) == []


@REQUEST_COUNTS
def test_overlap_window_rereads_recent_changes_without_refetching_reviews(
    fake: FakeGitHub, runner: JobRunner, engine: sa.Engine
) -> None:
    sync_all(runner, per_page=100)
    runner.run("github_prs", REPO)
    fake.advance(10)  # well inside the overlap window of the cursor
    number = max(fake.truth(REPO).pr_states)
    fake.add_comment(REPO, number, "hana-s", "lgtm")
    fake.reset_requests()
    runner.run("github_prs", REPO)
    reviews = [r for r in repo_requests(fake) if r.path.endswith("/reviews") or "/reviews?" in r.path]
    assert len(reviews) == 1  # only the pull request that moved
    assert differences(engine, fake.truth(REPO), REPO) == []
    with engine.connect() as conn:
        cursor = conn.execute(
            sa.select(scrape_cursors.c.high_water).where(
                scrape_cursors.c.repo == REPO, scrape_cursors.c.stream == "comments"
            )
        ).scalar_one()
    assert cursor == fake.now.replace(microsecond=0)


def expected_flaky(fake: FakeGitHub, repo: str) -> dict[tuple[str, str, str, str], tuple[int, int]]:
    truth = fake.truth(repo)
    runs: dict[tuple[str, str], int] = {}
    for _, hv, ver, _ in truth.trillian:
        runs[(hv, ver)] = runs.get((hv, ver), 0) + 1
    listed: dict[tuple[str, str, str, str], list[str]] = {}
    for _, name, file, hv, ver, _, result in truth.test_results:
        listed.setdefault((name, file, hv, ver), []).append(result)
    return {
        key: (max(runs.get(key[2:], 0), len(results)), sum(r in ("Failure", "Error") for r in results))
        for key, results in listed.items()
    }


def stored_flaky(engine: sa.Engine, repo: str) -> list[tuple[object, ...]]:
    f = flaky_tests_summary.c
    columns = (
        f.test_name, f.test_file, f.hypervisor, f.hypervisor_version, f.total_runs, f.failure_count, f.failure_rate,
        f.first_failure, f.last_failure, f.last_seen, f.updated_at,
    )
    with engine.connect() as conn:
        rows = conn.execute(sa.select(*columns).where(f.repo == repo).order_by(*columns[:4]))
        return [tuple(r) for r in rows]


def test_flaky_summary_matches_the_results_and_rerunning_changes_nothing(
    fake: FakeGitHub, runner: JobRunner, engine: sa.Engine
) -> None:
    runner.run("github_prs", REPO, per_page=100)
    runner.run("flaky_tests_summary", REPO)
    first = stored_flaky(engine, REPO)
    assert {r[:4]: (r[4], r[5]) for r in first} == expected_flaky(fake, REPO)
    assert all(r[6] == pytest.approx(int(str(r[5])) / int(str(r[4]))) for r in first)
    ctx = runner.run("flaky_tests_summary", REPO)
    assert ctx.counters.rows_written == 0 and stored_flaky(engine, REPO) == first


@REQUEST_COUNTS
def test_more_comments_at_one_timestamp_than_a_page_are_all_read(
    fake: FakeGitHub, runner: JobRunner, engine: sa.Engine
) -> None:
    """A group of comments sharing one ``updated_at`` second, larger than a page: the feed reads the group
    again from its start in one larger page (page offsets would shift when one of the group is edited
    meanwhile and skip its neighbour), and every LGTM of the group is stored."""
    sync_all(runner)
    number = next(iter(fake.truth(REPO).pr_states))
    fake.advance(60)
    for i in range(12):  # twelve LGTMs posted within one second
        fake.add_comment(REPO, number, f"reviewer-{i:02d}", "LGTM")
    fake.reset_requests()
    sync_all(runner, per_page=5)
    assert_matches_truth(engine, fake)
    feed = [r.path for r in repo_requests(fake) if "/issues/comments?" in r.path]
    assert any("per_page=10" in p or "per_page=15" in p for p in feed), feed
    assert not any("page=" in p.replace("per_page=", "") for p in feed), "the group is read without page offsets"


@REQUEST_COUNTS
def test_comment_after_a_full_feed_page_answered_304_is_read(
    fake: FakeGitHub, runner: JobRunner, engine: sa.Engine
) -> None:
    """The feed lists oldest first, so it grows at its end: a full first page answered 304 (its body
    unchanged) may have gained a next page since its Link header was stored. Seen in the chaos suite as an
    LGTM, a Codecov report and a Trillian result never stored."""
    sync_all(runner, per_page=100)
    runner.run("github_prs", REPO)  # the feed moves to its since= URL
    number = max(fake.truth(REPO).pr_states)
    fake.advance(10)
    fake.add_comment(REPO, number, "carol-qa", "Rebased.")
    since = read_cursor(engine, REPO, COMMENTS).since
    assert since is not None
    listed = sum(c.updated_at >= since for c in fake.repo_state(REPO).comments.values())
    runner.run("github_prs", REPO, per_page=listed)  # exactly one full page at since=, no next page
    fake.advance(10)
    fake.add_comment(REPO, number, "ivan-z", "LGTM")
    runner.run("github_prs", REPO, per_page=listed)
    assert differences(engine, fake.truth(REPO), REPO) == []
    runner.run("github_prs", REPO, per_page=listed)  # the probe after the last full page gets its validator
    fake.reset_requests()
    ctx = runner.run("github_prs", REPO, per_page=listed)  # nothing changed: all 304 again
    assert ctx.counters.requests == ctx.counters.not_modified
    assert ctx.counters.rows_written == 0


def test_the_last_write_of_a_sync_commits_the_run_completion(
    fake: FakeGitHub, runner: JobRunner, engine: sa.Engine
) -> None:
    """Issue 12: a run's effect and its ``succeeded`` completion are one transaction, also for the GitHub
    jobs that commit page by page: the completion sees the finished cursors of both streams (a replica
    frozen before it leaves cursors a recovery run continues from, never a finished run to redo)."""
    seen: list[dict[str, object]] = []

    def completer(conn: sa.Connection, counters: dict[str, int]) -> None:
        rows = conn.execute(sa.select(scrape_cursors.c.stream, scrape_cursors.c.state).where(
            scrape_cursors.c.repo == REPO)).all()
        seen.append({r.stream: r.state for r in rows} | {"rows": counters["rows_written"]})

    for job in ("github_prs", "pr_states_refresh", "github_prs"):
        ctx = runner.context(job, REPO, per_page=5)
        ctx.completer = completer
        runner.execute(ctx)
        assert ctx.completed and len(seen) == 1
        finished = seen.pop()
        assert job != "github_prs" or not any('"in_pass": true' in str(finished.get(s) or "")
                                              for s in ("pulls", "comments"))
        assert finished["rows"] == ctx.counters.rows_written
    assert differences(engine, fake.truth(REPO), REPO) == []
