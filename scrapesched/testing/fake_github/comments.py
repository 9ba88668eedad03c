"""Renderers of realistic bot comment bodies, for the fake GitHub server and for tests.

Structured specs in, markdown text out, in the formats the real bots post on GitHub: the Apache
CloudStack "Trillian" smoke-test bot (login ``blueorangutan``: results, "kicked" notices, packaging
results) and Codecov (2020, 2024 and 2025 comment formats). Each result spec also says what a correct
parser must extract from the rendered text (``expected()``), so the fake's ground truth never depends
on a parser. Pure functions: no I/O, no clock, no randomness.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

TRILLIAN_BOT = "blueorangutan"
CODECOV_BOT = "codecov[bot]"

TestOutcome = Literal["Failure", "Error", "Skipped"]
TrillianFormat = Literal["current", "2016"]
CodecovFormat = Literal["2025", "2024", "2020"]

_LOGS_BASE = "https://github.com/blueorangutan/acs-prs/releases/download/trillian"
_NO_ARCHIVE = "[archive could not be removed: not found]"
_CODECOV_APP = "https://app.codecov.io/gh"
_CODECOV_OLD = "https://codecov.io/gh"
_UTM_TAIL = "utm_medium=referral&utm_source=github&utm_content=comment&utm_campaign=pr+comments&utm_term={owner}"
_UTM = "dropdown=coverage&el=desc&" + _UTM_TAIL


def split_environment(environment: str) -> tuple[str, str]:
    """Hypervisor and version of a Trillian environment name, split at the first dash.

    ``kvm-ol8`` -> (``kvm``, ``ol8``); ``vmware-70u3`` -> (``vmware``, ``70u3``); no dash -> version "".
    """
    hypervisor, _, version = environment.partition("-")
    return hypervisor, version


def _finish(lines: Sequence[str], crlf: bool) -> str:
    """Join lines the way GitHub stores a body: ``\\n``, or ``\\r\\n`` for bodies posted from browsers."""
    return ("\r\n" if crlf else "\n").join(lines)


# --------------------------------------------------------------------------------------------------
# Trillian (blueorangutan)
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrillianTestRow:
    """One row of the "Only failed and skipped tests" table."""

    name: str
    result: TestOutcome
    seconds: float
    test_file: str


@dataclass(frozen=True)
class TrillianResultSpec:
    """A Trillian smoke-test result comment.

    ``failed``/``skipped`` are the counts of the summary line; like the real bot they may disagree
    with the table rows (``1 have errors`` above two rows). The 2016 format has no ``did not run``
    count and no table: its expected ``skipped`` is None and it yields no test rows.
    """

    test_id: int
    pr_number: int
    environment: str
    passed: int
    failed: int
    skipped: int = 0
    duration_seconds: int = 40000
    rows: tuple[TrillianTestRow, ...] = ()
    logs_available: bool = True
    hosts: int = 2
    zone: str | None = "Advanced"
    mgmt_server: str = "ol8"
    fmt: TrillianFormat = "current"
    crlf: bool = False

    @property
    def hypervisor(self) -> str:
        return split_environment(self.environment)[0]

    @property
    def version(self) -> str:
        return split_environment(self.environment)[1]

    @property
    def logs_url(self) -> str | None:
        if not self.logs_available:
            return None
        return f"{_LOGS_BASE}/pr{self.pr_number}-t{self.test_id}-{self.environment}.zip"

    def expected(self) -> dict[str, Any]:
        """What a correct parser extracts: the ``trillian`` truth value for this comment."""
        return {
            "test_id": self.test_id,
            "environment": self.environment,
            "passed": self.passed,
            "failed": self.failed,
            "skipped": None if self.fmt == "2016" else self.skipped,
            "duration_seconds": self.duration_seconds,
            "logs_url": self.logs_url,
        }

    def expected_rows(self) -> tuple[TrillianTestRow, ...]:
        """The table rows a correct parser reads (none in the 2016 format, which has no table)."""
        return () if self.fmt == "2016" else self.rows


def _trillian_header(spec: TrillianResultSpec) -> list[str]:
    """Title, environment, time and logs lines (identical up to the summary line in both formats)."""
    prefix = "[SF] " if spec.fmt == "current" else ""
    zone = f"zone: {spec.zone} " if spec.zone and spec.fmt == "current" else "Advanced "
    logs = spec.logs_url or _NO_ARCHIVE
    return [
        f"<b>{prefix}Trillian test result (tid-{spec.test_id})</b>",
        f"Environment: {spec.environment} (x{spec.hosts}), {zone}Networking with Mgmt server {spec.mgmt_server}",
        f"Total time taken: {spec.duration_seconds} seconds",
        f"Marvin logs: {logs}",
    ]


def _trillian_summary(spec: TrillianResultSpec) -> list[str]:
    if spec.fmt == "2016":
        return [f"Test completed. {spec.passed} look ok, {spec.failed} have error(s)"]
    return [
        f"Smoke tests completed. {spec.passed} look OK, {spec.failed} have errors, {spec.skipped} did not run",
        "Only failed and skipped tests results shown below:",
    ]


def _trillian_table(rows: Sequence[TrillianTestRow]) -> list[str]:
    table = ["", "Test | Result | Time (s) | Test File", "--- | --- | --- | ---"]
    table += [f"{r.name} | `{r.result}` | {r.seconds:.2f} | {r.test_file}" for r in rows]
    return table


def render_trillian(spec: TrillianResultSpec) -> str:
    """The body ``blueorangutan`` posts when a smoke-test run ends (current or 2016 format)."""
    lines = _trillian_header(spec) + _trillian_summary(spec)
    if spec.fmt == "current":
        lines += _trillian_table(spec.rows)
    return _finish(lines, spec.crlf)


def render_trillian_kicked(requester: str, mgmt_os: str, environment: str, *, crlf: bool = False) -> str:
    """The bot's notice that a smoke-test job started: not a result."""
    return _finish(
        [
            f"@{requester} a [SL] Trillian-Jenkins test job ({mgmt_os} mgmt + {environment}) "
            "has been kicked to run smoke tests"
        ],
        crlf,
    )


