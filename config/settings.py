"""The one settings model: environment (``SCRAPESCHED_*``) beats the TOML config file beats the defaults.

Each field's docstring is its documentation: ``docs/configuration.md`` and the README table are generated
from this model (``python -m scrapesched.config.reference``), so the two cannot drift apart.
"""

from __future__ import annotations

import os
import re
import socket
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from scrapesched.config.errors import ConfigError
from scrapesched.config.redact import redact_url
from scrapesched.config.telemetry_settings import TelemetrySettings

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


_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(value: Any) -> Any:
    """Seconds from ``30``, ``"30s"``, ``"5m"``, ``"1h30m"``, ``"250ms"``; other types pass to validation."""
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


def _comma_list(value: Any) -> Any:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


CommaList = Annotated[list[str], NoDecode, BeforeValidator(_comma_list)]


class JobSettings(BaseModel):
    """A ``[jobs.NAME]`` table of the config file: when and how a job runs."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    cron: str | None = None
    """Cron expression (5 fields: minute hour day month weekday), in ``timezone``."""
    interval: Duration | None = None
    """Run every this long instead of a cron schedule (fire times are anchored to 2000-01-01 UTC, so
    every replica computes the same ones)."""
    timezone: str = "UTC"
    """Time zone of the cron expression."""
    enabled: bool = True
    """False: the job is not scheduled (run-once still works)."""
    shards: list[str] | None = None
    """Shards to run on each fire (default: what the job lists itself, e.g. the configured repositories)."""
    lease_ttl: Duration | None = None
    """Lease time-to-live per shard; a run whose heartbeat is older than this is abandoned."""
    misfire_grace: Duration = 300.0
    """A fire later than this (downtime, overload) is a misfire: recorded, then caught up or skipped."""
    catchup: bool = True
    """After downtime, run the missed fires once, coalesced (true), or only record them as skipped (false)."""
    overlap: Literal["skip", "buffer_one", "allow"] = "skip"
    """A fire while the shard's previous fire still runs: `skip` it (recorded), `buffer_one` (run once
    more right after), or `allow` both at once."""
    recover: bool = False
    """Re-run an abandoned fire once on another replica (trigger `recovery`)."""
    params: dict[str, Any] = Field(default_factory=dict)
    """Job parameters, e.g. `{ per_page = 100 }`."""

    @model_validator(mode="after")
    def _one_schedule(self) -> JobSettings:
        if self.cron and self.interval:
            raise ValueError("give either cron or interval, not both")
        return self


def default_instance_id() -> str:
    """Hostname and process id: unique per replica, readable in ``status``."""
    return f"{socket.gethostname()}:{os.getpid()}"


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

    instance_id: str = Field(default_factory=default_instance_id)
    """This replica's name in `job_runs.owner` and lease holders (default: hostname:pid)."""

    max_concurrent: int = Field(default=4, ge=1, le=256)
    """Runs (job shards) one replica executes at once; it claims the next shard only when a slot frees."""

    shutdown_grace: Duration = 30.0
    """On SIGTERM/SIGINT, how long running jobs may take to finish before their leases are released."""

    http_port: int | None = Field(default=None, ge=0, le=65535)
    """Port of `/healthz`, `/readyz` and `/metrics` (off unless set)."""

    http_host: str = "0.0.0.0"
    """Address the health and metrics server binds to."""

    repos: CommaList = Field(default_factory=list)
    """Repositories (`owner/name`, comma-separated in the environment) the GitHub jobs shard over."""

    jobs: dict[str, JobSettings] = Field(default_factory=dict)
    """Schedules: one `[jobs.NAME]` table per job (see docs/configuration.md)."""

    # --- GitHub (scrapers) -------------------------------------------------------------------------
    github_token: SecretStr | None = Field(
        default=None,
        repr=False,
        validation_alias=AliasChoices("github_token", "SCRAPESCHED_GITHUB_TOKEN", "GITHUB_TOKEN"),
    )
    """GitHub token (`GITHUB_TOKEN` works too). Never logged or stored."""

    github_tokens: SecretStr | None = Field(default=None, repr=False)
    """Several tokens, comma-separated, or the path of a file with one per line (a mounted Kubernetes
    secret). Used one at a time, switched only when one is exhausted: GitHub's terms forbid pooling
    tokens to get around rate limits."""

    github_api_url: str = "https://api.github.com"
    """GitHub API base URL (GitHub Enterprise: `https://HOST/api/v3`)."""

    github_app_id: int | None = None
    """GitHub App id (with the private key file and installation id: installation tokens, more quota)."""

    github_app_private_key_file: Path | None = None
    """PEM private key file of the GitHub App."""

    github_app_installation_id: int | None = None
    """Installation id of the GitHub App on the organisation or repositories scraped."""

    http_concurrency: int = Field(default=8, ge=1, le=128)
    """HTTP requests in flight at once per replica."""

    http_timeout: Duration = 30.0
    """Timeout of one HTTP request."""

    trillian_bot_login: str = "blueorangutan"
    """Login of the smoke-test bot whose result comments fill pr_trillian_comments and test_results."""

    codecov_bot_logins: CommaList = Field(default_factory=lambda: ["codecov[bot]", "codecov-io", "codecov-commenter"])
    """Logins whose comments are Codecov reports."""

    telemetry: TelemetrySettings = Field(default_factory=TelemetrySettings)
    """Endpoint telemetry and retention: `[[telemetry.endpoints]]` (name, url, format, paths, interval,
    timeout, labels), `flush_interval` of the per-host HTTP summary, and `*_retention` of raw samples,
    hourly rollups, job runs and ETags (see docs/telemetry.md)."""

    github_sync_overlap: Duration = 300.0
    """Overlap window of incremental GitHub syncs: each run re-reads what changed this long before its
    cursor, so changes GitHub made visible late (eventual consistency, same-second updates) are not missed."""

    github_max_wait: Duration = 900.0
    """Longest rate-limit wait (primary reset or secondary `Retry-After`) a run accepts; a longer one ends
    the run with its cursor intact, to resume on the next fire."""

    github_rate_limit_reserve: int = Field(default=50, ge=0)
    """Requests per token and rate-limit window left unused (for people and other tools): a token at this
    many remaining counts as exhausted."""

    github_rate_limit_slowdown: int = Field(default=500, ge=0)
    """Below this many remaining requests (as last seen by any replica) requests are spread out evenly
    until the window resets, so the fleet slows down together instead of hitting the limit."""

    github_secondary_wait: Duration = 60.0
    """Wait after a secondary rate limit that gives no `Retry-After`; doubled on each repeat."""

    # --- more settings go above this line ----------------------------------------------------------

    @field_validator("repos")
    @classmethod
    def _repos(cls, value: list[str]) -> list[str]:
        for repo in value:
            if not re.fullmatch(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+", repo):
                raise ValueError(f"{repo!r} is not owner/name")
        return value

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
