"""Parser for Codecov pull-request comments (2015 to 2025 formats).

Role: turn the body of one GitHub comment into a :class:`CodecovReport`, or ``None`` when the
text is not a Codecov coverage report at all. Pure function: text in, frozen dataclass out;
never raises on bad input. ``\\r\\n`` and ``\\n`` line endings are both accepted, and headings
may be indented.

Formats handled (each figure is read from the first source that has it):

* project coverage (percent, the HEAD's coverage):
  ``## [Current coverage](...) is `90.47%``` / ``is **24.62%**`` (2015-2016);
  ``Project coverage is 88.78%`` (2024-2025); ``Base: **85.12**% // Head: **85.10**%`` (2022);
  ``Comparison is base [(`sha`)](...) 95.25% compared to head [(`sha`)](...) 95.16%`` (2023);
  else the head column of the ``Coverage`` row of the ``Coverage Diff`` block (2017-2025).
* patch coverage (percent): ``The diff coverage is `26.53%``` (``n/a`` -> None);
  ``Patch coverage is `0%``` / ``Patch coverage: **`83.67%`**``;
  ``All modified (and coverable) lines are covered by tests`` -> 100.0.
* coverage change (signed percent): ``will increase coverage by **+0.01%**``,
  ``will **decrease** coverage by `1.95%``` (the verb gives the sign), ``will (**not change**)
  coverage`` -> 0.0, ``project coverage change: **`-0.09%`**``, ``Increases/Decreases project
  coverage by``, ``No change to project coverage`` / ``... have no change`` -> 0.0; else the change
  column of the ``Coverage`` diff row (blank there means 0.0), else head minus base of the
  2022/2023 ``Base/Head`` or ``Comparison`` figures. ``by `<.01%``` is too vague to be a number:
  it falls through to the diff table, else stays None.
* base/head SHA, as printed (short) when printed: ``Comparing base ([`a57fcdd`](...)) to head``,
  ``Comparing base [(`c7f6bde`)](...)``, ``Merging [#171](...) (25ead58) into [main](...)
  (6c6c225)``, ``as of [`14fd246`]`` (head, 2015), ``Last update(d by) [0ed3ddf...4ce9a8b]``,
  ``pull request head (`branch@8f724b0`)``; failing those, the full SHA from a link: a
  ``/compare/BASE...HEAD`` URL or the base branch's ``/commit/SHA`` URL in the Merging line.

``:exclamation: No coverage uploaded for pull request head`` is a complete report with no
percentages: the figures are None and ``parse_error`` is None (SHAs printed in it are still
read). ``parse_error`` is set only when the text is recognisably a Codecov report but no figure
and no such notice could be read (e.g. a body cut right after the heading). Truncated bodies
otherwise just give the figures that appear before the cut.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["CODECOV_LOGINS", "CodecovReport", "is_codecov_author", "parse_codecov"]


@dataclass(frozen=True)
class CodecovReport:
    """The figures of one Codecov PR comment."""

    project_coverage: float | None  # percent, e.g. 92.08
    patch_coverage: float | None  # percent; 100.0 for "All modified ... lines are covered"
    coverage_change: float | None  # signed percent
    base_sha: str | None  # short or long sha as printed
    head_sha: str | None
    parse_error: str | None


CODECOV_LOGINS: frozenset[str] = frozenset({"codecov[bot]", "codecov-io", "codecov-commenter"})


def is_codecov_author(login: str) -> bool:
    """True when ``login`` is one of Codecov's bot accounts (GitHub logins are case-insensitive)."""
    return login.strip().lower() in CODECOV_LOGINS


# A number, optionally wrapped in markdown emphasis/backticks, followed by "%" (possibly after
# the closing emphasis: "**`85.71`%**" and "**`85.71%`**" are both used).
_PCT = r"[*`_ \t]*(?P<num>[+-]?\d+(?:\.\d+)?)[*`_ \t]*%"
_SHA = r"(?P<sha>[0-9a-f]{7,40})"
_LINK = r"(?:\[[^\]\n]*\](?:\([^)\s]*\)|\[[^\]\n]*\])|\*\*[^*\n]+\*\*|[^\s(]+)"