def render_packaging_kicked(requester: str, *, crlf: bool = False) -> str:
    """The bot's notice that a packaging job started: not a result."""
    return _finish(
        [
            f"@{requester} a [SL] Jenkins job has been kicked to build packages. It will be bundled with "
            "KVM, XenServer and VMware SystemVM templates. I'll keep you posted as I make progress."
        ],
        crlf,
    )


def render_packaging_result(results: Mapping[str, bool], job_id: int, *, crlf: bool = False) -> str:
    """The bot's packaging result (``:heavy_check_mark: el8 ... SL-JID 4963``): not a smoke-test result."""
    marks = " ".join(
        f"{':heavy_check_mark:' if ok else ':heavy_multiplication_x:'} {dist}" for dist, ok in results.items()
    )
    return _finish([f"Packaging result [SF]: {marks}. SL-JID {job_id}"], crlf)


def render_trillian_quote(spec: TrillianResultSpec, files: Sequence[str], *, crlf: bool = False) -> str:
    """A human's comment that starts with a verbatim bot header, then a checklist instead of a table."""
    lines = _trillian_header(spec) + _trillian_summary(spec)
    lines += ["", "files to exclude or fix for this zone:", ""]
    lines += [f"- [ ] {name}" for name in files]
    return _finish(lines, crlf)


