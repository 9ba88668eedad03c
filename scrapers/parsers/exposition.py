"""Samples from an endpoint's body: Prometheus text exposition or JSON with dotted paths to numeric fields.

Pure functions: text in, dataclasses out; no I/O, no logging, no database. Prometheus text is parsed with
``prometheus_client``'s own parser. A body that cannot be read at all raises ``ExpositionError`` (one line,
naming the line or the position); a JSON path that is missing or not numeric is listed in
``Extraction.errors`` while the other paths still give their samples.

A series is its name and its sorted labels. ``series_hash`` is the SHA-256 of the canonical JSON
``[name, {labels, keys sorted}]``, so the same series hashes the same in every process, whatever order its
labels came in.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from prometheus_client.parser import text_string_to_metric_families

Format = Literal["prometheus", "json"]
Labels = tuple[tuple[str, str], ...]

MAX_LINE_IN_MESSAGE = 80


class ExpositionError(ValueError):
    """The body is not what the endpoint's format promises (malformed exposition text, not JSON)."""


@dataclass(frozen=True)
class Sample:
    """One value of one series: a metric name, its labels (sorted by name) and a finite number."""

    name: str
    labels: Labels
    value: float

    @property
    def labels_json(self) -> str:
        """The labels as canonical JSON (an object with sorted keys), as stored in ``telemetry_series``."""
        return labels_json(self.labels)

    @property
    def series_hash(self) -> str:
        """SHA-256 (hex) of the canonical JSON of name and sorted labels: the series' identity."""
        return series_hash(self.name, self.labels)


@dataclass(frozen=True)
class Extraction:
    """What one body gave: its samples, the problems with single fields, and the non-finite values skipped."""

    samples: tuple[Sample, ...]
    errors: tuple[str, ...] = ()
    skipped_non_finite: int = 0


def sorted_labels(labels: Mapping[str, str]) -> Labels:
    """Labels as a tuple of (name, value) pairs sorted by name."""
    return tuple(sorted((str(k), str(v)) for k, v in labels.items()))


def labels_json(labels: Labels | Mapping[str, str]) -> str:
    """Labels as canonical JSON: an object with its keys sorted, no spaces."""
    return json.dumps(dict(labels), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def series_hash(name: str, labels: Labels | Mapping[str, str]) -> str:
    """The identity of a series: SHA-256 (hex) of the canonical JSON ``[name, {sorted labels}]``."""
    canonical = json.dumps([name, dict(labels)], sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _dedupe(samples: Iterable[Sample]) -> tuple[Sample, ...]:
    """One sample per series: the last one given wins (a body listing a series twice)."""
    by_series: dict[tuple[str, Labels], Sample] = {}
    for s in samples:
        by_series[(s.name, s.labels)] = s
    return tuple(by_series.values())


def _short(line: str) -> str:
    line = line.strip()
    return line if len(line) <= MAX_LINE_IN_MESSAGE else line[: MAX_LINE_IN_MESSAGE - 3] + "..."


def _first_bad_line(text: str) -> tuple[int, str, str] | None:
    """(line number, line, reason) of the first line the parser refuses on its own, if one does."""
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            for family in text_string_to_metric_families(line + "\n"):
                list(family.samples)
        except (ValueError, TypeError, IndexError, KeyError) as exc:
            return number, line, str(exc) or type(exc).__name__
    return None


def parse_prometheus(text: str) -> Extraction:
    """Every sample of a Prometheus text exposition; NaN and infinite values are skipped and counted.

    Raises ExpositionError naming the first bad line when the parser refuses the text.
    """
    samples: list[Sample] = []
    skipped = 0
    try:
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                value = float(s.value)
                if not math.isfinite(value):
                    skipped += 1
                    continue
                samples.append(Sample(s.name, sorted_labels(s.labels), value))
    except (ValueError, TypeError, IndexError, KeyError) as exc:
        bad = _first_bad_line(text)
        if bad is not None:
            number, line, reason = bad
            raise ExpositionError(
                f"malformed Prometheus exposition at line {number} ({_short(line)!r}): {reason}"
            ) from None
        raise ExpositionError(f"malformed Prometheus exposition: {exc or type(exc).__name__}") from None
    return Extraction(_dedupe(samples), skipped_non_finite=skipped)


def _lookup(document: Any, path: str) -> Any:
    """The value at a dotted path (``a.b.0.c``: object keys, list indexes); KeyError naming the missing part."""
    current = document
    for part in path.split("."):
        if isinstance(current, dict):
            if part not in current:
                raise KeyError(part)
            current = current[part]
        elif isinstance(current, list):
            try:
                index = int(part)
            except ValueError:
                raise KeyError(part) from None
            if not -len(current) <= index < len(current):
                raise KeyError(part)
            current = current[index]
        else:
            raise KeyError(part)
    return current


def _json_type(value: Any) -> str:
    names = {str: "a string", list: "a list", dict: "an object", type(None): "null"}
    return names.get(type(value), type(value).__name__)


def parse_json(text: str, paths: Sequence[str]) -> Extraction:
    """One sample per dotted path (named by the path, no labels): numbers, and booleans as 1 and 0.

    A missing path or a value that is not a number is an entry of ``errors``; the other paths still count.
    Raises ExpositionError when the body is not JSON at all.
    """
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise ExpositionError(f"body is not JSON: {exc}") from None
    samples: list[Sample] = []
    errors: list[str] = []
    skipped = 0
    for path in paths:
        try:
            value = _lookup(document, path)
        except KeyError as exc:
            errors.append(f"{path}: not found (no {exc.args[0]!r})")
            continue
        if isinstance(value, bool):
            number = 1.0 if value else 0.0
        elif isinstance(value, int | float):
            number = float(value)
        else:
            errors.append(f"{path}: not numeric ({_json_type(value)})")
            continue
        if not math.isfinite(number):
            skipped += 1
            continue
        samples.append(Sample(path, (), number))
    return Extraction(_dedupe(samples), tuple(errors), skipped)


def extract(fmt: Format, text: str, paths: Sequence[str] = ()) -> Extraction:
    """Samples of a body in the endpoint's format (``prometheus`` or ``json`` with ``paths``)."""
    if fmt == "prometheus":
        return parse_prometheus(text)
    if fmt == "json":
        return parse_json(text, paths)
    raise ValueError(f"unknown exposition format {fmt!r}")


def with_labels(extraction: Extraction, labels: Mapping[str, str]) -> Extraction:
    """The extraction with ``labels`` added to every sample (they replace scraped labels of the same name)."""
    if not labels:
        return extraction
    out = [Sample(s.name, sorted_labels({**dict(s.labels), **labels}), s.value) for s in extraction.samples]
    return Extraction(_dedupe(out), extraction.errors, extraction.skipped_non_finite)
