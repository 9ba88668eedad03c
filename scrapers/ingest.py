"""Records written by external tools, taken in through the one upsert: today ``upgrade_test_results``,
which the seed team's test runners (Jenkins jobs) produce.

A file is JSON lines (one object per line) or CSV (a header row naming the columns). Every record is
validated before anything is written: unknown fields, a missing key field, a value of the wrong type, a
timestamp without a time zone, a text longer than its column or ``failed_tests > total_tests`` are
reported with their line number, and then nothing is written. A valid file is written in one
transaction (retried as a whole on deadlocks), so a file is either all in or not at all; records with
the same natural key update the stored row, so re-ingesting a file changes nothing.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Annotated, Any, Self

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictInt, ValidationError, model_validator
from sqlalchemy import Engine

from scrapesched.db.retry import transaction
from scrapesched.db.schema import upgrade_test_results
from scrapesched.db.upsert import upsert


def _limit(column: str) -> int:
    length = upgrade_test_results.c[column].type.length  # type: ignore[attr-defined]
    return int(length) if length else 10_000


Count = Annotated[StrictInt, Field(ge=0)]


class UpgradeResult(BaseModel):
    """One upgrade test run as a test runner reports it; the key is every field up to ``timestamp_start``."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)

    jenkins_build_number: Annotated[StrictInt, Field(ge=0)]
    upgrade_start_version: str = Field("", max_length=_limit("upgrade_start_version"))
    upgrade_target_version: str = Field("", max_length=_limit("upgrade_target_version"))
    management_server_os: str = Field("", max_length=_limit("management_server_os"))
    hypervisor: str = Field("", max_length=_limit("hypervisor"))
    hypervisor_version: str = Field("", max_length=_limit("hypervisor_version"))
    timestamp_start: AwareDatetime
    timestamp_end: AwareDatetime | None = None
    result: str | None = Field(None, max_length=_limit("result"))
    total_tests: Count | None = None
    failed_tests: Count | None = None
    duration_seconds: Count | None = None
    logs_url: str | None = None
    build_url: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.timestamp_end is not None and self.timestamp_end < self.timestamp_start:
            raise ValueError("timestamp_end is before timestamp_start")
        if self.failed_tests is not None and self.total_tests is not None and self.failed_tests > self.total_tests:
            raise ValueError("failed_tests is greater than total_tests")
        return self


class FileFormat(StrEnum):
    JSONL = "jsonl"
    CSV = "csv"


@dataclass(frozen=True)
class BadRecord:
    line: int
    reason: str


@dataclass
class Parsed:
    """What a file held: the valid records (with their line numbers) and the bad ones."""

    records: list[tuple[int, UpgradeResult]] = field(default_factory=list)
    bad: list[BadRecord] = field(default_factory=list)


def guess_format(name: str, text: str) -> FileFormat:
    """CSV for ``*.csv``, JSON lines for ``*.jsonl``/``*.json``/``*.ndjson``; else by the first character."""
    lowered = name.lower()
    if lowered.endswith(".csv"):
        return FileFormat.CSV
    if lowered.endswith((".jsonl", ".json", ".ndjson")):
        return FileFormat.JSONL
    return FileFormat.JSONL if text.lstrip().startswith("{") else FileFormat.CSV


def _reason(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors(include_url=False):
        where = ".".join(str(p) for p in err["loc"])
        message = str(err["msg"]).removeprefix("Value error, ")
        parts.append(f"{where}: {message}" if where else message)
    return "; ".join(parts)


def _jsonl_items(text: str) -> Iterator[tuple[int, Any]]:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            yield number, json.loads(line)
        except json.JSONDecodeError as exc:
            yield number, BadRecord(number, f"not JSON: {exc.msg} at column {exc.colno}")


def _csv_items(text: str) -> Iterator[tuple[int, Any]]:
    reader = csv.DictReader(io.StringIO(text, newline=""), strict=True)
    try:
        for row in reader:
            number = reader.line_num
            if None in row:
                yield number, BadRecord(number, f"{len(row[None])} more value(s) than the header has columns")
                continue
            # An empty CSV cell is "not given"; whole numbers are read as numbers.
            item: dict[str, Any] = {}
            for name, value in row.items():
                if value is None or value == "":
                    continue
                if name in _COUNT_FIELDS:
                    item[name] = int(value) if value.strip().lstrip("-").isdigit() else value
                else:
                    item[name] = value
            yield number, item
    except csv.Error as exc:
        yield reader.line_num, BadRecord(reader.line_num, f"not CSV: {exc}")


_COUNT_FIELDS = frozenset({"jenkins_build_number", "total_tests", "failed_tests", "duration_seconds"})


def parse_upgrade_results(text: str, fmt: FileFormat) -> Parsed:
    """Validate every record of a file; nothing is written here."""
    parsed = Parsed()
    items: Iterable[tuple[int, Any]] = _jsonl_items(text) if fmt is FileFormat.JSONL else _csv_items(text)
    for number, item in items:
        if isinstance(item, BadRecord):
            parsed.bad.append(item)
        elif not isinstance(item, dict):
            parsed.bad.append(BadRecord(number, f"expected an object, got {type(item).__name__}"))
        else:
            try:
                parsed.records.append((number, UpgradeResult.model_validate(item)))
            except ValidationError as exc:
                parsed.bad.append(BadRecord(number, _reason(exc)))
    return parsed


@dataclass(frozen=True)
class Written:
    records: int
    rows: int
    updated: int | None


def write_upgrade_results(engine: Engine, records: list[UpgradeResult]) -> Written:
    """All records in one transaction through the one upsert (retried as a whole)."""
    rows: list[dict[str, Any]] = [r.model_dump() for r in records]
    result = transaction(engine, lambda conn: upsert(conn, upgrade_test_results, rows), what="ingest")
    return Written(records=len(records), rows=result.rows, updated=result.updated)
