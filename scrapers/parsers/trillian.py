"""Parser for Apache CloudStack "Trillian" smoke-test result comments (bot login ``blueorangutan``).

Role: turn the body of one GitHub comment into a :class:`TrillianReport`, or ``None`` when the
comment is not a smoke-test result (job-kicked notices, packaging results, anything else).
Pure function: text in, frozen dataclasses out; never raises on bad input.

The format, newest shape first::

    <b>[SF] Trillian test result (tid-15010)</b>
    Environment: kvm-ol8 (x2), zone: Advanced Networking with Mgmt server ol8
    Total time taken: 56063 seconds
    Marvin logs: https://github.com/blueorangutan/acs-prs/releases/download/trillian/....zip
    Smoke tests completed. 148 look OK, 2 have errors, 0 did not run
    Only failed and skipped tests results shown below:

    Test | Result | Time (s) | Test File
    --- | --- | --- | ---
    test_03_deploy_and_scale_kubernetes_cluster | `Failure` | 28.87 | test_kubernetes_clusters.py

Older shapes: no ``[SF]`` prefix, no ``zone:``, ``have error(s)``, no ``did not run`` count, and
in 2016 ``Test completed. 41 look ok, 2 have error(s)`` with no table at all (``tests=()``, not
an error). ``\\r\\n`` and ``\\n`` line endings are both accepted.

Judgment calls (documented here because callers rely on them):

* ``truncated`` means "the ``tests`` tuple may be incomplete: treat the missing rows as unknown,
  never as 'no failures'". It is True when

  - the counts line is missing (the comment ends before it, or it was never there), or
  - a table is expected (a ``shown below`` line, a table header, or the ``Smoke tests completed``
    wording, which always comes with a table) and ``failed + skipped > 0`` but no row was read
    (header-only table, or no table at all), or
  - the last line of the body is an incomplete row (a row that cannot be read, a result that is
    only the beginning of a known word, or fewer cells than other rows had). Such a row is
    dropped, so every row in ``tests`` was read whole.

  Fewer rows than the counts announce is *not* by itself truncation: the bot's counts and its
  table are known to disagree in both directions (e.g. ``1 have errors`` above 6 ``Failure``
  rows), and the last row being complete is the only evidence a parser has.
* ``parse_error`` is set when the text present is malformed (missing Environment or counts line,
  prose where the table should be, an unreadable row in the middle of the table, an unknown
  result word). A body that is merely cut short is ``truncated`` without a ``parse_error`` when
  everything present could be read.
* A human who pastes a bot header (e.g. an issue description that starts with the verbatim
  header and then has a ``- [ ]`` checklist instead of a table) gets a report like the bot's,
  with the fields that could be read, ``tests=()``, ``truncated=True`` when failures were
  announced, and ``parse_error`` saying the table is missing. Deciding authorship is the
  caller's job (by author login), not this parser's. A header inside a ``> `` quote is not a
  header: such a comment gives ``None``.
* ``zone`` is the text between the environment name and ``with Mgmt server``, with any
  ``zone:`` label removed: the older ``..., Advanced Networking with Mgmt server 7`` gives
  ``"Advanced Networking"`` too. ``None`` when there is no such text.
* Duplicate rows (same test name, file and result) are collapsed: the last occurrence wins and
  keeps its own position (earlier copies are dropped).
* A row whose result is not Failure/Error/Skipped (or an obvious synonym such as ``Failed``,
  ``ERROR``, ``skip``) is dropped and reported in ``parse_error``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["TrillianReport", "TrillianTest", "parse_trillian", "split_environment"]


@dataclass(frozen=True)
class TrillianTest:
    """One row of the "Only failed ... shown below" table."""

    test_name: str
    test_file: str  # "" when the row has no file column
    result: str  # normalised: "Failure", "Error" or "Skipped"
    time_seconds: float | None


@dataclass(frozen=True)
class TrillianReport:
    """One Trillian smoke-test result comment."""

    test_id: str | None  # "15010" from "tid-15010"
    environment: str | None  # "kvm-ol8" (without " (x2)")
    hypervisor: str | None  # "kvm"
    version: str | None  # "ol8"
    zone: str | None  # "Advanced Networking"
    management_server: str | None  # "ol8" / "7" / "a9"
    passed: int | None  # "148 look OK"
    failed: int | None  # "2 have errors" / "2 have error(s)"
    skipped: int | None  # "0 did not run"; None when the comment has no such count
    duration_seconds: int | None  # "Total time taken: 56063 seconds"
    logs_url: str | None  # None when "Marvin logs:" has no URL
    tests: tuple[TrillianTest, ...]
    truncated: bool
    parse_error: str | None


# Header: optional <b>/**/#, any number of bracketed prefixes ("[SF] "), then the title.
_HEADER_RE = re.compile(
    r"^[ \t]*(?:<b>|\*\*|#{1,6}[ \t]+)?[ \t]*(?:\[[^\]\n]*\][ \t]*)*"
    r"Trillian[ \t]+test[ \t]+results?\b[ \t]*(?:\([ \t]*tid-?[ \t]*(?P<tid>\d+)[ \t]*\))?",
    re.IGNORECASE | re.MULTILINE,
)
_ENV_RE = re.compile(r"^[ \t]*Environment[ \t]*:[ \t]*(?P<rest>.*)$", re.IGNORECASE | re.MULTILINE)
_ENV_NAME_RE = re.compile(r"^(?P<name>[^\s,(;]+)[ \t]*(?:\([ \t]*x?[ \t]*\d+[ \t]*\))?")
_MGMT_RE = re.compile(
    r"(?:\bwith[ \t]+)?\b(?:mgmt|management)[ \t_-]*server[ \t]*:?[ \t]*(?P<ms>[^\s,;]+)",
    re.IGNORECASE,
)
_ZONE_LABEL_RE = re.compile(r"^zone[ \t]*:[ \t]*", re.IGNORECASE)
_DURATION_RE = re.compile(
    r"^[ \t]*Total[ \t]+time[ \t]+taken[ \t]*:[ \t]*(?P<secs>\d+)(?:\.\d+)?",
    re.IGNORECASE | re.MULTILINE,
)
_LOGS_RE = re.compile(r"^[ \t]*Marvin[ \t]+logs?[ \t]*:(?P<rest>.*)$", re.IGNORECASE | re.MULTILINE)
_URL_RE = re.compile(r"https?://[^\s)\]>\"'<]+")
_COUNTS_LINE_RE = re.compile(r"^.*\b\d+[ \t]+looks?[ \t]+ok\b.*$", re.IGNORECASE | re.MULTILINE)
_PASSED_RE = re.compile(r"\b(\d+)[ \t]+looks?[ \t]+ok\b", re.IGNORECASE)
_FAILED_RE = re.compile(r"\b(\d+)[ \t]+ha(?:ve|s)[ \t]+errors?\b", re.IGNORECASE)
_SKIPPED_RE = re.compile(r"\b(\d+)[ \t]+(?:did[ \t]+not[ \t]+run|skipped)\b", re.IGNORECASE)
_SMOKE_WORDING_RE = re.compile(r"\bsmoke[ \t]+tests?[ \t]+completed\b", re.IGNORECASE)
_SHOWN_BELOW_RE = re.compile(r"^[ \t]*Only[ \t]+failed\b.*\bshown[ \t]+below\b", re.IGNORECASE)
_TABLE_HEADER_RE = re.compile(r"^[ \t]*\|?[ \t]*Test[ \t]*\|[ \t]*Result\b", re.IGNORECASE)
_SEPARATOR_RE = re.compile(r"^[ \t]*\|?[ \t]*:?-{2,}:?[ \t]*(?:\|[ \t]*:?-*:?[ \t]*)*\|?[ \t]*$")
_TIME_RE = re.compile(r"\d+(?:\.\d+)?")
_VERSION_START_RE = re.compile(r"^(?P<hv>\D+)(?P<ver>\d.*)$")

_RESULTS: dict[str, str] = {
    "failure": "Failure",
    "failures": "Failure",
    "failed": "Failure",
    "fail": "Failure",
    "error": "Error",
    "errors": "Error",
    "errored": "Error",
    "skipped": "Skipped",
    "skip": "Skipped",
    "skips": "Skipped",
}
_DEFAULT_COLUMNS: tuple[str, ...] = ("name", "result", "time", "file")
_MAX_SNIPPET = 60


def split_environment(environment: str) -> tuple[str | None, str | None]:
    """Split an environment name into (hypervisor, version).

    At the FIRST dash (``kvm-ol8`` -> kvm/ol8, ``xenserver-65sp1`` -> xenserver/65sp1); with no
    dash, where the digits begin (``xenserver71`` -> xenserver/71); with neither, the whole name
    is the hypervisor and the version is None. Case is preserved.
    """
    name = environment.strip()
    if not name:
        return None, None
    if "-" in name:
        hypervisor, _, version = name.partition("-")
        return (hypervisor or None), (version or None)
    match = _VERSION_START_RE.match(name)
    if match:
        return match.group("hv"), match.group("ver")
    return name, None


def _snippet(text: str) -> str:
    text = text.strip()
    return text if len(text) <= _MAX_SNIPPET else text[: _MAX_SNIPPET - 3] + "..."


def _parse_environment(rest: str) -> tuple[str | None, str | None, str | None]:
    """Return (environment name, zone, management server) from the text after 'Environment:'."""
    rest = rest.strip()
    name_match = _ENV_NAME_RE.match(rest)
    if not name_match:
        return None, None, None
    environment = name_match.group("name")
    tail = rest[name_match.end() :]
    management_server: str | None = None
    mgmt = _MGMT_RE.search(tail)
    if mgmt:
        management_server = mgmt.group("ms").rstrip(".,;:") or None
        tail = tail[: mgmt.start()] + " " + tail[mgmt.end() :]
    zone = _ZONE_LABEL_RE.sub("", tail.strip(" \t,;")).strip(" \t,;")
    return environment, (zone or None), management_server


def _split_cells(line: str) -> list[str]:
    stripped = line.strip()
    if stripped.startswith("|"):
        stripped = stripped[1:]
    if stripped.endswith("|"):
        stripped = stripped[:-1]
    return [cell.strip() for cell in stripped.split("|")]


def _column_order(header_line: str) -> tuple[str, ...]:
    columns: list[str] = []
    for cell in _split_cells(header_line):
        lowered = cell.lower()
        if "file" in lowered:
            columns.append("file")
        elif "result" in lowered:
            columns.append("result")
        elif "time" in lowered:
            columns.append("time")
        elif "test" in lowered:
            columns.append("name")
        else:
            columns.append("other")
    if "name" not in columns or "result" not in columns:
        return _DEFAULT_COLUMNS
    return tuple(columns)


def _normalise_result(cell: str) -> str | None:
    word = cell.strip().strip("`*_ ").strip().lower()
    return _RESULTS.get(word)


def _is_result_prefix(cell: str) -> bool:
    """True for a cut result cell such as "`Fail" or "Err" (the body ended mid-word)."""
    word = cell.strip().strip("`*_ ").strip().lower()
    return bool(word) and any(known.startswith(word) for known in _RESULTS)


def _parse_time(cell: str) -> float | None:
    match = _TIME_RE.search(cell)
    return float(match.group(0)) if match else None


@dataclass(frozen=True)
class _Row:
    test: TrillianTest | None
    cells: int
    error: str | None
    cut: bool  # looks like the beginning of a row that was cut off


def _parse_row(line: str, columns: tuple[str, ...]) -> _Row:
    cells = _split_cells(line)
    values: dict[str, str] = {}
    for index, cell in enumerate(cells):
        key = columns[index] if index < len(columns) else "other"
        if key != "other" and key not in values:
            values[key] = cell
    name = values.get("name", "")
    result_cell = values.get("result")
    if not name or result_cell is None or not result_cell:
        return _Row(None, len(cells), f"could not read table row '{_snippet(line)}'", True)
    result = _normalise_result(result_cell)
    if result is None:
        return _Row(
            None,
            len(cells),
            f"unknown result '{_snippet(result_cell)}' in row '{_snippet(name)}'",
            _is_result_prefix(result_cell),
        )
    test = TrillianTest(
        test_name=name,
        test_file=values.get("file", ""),
        result=result,
        time_seconds=_parse_time(values.get("time", "")),
    )
    return _Row(test, len(cells), None, False)


@dataclass(frozen=True)
class _Table:
    tests: tuple[TrillianTest, ...]
    found: bool  # a table header was seen
    truncated: bool  # the last line of the body is an incomplete row
    errors: tuple[str, ...]
    prose_instead_of_table: bool  # non-table text follows the "shown below" line


def _parse_table(lines: list[str]) -> _Table:
    """Read the results table from the lines after the header."""
    header_index: int | None = None
    shown_below_index: int | None = None
    for index, line in enumerate(lines):
        if shown_below_index is None and _SHOWN_BELOW_RE.match(line):
            shown_below_index = index
        if _TABLE_HEADER_RE.match(line):
            header_index = index
            break
    last_nonblank = max((i for i, line in enumerate(lines) if line.strip()), default=-1)
    if header_index is None:
        prose = shown_below_index is not None and last_nonblank > shown_below_index
        return _Table((), False, False, (), prose)

    columns = _column_order(lines[header_index])
    index = header_index + 1
    if index < len(lines) and _SEPARATOR_RE.match(lines[index]):
        index += 1

    rows: list[tuple[int, _Row]] = []
    while index < len(lines) and lines[index].strip():
        rows.append((index, _parse_row(lines[index], columns)))
        index += 1

    full_width = max((row.cells for _, row in rows if row.test is not None), default=0)
    truncated = False
    errors: list[str] = []
    tests: list[TrillianTest] = []
    for line_index, row in rows:
        is_last_line = line_index == last_nonblank
        if row.test is None:
            if is_last_line and row.cut:
                truncated = True
            elif row.error:
                errors.append(row.error)
            continue
        if is_last_line and full_width and row.cells < full_width:
            truncated = True  # cut inside the row: its last cell may be partial, drop it
            continue
        tests.append(row.test)
    return _Table(_collapse_duplicates(tests), True, truncated, tuple(errors), False)


def _collapse_duplicates(tests: list[TrillianTest]) -> tuple[TrillianTest, ...]:
    """Same name+file+result: keep the last occurrence, at its own position."""
    last_index: dict[tuple[str, str, str], int] = {}
    for index, test in enumerate(tests):
        last_index[(test.test_name, test.test_file, test.result)] = index
    return tuple(
        test
        for index, test in enumerate(tests)
        if last_index[(test.test_name, test.test_file, test.result)] == index
    )


def _first_int(pattern: re.Pattern[str], text: str) -> int | None:
    match = pattern.search(text)
    return int(match.group(1)) if match else None


def parse_trillian(body: str) -> TrillianReport | None:
    """Parse a Trillian smoke-test result comment; ``None`` when the text is not one."""
    text = body.replace("\r\n", "\n").replace("\r", "\n")
    header = _HEADER_RE.search(text)
    if header is None:
        return None
    after = text[header.end() :]
    errors: list[str] = []

    environment: str | None = None
    zone: str | None = None
    management_server: str | None = None
    hypervisor: str | None = None
    version: str | None = None
    env_match = _ENV_RE.search(after)
    if env_match:
        environment, zone, management_server = _parse_environment(env_match.group("rest"))
        if environment is None:
            errors.append("Environment line has no environment name")
        else:
            hypervisor, version = split_environment(environment)
    else:
        errors.append("no Environment line")

    duration_match = _DURATION_RE.search(after)
    duration_seconds = int(duration_match.group("secs")) if duration_match else None

    logs_url: str | None = None
    logs_match = _LOGS_RE.search(after)
    if logs_match:
        url_match = _URL_RE.search(logs_match.group("rest"))
        if url_match:
            logs_url = url_match.group(0).rstrip(".,;:")

    passed: int | None = None
    failed: int | None = None
    skipped: int | None = None
    counts_match = _COUNTS_LINE_RE.search(after)
    smoke_wording = False
    if counts_match:
        counts_line = counts_match.group(0)
        passed = _first_int(_PASSED_RE, counts_line)
        failed = _first_int(_FAILED_RE, counts_line)
        skipped = _first_int(_SKIPPED_RE, counts_line)
        smoke_wording = bool(_SMOKE_WORDING_RE.search(counts_line))
        if failed is None:
            errors.append("counts line has no 'have errors' count")
    else:
        errors.append("no test counts line ('N look OK, M have errors')")

    table = _parse_table(after.split("\n"))
    errors.extend(table.errors)
    shown_below = any(_SHOWN_BELOW_RE.match(line) for line in after.split("\n"))
    table_expected = table.found or shown_below or smoke_wording
    announced = (failed or 0) + (skipped or 0)

    truncated = table.truncated or counts_match is None
    if table_expected and announced > 0 and not table.tests:
        truncated = True
    if table.prose_instead_of_table:
        errors.append("text other than a results table follows the 'shown below' line")

    return TrillianReport(
        test_id=header.group("tid"),
        environment=environment,
        hypervisor=hypervisor,
        version=version,
        zone=zone,
        management_server=management_server,
        passed=passed,
        failed=failed,
        skipped=skipped,
        duration_seconds=duration_seconds,
        logs_url=logs_url,
        tests=table.tests,
        truncated=truncated,
        parse_error="; ".join(errors) if errors else None,
    )