# --------------------------------------------------------------------------------------------------
# Codecov
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CodecovSpec:
    """One Codecov report, as Codecov writes it into its single (edited in place) PR comment.

    ``patch_coverage`` None means no coverable line changed: the 2025/2024 formats then say "All
    modified and coverable lines are covered by tests" (read as 100.0), the 2020 format says ``n/a``.
    A zero ``coverage_change`` leaves the ``+/-`` cell of the Coverage row blank, as Codecov does.
    """

    repo: str
    pr_number: int
    project_coverage: float
    coverage_change: float
    patch_coverage: float | None
    base_sha: str
    head_sha: str
    base_ref: str = "main"
    missing_lines: int = 1
    commits_behind: int = 0
    files: int = 120
    lines: int = 9000
    fmt: CodecovFormat = "2025"
    crlf: bool = False

    def expected(self) -> dict[str, Any]:
        """What a correct parser extracts (shas are the 7-character short shas shown as text)."""
        patch = self.patch_coverage
        if patch is None and self.fmt != "2020":
            patch = 100.0
        return {
            "project_coverage": round(self.project_coverage, 2),
            "patch_coverage": None if patch is None else round(patch, 2),
            "coverage_change": round(self.coverage_change, 2),
            "base_sha": self.base_sha[:7],
            "head_sha": self.head_sha[:7],
        }


def _pct(value: float) -> str:
    """Codecov's percentage: ``0%`` for zero, else two decimals."""
    return "0%" if value == 0 else f"{value:.2f}%"


def _lines_word(count: int) -> str:
    return f"{count} line" if count == 1 else f"{count} lines"


def _coverage_diff(spec: CodecovSpec) -> list[str]:
    """The fenced ``Coverage Diff`` block, with Files/Lines/Hits/Misses consistent with the percentages."""
    base_cov = spec.project_coverage - spec.coverage_change
    base_lines, head_lines = spec.lines, spec.lines + max(spec.missing_lines, 0)
    base_hits = round(base_lines * base_cov / 100)
    head_hits = round(head_lines * spec.project_coverage / 100)
    base_misses, head_misses = base_lines - base_hits, head_lines - head_hits
    hits_delta, misses_delta = head_hits - base_hits, head_misses - base_misses
    change = "" if round(spec.coverage_change, 2) == 0 else f"{spec.coverage_change:+.2f}%"
    pr = f"#{spec.pr_number}"
    rule = "=" * 42

    def row(mark: str, label: str, base: str, head: str, delta: str) -> str:
        return f"{mark} {label:<8}{base:>9}{head:>9}{delta:>9}     "

    return [
        "```diff",
        "@@            Coverage Diff             @@",
        f"##{spec.base_ref:>17}{pr:>9}{'+/-':>9}   ##",
        rule,
        row(
            _mark(round(spec.coverage_change, 2)),
            "Coverage",
            f"{base_cov:.2f}%",
            f"{spec.project_coverage:.2f}%",
            change,
        ),
        rule,
        row(" ", "Files", str(spec.files), str(spec.files), ""),
        row(" ", "Lines", str(base_lines), str(head_lines), _delta(head_lines - base_lines)),
        rule,
        row(_mark(hits_delta), "Hits", str(base_hits), str(head_hits), _delta(hits_delta)),
        row(_mark(-misses_delta), "Misses", str(base_misses), str(head_misses), _delta(misses_delta)),
        "```",
    ]


def _delta(value: int) -> str:
    return "" if value == 0 else f"{value:+d}"


def _mark(good: float) -> str:
    """Diff marker of a Coverage Diff row: ``+`` when it got better, ``-`` when worse."""
    return "+" if good > 0 else "-" if good < 0 else " "


def _commit_link(spec: CodecovSpec, sha: str) -> str:
    owner = spec.repo.split("/", 1)[0]
    return f"{_CODECOV_APP}/{spec.repo}/commit/{sha}?{_UTM.format(owner=owner)}"


def _patch_line(spec: CodecovSpec) -> str:
    patch = spec.patch_coverage
    if patch is None or patch >= 100:
        return "All modified and coverable lines are covered by tests :white_check_mark:"
    missing = _lines_word(max(spec.missing_lines, 1))
    lead = "Attention:" if spec.fmt == "2024" else ":x:"
    return f"{lead} Patch coverage is `{_pct(patch)}` with `{missing}` in your changes missing coverage. Please review."


