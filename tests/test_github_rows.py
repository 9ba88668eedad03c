"""What a comment or pull request becomes in the seed tables, on real bot comments (tests/fixtures) and
GitHub's JSON shapes: only the bot's results are results, only Codecov's reports are reports, parse errors
are kept, keys fit their columns."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from conftest import FIXTURES
from scrapesched.db.schema import HYPERVISOR_LEN, TEST_NAME_LEN
from scrapesched.scrapers.github.rows import (
    CommentFact,
    classify_comment,
    codecov_row,
    comment_pr_number,
    pr_state_row,
    review_rows,
    trillian_rows,
)
from scrapesched.scrapers.github.write import latest_codecov

BOTS: dict[str, Any] = {"trillian_bot": "blueorangutan", "codecov_bots": frozenset({"codecov[bot]", "codecov-io"})}
WHEN = "2024-03-01T10:00:00Z"


def comment(login: str, body: str, *, updated: str = WHEN, html: str | None = None) -> dict[str, Any]:
    return {
        "id": 7,
        "user": {"login": login},
        "body": body,
        "created_at": WHEN,
        "updated_at": updated,
        "issue_url": "https://api.github.com/repos/apache/cloudstack/issues/12198",
        "html_url": html or "https://github.com/apache/cloudstack/pull/12198#issuecomment-7",
    }


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text()


def test_bot_result_becomes_a_trillian_row_and_its_failed_tests() -> None:
    fact = classify_comment(comment("blueorangutan", fixture("trillian/34-pr12198-tid15010-kvm-ol8-zone.md")), **BOTS)
    assert fact is not None and fact.kind == "trillian" and fact.number == 12198
    row, tests = trillian_rows("apache/cloudstack", fact, "title")
    assert (row["hypervisor"], row["version"], row["test_id"], row["environment"]) == ("kvm", "ol8", "15010", "kvm-ol8")
    assert row["management_server"] == "ol8" and row["logs_url"].startswith("https://")
    assert row["parse_error"] is None and row["trillian_comment"].startswith("<b>[SF] Trillian test result")
    assert {(t["test_name"], t["result"]) for t in tests} == {
        ("test_03_deploy_and_scale_kubernetes_cluster", "Failure"),
        ("test_2_userdata_on_cpvm", "Error"),
    }
    assert all(t["test_date"] == datetime(2024, 3, 1, 10, tzinfo=UTC) for t in tests)


@pytest.mark.parametrize(
    "name",
    [
        "trillian/other-01-pr3732-kick-trillian.md",
        "trillian/packaging-02-pr3839-jid1051-unicode.md",
        "trillian/packaging-05-pr6995-sljid4963-mixed-fail.md",
    ],
)
def test_bot_notices_and_packaging_results_are_not_results(name: str) -> None:
    assert classify_comment(comment("blueorangutan", fixture(name)), **BOTS) is None


def test_human_quoting_a_result_is_not_a_result() -> None:
    body = fixture("trillian/human-01-issue14102-description-quotes-bot-truncated.md")
    fact = classify_comment(comment("DaanHoogland", body), **BOTS)
    assert fact is not None and fact.kind == "not_lgtm"


def test_truncated_result_is_kept_with_a_note() -> None:
    body = fixture("trillian/34-pr12198-tid15010-kvm-ol8-zone.md").rsplit("\n", 1)[0] + "\ntest_2_userdata | `Err"
    fact = classify_comment(comment("blueorangutan", body), **BOTS)
    assert fact is not None
    row, _ = trillian_rows("apache/cloudstack", fact, None)
    assert "truncated" in (row["parse_error"] or "")


def test_only_codecov_accounts_write_codecov_reports() -> None:
    body = fixture("codecov/16-2025fmt-drchainsaw-naivenaslib-pr45-patch-0pct-x-emoji-truncated.md")
    fact = classify_comment(comment("codecov[bot]", body), **BOTS)
    assert fact is not None and fact.kind == "codecov"
    row = codecov_row("apache/cloudstack", 12198, "t", fact)
    assert (row["project_coverage"], row["patch_coverage"], row["base_sha"], row["head_sha"]) == (
        92.08, 0.0, "a57fcdd", "eb33fc8"
    )
    human_copy = fixture("codecov/18-2024fmt-human-copy-ietf-datatracker-pr7725-indented-all-covered-truncated.md")
    assert classify_comment(comment("Justinhoerner", human_copy), **BOTS).kind == "not_lgtm"  # type: ignore[union-attr]


def test_latest_codecov_report_is_the_one_written_last() -> None:
    def fact(cid: int, created: int, updated: int) -> CommentFact:
        at = datetime(2024, 1, 1, tzinfo=UTC)
        return CommentFact(1, cid, "codecov", "codecov[bot]", at.replace(hour=created), at.replace(hour=updated))

    older_but_edited, newer = fact(1, 1, 9), fact(2, 5, 5)
    assert latest_codecov([older_but_edited, newer]) == older_but_edited
    assert codecov_row("a/b", 1, "t", None)["codecov_present"] is False


def test_comments_on_plain_issues_are_ignored() -> None:
    issue = comment("alice-dev", "LGTM", html="https://github.com/apache/cloudstack/issues/12198#issuecomment-7")
    assert comment_pr_number(issue) is None and classify_comment(issue, **BOTS) is None


def test_lgtm_facts_and_edits() -> None:
    approve = classify_comment(comment("alice-dev", "Thanks, LGTM"), **BOTS)
    withdrawn = classify_comment(comment("alice-dev", "not LGTM", updated="2024-03-02T10:00:00Z"), **BOTS)
    assert approve is not None and approve.kind == "lgtm" and not approve.edited
    assert withdrawn is not None and withdrawn.kind == "not_lgtm" and withdrawn.edited
    assert classify_comment(comment("dependabot[bot]", "LGTM"), **BOTS) is None


def test_pull_request_and_review_rows() -> None:
    pull = {
        "number": 5, "title": "Fix", "state": "closed", "merged_at": "2024-01-02T00:00:00Z",
        "closed_at": "2024-01-02T00:00:00Z", "created_at": "2024-01-01T00:00:00Z",
        "updated_at": "2024-01-02T00:00:00Z", "user": {"login": "bob"}, "draft": False,
        "assignees": [{"login": "zed"}, {"login": "amy"}], "head": {"sha": "a" * 40}, "base": {"ref": "main"},
    }
    row = pr_state_row("a/b", pull, datetime(2024, 2, 1, tzinfo=UTC))
    assert (row["pr_state"], row["assignees"], row["author"], row["base_ref"]) == ("merged", "amy,zed", "bob", "main")
    reviews: list[dict[str, Any]] = [
        {"user": {"login": "amy"}, "state": "DISMISSED", "submitted_at": "2024-01-01T05:00:00Z"},
        {"user": {"login": "zed"}, "state": "PENDING", "submitted_at": None},
        {"user": None, "state": "APPROVED", "submitted_at": "2024-01-01T06:00:00Z"},
    ]
    # a PENDING review is not stored; a deleted account ("user": null) is GitHub's placeholder login "ghost"
    assert [(r["approver_login"], r["approval_state"]) for r in review_rows("a/b", 5, "Fix", reviews)] == [
        ("amy", "DISMISSED"), ("ghost", "APPROVED")
    ]


def test_overlong_key_values_are_cut_to_fit_and_noted() -> None:
    long_env = "x" * 40 + "-" + "9" * 40
    body = (
        "<b>[SF] Trillian test result (tid-1)</b>\n"
        f"Environment: {long_env} (x2), zone: Advanced Networking with Mgmt server ol8\n"
        "Total time taken: 10 seconds\nMarvin logs: https://example.org/logs.zip\n"
        "Smoke tests completed. 1 look OK, 1 have errors, 0 did not run\n"
        "Only failed and skipped tests results shown below:\n\n"
        "Test | Result | Time (s) | Test File\n--- | --- | --- | ---\n"
        f"{'t' * 300} | `Failure` | 1.00 | f.py"
    )
    fact = classify_comment(comment("blueorangutan", body), **BOTS)
    assert fact is not None
    row, tests = trillian_rows("a/b", fact, None)
    assert len(row["hypervisor"]) == HYPERVISOR_LEN and "cut" in row["parse_error"]
    assert len(tests[0]["test_name"]) == TEST_NAME_LEN
