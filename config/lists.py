"""Lists in settings: ``CommaList`` takes ``"a, b,c"`` from the environment and a list from the TOML file."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator
from pydantic_settings import NoDecode


def comma_list(value: Any) -> Any:
    """``"a, b,c"`` -> ``["a", "b", "c"]``; other types pass to validation."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


CommaList = Annotated[list[str], NoDecode, BeforeValidator(comma_list)]
