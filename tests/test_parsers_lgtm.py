"""Tests for scrapers.parsers.lgtm.is_lgtm."""

from __future__ import annotations

import pytest

from scrapesched.scrapers.parsers.lgtm import is_lgtm


@pytest.mark.parametrize(
    "body",
    [
        "LGTM",
        "lgtm",
        "LGTM!",
        "LGTM.",
        "lgtm :+1:",
        "LGTM 👍",
        "👍 LGTM",
        ":+1: lgtm",
        "+1 LGTM",
        "/lgtm",
        "/LGTM",
        "**LGTM**",
        "  lgtm  ",
        "LgTm, thanks for the fix",
        "LGTM once CI is green",
        "Thanks for the update.\n\nLGTM!",
        "Thanks for the update.\r\n\r\nLGTM!\r\n",
        "### LGTM",
    ],
)
def test_line_starting_with_lgtm_is_approval(body: str) -> None:
    assert is_lgtm(body)


@pytest.mark.parametrize(
    "body",
    [
        "",
        "looks fine to me",
        "lgtmfoo",
        "algtm",
        "lgtm-ish, but see below",
        "> LGTM",
        "  > lgtm :+1:",
        "> LGTM\n\nI disagree with the reviewer above.",
        "not lgtm",
        "Not LGTM yet",
        "doesn't look lgtm yet",
        "This is not LGTM until tests pass",
        "LGTM?",
        "lgtm ? the tests fail",
        "/lgtm cancel",
        "Reply with `/lgtm` to approve",
        "```\nlgtm\n```",
        "~~~\nLGTM\n~~~",
    ],
)
def test_not_approval_when_not_first_word_quoted_negated_or_in_code(body: str) -> None:
    assert not is_lgtm(body)


def test_approval_line_after_quoted_lgtm_still_counts() -> None:
    assert is_lgtm("> LGTM\n\nAgreed, LGTM too.\nlgtm")


def test_approval_after_code_block_counts() -> None:
    assert is_lgtm("```\nlgtm\n```\nLGTM")
