"""The one settings model: environment (``SCRAPESCHED_*``) beats the TOML config file beats the defaults.

Each field's docstring is its documentation: ``docs/configuration.md`` and the README table are generated
from this model (``python -m config.reference``), so the two cannot drift apart.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from config.errors import ConfigError
from config.redact import redact_url

ENV_PREFIX = "SCRAPESCHED_"
CONFIG_ENV = ENV_PREFIX + "CONFIG"

# Short driver-less schemes pick the drivers scrapesched ships with.
_DRIVERS = {
    "mysql": "mysql+pymysql",
    "mariadb": "mysql+pymysql",
    "mariadb+pymysql": "mysql+pymysql",
    "postgresql": "postgresql+psycopg",
    "postgres": "postgresql+psycopg",
}


def normalize_database_url(url: str) -> str:
    """The SQLAlchemy URL with our driver filled in for plain ``mysql://`` and ``postgresql://``."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url.strip())
    except (ArgumentError, ValueError) as exc:
        raise ValueError(f"cannot parse {redact_url(url)!r} as a database URL") from exc
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "mysql", "mariadb", "postgresql", "postgres"):
        raise ValueError(f"unsupported database {backend!r}: use sqlite, mysql (MariaDB) or postgresql")
    drivername = _DRIVERS.get(parsed.drivername, parsed.drivername)
    return parsed.set(drivername=drivername).render_as_string(hide_password=False)


class Settings(BaseSettings):
    """Settings of scrapesched; see each field."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        extra="forbid",
        validate_default=True,
        use_attribute_docstrings=True,
        toml_file=None,
    )

    database_url: str = Field(default="sqlite:///scrapesched.db", repr=False)
    """SQLAlchemy URL of the database: `sqlite:///file.db`, `mysql://user:pw@host/db` (MariaDB/MySQL,
    PyMySQL), `postgresql://user:pw@host/db` (psycopg 3)."""

    lock_url: str = Field(default="table", repr=False)
    """Lease backend: `table` (a lease table in the database), `redis://...`, `mysql://...` (GET_LOCK),
    `postgresql://...` (advisory locks) or `memory` (one process only)."""

    log_level: Literal["debug", "info", "warning", "error"] = "info"
    """Lowest level that is logged."""

    log_format: Literal["auto", "json", "console"] = "auto"
    """`json` lines, human-readable `console`, or `auto`: console on a terminal, JSON otherwise."""

    db_batch_size: int = Field(default=500, ge=1, le=10_000)
    """Rows per multi-row upsert statement."""

    db_retry_attempts: int = Field(default=6, ge=1, le=50)
    """Attempts of one transaction on deadlocks, lock wait timeouts, serialization failures and lost
    connections, with exponential backoff and jitter between them."""

    db_connect_timeout: float = Field(default=5.0, gt=0)
    """Seconds to wait for a database connection before giving up with an error."""

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        return normalize_database_url(value)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls))


def _describe(error: Any) -> str:
    loc = ".".join(str(part) for part in error.get("loc", ())) or "settings"
    msg = str(error.get("msg", "invalid value"))
    msg = msg.removeprefix("Value error, ")
    if error.get("type") == "extra_forbidden":
        return f"unknown setting {loc!r} in the config file"
    env_name = ENV_PREFIX + loc.split(".")[0].upper()
    return f"setting {loc} ({env_name}): {msg}"


def load_settings(config_file: str | Path | None = None, **overrides: Any) -> Settings:
    """Settings from the environment and the optional TOML file (``--config`` or ``SCRAPESCHED_CONFIG``).

    Raises ConfigError with one line naming the setting when anything is wrong.
    """
    path = config_file or os.environ.get(CONFIG_ENV) or None
    toml_file: Path | None = None
    if path:
        toml_file = Path(path)
        if not toml_file.is_file():
            raise ConfigError(f"config file {str(toml_file)!r} not found")
        try:
            with toml_file.open("rb") as fh:
                tomllib.load(fh)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {str(toml_file)!r} is not valid TOML: {exc}") from None
        except OSError as exc:
            raise ConfigError(f"config file {str(toml_file)!r} cannot be read: {exc.strerror}") from None
    settings_cls = type("Settings", (Settings,), {"model_config": {**Settings.model_config, "toml_file": toml_file}})
    try:
        settings: Settings = settings_cls(**overrides)
    except ValidationError as exc:
        raise ConfigError(_describe(exc.errors()[0])) from None
    return settings
