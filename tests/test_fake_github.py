"""Tests of the fake GitHub server, over real HTTP with httpx: what the scraper tests rely on."""

from __future__ import annotations

import hashlib
import json
import math
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from scrapesched.testing.fake_github import (
    CODECOV_BOT,
    TRILLIAN_BOT,
    CodecovSpec,
    FakeGitHub,
    TrillianResultSpec,
    TrillianTestRow,
    render_codecov,
    render_trillian,
)

TOKEN = "ghp_fakeTestToken0000000000000000000001"
REPO = "apache/cloudstack"
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def fake() -> Iterator[FakeGitHub]:
    with FakeGitHub.seeded(repos=[REPO, "acme/widgets"], prs_per_repo=12, seed=7, tokens=[TOKEN]) as f:
        yield f


@pytest.fixture
def client(fake: FakeGitHub) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=fake.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5) as c:
        yield c


def _parse_wire(value: str | None) -> datetime | None:
    return None if value is None else datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def _follow(client: httpx.Client, url: str, params: dict[str, str | int]) -> tuple[list[dict[str, Any]], int]:
    """Every item of a paginated list, following Link rel="next"; also the number of pages fetched."""
    items: list[dict[str, Any]] = []
    response = client.get(url, params=params)
    pages = 1
    while True:
        assert response.status_code == 200
        items += response.json()
        if "next" not in response.links:
            return items, pages
        response = client.get(response.links["next"]["url"])
        pages += 1


# ---- pagination -----------------------------------------------------------------------------------


def test_pagination_follows_next_links_through_repositories_id_urls(fake: FakeGitHub, client: httpx.Client) -> None:
    first = client.get(f"/repos/{REPO}/pulls", params={"state": "all", "per_page": 5})
    repo_id = client.get(f"/repos/{REPO}").json()["id"]
    nxt, last = first.links["next"]["url"], first.links["last"]["url"]
    assert nxt.startswith(f"{fake.url}/repositories/{repo_id}/pulls?")
    assert parse_qs(urlsplit(nxt).query) == {"state": ["all"], "per_page": ["5"], "page": ["2"]}
    assert parse_qs(urlsplit(last).query)["page"] == [str(math.ceil(12 / 5))]
    assert "prev" not in first.links

    pulls, pages = _follow(client, f"/repos/{REPO}/pulls", {"state": "all", "per_page": 5})
    assert pages == 3
    assert sorted(p["number"] for p in pulls) == sorted(fake.truth(REPO).pr_states)

    middle = client.get(nxt)
    assert set(middle.links) == {"prev", "next", "last", "first"}


def test_per_page_defaults_to_30_and_is_capped_at_100() -> None:
    with FakeGitHub() as fake, httpx.Client(base_url=fake.url) as client:
        fake.add_repo("acme/big")
        for _ in range(130):
            fake.add_pr("acme/big")
        assert len(client.get("/repos/acme/big/pulls").json()) == 30
        capped = client.get("/repos/acme/big/pulls", params={"per_page": 500})
        assert len(capped.json()) == 100
        assert parse_qs(urlsplit(capped.links["last"]["url"]).query)["page"] == ["2"]
        assert len(client.get(capped.links["next"]["url"]).json()) == 30


def test_list_pulls_filters_by_state_and_sorts_by_updated(fake: FakeGitHub, client: httpx.Client) -> None:
    states = fake.truth(REPO).pr_states
    open_prs = client.get(f"/repos/{REPO}/pulls", params={"per_page": 100}).json()
    assert {p["number"] for p in open_prs} == {n for n, s in states.items() if s["pr_state"] == "open"}
    closed = client.get(f"/repos/{REPO}/pulls", params={"state": "closed", "per_page": 100}).json()
    assert {p["number"] for p in closed} == {n for n, s in states.items() if s["pr_state"] != "open"}
    by_update = client.get(
        f"/repos/{REPO}/pulls", params={"state": "all", "sort": "updated", "direction": "desc"}
    ).json()
    stamps = [p["updated_at"] for p in by_update]
    assert stamps == sorted(stamps, reverse=True)


def test_pull_json_has_the_fields_the_scraper_reads(fake: FakeGitHub, client: httpx.Client) -> None:
    number, state = next(iter(fake.truth(REPO).pr_states.items()))
    pull = client.get(f"/repos/{REPO}/pulls/{number}").json()
    assert pull["number"] == number and pull["title"] == state["pr_title"]
    assert pull["user"]["login"] == state["author"]
    assert pull["head"]["sha"] == state["head_sha"] and len(pull["head"]["sha"]) == 40
    assert pull["base"]["ref"] == state["base_ref"]
    assert _parse_wire(pull["created_at"]) == state["created_at"]
    assert pull["html_url"].endswith(f"/{REPO}/pull/{number}")
    for key in ("url", "labels", "assignees", "draft", "state", "merged_at", "updated_at", "closed_at"):
        assert key in pull


# ---- conditional requests and budgets ---------------------------------------------------------------


