"""The one settings model: environment (``SCRAPESCHED_*``) beats the TOML config file beats the defaults.

Each field's docstring is its documentation: the README's configuration reference is generated from this
model (``python -m scrapesched.config.reference``), so the two cannot drift apart. The ``[github]``,
``[telemetry]`` and ``[retention]`` tables are models of their own (``config/*_settings.py``); the
``[github]`` keys keep their flat environment variables (``SCRAPESCHED_GITHUB_TOKEN``, ``GITHUB_TOKEN``, ...).

An empty list or table default is written as the value (``= []``; pydantic copies it for each instance), not
``default_factory=list``: pydantic reads a factory's signature, and ``list``'s is parsed from text with the
tokenizer, whose regular expressions take milliseconds to compile at every start-up of every command.
"""

from __future__ import annotations

import os
import re
import socket
import tomllib
from collections.abc import Mapping
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Literal, Union, cast, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from scrapesched.config import github_settings, retention_settings
from scrapesched.config.durations import Duration
from scrapesched.config.errors import ConfigError
from scrapesched.config.github_settings import GitHubSettings
from scrapesched.config.lists import CommaList
from scrapesched.config.redact import redact_url
from scrapesched.config.retention_settings import RetentionSettings
from scrapesched.config.strict import Flag, Seconds, Text, Whole, env_flag
from scrapesched.config.telemetry_settings import TelemetrySettings

ENV_PREFIX = "SCRAPESCHED_"
CONFIG_ENV = ENV_PREFIX + "CONFIG"
SECRETS_DIR_ENV = ENV_PREFIX + "SECRETS_DIR"
DEFAULT_SECRETS_DIR = Path("/run/secrets")
"""Where Docker and Kubernetes mount secrets: read when it exists and ``SCRAPESCHED_SECRETS_DIR`` is unset."""

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


