"""Durations in settings: ``30``, ``"30s"``, ``"5m"``, ``"1h30m"``, ``"250ms"`` or ``"7d"``, read as seconds.

``Duration`` is the annotated type every duration setting uses; ``format_duration`` writes seconds back in
the short form (for the generated configuration reference).
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BeforeValidator, Field

DAY_S = 86400.0

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": DAY_S}


def parse_duration(value: Any) -> Any:
    """Seconds from ``30``, ``"30s"``, ``"5m"``, ``"1h30m"``, ``"250ms"``; a boolean is an error (never 1 second)."""
    if isinstance(value, bool):
        raise ValueError(f'expected a duration ("30s", "5m" or seconds), got {str(value).lower()}')
    if isinstance(value, str):
        text = value.strip().lower()
        try:
            return float(text)
        except ValueError:
            pass
        parts = _DURATION_PART.findall(text)
        if not parts or _DURATION_PART.sub("", text).strip():
            raise ValueError(f'{value!r} is not a duration (use e.g. 30, "30s", "5m", "1h30m")')
        return sum(float(n) * _UNIT_SECONDS[unit] for n, unit in parts)
    return value


Duration = Annotated[float, BeforeValidator(parse_duration), Field(gt=0)]
"""A positive number of seconds, written as a number or with units (``"1h30m"``)."""


def format_duration(seconds: float) -> str:
    """The short form of a duration: ``"7d"``, ``"1h30m"``, ``"30s"``, ``"250ms"``."""
    millis = round(seconds * 1000)
    if millis % 1000:
        return f"{seconds:g}s" if millis > 1000 else f"{millis}ms"
    out = ""
    rest = millis // 1000
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, rest = divmod(rest, size)
        if count:
            out += f"{count}{unit}"
    return out or "0s"
