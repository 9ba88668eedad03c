"""Tests for scrapers.parsers.codecov: real fixtures (2015-2025), CRLF copies, synthetic variants."""

from __future__ import annotations

from pathlib import Path

import pytest

from scrapesched.scrapers.parsers.codecov import (
    CODECOV_LOGINS,
    CodecovReport,
    is_codecov_author,
    parse_codecov,
)

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "codecov"
ALL_FIXTURES = sorted(path.name for path in FIXTURES.glob("*.md"))


def load(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


def parse_fixture(name: str) -> CodecovReport:
    report = parse_codecov(load(name))
    assert report is not None
    return report


# --- authors -------------------------------------------------------------------------------


def test_codecov_logins_are_the_three_bot_accounts() -> None:
    assert frozenset({"codecov[bot]", "codecov-io", "codecov-commenter"}) == CODECOV_LOGINS


@pytest.mark.parametrize("login", ["codecov[bot]", "codecov-io", "codecov-commenter", "Codecov-IO"])
def test_codecov_bot_logins_are_codecov_authors(login: str) -> None:
    assert is_codecov_author(login)


@pytest.mark.parametrize("login", ["Justinhoerner", "codecov", "codecov-io-fake", "", "blueorangutan"])
def test_other_logins_are_not_codecov_authors(login: str) -> None:
    assert not is_codecov_author(login)


# --- real fixtures -------------------------------------------------------------------------


def test_fixtures_directory_is_found() -> None:
    assert len(ALL_FIXTURES) >= 7


def test_2015_current_coverage_and_increase_by_plus_percent() -> None:
    report = parse_fixture("01-2015-stxnext-volontulo-pr369-current-coverage-increase.md")
    assert report == CodecovReport(
        project_coverage=90.47,
        patch_coverage=None,
        coverage_change=0.01,
        # base is printed only inside the "Coverage Diff" compare link, so it is the full sha
        base_sha="d00c2bad0a4d517c09271317553571bccb359173",
        head_sha="14fd246",
        parse_error=None,
    )


def test_2016_reference_links_bold_percent_and_will_not_change() -> None:
    report = parse_fixture("04-2016-refinery-platform-pr1080-reference-links-not-change.md")
    assert report == CodecovReport(
        project_coverage=24.62,
        patch_coverage=None,
        coverage_change=0.0,
        base_sha="0ed3ddf",
        head_sha="4ce9a8b",
        parse_error=None,
    )


def test_2017_no_coverage_uploaded_for_head_has_no_figures_and_no_error() -> None:
    report = parse_fixture("08-2017-segmentio-analytics-ios-pr660-no-coverage-head.md")
    assert report.project_coverage is None
    assert report.patch_coverage is None
    assert report.coverage_change is None
    assert report.parse_error is None
    # the shas are still printed, in the "Last update [base...head]" footer
    assert (report.base_sha, report.head_sha) == ("7eaacbb", "8f724b0")


def test_2018_increase_in_backticks_and_project_from_diff_table_when_truncated() -> None:
    report = parse_fixture("09-2018-bosnet-sebak-pr268-increase-flags-table-truncated.md")
    assert report == CodecovReport(
        project_coverage=65.63,
        patch_coverage=None,  # "The diff coverage is `n/a`."
        coverage_change=0.1,
        base_sha="5d649c938c82abb79ce6f8d27bd6f07137687601",  # from the base branch's commit link
        head_sha=None,
        parse_error=None,
    )


def test_2020_shas_in_merging_line_and_decrease_is_negative() -> None:
    report = parse_fixture("15-2020-divviup-prio-server-pr171-shas-in-merging-line-flags-truncated.md")
    assert report == CodecovReport(
        project_coverage=68.29,
        patch_coverage=26.53,
        coverage_change=-1.95,  # the sentence wins over the table's -1.96%
        base_sha="6c6c225",
        head_sha="25ead58",
        parse_error=None,
    )


def test_2025_patch_zero_percent_and_project_coverage_is() -> None:
    report = parse_fixture("16-2025fmt-drchainsaw-naivenaslib-pr45-patch-0pct-x-emoji-truncated.md")
    assert report == CodecovReport(
        project_coverage=92.08,
        patch_coverage=0.0,
        coverage_change=None,  # truncated before the diff table; no sentence states it
        base_sha="a57fcdd",
        head_sha="eb33fc8",
        parse_error=None,
    )


def test_2024_indented_heading_all_lines_covered_is_100_percent() -> None:
    report = parse_fixture("18-2024fmt-human-copy-ietf-datatracker-pr7725-indented-all-covered-truncated.md")
    assert report == CodecovReport(
        project_coverage=88.78,
        patch_coverage=100.0,
        coverage_change=0.0,  # diff table: 88.78% -> 88.78%, blank change column
        base_sha="c7f6bde",
        head_sha="b1c9aeb",
        parse_error=None,
    )


@pytest.mark.parametrize("name", ALL_FIXTURES)
def test_crlf_copy_of_each_fixture_parses_the_same(name: str) -> None:
    text = load(name)
    assert parse_codecov(text.replace("\n", "\r\n")) == parse_codecov(text)


@pytest.mark.parametrize("name", ALL_FIXTURES)
def test_every_fixture_is_recognised_without_parse_error(name: str) -> None:
    report = parse_codecov(load(name))
    assert report is not None
    assert report.parse_error is None


# --- synthetic variants --------------------------------------------------------------------

URL = "https://app.codecov.io/gh/o/r/pull/1?src=pr&el=h1"
COMMIT = "https://app.codecov.io/gh/o/r/commit/"


def test_2023_patch_coverage_bold_and_project_coverage_change() -> None:
    body = (
        f"## [Codecov]({URL}) Report\n"
        "Patch coverage: **`83.67%`** and project coverage change: **`-0.09%`** :warning:\n"
        f"> Comparison is base [(`bd3e53b`)]({COMMIT}bd3e53b) 95.25% compared to head "
        f"[(`3b774bf`)]({URL}) 95.16%.\n"
        "> Report is 9 commits behind head on main.\n\n"
        "> :exclamation: Current head 3b774bf differs from pull request most recent head 72c7056.\n"
    )
    assert parse_codecov(body) == CodecovReport(
        project_coverage=95.16,
        patch_coverage=83.67,
        coverage_change=-0.09,
        base_sha="bd3e53b",
        head_sha="3b774bf",
        parse_error=None,
    )


def test_2023_comparison_without_change_sentence_derives_change_from_base_and_head() -> None:
    body = (
        f"## [Codecov]({URL}) Report\n"
        "Patch coverage has no change and project coverage change: **`+0.01`** :tada:\n"
        f"> Comparison is base [(`1111111`)]({COMMIT}1111111) 90.12% compared to head "
        f"[(`2222222`)]({URL}) 90.13%.\n"
    )
    report = parse_codecov(body)
    assert report is not None
    assert (report.project_coverage, report.patch_coverage, report.coverage_change) == (90.13, None, 0.01)

    sentence = "Patch coverage has no change and project coverage change: **`+0.01`** :tada:\n"
    no_sentence = body.replace(sentence, "")
    report = parse_codecov(no_sentence)
    assert report is not None
    assert report.coverage_change == 0.01


def test_2022_base_head_line_with_decrease_sentence_and_head_first_shas() -> None:
    body = (
        f"# [Codecov]({URL}) Report\n"
        "Base: **85.12**% // Head: **85.10**% // Decreases project coverage by **`-0.02%`** :warning:\n"
        f"> Coverage data is based on head [(`a1b28b5`)]({URL}) compared to base "
        f"[(`98273e5`)]({COMMIT}98273e53ea4a8fe165ce3bde6bbbfbd7dbf3d880).\n"
        "> Patch coverage: 50.00% of modified lines in pull request are covered.\n"
    )
    assert parse_codecov(body) == CodecovReport(
        project_coverage=85.10,
        patch_coverage=50.0,
        coverage_change=-0.02,
        base_sha="98273e5",
        head_sha="a1b28b5",
        parse_error=None,
    )


def test_2022_no_change_to_project_coverage_is_zero() -> None:
    body = (
        f"# [Codecov]({URL}) Report\n"
        "> Base: **100.00**% // Head: **100.00**% // No change to project coverage :thumbsup:\n"
        "> > Patch has no changes to coverable lines.\n"
    )
    report = parse_codecov(body)
    assert report is not None
    assert (report.project_coverage, report.patch_coverage, report.coverage_change) == (100.0, None, 0.0)


def test_2024_attention_patch_coverage_with_many_decimals() -> None:
    body = (
        f"## [Codecov]({URL}) Report\n"
        "Attention: Patch coverage is `33.33333%` with `2 lines` in your changes missing coverage.\n"
        f"> Project coverage is 71.02%. Comparing base [(`c7f6bde`)]({COMMIT}c7f6bde) "
        f"to head [(`b1c9aeb`)]({URL}).\n"
    )
    report = parse_codecov(body)
    assert report is not None
    assert (report.project_coverage, report.patch_coverage) == (71.02, 33.33333)
    assert (report.base_sha, report.head_sha) == ("c7f6bde", "b1c9aeb")
    assert report.coverage_change is None


def test_all_modified_lines_covered_older_wording_is_100_percent() -> None:
    body = f"## [Codecov]({URL}) Report\nAll modified lines are covered by tests :white_check_mark:\n"
    report = parse_codecov(body)
    assert report is not None
    assert report.patch_coverage == 100.0


def test_decrease_with_negative_sign_in_old_format_stays_negative() -> None:
    body = "## [Current coverage](https://codecov.io/x) is `80.00%`\n\n> Merging **#2** into **master** "
    body += "will decrease coverage by **-0.25%** as of [`abcdef1`](https://codecov.io/x)\n"
    report = parse_codecov(body)
    assert report is not None
    assert (report.project_coverage, report.coverage_change, report.head_sha) == (80.0, -0.25, "abcdef1")


def test_will_bold_decrease_by_backticks_is_negative() -> None:
    body = f"# [Codecov]({URL}) Report\n> Merging [#5]({URL}) into [master]({URL}) "
    body += "will **decrease** coverage by `0.25%`.\n> The diff coverage is `100%`.\n"
    report = parse_codecov(body)
    assert report is not None
    assert (report.coverage_change, report.patch_coverage) == (-0.25, 100.0)


def test_will_bold_not_change_coverage_is_zero() -> None:
    body = f"# [Codecov]({URL}) Report\n> Merging [#5]({URL}) (aaaaaaa) into [main]({URL}) (bbbbbbb) "
    body += "will **not change** coverage.\n> The diff coverage is `n/a`.\n"
    assert parse_codecov(body) == CodecovReport(None, None, 0.0, "bbbbbbb", "aaaaaaa", None)


def test_less_than_one_hundredth_change_falls_back_to_diff_table() -> None:
    body = (
        f"# [Codecov]({URL}) Report\n"
        f"> Merging [#5]({URL}) into [main]({URL}) will **decrease** coverage by `<.01%`.\n"
        "> The diff coverage is `80.00%`.\n\n"
        "```diff\n@@  Coverage Diff  @@\n- Coverage   70.24%   70.23%   -0.01%\n```\n"
    )
    report = parse_codecov(body)
    assert report is not None
    assert (report.coverage_change, report.project_coverage) == (-0.01, 70.23)
    without_table = body.split("```diff")[0]
    report = parse_codecov(without_table)
    assert report is not None
    assert report.coverage_change is None
    assert report.parse_error is None


def test_no_coverage_for_base_reads_head_from_table() -> None:
    body = (
        f"# [Codecov]({URL}) Report\n"
        "> :exclamation: No coverage uploaded for pull request base (`master@427f7be`). "
        "[Click here to learn what that means](https://docs.codecov.io/x).\n"
        "> The diff coverage is `n/a`.\n\n"
        "```diff\n@@            Coverage Diff            @@\n"
        "##             master     #208   +/-   ##\n"
        "=========================================\n"
        "  Coverage          ?   70.43%           \n"
        "```\n"
    )
    report = parse_codecov(body)
    assert report == CodecovReport(70.43, None, None, "427f7be", None, None)


def test_indented_heading_and_quoted_lines_with_crlf() -> None:
    body = (
        "    ## [Codecov](https://app.codecov.io/x) Report\r\n"
        "    > Project coverage is 50.5%. Comparing base [(`abc1234`)](u) to head [(`def5678`)](u).\r\n"
    )
    report = parse_codecov(body)
    assert report is not None
    assert (report.project_coverage, report.base_sha, report.head_sha) == (50.5, "abc1234", "def5678")


def test_heading_only_truncated_body_is_a_parse_error() -> None:
    report = parse_codecov(f"## [Codecov]({URL}) Report\n")
    assert report is not None
    assert report.parse_error is not None
    assert report.project_coverage is None and report.patch_coverage is None


def test_plain_codecov_report_heading_is_recognised() -> None:
    report = parse_codecov("## Codecov Report\n> Project coverage is 61%.\n")
    assert report is not None
    assert report.project_coverage == 61.0


def test_missing_pieces_give_none_not_errors() -> None:
    body = f"## [Codecov]({URL}) Report\n:x: Patch coverage is `12.5%` with `7 lines` missing.\n"
    report = parse_codecov(body)
    assert report == CodecovReport(None, 12.5, None, None, None, None)


@pytest.mark.parametrize(
    "body",
    [
        "",
        "LGTM",
        "Can you check why codecov failed on this PR?",
        "Packaging result: :heavy_check_mark: el8",
        "## [Bundle Report](https://app.codecov.io/x)\n\nChanges will increase total bundle size by 2.5kB",
        "## Welcome to [Codecov](https://codecov.io) :tada:\n\nOnce you merge this PR you're all set!",
    ],
)
def test_text_that_is_not_a_codecov_report_gives_none(body: str) -> None:
    assert parse_codecov(body) is None


@pytest.mark.parametrize(
    "body",
    [
        "## [Codecov](u) Report\nProject coverage is `abc%`",
        "## [Codecov](u) Report\nwill **decrease** coverage by `%`",
        "Current coverage is `99999999999999999999999999%`\r\r\n",
        "## [Codecov](u) Report\n```diff\n  Coverage ? ?\n```",
    ],
)
def test_garbage_never_raises(body: str) -> None:
    report = parse_codecov(body)
    assert report is None or isinstance(report, CodecovReport)


def test_report_is_frozen() -> None:
    report = parse_fixture("15-2020-divviup-prio-server-pr171-shas-in-merging-line-flags-truncated.md")
    with pytest.raises(AttributeError):
        report.head_sha = "x"  # type: ignore[misc]