# "[Codecov](link) Report" anywhere, or a line starting (after indentation, quote or heading marks)
# with "Codecov Report" / "Current coverage".
_HEADING_RE = re.compile(
    r"\[Codecov\]\([^)\s]*\)[ \t]*Report\b|"
    r"^[ \t>]*(?:#{1,6}[ \t]*)?(?:Codecov[ \t]+Report\b|\[?Current coverage\b)",
    re.IGNORECASE | re.MULTILINE,
)
_CURRENT_RE = re.compile(r"Current coverage\]?(?:\([^)\s]*\)|\[[^\]\n]*\])?[ \t]+is" + _PCT, re.I)
_PROJECT_RE = re.compile(r"\bProject coverage is" + _PCT, re.IGNORECASE)
_BASE_HEAD_PCT_RE = re.compile(
    r"\bBase:[ \t]*" + _PCT.replace("num", "base") + r"[ \t]*//[ \t]*Head:" + _PCT.replace("num", "head"),
    re.IGNORECASE,
)
_COMPARISON_PCT_RE = re.compile(
    r"Comparison is base\b[^\n]*?\)[ \t]*(?P<base>\d+(?:\.\d+)?)%[ \t]*compared to head\b"
    r"[^\n]*?\)[ \t]*(?P<head>\d+(?:\.\d+)?)%",
    re.IGNORECASE,
)
_DIFF_ROW_RE = re.compile(
    r"^[ \t]*[+\-]?[ \t]*Coverage[ \t]+(?P<base>\d+(?:\.\d+)?%|\?)[ \t]+(?P<head>\d+(?:\.\d+)?%|\?)"
    r"(?:[ \t]+(?P<change>[+-]?\d+(?:\.\d+)?%))?[ \t]*$",
    re.IGNORECASE | re.MULTILINE,
)

_DIFF_COVERAGE_RE = re.compile(r"The diff coverage is[ \t]*[*`_]*(?P<val>n/a|[+-]?\d+(?:\.\d+)?)", re.I)
_PATCH_RE = re.compile(r"\bPatch coverage(?:[ \t]*:|[ \t]+is)" + _PCT, re.IGNORECASE)
_ALL_COVERED_RE = re.compile(r"\bAll modified (?:and coverable )?lines are covered by tests", re.I)

_WILL_CHANGE_RE = re.compile(
    r"\bwill[ \t]+[*_]*(?P<verb>increase|decrease)[*_]*[ \t]+coverage[ \t]+by[ \t]*"
    r"[*`_ \t]*(?P<val><?[+-]?\d*\.?\d+)[*`_ \t]*%",
    re.IGNORECASE,
)
_WILL_NOT_CHANGE_RE = re.compile(r"\bwill[ \t]+[*_]*not[ \t]+change[*_]*[ \t]+coverage", re.I)
_CHANGE_2023_RE = re.compile(r"\bproject coverage change:" + _PCT.replace("%", "%?"), re.IGNORECASE)
_CHANGE_2022_RE = re.compile(
    r"\b(?P<verb>Increases|Decreases) project coverage by" + _PCT, re.IGNORECASE
)
_NO_CHANGE_RE = re.compile(
    r"\bNo change to project coverage\b|\bpatch and project coverage have no change\b|"
    r"\bproject coverage has no change\b",
    re.IGNORECASE,
)

_NO_HEAD_UPLOAD_RE = re.compile(r"No coverage uploaded for pull request head", re.IGNORECASE)

_COMPARE_BASE_RE = re.compile(
    r"\b(?:comparing|comparison is|compared to|based on|to)[ \t]+base[ \t\[(`]*" + _SHA + r"\b", re.I
)
_COMPARE_HEAD_RE = re.compile(
    r"\b(?:comparing|comparison is|compared to|based on|to)[ \t]+head[ \t\[(`]*" + _SHA + r"\b", re.I
)
_MERGING_HEAD_RE = re.compile(r"\bMerging[ \t]+" + _LINK + r"[ \t]*\(`?" + _SHA + r"`?\)[ \t]*into\b")
_MERGING_BASE_RE = re.compile(r"\binto[ \t]+" + _LINK + r"[ \t]*\(`?" + _SHA + r"`?\)")
_AS_OF_RE = re.compile(r"\bas of[ \t]*\[?`?" + _SHA + r"`?\]?")
_LAST_UPDATE_RE = re.compile(
    r"\bLast update(?:d)?(?:[ \t]+by)?[ \t]*\[(?P<base>[0-9a-f]{7,40})\.\.\.(?P<head>[0-9a-f]{7,40})\]"
)
_UPLOAD_SHA_RE = re.compile(
    r"No coverage uploaded for pull request (?P<which>base|head)[ \t]*\(`[^`@\n]*@(?P<sha>[0-9a-f]{7,40})`\)"
)
_COMPARE_URL_RE = re.compile(r"/compare/(?P<base>[0-9a-f]{7,40})\.\.\.(?P<head>[0-9a-f]{7,40})\b")
_INTO_COMMIT_URL_RE = re.compile(r"\binto[ \t]+\[[^\]\n]*\]\([^)\s]*/commit/" + _SHA + r"\b")