def _project_line(spec: CodecovSpec) -> str:
    base, head = spec.base_sha[:7], spec.head_sha[:7]
    base_link, head_link = _commit_link(spec, spec.base_sha), _commit_link(spec, spec.head_sha)
    if spec.fmt == "2024":
        return (
            f"> Project coverage is {spec.project_coverage:.2f}%. Comparing base [(`{base}`)]({base_link}) "
            f"to head [(`{head}`)]({head_link})."
        )
    mark = ":white_check_mark:" if spec.coverage_change >= 0 else ":x:"
    return (
        f"{mark} Project coverage is {spec.project_coverage:.2f}%. Comparing base ([`{base}`]({base_link})) "
        f"to head ([`{head}`]({head_link}))."
    )


def _render_codecov_modern(spec: CodecovSpec) -> list[str]:
    owner = spec.repo.split("/", 1)[0]
    pull = f"{_CODECOV_APP}/{spec.repo}/pull/{spec.pr_number}"
    tail = _UTM_TAIL.format(owner=owner)
    lines = [
        f"## [Codecov]({pull}?dropdown=coverage&src=pr&el=h1&{tail}) Report",
        _patch_line(spec),
        _project_line(spec),
    ]
    if spec.commits_behind:
        warn = ":warning: " if spec.fmt == "2025" else "> "
        lines.append(f"{warn}Report is {spec.commits_behind} commits behind head on {spec.base_ref}.")
    lines += ["", "<details><summary>Additional details and impacted files</summary>", ""]
    lines += _coverage_diff(spec)
    lines += [
        "",
        "</details>",
        "",
        f"[:umbrella: View full report in Codecov by Sentry]({pull}?dropdown=coverage&src=pr&el=continue&{tail}).   ",
        ":loudspeaker: Have feedback on the report? "
        "[Share it here](https://about.codecov.io/codecov-pr-comment-feedback/).",
    ]
    return lines


def _render_codecov_2020(spec: CodecovSpec) -> list[str]:
    pull = f"{_CODECOV_OLD}/{spec.repo}/pull/{spec.pr_number}"
    change = round(spec.coverage_change, 2)
    if change == 0:
        verb = "will **not change** coverage."
    else:
        direction = "increase" if change > 0 else "decrease"
        verb = f"will **{direction}** coverage by `{abs(change):.2f}%`."
    diff = "n/a" if spec.patch_coverage is None else _pct(spec.patch_coverage)
    lines = [
        f"# [Codecov]({pull}?src=pr&el=h1) Report",
        f"> Merging [#{spec.pr_number}]({pull}?src=pr&el=desc) ({spec.head_sha[:7]}) into "
        f"[{spec.base_ref}]({_CODECOV_OLD}/{spec.repo}/commit/{spec.base_sha}?el=desc) ({spec.base_sha[:7]}) "
        f"{verb}",
        f"> The diff coverage is `{diff}`.",
        "",
        f"[![Impacted file tree graph]({pull}/graphs/tree.svg?width=650&height=150&src=pr&token=REDACTED)]"
        f"({pull}?src=pr&el=tree)",
        "",
    ]
    lines += _coverage_diff(spec)
    lines += [
        "",
        "------",
        "",
        f"[Continue to review full report at Codecov]({pull}?src=pr&el=continue).",
        "> **Legend** - [Click here to learn more](https://docs.codecov.io/docs/codecov-delta)",
        "> `Δ = absolute <relative> (impact)`, `ø = not affected`, `? = missing data`",
    ]
    return lines


def render_codecov(spec: CodecovSpec) -> str:
    """The body of Codecov's PR comment for one report, in the spec's format."""
    lines = _render_codecov_2020(spec) if spec.fmt == "2020" else _render_codecov_modern(spec)
    return _finish(lines, spec.crlf)