class JobSettings(BaseModel):
    """A ``[jobs.NAME]`` table of the config file: when and how a job runs."""

    model_config = ConfigDict(extra="forbid")

    cron: Text | None = None
    """Cron expression (5 fields: minute hour day month weekday), in ``timezone``."""
    interval: Duration | None = None
    """Run every this long instead of a cron schedule (fire times are anchored to 2000-01-01 UTC, so
    every replica computes the same ones)."""
    timezone: Text = "UTC"
    """Time zone of the cron expression."""
    enabled: Flag = True
    """False: the job is not scheduled (run-once still works)."""
    shards: list[str] | None = None
    """Shards to run on each fire (default: what the job lists itself, e.g. the configured repositories)."""
    lease_ttl: Duration | None = None
    """Lease time-to-live per shard; a run whose heartbeat is older than this is abandoned."""
    misfire_grace: Duration = 300.0
    """A fire later than this (downtime, overload) is a misfire: recorded, then caught up or skipped."""
    catchup: Flag = True
    """After downtime, run the missed fires once, coalesced (true), or only record them as skipped (false)."""
    overlap: Literal["skip", "buffer_one", "allow"] = "skip"
    """A fire while the shard's previous fire still runs: `skip` it (recorded), `buffer_one` (run once
    more right after), or `allow` both at once."""
    recover: Flag = False
    """Re-run an abandoned fire once on another replica (trigger `recovery`)."""
    params: dict[str, Any] = {}
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
        toml_file=None,
    )

    database_url: str = Field(default="sqlite:///scrapesched.db", repr=False)
    """SQLAlchemy URL of the database: `sqlite:///file.db`, `mysql://user:pw@host/db` (MariaDB/MySQL,
    PyMySQL), `postgresql://user:pw@host/db` (psycopg 3)."""

    require_database_url: Flag = False
    """Refuse to start (exit 2, one line) unless `database_url` is given (environment, secret file or TOML):
    set it in every replica of a fleet, so a missing secret never leaves each pod on a SQLite file of its own."""

    lock_url: str = Field(default="table", repr=False)
    """Lease backend: `table` (a lease table in the database), `redis://...`, `mysql://...` (GET_LOCK),
    `postgresql://...` (advisory locks) or `memory` (one process only)."""

    log_level: Literal["debug", "info", "warning", "error"] = "info"
    """Lowest level that is logged."""

    log_format: Literal["auto", "json", "console"] = "auto"
    """`json` lines, human-readable `console`, or `auto`: console on a terminal, JSON otherwise."""

    db_batch_size: Whole = Field(default=5000, ge=1, le=10_000)
    """Rows per multi-row upsert statement (PyMySQL also cuts a statement at about 1 MB)."""

    db_retry_attempts: Whole = Field(default=6, ge=1, le=50)
    """Attempts of one transaction on deadlocks, lock wait timeouts, serialization failures and lost
    connections, with exponential backoff and jitter between them."""

    db_connect_timeout: Seconds = Field(default=5.0, gt=0)
    """Seconds to wait for a database connection before giving up with an error."""

    db_lock_timeout: Seconds = Field(default=2.0, ge=1, le=600)
    """Seconds one statement waits for a row lock another transaction holds before it fails and its
    transaction is retried (MariaDB/MySQL `innodb_lock_wait_timeout`, PostgreSQL `lock_timeout`), so no
    replica waits long on a frozen peer. Whole seconds on MariaDB/MySQL."""

    db_idle_transaction_timeout: Seconds = Field(default=10.0, ge=1, le=3600)
    """Seconds a transaction of ours may sit idle before the server ends it and frees its row locks
    (PostgreSQL `idle_in_transaction_session_timeout`, MariaDB `idle_transaction_timeout`; MySQL has
    none): a replica frozen inside a transaction (SIGSTOP, a VM pause) blocks others at most this long.
    Keep it below the shortest lease ttl. A transaction ended this way is retried as a whole."""

    instance_id: str = Field(default_factory=default_instance_id)
    """This replica's name in `job_runs.owner` and lease holders (default: hostname:pid)."""

    max_concurrent: Whole = Field(default=4, ge=1, le=256)
    """Runs (job shards) one replica executes at once; it claims the next shard only when a slot frees."""

    shutdown_grace: Duration = 30.0
    """On SIGTERM/SIGINT, how long running jobs may take to finish before their leases are released."""

    http_port: Whole | None = Field(default=None, ge=0, le=65535)
    """Port of `/healthz`, `/readyz`, `/metrics` and the web console (`/`, `/api/`) (off unless set)."""

    http_host: str = "0.0.0.0"
    """Address the health and metrics server binds to."""

    repos: CommaList = []
    """Repositories (`owner/name`, comma-separated in the environment) the GitHub jobs shard over."""

    http_concurrency: Whole = Field(default=8, ge=1, le=128)
    """HTTP requests in flight at once per replica."""

    http_timeout: Duration = 30.0
    """Timeout of one HTTP request."""

    adopt_repo: Text | None = None
    """Repository (`owner/name`) that `migrate` writes into the new `repo` column when it adopts a legacy
    single-repository database (seed 000's tables); required only then."""

    jobs: dict[str, JobSettings] = {}
    """Schedules: one `[jobs.NAME]` table per job (its keys are listed below)."""

    github: GitHubSettings = Field(default_factory=GitHubSettings)
    """GitHub: tokens or a GitHub App, API URL, bot logins, sync overlap and rate-limit tuning (see
    docs/github.md). Each key also has its environment variable."""

    telemetry: TelemetrySettings = Field(default_factory=TelemetrySettings)
    """Endpoint telemetry: `[[telemetry.endpoints]]` (name, url, format, paths, interval, timeout, labels)
    and `flush_interval` of the per-host HTTP summary (see docs/telemetry.md)."""

    retention: RetentionSettings = Field(default_factory=RetentionSettings)
    """How long the `retention` job keeps telemetry samples and rollups, finished job runs, ETags and flush
    ids, and how many rows it deletes per statement."""

    console_write_token: SecretStr | None = Field(default=None, repr=False)
    """Bearer token that enables the web console's write actions (pause, resume, trigger) on `/` and
    `/api/`; unset (the default), the console is read-only. Never logged or stored."""

    # --- more settings go above this line ----------------------------------------------------------

    @field_validator("repos")
    @classmethod
    def _repos(cls, value: list[str]) -> list[str]:
        for repo in value:
            if not re.fullmatch(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+", repo):
                raise ValueError(f"{repo!r} is not owner/name")
        return value

    @field_validator("adopt_repo")
    @classmethod
    def _adopt_repo(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+", value):
            raise ValueError(f"{value!r} is not owner/name")
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
        return (
            init_settings,
            FlagEnvSource(settings_cls),
            TableEnvSource(settings_cls, TABLE_ENV_NAMES),
            file_secret_settings,
            TableSecretsSource(settings_cls, TABLE_ENV_NAMES),
            TomlConfigSettingsSource(settings_cls),
        )


# Keys of nested tables that are read from the environment too: table -> key -> variable names.
TABLE_ENV_NAMES: dict[str, dict[str, tuple[str, ...]]] = {"github": github_settings.ENV_NAMES}

# Keys that moved, old -> new: the [retention] table's, and the flat github_* keys of the [github] table.
MOVED_KEYS: dict[str, str] = {
    **retention_settings.MOVED_KEYS,
    **{names[0].removeprefix(ENV_PREFIX).lower(): f"github.{key}" for key, names in github_settings.ENV_NAMES.items()},
}


def _is_flag(info: FieldInfo | None) -> bool:
    """Whether a setting is a boolean (``bool``, ``Flag`` or either ``| None``)."""
    if info is None:
        return False
    kinds = get_args(info.annotation) if get_origin(info.annotation) in (Union, UnionType) else (info.annotation,)
    kinds = tuple(get_args(k)[0] if get_origin(k) is Annotated else k for k in kinds)
    return bool in kinds and all(k in (bool, type(None)) for k in kinds)


class FlagEnvSource(EnvSettingsSource):
    """The environment source, with ``SCRAPESCHED_X=true`` read as a boolean for boolean settings.

    Boolean settings are strict (a TOML ``"yes"`` is an error), but environment variables are strings.
    """

    def prepare_field_value(self, field_name: str, field: FieldInfo, value: Any, value_is_complex: bool) -> Any:
        value = super().prepare_field_value(field_name, field, value, value_is_complex)
        return env_flag(value) if _is_flag(field) else value


class TableEnvSource(PydanticBaseSettingsSource):
    """Environment variables of keys in nested tables, e.g. ``SCRAPESCHED_GITHUB_API_URL`` -> ``github.api_url``.

    Case-insensitive like pydantic-settings' own environment source; the first name found of a key wins.
    """

    def __init__(self, settings_cls: type[BaseSettings], tables: Mapping[str, Mapping[str, tuple[str, ...]]]) -> None:
        super().__init__(settings_cls)
        self.tables = tables

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # unused: __call__ reads whole tables

    def variables(self) -> dict[str, str]:
        """The variables to look in, by lower-case name."""
        return {name.lower(): value for name, value in os.environ.items()}

    def __call__(self) -> dict[str, Any]:
        environ = self.variables()
        out: dict[str, Any] = {}
        for table, keys in self.tables.items():
            values = {}
            for key, names in keys.items():
                found = next((environ[n.lower()] for n in names if n.lower() in environ), None)
                if found is not None:
                    values[key] = env_flag(found) if _is_flag(_table_field(self.settings_cls, table, key)) else found
            if values:
                out[table] = values
        return out


class TableSecretsSource(TableEnvSource):
    """The same keys read from files in the secrets directory, one file per variable name (``GITHUB_TOKEN``,
    ``SCRAPESCHED_GITHUB_TOKEN``, ...), as Docker and Kubernetes mount secrets; between the environment and
    the TOML file. Top-level settings come from pydantic-settings' own secrets source (``secrets_dir``)."""

    def variables(self) -> dict[str, str]:
        directory = self.settings_cls.model_config.get("secrets_dir")
        if not directory or not Path(str(directory)).is_dir():
            return {}
        return {p.name.lower(): p.read_text().strip() for p in Path(str(directory)).iterdir() if p.is_file()}


def secrets_dir() -> Path | None:
    """The directory of secret files: ``SCRAPESCHED_SECRETS_DIR``, else ``/run/secrets`` if it exists, else none.

    Each file is named after a setting's environment variable (``SCRAPESCHED_DATABASE_URL``,
    ``GITHUB_TOKEN``; any case) and holds its value; the environment beats the files, which beat the TOML file.
    """
    configured = os.environ.get(SECRETS_DIR_ENV)
    if configured:
        path = Path(configured)
        if not path.is_dir():
            raise ConfigError(f"{SECRETS_DIR_ENV}: {configured!r} is not a directory")
        return path
    return DEFAULT_SECRETS_DIR if DEFAULT_SECRETS_DIR.is_dir() else None


def _table_field(settings_cls: type[BaseSettings], table: str, key: str) -> FieldInfo | None:
    model = settings_cls.model_fields[table].annotation
    return model.model_fields.get(key) if isinstance(model, type) and issubclass(model, BaseModel) else None


def is_table(info: FieldInfo) -> bool:
    """Whether a top-level setting is a TOML table (``[github]``, ``[jobs.NAME]``) rather than one value."""
    tp = info.annotation
    return get_origin(tp) is dict or (isinstance(tp, type) and issubclass(tp, BaseModel))


def environment_variables() -> dict[str, str]:
    """Every environment variable of a setting, with the setting's key: ``{"GITHUB_TOKEN": "github.token", ...}``."""
    out = {ENV_PREFIX + name.upper(): name for name, info in Settings.model_fields.items() if not is_table(info)}
    for table, keys in TABLE_ENV_NAMES.items():
        for key, names in keys.items():
            out.update({name: f"{table}.{key}" for name in names})
    return out


def _env_name(loc: tuple[Any, ...]) -> str | None:
    keys = TABLE_ENV_NAMES.get(str(loc[0]), {})
    if len(loc) > 1 and str(loc[1]) in keys:
        return keys[str(loc[1])][0]
    info = Settings.model_fields.get(str(loc[0]))
    if info is not None and not is_table(info):
        return ENV_PREFIX + str(loc[0]).upper()
    return None


def _describe(error: Any) -> str:
    parts = tuple(error.get("loc", ()))
    loc = ".".join(str(part) for part in parts) or "settings"
    msg = str(error.get("msg", "invalid value"))
    msg = msg.removeprefix("Value error, ")
    if error.get("type") == "extra_forbidden":
        if loc in MOVED_KEYS:
            table, key = MOVED_KEYS[loc].split(".", 1)
            return f"setting {loc!r} has moved to {MOVED_KEYS[loc]!r} (key {key!r} of the [{table}] table)"
        return f"unknown setting {loc!r} in the config file"
    env_name = _env_name(parts) if parts else None
    return f"setting {loc} ({env_name}): {msg}" if env_name else f"setting {loc}: {msg}"


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
    secrets = secrets_dir()
    settings_cls: type[Settings] = Settings
    if toml_file is not None or secrets is not None:  # a subclass configured to read them (its schema: a few ms)
        config = {**Settings.model_config, "toml_file": toml_file, "secrets_dir": secrets}
        settings_cls = cast("type[Settings]", type("Settings", (Settings,), {"model_config": config}))
    try:
        settings: Settings = settings_cls(**overrides)
    except ValidationError as exc:
        raise ConfigError(_describe(exc.errors()[0])) from None
    if settings.require_database_url and "database_url" not in settings.model_fields_set:
        raise ConfigError(
            f"{ENV_PREFIX}DATABASE_URL is not set but {ENV_PREFIX}REQUIRE_DATABASE_URL is: refusing to run on the"
            " embedded SQLite default (give the URL in the environment, a secret file or the config file)"
        )
    return settings