def _float(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        return float(text.rstrip("%"))
    except ValueError:
        return None


def _round(value: float) -> float:
    return round(value, 2) + 0.0  # + 0.0 turns -0.0 into 0.0


def _project_and_table(text: str) -> tuple[float | None, float | None]:
    """(project coverage, change derived from a base/head pair), from the explicit sentences."""
    if match := _CURRENT_RE.search(text):
        return _float(match.group("num")), None
    if match := _PROJECT_RE.search(text):
        return _float(match.group("num")), None
    for pattern in (_BASE_HEAD_PCT_RE, _COMPARISON_PCT_RE):
        if match := pattern.search(text):
            base, head = _float(match.group("base")), _float(match.group("head"))
            change = _round(head - base) if base is not None and head is not None else None
            return head, change
    return None, None


def _diff_row(text: str) -> tuple[float | None, float | None]:
    """(head coverage, change) from the ``Coverage`` row of the ``Coverage Diff`` block."""
    match = _DIFF_ROW_RE.search(text)
    if match is None:
        return None, None
    base, head = _float(match.group("base")), _float(match.group("head"))
    change = _float(match.group("change"))
    if change is None and base is not None and head is not None:
        change = _round(head - base)  # the change column is blank when nothing changed
    return head, change


def _patch(text: str) -> float | None:
    if match := _DIFF_COVERAGE_RE.search(text):
        return _float(match.group("val"))
    if match := _PATCH_RE.search(text):
        return _float(match.group("num"))
    if _ALL_COVERED_RE.search(text):
        return 100.0
    return None


def _change(text: str) -> float | None:
    """Signed change from the sentences; None when no sentence states a usable number."""
    if match := _WILL_CHANGE_RE.search(text):
        raw = match.group("val")
        if raw.startswith("<"):
            return None
        value = _float(raw)
        if value is None:
            return None
        return _round(abs(value) if match.group("verb").lower() == "increase" else -abs(value))
    if _WILL_NOT_CHANGE_RE.search(text):
        return 0.0
    if match := _CHANGE_2023_RE.search(text):
        return _float(match.group("num"))
    if match := _CHANGE_2022_RE.search(text):
        value = _float(match.group("num"))
        if value is None:
            return None
        return _round(abs(value) if match.group("verb").lower() == "increases" else -abs(value))
    if _NO_CHANGE_RE.search(text):
        return 0.0
    return None


def _shas(text: str) -> tuple[str | None, str | None]:
    base: str | None = None
    head: str | None = None
    if match := _COMPARE_BASE_RE.search(text):
        base = match.group("sha")
    if match := _COMPARE_HEAD_RE.search(text):
        head = match.group("sha")
    if head is None and (match := _MERGING_HEAD_RE.search(text)):
        head = match.group("sha")
    if base is None and (match := _MERGING_BASE_RE.search(text)):
        base = match.group("sha")
    if head is None and (match := _AS_OF_RE.search(text)):
        head = match.group("sha")
    for match in _UPLOAD_SHA_RE.finditer(text):
        if match.group("which") == "base" and base is None:
            base = match.group("sha")
        elif match.group("which") == "head" and head is None:
            head = match.group("sha")
    if match := _LAST_UPDATE_RE.search(text):
        base = base or match.group("base")
        head = head or match.group("head")
    if match := _COMPARE_URL_RE.search(text):
        base = base or match.group("base")
        head = head or match.group("head")
    if base is None and (match := _INTO_COMMIT_URL_RE.search(text)):
        base = match.group("sha")
    return base, head


_ANY_FIGURE_RES: tuple[re.Pattern[str], ...] = (
    _CURRENT_RE,
    _PROJECT_RE,
    _BASE_HEAD_PCT_RE,
    _COMPARISON_PCT_RE,
    _PATCH_RE,
    _ALL_COVERED_RE,
    _WILL_CHANGE_RE,
    _WILL_NOT_CHANGE_RE,
    _CHANGE_2023_RE,
    _CHANGE_2022_RE,
)


def parse_codecov(body: str) -> CodecovReport | None:
    """Parse a Codecov PR comment; ``None`` when the text is not a Codecov report at all."""
    text = body.replace("\r\n", "\n").replace("\r", "\n")
    is_report = bool(_HEADING_RE.search(text)) or any(p.search(text) for p in _ANY_FIGURE_RES)
    if not is_report:
        return None

    project, derived_change = _project_and_table(text)
    table_head, table_change = _diff_row(text)
    if project is None:
        project = table_head
    change = _change(text)
    if change is None:
        change = table_change if table_change is not None else derived_change
    patch = _patch(text)
    base, head = _shas(text)

    parse_error: str | None = None
    nothing_read = project is None and patch is None and change is None
    if nothing_read and not _NO_HEAD_UPLOAD_RE.search(text):
        parse_error = "Codecov report without any readable coverage figure"
    return CodecovReport(
        project_coverage=project,
        patch_coverage=patch,
        coverage_change=change,
        base_sha=base,
        head_sha=head,
        parse_error=parse_error,
    )