def test_matching_if_none_match_gets_304_with_empty_body_and_costs_no_budget(
    fake: FakeGitHub, client: httpx.Client
) -> None:
    number = min(fake.truth(REPO).pr_states)
    url = f"/repos/{REPO}/pulls/{number}"
    first = client.get(url)
    etag = first.headers["etag"]
    assert etag.startswith('W/"')
    remaining = int(first.headers["x-ratelimit-remaining"])

    again = client.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    assert int(again.headers["x-ratelimit-remaining"]) == remaining
    assert fake.requests[-1].conditional and not fake.requests[-1].counted

    fake.advance(60)
    fake.add_label(REPO, number, "needs-rebase")
    changed = client.get(url, headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag
    assert int(changed.headers["x-ratelimit-remaining"]) == remaining - 1


def test_rate_limit_headers_count_down_and_exhaustion_gives_403(fake: FakeGitHub, client: httpx.Client) -> None:
    one = client.get(f"/repos/{REPO}")
    two = client.get(f"/repos/{REPO}")
    assert int(two.headers["x-ratelimit-remaining"]) == int(one.headers["x-ratelimit-remaining"]) - 1
    assert int(two.headers["x-ratelimit-used"]) == int(one.headers["x-ratelimit-used"]) + 1
    assert two.headers["x-ratelimit-resource"] == "core"
    assert int(two.headers["x-ratelimit-reset"]) > time.time()

    fake.set_remaining(TOKEN, 1)
    assert client.get(f"/repos/{REPO}").status_code == 200
    limited = client.get(f"/repos/{REPO}")
    assert limited.status_code == 403
    assert limited.json()["message"].startswith("API rate limit exceeded for ")
    assert limited.headers["x-ratelimit-remaining"] == "0"

    status = client.get("/rate_limit")
    assert status.status_code == 200
    assert status.json()["resources"]["core"]["remaining"] == 0
    assert not fake.requests[-1].counted


def test_budget_refills_once_the_wall_clock_reaches_reset() -> None:
    wall = [1_700_000_000.0]
    with FakeGitHub(rate_limit=2, rate_limit_window=60, wall_clock=lambda: wall[0]) as fake:
        fake.add_repo("acme/widgets")
        with httpx.Client(base_url=fake.url, headers={"Authorization": "token any"}) as client:
            assert client.get("/repos/acme/widgets").status_code == 200
            assert client.get("/repos/acme/widgets").status_code == 200
            limited = client.get("/repos/acme/widgets")
            assert limited.status_code == 403
            assert int(limited.headers["x-ratelimit-reset"]) == 1_700_000_060
            wall[0] = 1_700_000_060.0
            refilled = client.get("/repos/acme/widgets")
            assert refilled.status_code == 200
            assert refilled.headers["x-ratelimit-remaining"] == "1"


def test_unknown_token_gets_401_and_no_token_uses_the_anonymous_budget(fake: FakeGitHub) -> None:
    with httpx.Client(base_url=fake.url) as anonymous:
        bad = anonymous.get(f"/repos/{REPO}", headers={"Authorization": "Bearer ghp_not_a_valid_one"})
        assert bad.status_code == 401 and bad.json()["message"] == "Bad credentials"
        ok = anonymous.get(f"/repos/{REPO}")
        assert ok.status_code == 200 and ok.headers["x-ratelimit-limit"] == "60"
    with FakeGitHub(tokens=[TOKEN], allow_anonymous=False) as strict, httpx.Client(base_url=strict.url) as c:
        assert c.get("/rate_limit").status_code == 401
        assert c.get("/rate_limit", headers={"Authorization": f"token {TOKEN}"}).status_code == 200


def test_raw_token_never_appears_in_the_request_log(fake: FakeGitHub, client: httpx.Client) -> None:
    client.get(f"/repos/{REPO}/pulls")
    client.get(f"/repos/{REPO}", headers={"Authorization": "Bearer ghp_wrongSecretValue"})
    log = repr(fake.requests)
    assert TOKEN not in log and "ghp_wrongSecretValue" not in log
    assert fake.requests[0].token == FakeGitHub.fingerprint(TOKEN)
    assert fake.requests[1].token == FakeGitHub.fingerprint("ghp_wrongSecretValue")
    assert fake.request_counts() == {REPO: 2}


# ---- faults ------------------------------------------------------------------------------------------


def test_secondary_limit_sends_retry_after_then_recovers(fake: FakeGitHub, client: httpx.Client) -> None:
    fake.secondary_limit_next(2, retry_after=3)
    for _ in range(2):
        hit = client.get(f"/repos/{REPO}/pulls")
        assert hit.status_code == 403
        assert hit.headers["retry-after"] == "3"
        assert hit.json()["message"].startswith("You have exceeded a secondary rate limit")
    assert client.get(f"/repos/{REPO}/pulls").status_code == 200

    fake.secondary_limit_next(1, retry_after=None, status=429)
    bare = client.get(f"/repos/{REPO}/pulls")
    assert bare.status_code == 429 and "retry-after" not in bare.headers


def test_5xx_burst_then_recovery_costs_no_budget(fake: FakeGitHub, client: httpx.Client) -> None:
    before = fake.rate_limit_status(TOKEN).used
    fake.fail_next(3, status=502)
    assert [client.get(f"/repos/{REPO}").status_code for _ in range(4)] == [502, 502, 502, 200]
    assert fake.rate_limit_status(TOKEN).used == before + 1
    assert [r.fault for r in fake.requests] == ["5xx", "5xx", "5xx", None]


def test_malformed_json_only_on_matching_paths(fake: FakeGitHub, client: httpx.Client) -> None:
    number = min(fake.truth(REPO).pr_states)
    fake.malformed_json_next(1, path_contains="/reviews")
    assert client.get(f"/repos/{REPO}/pulls").json() is not None
    broken = client.get(f"/repos/{REPO}/pulls/{number}/reviews")
    assert broken.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(broken.content)
    assert isinstance(client.get(f"/repos/{REPO}/pulls/{number}/reviews").json(), list)


def test_dropped_connection_then_recovery(fake: FakeGitHub, client: httpx.Client) -> None:
    fake.drop_connection_next(1)
    with pytest.raises(httpx.TransportError):
        client.get(f"/repos/{REPO}")
    assert client.get(f"/repos/{REPO}").status_code == 200
    assert (fake.requests[0].status, fake.requests[0].fault) == (0, "drop")


def test_unknown_repo_and_pull_are_404(fake: FakeGitHub, client: httpx.Client) -> None:
    for path in ("/repos/acme/nothing/pulls", "/repositories/999999/pulls", f"/repos/{REPO}/pulls/1"):
        missing = client.get(path)
        assert missing.status_code == 404 and missing.json()["message"] == "Not Found"


def test_latency_delays_each_request(fake: FakeGitHub, client: httpx.Client) -> None:
    fake.latency = 0.05
    started = time.perf_counter()
    client.get(f"/repos/{REPO}")
    assert time.perf_counter() - started >= 0.05


def test_concurrent_clients_are_all_counted(fake: FakeGitHub) -> None:
    def hammer() -> None:
        with httpx.Client(base_url=fake.url, headers={"Authorization": f"token {TOKEN}"}) as c:
            for _ in range(10):
                assert c.get(f"/repos/{REPO}/pulls").status_code == 200

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert fake.rate_limit_status(TOKEN).used == 80
    assert fake.request_counts()[REPO] == 80


# ---- comments, since, mutations ----------------------------------------------------------------------


def test_since_filters_on_updated_at_and_the_epoch_returns_nothing(fake: FakeGitHub, client: httpx.Client) -> None:
    everything, _ = _follow(client, f"/repos/{REPO}/issues/comments", {"per_page": 100})
    assert everything and all("/issues/" in c["issue_url"] for c in everything)
    assert all("#issuecomment-" in c["html_url"] and "/pull/" in c["html_url"] for c in everything)

    fake.advance(3600)
    cutoff = fake.now
    number = min(fake.truth(REPO).pr_states)
    new_id = fake.add_comment(REPO, number, "erin-w", "Rebased.")
    recent = client.get(f"/repos/{REPO}/issues/comments", params={"since": "2030-01-01T00:00:00Z"})
    assert recent.json() == []
    since = cutoff.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert [c["id"] for c in client.get(f"/repos/{REPO}/issues/comments", params={"since": since}).json()] == [new_id]
    epoch = client.get(f"/repos/{REPO}/issues/comments", params={"since": "1970-01-01T00:00:00Z"})
    assert epoch.status_code == 200 and epoch.json() == []
    early, _ = _follow(client, f"/repos/{REPO}/issues/comments", {"since": "1971-01-02T00:00:00Z", "per_page": 100})
    assert len(early) == len(everything) + 1


def test_codecov_comment_is_edited_in_place(fake: FakeGitHub, client: httpx.Client) -> None:
    number = fake.add_pr(REPO, user="hana-s", head_sha="a" * 40)
    spec = CodecovSpec(REPO, number, 81.5, 0.25, 90.0, "b" * 40, "a" * 40, missing_lines=3)
    first_id = fake.add_codecov_report(REPO, number, spec)
    created = fake.now
    fake.advance(600)
    head = fake.push(REPO, number, "c" * 40)
    second_id = fake.add_codecov_report(REPO, number, replace(spec, project_coverage=80.0, head_sha=head))
    assert second_id == first_id

    comments = client.get(f"/repos/{REPO}/issues/{number}/comments").json()
    bot = [c for c in comments if c["user"]["login"] == CODECOV_BOT]
    assert len(bot) == 1 and bot[0]["id"] == first_id
    assert _parse_wire(bot[0]["created_at"]) == created
    assert _parse_wire(bot[0]["updated_at"]) == fake.now
    assert "Project coverage is 80.00%" in bot[0]["body"] and "[`ccccccc`]" in bot[0]["body"]
    truth = fake.truth(REPO).codecov[number]
    assert truth == {
        "project_coverage": 80.0,
        "patch_coverage": 90.0,
        "coverage_change": 0.25,
        "base_sha": "bbbbbbb",
        "head_sha": "ccccccc",
        "codecov_created_at": created,
    }


def test_removed_label_is_gone_from_endpoint_and_truth(fake: FakeGitHub, client: httpx.Client) -> None:
    number = fake.add_pr(REPO, labels=["type:bug", "component:kvm"])
    fake.advance(30)
    fake.remove_label(REPO, number, "type:bug")
    names = [label["name"] for label in client.get(f"/repos/{REPO}/issues/{number}/labels").json()]
    assert names == ["component:kvm"]
    truth = fake.truth(REPO)
    assert (number, "type:bug") not in truth.labels and (number, "component:kvm") in truth.labels
    assert truth.pr_states[number]["updated_at"] == fake.now


def test_touch_false_changes_do_not_move_updated_at(fake: FakeGitHub, client: httpx.Client) -> None:
    number = fake.add_pr(REPO)
    opened = fake.now
    fake.advance(120)
    fake.add_label(REPO, number, "do-not-merge", touch=False)
    review = fake.add_review(REPO, number, "bob-ops", "APPROVED", touch=False)
    fake.dismiss_review(REPO, number, review, touch=False)
    pull = client.get(f"/repos/{REPO}/pulls/{number}").json()
    assert _parse_wire(pull["updated_at"]) == opened
    assert [label["name"] for label in pull["labels"]] == ["do-not-merge"]
    fake.add_comment(REPO, number, "bob-ops", "LGTM")
    assert fake.truth(REPO).pr_states[number]["updated_at"] == fake.now


def test_dismissed_review_is_reported_as_dismissed(fake: FakeGitHub, client: httpx.Client) -> None:
    number = fake.add_pr(REPO, user="alice-dev")
    fake.advance(60)
    review_id = fake.add_review(REPO, number, "carol-qa", "APPROVED", "Looks good to me.")
    submitted = fake.now
    assert fake.truth(REPO).approvals[(number, "carol-qa", submitted)] == "APPROVED"
    fake.advance(60)
    fake.dismiss_review(REPO, number, review_id)
    reviews = client.get(f"/repos/{REPO}/pulls/{number}/reviews").json()
    assert [(r["id"], r["state"], _parse_wire(r["submitted_at"])) for r in reviews] == [
        (review_id, "DISMISSED", submitted)
    ]
    assert fake.truth(REPO).approvals[(number, "carol-qa", submitted)] == "DISMISSED"


def test_merge_close_reopen_drive_the_pr_state(fake: FakeGitHub) -> None:
    merged, closed = fake.add_pr(REPO), fake.add_pr(REPO)
    fake.advance(10)
    fake.merge(REPO, merged)
    fake.close(REPO, closed)
    fake.advance(10)
    fake.reopen(REPO, closed)
    states = fake.truth(REPO).pr_states
    assert states[merged]["pr_state"] == "merged" and states[merged]["merged_at"] == states[merged]["closed_at"]
    assert states[closed]["pr_state"] == "open" and states[closed]["closed_at"] is None
    with pytest.raises(ValueError):
        fake.reopen(REPO, merged)


def test_trillian_truth_counts_only_bot_results(fake: FakeGitHub, client: httpx.Client) -> None:
    number = fake.add_pr(REPO)
    rows = (
        TrillianTestRow("test_11_migrate_vm", "Error", 33.91, "test_vm_life_cycle.py"),
        TrillianTestRow("test_01_create_template_from_snapshot", "Skipped", 0.0, "test_templates.py"),
    )
    spec = TrillianResultSpec(77, number, "vmware-70u3", 100, 1, 1, 5000, rows, logs_available=False)
    fake.add_comment(REPO, number, "dmitri-k", render_trillian(spec))  # a human pasting a result
    fake.advance(5)
    fake.add_trillian_result(REPO, number, spec)
    posted = fake.now
    truth = fake.truth(REPO)
    mine = {k: v for k, v in truth.trillian.items() if k[0] == number}
    assert mine == {
        (number, "vmware", "70u3", posted): {
            "test_id": 77,
            "environment": "vmware-70u3",
            "passed": 100,
            "failed": 1,
            "skipped": 1,
            "duration_seconds": 5000,
            "logs_url": None,
        }
    }
    assert {t for t in truth.test_results if t[0] == number} == {
        (number, "test_11_migrate_vm", "test_vm_life_cycle.py", "vmware", "70u3", posted, "Error"),
        (number, "test_01_create_template_from_snapshot", "test_templates.py", "vmware", "70u3", posted, "Skipped"),
    }


def test_seeded_data_has_every_kind_of_comment(fake: FakeGitHub, client: httpx.Client) -> None:
    comments, _ = _follow(client, f"/repos/{REPO}/issues/comments", {"per_page": 100})
    bodies = [(c["user"]["login"], c["body"]) for c in comments]
    bot = [b for login, b in bodies if login == TRILLIAN_BOT]
    assert any("Trillian test result" in b for b in bot)
    assert any("has been kicked to run smoke tests" in b for b in bot)
    assert any(b.startswith("Packaging result") for b in bot)
    assert any("Trillian test result" in b for login, b in bodies if login != TRILLIAN_BOT)
    assert any("\r\n" in b for _, b in bodies)
    truth = fake.truth(REPO)
    assert len(truth.trillian) == sum("Trillian test result" in b for b in bot)
    assert "LGTM" in truth.approvals.values()
    assert any(v is None for v in truth.codecov.values()) and any(v for v in truth.codecov.values())


def test_seeding_is_deterministic() -> None:
    one = FakeGitHub.seeded(repos=[REPO], prs_per_repo=8, seed=3)
    two = FakeGitHub.seeded(repos=[REPO], prs_per_repo=8, seed=3)
    other = FakeGitHub.seeded(repos=[REPO], prs_per_repo=8, seed=4)
    assert one.truth(REPO) == two.truth(REPO)
    assert one.truth(REPO) != other.truth(REPO)


def test_api_agrees_with_truth_after_random_mutations(fake: FakeGitHub, client: httpx.Client) -> None:
    done = fake.mutate_random(60, random.Random(11))
    assert len(done) == 60
    truth = fake.truth(REPO)
    pulls, _ = _follow(client, f"/repos/{REPO}/pulls", {"state": "all", "per_page": 100})
    assert {p["number"] for p in pulls} == set(truth.pr_states)
    for pull in pulls:
        state = truth.pr_states[pull["number"]]
        wire_state = "merged" if pull["merged_at"] else pull["state"]
        assert wire_state == state["pr_state"]
        assert _parse_wire(pull["updated_at"]) == state["updated_at"]
        assert ",".join(sorted(a["login"] for a in pull["assignees"])) == state["assignees"]
        assert {(pull["number"], label["name"]) for label in pull["labels"]} == {
            label for label in truth.labels if label[0] == pull["number"]
        }


# ---- renderers against the real formats ---------------------------------------------------------------

TRILLIAN_34 = """<b>[SF] Trillian test result (tid-15010)</b>
Environment: kvm-ol8 (x2), zone: Advanced Networking with Mgmt server ol8
Total time taken: 56063 seconds
Marvin logs: https://github.com/blueorangutan/acs-prs/releases/download/trillian/pr12198-t15010-kvm-ol8.zip
Smoke tests completed. 148 look OK, 2 have errors, 0 did not run
Only failed and skipped tests results shown below:

Test | Result | Time (s) | Test File
--- | --- | --- | ---
test_03_deploy_and_scale_kubernetes_cluster | `Failure` | 28.87 | test_kubernetes_clusters.py
test_2_userdata_on_cpvm | `Error` | 3.32 | test_systemvm_userdata.py"""

TRILLIAN_01 = """<b>Trillian test result (tid-138)</b>
Environment: xenserver-65sp1 (x2), Advanced Networking with Mgmt server 7
Total time taken: 27408 seconds
Marvin logs: https://github.com/blueorangutan/acs-prs/releases/download/trillian/pr1692-t138-xenserver-65sp1.zip
Test completed. 41 look ok, 2 have error(s)"""

CODECOV_16_HEAD = [
    "## [Codecov](https://app.codecov.io/gh/DrChainsaw/NaiveNASlib.jl/pull/45?dropdown=coverage&src=pr&el=h1"
    "&utm_medium=referral&utm_source=github&utm_content=comment&utm_campaign=pr+comments&utm_term=DrChainsaw)"
    " Report",
    ":x: Patch coverage is `0%` with `1 line` in your changes missing coverage. Please review.",
    ":white_check_mark: Project coverage is 92.08%. Comparing base ([`a57fcdd`](https://app.codecov.io/gh/"
    "DrChainsaw/NaiveNASlib.jl/commit/a57fcdd687fe960a8f71d76f8e83188e072c379c?dropdown=coverage&el=desc"
    "&utm_medium=referral&utm_source=github&utm_content=comment&utm_campaign=pr+comments&utm_term=DrChainsaw))"
    " to head ([`eb33fc8`](https://app.codecov.io/gh/DrChainsaw/NaiveNASlib.jl/commit/"
    "eb33fc8a017628abf5b4adc834dd202c7931ef58?dropdown=coverage&el=desc&utm_medium=referral&utm_source=github"
    "&utm_content=comment&utm_campaign=pr+comments&utm_term=DrChainsaw)).",
    ":warning: Report is 306 commits behind head on master.",
]

CODECOV_15_HEAD = [
    "# [Codecov](https://codecov.io/gh/abetterinternet/prio-server/pull/171?src=pr&el=h1) Report",
    "> Merging [#171](https://codecov.io/gh/abetterinternet/prio-server/pull/171?src=pr&el=desc) (25ead58) into"
    " [main](https://codecov.io/gh/abetterinternet/prio-server/commit/6c6c225c11466b296af534b7a446a5dee8f03bc8"
    "?el=desc) (6c6c225) will **decrease** coverage by `1.95%`.",
    "> The diff coverage is `26.53%`.",
]


def test_render_trillian_reproduces_the_real_current_and_2016_comments() -> None:
    rows = (
        TrillianTestRow("test_03_deploy_and_scale_kubernetes_cluster", "Failure", 28.87, "test_kubernetes_clusters.py"),
        TrillianTestRow("test_2_userdata_on_cpvm", "Error", 3.32, "test_systemvm_userdata.py"),
    )
    current = TrillianResultSpec(15010, 12198, "kvm-ol8", 148, 2, 0, 56063, rows)
    assert render_trillian(current) == TRILLIAN_34
    assert render_trillian(replace(current, crlf=True)) == TRILLIAN_34.replace("\n", "\r\n")
    old = TrillianResultSpec(138, 1692, "xenserver-65sp1", 41, 2, 0, 27408, mgmt_server="7", fmt="2016")
    assert render_trillian(old) == TRILLIAN_01
    assert old.expected()["skipped"] is None and old.expected_rows() == ()


def test_render_codecov_reproduces_the_real_2025_and_2020_headers() -> None:
    modern = CodecovSpec(
        "DrChainsaw/NaiveNASlib.jl",
        45,
        92.08,
        0.0,
        0.0,
        "a57fcdd687fe960a8f71d76f8e83188e072c379c",
        "eb33fc8a017628abf5b4adc834dd202c7931ef58",
        base_ref="master",
        missing_lines=1,
        commits_behind=306,
    )
    assert render_codecov(modern).split("\n")[:4] == CODECOV_16_HEAD
    old = CodecovSpec(
        "abetterinternet/prio-server",
        171,
        68.29,
        -1.95,
        26.53,
        "6c6c225c11466b296af534b7a446a5dee8f03bc8",
        "25ead58" + "0" * 33,
        fmt="2020",
    )
    assert render_codecov(old).split("\n")[:3] == CODECOV_15_HEAD
    assert old.expected()["coverage_change"] == -1.95


# ---- command line ------------------------------------------------------------------------------------


FAKE_MODULE = [sys.executable, "-m", "scrapesched.testing.fake_github"]


def test_module_entry_point_serves_until_sigterm() -> None:
    proc = subprocess.Popen(
        [*FAKE_MODULE, "--repos", "acme/widgets", "--prs", "3", "--seed", "1"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().split()[3]
        pulls = httpx.get(f"{url}/repos/acme/widgets/pulls", params={"state": "all"}, timeout=5)
        assert pulls.status_code == 200 and len(pulls.json()) == 3
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


# ---- issue 11: what GitHub does at scale -------------------------------------------------------------


def _with_comments(fake: FakeGitHub, repo: str, prs: int, per_pr: int) -> list[int]:
    fake.add_repo(repo)
    numbers = [fake.add_pr(repo) for _ in range(prs)]
    for _ in range(per_pr):
        for number in numbers:
            fake.advance(1)
            fake.add_comment(repo, number, "erin-w", "ping")
    return numbers


def test_pages_past_the_page_limit_get_githubs_422_and_last_stops_there() -> None:
    with FakeGitHub(page_limit=3) as fake, httpx.Client(base_url=fake.url) as client:
        _with_comments(fake, "acme/big", prs=10, per_pr=5)
        first = client.get("/repos/acme/big/issues/comments", params={"per_page": 10})
        assert parse_qs(urlsplit(first.links["last"]["url"]).query)["page"] == ["3"]
        assert client.get(first.links["last"]["url"]).status_code == 200
        deep = client.get("/repos/acme/big/issues/comments", params={"per_page": 10, "page": 4})
        assert deep.status_code == 422
        assert deep.json() == {
            "message": "In order to keep the API fast for everyone, pagination is limited for this resource.",
            "documentation_url": "https://docs.github.com/v3/#pagination",
            "status": "422",
        }
        assert fake.requests[-1].counted
        for path in ("/repos/acme/big/pulls", "/repos/acme/big/issues", "/repos/acme/big/issues/1/comments"):
            assert client.get(path, params={"state": "all", "page": 4}).status_code == 422

        fake.page_limit, fake.item_limit = None, 40  # GitHub's feed: page * per_page > 40,000 is refused
        assert client.get("/repos/acme/big/issues/comments", params={"per_page": 10, "page": 4}).status_code == 200
        assert client.get("/repos/acme/big/issues/comments", params={"per_page": 10, "page": 5}).status_code == 422
        assert client.get("/repos/acme/big/issues/comments", params={"per_page": 5, "page": 8}).status_code == 200
        smaller = client.get("/repos/acme/big/issues/comments", params={"per_page": 3})
        assert parse_qs(urlsplit(smaller.links["last"]["url"]).query)["page"] == ["13"]


def test_issue_and_comment_feeds_take_since_sort_and_direction_as_github_documents() -> None:
    with FakeGitHub() as fake, httpx.Client(base_url=fake.url) as client:
        numbers = _with_comments(fake, "acme/big", prs=3, per_pr=2)
        fake.advance(60)
        cutoff = fake.now.strftime("%Y-%m-%dT%H:%M:%SZ")
        fake.advance(60)
        fake.set_title("acme/big", numbers[0], "Renamed")
        comments = client.get(f"/repos/acme/big/issues/{numbers[0]}/comments").json()
        fake.advance(60)
        fake.edit_comment("acme/big", comments[0]["id"], "edited")

        issues = client.get("/repos/acme/big/issues", params={"since": cutoff, "state": "all"}).json()
        assert [i["number"] for i in issues] == [numbers[0]]
        assert issues[0]["pull_request"]["url"].endswith(f"/pulls/{numbers[0]}")
        by_update = client.get(
            "/repos/acme/big/issues", params={"state": "all", "sort": "updated", "direction": "asc"}
        ).json()
        assert [i["number"] for i in by_update][-1] == numbers[0]
        assert [i["number"] for i in client.get("/repos/acme/big/issues").json()] == numbers[::-1]  # created desc

        feed = client.get(
            "/repos/acme/big/issues/comments", params={"since": cutoff, "sort": "updated", "direction": "asc"}
        ).json()
        assert [c["id"] for c in feed] == [comments[0]["id"]]
        newest_first = client.get(
            "/repos/acme/big/issues/comments", params={"sort": "created", "direction": "desc", "per_page": 100}
        ).json()
        assert [c["created_at"] for c in newest_first] == sorted((c["created_at"] for c in newest_first), reverse=True)
        one = client.get(f"/repos/acme/big/issues/{numbers[0]}/comments", params={"sort": "updated"}).json()
        assert [c["id"] for c in one] == sorted(c["id"] for c in one)  # one issue's comments: no sort
        one_since = client.get(f"/repos/acme/big/issues/{numbers[0]}/comments", params={"since": cutoff}).json()
        assert [c["id"] for c in one_since] == [comments[0]["id"]]
        pulls = client.get("/repos/acme/big/pulls", params={"since": cutoff, "state": "all"}).json()
        assert len(pulls) == 3  # /pulls has no since: GitHub ignores it


def test_slow_big_pages_answer_502_until_the_page_size_shrinks(fake: FakeGitHub, client: httpx.Client) -> None:
    fake.slow_pages("/issues/comments", per_page_above=50, n=2)
    slow = client.get(f"/repos/{REPO}/issues/comments", params={"per_page": 100})
    assert slow.status_code == 502 and "couldn't respond to your request in time" in slow.json()["message"]
    assert client.get(f"/repos/{REPO}/issues/comments", params={"per_page": 50}).status_code == 200
    assert client.get(f"/repos/{REPO}/pulls", params={"per_page": 100}).status_code == 200
    assert client.get(f"/repos/{REPO}/issues/comments", params={"per_page": 100}).status_code == 502
    assert client.get(f"/repos/{REPO}/issues/comments", params={"per_page": 100}).status_code == 200
    assert [r.fault for r in fake.requests].count("slow") == 2
    assert not any(r.counted for r in fake.requests if r.fault == "slow")

    fake.slow_pages(per_page_above=25, status=504, probability=0.5, seed=3)  # until cleared
    statuses = [client.get(f"/repos/{REPO}/pulls", params={"per_page": 30}).status_code for _ in range(20)]
    assert set(statuses) == {200, 504}
    fake.clear_faults()
    assert client.get(f"/repos/{REPO}/pulls", params={"per_page": 100}).status_code == 200


def test_etags_belong_to_the_token_but_if_modified_since_does_not() -> None:
    other = "ghp_other"
    with (
        FakeGitHub.seeded(repos=[REPO], prs_per_repo=3, seed=7, tokens=[TOKEN, other]) as fake2,
        httpx.Client() as http,
    ):
        number = min(fake2.truth(REPO).pr_states)
        url = f"{fake2.url}/repos/{REPO}/pulls/{number}"
        accept = {"Accept": "application/vnd.github+json"}
        first = http.get(url, headers={**accept, "Authorization": f"Bearer {TOKEN}"})
        etag, modified = first.headers["etag"], first.headers["last-modified"]
        same = http.get(url, headers={**accept, "Authorization": f"Bearer {TOKEN}", "If-None-Match": etag})
        assert same.status_code == 304
        switched = http.get(url, headers={**accept, "Authorization": f"Bearer {other}", "If-None-Match": etag})
        assert switched.status_code == 200 and switched.headers["etag"] != etag
        assert fake2.requests[-1].counted
        # GitHub's ETag: sha256 of Accept, Authorization (each + ":") and the body
        expected = hashlib.sha256(f"application/vnd.github+json:Bearer {other}:".encode() + first.content)
        assert switched.headers["etag"] == f'W/"{expected.hexdigest()}"'
        # so a client that kept the body can revalidate under a new token: 304 at no cost
        fake2.reset_requests()
        computed = http.get(
            url, headers={**accept, "Authorization": f"Bearer {other}", "If-None-Match": f'W/"{expected.hexdigest()}"'}
        )
        assert computed.status_code == 304 and not fake2.requests[-1].counted
        by_date = http.get(url, headers={**accept, "Authorization": f"Bearer {other}", "If-Modified-Since": modified})
        assert by_date.status_code == 304 and not fake2.requests[-1].counted
        assert fake2.requests[-1].if_modified_since
        lists = http.get(f"{fake2.url}/repos/{REPO}/pulls", headers={"Authorization": f"Bearer {TOKEN}"})
        assert "last-modified" not in lists.headers  # lists have no Last-Modified on GitHub
        listed = http.get(
            f"{fake2.url}/repos/{REPO}/pulls",
            headers={"Authorization": f"Bearer {TOKEN}", "If-Modified-Since": modified},
        )
        assert listed.status_code == 200
        fake2.advance(60)
        fake2.set_title(REPO, number, "Changed")
        changed = http.get(url, headers={"Authorization": f"Bearer {other}", "If-Modified-Since": modified})
        assert changed.status_code == 200


def test_secondary_limits_may_come_without_rate_headers_and_429_with_retry_after(
    fake: FakeGitHub, client: httpx.Client
) -> None:
    fake.secondary_limit_next(1, retry_after=None, rate_headers=False)
    bare = client.get(f"/repos/{REPO}/pulls")
    assert bare.status_code == 403 and "secondary rate limit" in bare.json()["message"]
    assert not any(h.startswith("x-ratelimit") for h in bare.headers) and "retry-after" not in bare.headers
    fake.secondary_limit_next(1, retry_after=7, status=429)
    slow_down = client.get(f"/repos/{REPO}/pulls")
    assert slow_down.status_code == 429 and slow_down.headers["retry-after"] == "7"


def test_bad_token_gets_githubs_401_charged_to_the_anonymous_budget(fake: FakeGitHub) -> None:
    bad = httpx.get(f"{fake.url}/repos/{REPO}", headers={"Authorization": "Bearer ghp_revoked"})
    assert bad.status_code == 401
    assert bad.json() == {
        "message": "Bad credentials",
        "documentation_url": "https://docs.github.com/rest",
        "status": "401",
    }
    assert bad.headers["x-ratelimit-limit"] == "60" and bad.headers["x-ratelimit-remaining"] == "59"
    assert fake.rate_limit_status(None).used == 1


def test_pending_review_has_no_submitted_at_and_only_its_author_sees_it() -> None:
    reviewer, bot = "ghp_carol", "ghp_bot"
    with FakeGitHub(tokens=[reviewer, bot], token_users={reviewer: "carol-qa"}) as fake:
        fake.add_repo("acme/widgets")
        number = fake.add_pr("acme/widgets")
        fake.add_review("acme/widgets", number, "bob-ops", "APPROVED")
        pending = fake.add_review("acme/widgets", number, "carol-qa", "PENDING", "draft notes")
        url = f"{fake.url}/repos/acme/widgets/pulls/{number}/reviews"
        own = httpx.get(url, headers={"Authorization": f"token {reviewer}"}).json()
        assert [r["state"] for r in own] == ["APPROVED", "PENDING"]
        assert "submitted_at" not in own[1] and "submitted_at" in own[0]
        assert [r["state"] for r in httpx.get(url, headers={"Authorization": f"token {bot}"}).json()] == ["APPROVED"]
        assert [k[1] for k in fake.truth("acme/widgets").approvals] == ["bob-ops"]
        fake.advance(60)
        fake.submit_review("acme/widgets", number, pending, "CHANGES_REQUESTED")
        seen = httpx.get(url, headers={"Authorization": f"token {bot}"}).json()
        assert seen[1]["state"] == "CHANGES_REQUESTED" and seen[1]["submitted_at"] == fake.now.strftime(
            "%Y-%m-%dT%H:%M:%SZ"
        )
        assert len(fake.truth("acme/widgets").approvals) == 2


def test_deleted_account_is_user_null_on_the_wire_and_ghost_in_the_truth(
    fake: FakeGitHub, client: httpx.Client
) -> None:
    number, state = next(iter(fake.truth(REPO).pr_states.items()))
    fake.advance(60)
    said = fake.add_comment(REPO, number, state["author"], "LGTM")
    fake.delete_user(state["author"])
    listed = client.get(f"/repos/{REPO}/pulls", params={"state": "all", "per_page": 100}).json()
    pull = next(p for p in listed if p["number"] == number)
    assert pull["user"] is None and pull["head"]["user"] is None and pull["head"]["repo"] is None
    # one pull request's user may not be null in GitHub's schema: GitHub shows its placeholder account
    assert client.get(f"/repos/{REPO}/pulls/{number}").json()["user"]["login"] == "ghost"
    comment = next(c for c in client.get(f"/repos/{REPO}/issues/{number}/comments").json() if c["id"] == said)
    assert comment["user"] is None
    truth = fake.truth(REPO)
    assert truth.pr_states[number]["author"] == "ghost"
    assert truth.approvals[(number, "ghost", fake.now.replace(microsecond=0))] == "LGTM"


def test_reviews_past_100_are_appended_at_the_end_of_the_last_page() -> None:
    with FakeGitHub() as fake, httpx.Client(base_url=fake.url) as client:
        fake.add_repo("acme/widgets")
        number = fake.add_pr("acme/widgets")
        for i in range(250):
            fake.add_review("acme/widgets", number, f"user{i % 7}", "COMMENTED", touch=False)
        page1 = client.get(f"/repos/acme/widgets/pulls/{number}/reviews", params={"per_page": 100})
        for _ in range(3):
            fake.advance(1)
            fake.add_review("acme/widgets", number, "late", "APPROVED", touch=False)
        again = client.get(
            f"/repos/acme/widgets/pulls/{number}/reviews",
            params={"per_page": 100},
            headers={"If-None-Match": page1.headers["etag"]},
        )
        assert again.status_code == 304  # page 1 did not change: the new reviews are on page 3
        reviews, pages = _follow(client, f"/repos/acme/widgets/pulls/{number}/reviews", {"per_page": 100})
        assert pages == 3 and len(reviews) == 253
        assert [r["user"]["login"] for r in reviews[-3:]] == ["late"] * 3


def test_bulk_data_is_served_complete_and_agrees_with_the_truth() -> None:
    options: dict[str, Any] = {"comments_per_repo": 3000}
    with FakeGitHub.seeded([REPO], 150, 5, **options) as fake, httpx.Client(base_url=fake.url) as client:
        feed, _ = _follow(client, f"/repos/{REPO}/issues/comments", {"per_page": 100})
        assert len(feed) == 3000 and len({c["id"] for c in feed}) == 3000
        assert [c["created_at"] for c in feed] == sorted(c["created_at"] for c in feed)  # ids grow with time
        truth = fake.truth(REPO)
        pulls, _ = _follow(client, f"/repos/{REPO}/pulls", {"state": "all", "per_page": 100})
        assert {p["number"]: p["updated_at"] for p in pulls} == {
            n: s["updated_at"].strftime("%Y-%m-%dT%H:%M:%SZ") for n, s in truth.pr_states.items()
        }
        newest: dict[str, str] = {}
        for c in feed:
            newest[c["issue_url"]] = max(newest.get(c["issue_url"], ""), c["updated_at"])
        assert all(p["updated_at"] >= newest[p["issue_url"]] for p in pulls)

        assert {s["pr_state"] for s in truth.pr_states.values()} == {"open", "closed", "merged"}
        assert truth.trillian and truth.test_results and any(v == "LGTM" for v in truth.approvals.values())
        assert sum(1 for c in feed if c["user"]["login"] == CODECOV_BOT) == 150
    again = FakeGitHub.seeded([REPO], 150, 5, **options)
    assert again.truth(REPO) == truth
