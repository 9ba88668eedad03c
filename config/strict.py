"""Strict scalar types for settings: a boolean is never a number or a string, and only a boolean is a flag.

TOML values are typed, so ``interval = true`` or ``catchup = "yes"`` is a mistake to report, not a value
to coerce (pydantic would read ``true`` as ``1`` and ``"yes"`` as ``True``). Environment variables are
strings by nature: ``EnvFlags`` turns ``SCRAPESCHED_X=true`` into a boolean before validation.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, TypeAdapter, ValidationError


def toml_repr(value: Any) -> str:
    """A value as it is written in TOML, for messages: ``true``, ``"yes"``, ``1``."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str):
        return f'"{value}"'
    return repr(value)


def _flag(value: Any) -> Any:
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {toml_repr(value)}")
    return value


def _not_bool(kind: str) -> BeforeValidator:
    def check(value: Any) -> Any:
        if isinstance(value, bool):
            raise ValueError(f"expected {kind}, got {toml_repr(value)}")
        return value

    return BeforeValidator(check)


Flag = Annotated[bool, BeforeValidator(_flag)]
"""``true`` or ``false`` and nothing else (``"yes"``, ``1`` and ``"no"`` are errors)."""
Whole = Annotated[int, _not_bool("a whole number")]
"""An integer; ``true`` is an error, not 1."""
Seconds = Annotated[float, _not_bool("a number of seconds")]
"""A number of seconds; ``true`` is an error, not 1.0."""
Text = Annotated[str, _not_bool("a string")]
"""A string; ``true`` is an error."""

_LAX_BOOL: TypeAdapter[bool] = TypeAdapter(bool)


def env_flag(value: Any) -> Any:
    """A boolean from an environment string (``true``/``false``, ``1``/``0``, ``yes``/``no``), else ``value``."""
    if isinstance(value, str):
        try:
            return _LAX_BOOL.validate_python(value)
        except ValidationError:
            return value  # left for the setting's own validation to report
    return value
