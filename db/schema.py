"""The schema, in SQLAlchemy Core: the seed's tables made multi-repository, each with its natural key.

Every table's natural key is a UNIQUE constraint named ``uq_<table>`` (listed in ``table.info["key"]``), so
the database, not application code, refuses duplicates. Optional parts of a key are NOT NULL with an empty
default: in SQL ``NULL != NULL`` would let duplicates through.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Double,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    true,
)
from sqlalchemy.sql import column as sa_column

from scrapesched.db.types import BigId, KeyString, LongBlob, UTCDateTime
from scrapesched.db.vocabulary import RunStatus, Trigger

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# Key-part bounds: a whole key stays under MariaDB's 3072 and PostgreSQL's 2704 bytes of index entry.
REPO_LEN = 140  # GitHub: owner <= 39, name <= 100
TEST_NAME_LEN = 256
TEST_FILE_LEN = 200
HYPERVISOR_LEN = 32
VERSION_LEN = 32
LOGIN_LEN = 100
LABEL_LEN = 255

PR_STATES = ("open", "closed", "merged")
APPROVAL_STATES = ("APPROVED", "CHANGES_REQUESTED", "COMMENTED", "DISMISSED", "LGTM")


def _id() -> Column[int]:
    return Column("id", BigId, primary_key=True, autoincrement=True)


def _in(column: str, values: tuple[str, ...], name: str) -> CheckConstraint:
    # An expression, not text, so each dialect quotes the column (``trigger`` is reserved in MySQL).
    return CheckConstraint(sa_column(column).in_(values), name=name)


def _keyed(name: str, key: tuple[str, ...], *columns: Column[Any] | CheckConstraint) -> Table:
    table = Table(name, metadata, _id(), *columns, UniqueConstraint(*key), info={"key": key})
    return table


def _opt_key(name: str, length: int) -> Column[str]:
    """An optional part of a natural key: empty string, never NULL."""
    return Column(name, KeyString(length), nullable=False, default="", server_default="")


pr_states = _keyed(
    "pr_states",
    ("repo", "pr_number"),
    Column("repo", KeyString(REPO_LEN), nullable=False),
    Column("pr_number", BigInteger, nullable=False),
    Column("pr_title", Text),
    Column("pr_state", String(16), nullable=False),
    Column("author", String(LOGIN_LEN)),
    Column("assignees", Text),
    Column("draft", Boolean, nullable=False, default=False, server_default=false()),
    Column("created_at", UTCDateTime),
    Column("updated_at", UTCDateTime),
    Column("closed_at", UTCDateTime),
    Column("merged_at", UTCDateTime),
    Column("head_sha", String(64)),
    Column("base_ref", String(255)),
    Column("last_checked", UTCDateTime, nullable=False),
    _in("pr_state", PR_STATES, "pr_state"),
)

pr_health_labels = _keyed(
    "pr_health_labels",
    ("repo", "pr_number", "label_name"),
    Column("repo", KeyString(REPO_LEN), nullable=False),
    Column("pr_number", BigInteger, nullable=False),
    Column("label_name", KeyString(LABEL_LEN), nullable=False),
    Column("pr_title", Text),
    Column("pr_state", String(16)),
    Column("updated_at", UTCDateTime),
)

pr_approvals = _keyed(
    "pr_approvals",
    ("repo", "pr_number", "approver_login", "approval_created_at"),
    Column("repo", KeyString(REPO_LEN), nullable=False),
    Column("pr_number", BigInteger, nullable=False),
    Column("approver_login", KeyString(LOGIN_LEN), nullable=False),
    Column("approval_created_at", UTCDateTime, nullable=False),
    Column("pr_title", Text),
    Column("approval_state", String(32), nullable=False),
    _in("approval_state", APPROVAL_STATES, "approval_state"),
)

pr_codecov_comments = _keyed(
    "pr_codecov_comments",
    ("repo", "pr_number"),
    Column("repo", KeyString(REPO_LEN), nullable=False),
    Column("pr_number", BigInteger, nullable=False),
    Column("pr_title", Text),
    Column("codecov_comment", Text),
    Column("codecov_created_at", UTCDateTime),
    Column("codecov_updated_at", UTCDateTime),
    Column("codecov_present", Boolean, nullable=False, default=False, server_default=false()),
    Column("project_coverage", Double),
    Column("patch_coverage", Double),
    Column("coverage_change", Double),
    Column("base_sha", String(64)),
    Column("head_sha", String(64)),
    Column("parse_error", Text),
)

pr_trillian_comments = _keyed(
    "pr_trillian_comments",
    ("repo", "pr_number", "hypervisor", "version", "trillian_created_at"),
    Column("repo", KeyString(REPO_LEN), nullable=False),
    Column("pr_number", BigInteger, nullable=False),
    _opt_key("hypervisor", HYPERVISOR_LEN),
    _opt_key("version", VERSION_LEN),
    Column("trillian_created_at", UTCDateTime, nullable=False),
    Column("pr_title", Text),
    Column("trillian_comment", Text),
    Column("trillian_present", Boolean, nullable=False, default=True, server_default=true()),
    Column("logs_url", Text),
    Column("test_id", String(32)),
    Column("environment", String(128)),
    Column("management_server", String(64)),
    Column("zone", String(128)),
    Column("passed", Integer),
    Column("failed", Integer),
    Column("skipped", Integer),
    Column("duration_seconds", BigInteger),
    Column("parse_error", Text),
)

test_results = _keyed(
    "test_results",
    ("repo", "pr_number", "test_name", "test_file", "hypervisor", "hypervisor_version", "test_date"),
    Column("repo", KeyString(REPO_LEN), nullable=False),
    Column("pr_number", BigInteger, nullable=False),
    Column("test_name", KeyString(TEST_NAME_LEN), nullable=False),
    _opt_key("test_file", TEST_FILE_LEN),
    _opt_key("hypervisor", HYPERVISOR_LEN),
    _opt_key("hypervisor_version", VERSION_LEN),
    Column("test_date", UTCDateTime, nullable=False),
    Column("result", String(16), nullable=False),
    Column("time_seconds", Double),
    Column("logs_url", Text),
)

test_failures = _keyed(
    "test_failures",
    ("repo", "pr_number", "test_name", "test_file", "failure_type", "created_at"),
    Column("repo", KeyString(REPO_LEN), nullable=False),
    Column("pr_number", BigInteger, nullable=False),
    Column("test_name", KeyString(TEST_NAME_LEN), nullable=False),
    _opt_key("test_file", TEST_FILE_LEN),
    _opt_key("failure_type", 32),
    Column("created_at", UTCDateTime, nullable=False),
    Column("message", Text),
)

flaky_tests_summary = _keyed(
    "flaky_tests_summary",
    ("repo", "test_name", "test_file", "hypervisor", "hypervisor_version"),
    Column("repo", KeyString(REPO_LEN), nullable=False),
    Column("test_name", KeyString(TEST_NAME_LEN), nullable=False),
    _opt_key("test_file", TEST_FILE_LEN),
    _opt_key("hypervisor", HYPERVISOR_LEN),
    _opt_key("hypervisor_version", VERSION_LEN),
    Column("total_runs", Integer, nullable=False, default=0, server_default="0"),
    Column("failure_count", Integer, nullable=False, default=0, server_default="0"),
    Column("failure_rate", Double, nullable=False, default=0.0, server_default="0"),
    Column("first_failure", UTCDateTime),
    Column("last_failure", UTCDateTime),
    Column("last_seen", UTCDateTime),
    Column("updated_at", UTCDateTime),
)

upgrade_test_results = _keyed(
    "upgrade_test_results",
    (
        "jenkins_build_number",
        "upgrade_start_version",
        "upgrade_target_version",
        "management_server_os",
        "hypervisor",
        "hypervisor_version",
        "timestamp_start",
    ),
    Column("jenkins_build_number", BigInteger, nullable=False),
    _opt_key("upgrade_start_version", VERSION_LEN),
    _opt_key("upgrade_target_version", VERSION_LEN),
    _opt_key("management_server_os", 64),
    _opt_key("hypervisor", HYPERVISOR_LEN),
    _opt_key("hypervisor_version", VERSION_LEN),
    Column("timestamp_start", UTCDateTime, nullable=False),
    Column("timestamp_end", UTCDateTime),
    Column("result", String(32)),
    Column("total_tests", Integer),
    Column("failed_tests", Integer),
    Column("duration_seconds", BigInteger),
    Column("logs_url", Text),
    Column("build_url", Text),
)

http_error_summary = _keyed(
    "http_error_summary",
    ("host", "status_code", "error_type"),
    Column("host", KeyString(255), nullable=False),
    Column("status_code", Integer, nullable=False),
    _opt_key("error_type", 32),
    Column("count", BigInteger, nullable=False, default=0, server_default="0"),
    Column("first_seen", UTCDateTime, nullable=False),
    Column("last_seen", UTCDateTime, nullable=False),
)


# Leases of the ``table`` lock backend, and the durable fencing-token counter of every backend: ``token``
# is bumped for each new holder and never goes back, even when the lock server (Redis) loses its keys.
# Prefixed with ``scrapesched_``: an internal table of ours, not one of the seed's, under a name no other
# package or application is likely to use in the same database (migration 0003 renamed it from ``locks``).
leases = Table(
    "scrapesched_leases",
    metadata,
    Column("name", KeyString(255), primary_key=True),
    Column("holder", String(255)),
    Column("token", BigInteger, nullable=False, default=0, server_default="0"),
    Column("lock_until", UTCDateTime),
    Column("locked_at", UTCDateTime),
    info={"key": ("name",)},
)

RUN_TRIGGERS = tuple(t.value for t in Trigger)
RUN_STATUSES = tuple(s.value for s in RunStatus)

# One row per claimed fire of a job shard. The UNIQUE key is the claim: every replica computes the same
# (job_name, shard, scheduled_for) from the trigger's nominal fire time, and only one INSERT wins.
# ``trigger`` is part of the key so a fire's one recovery re-run is a row of its own.
job_runs = _keyed(
    "job_runs",
    ("job_name", "shard", "scheduled_for", "trigger"),
    Column("job_name", KeyString(100), nullable=False),
    _opt_key("shard", 255),
    Column("scheduled_for", UTCDateTime, nullable=False),
    Column("trigger", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("owner", String(255), nullable=False),
    Column("fencing_token", BigInteger),
    Column("lease_ttl_s", Double, nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("heartbeat_at", UTCDateTime),
    Column("finished_at", UTCDateTime),
    Column("error", Text),
    Column("rows_written", BigInteger, nullable=False, default=0, server_default="0"),
    Column("requests", BigInteger, nullable=False, default=0, server_default="0"),
    Column("not_modified", BigInteger, nullable=False, default=0, server_default="0"),
    Column("retries", BigInteger, nullable=False, default=0, server_default="0"),
    Column("rate_limit_waits", BigInteger, nullable=False, default=0, server_default="0"),
    Column("progress", Text),  # a running sync's last progress line (items done, estimate, cursor)
    _in("trigger", RUN_TRIGGERS, "trigger"),
    _in("status", RUN_STATUSES, "status"),
    # The run state machine (docs/scheduler.md, migration 0007): finished exactly when no longer running.
    CheckConstraint(
        sa.or_(
            sa.and_(sa_column("status") == RunStatus.RUNNING.value, sa_column("finished_at").is_(None)),
            sa.and_(sa_column("status") != RunStatus.RUNNING.value, sa_column("finished_at").is_not(None)),
        ),
        name="finished",
    ),
)
Index("ix_job_runs_status_heartbeat", job_runs.c.status, job_runs.c.heartbeat_at)
Index("ix_job_runs_job_shard_finished", job_runs.c.job_name, job_runs.c.shard, job_runs.c.finished_at)
Index("ix_job_runs_finished_at", job_runs.c.finished_at)  # retention deletes by age
# The web console's reads (migration 0008): newest runs per shard / per status, first start, last success.
Index("ix_job_runs_job_shard_id", job_runs.c.job_name, job_runs.c.shard, job_runs.c.id)
Index("ix_job_runs_status_id", job_runs.c.status, job_runs.c.id)
Index("ix_job_runs_job_shard_started", job_runs.c.job_name, job_runs.c.shard, job_runs.c.started_at)
Index(
    "ix_job_runs_job_shard_status_finished",
    job_runs.c.job_name,
    job_runs.c.shard,
    job_runs.c.status,
    job_runs.c.finished_at,
)

# What the built-in canary job did: one row per fire it executed, ``executions`` counting how often its
# body ran for that fire (exactly once is the point of scrapesched).
canary_runs = _keyed(
    "canary_runs",
    ("shard", "scheduled_for", "trigger"),
    _opt_key("shard", 255),
    Column("scheduled_for", UTCDateTime, nullable=False),
    Column("trigger", String(16), nullable=False),
    Column("owner", String(255), nullable=False),
    Column("executions", BigInteger, nullable=False, default=0, server_default="0"),
    Column("ran_at", UTCDateTime, nullable=False),
)


# Incremental sync: one cursor per repository and stream, written in the same transaction as the data
# it covers. ``high_water`` is the newest ``updated_at`` fully written; ``state`` (JSON) resumes a backfill.
scrape_cursors = _keyed(
    "scrape_cursors",
    ("repo", "stream"),
    Column("repo", KeyString(REPO_LEN), nullable=False),
    Column("stream", KeyString(64), nullable=False),
    Column("high_water", UTCDateTime),
    Column("state", Text),
    Column("updated_at", UTCDateTime, nullable=False),
)

# Conditional requests: the validator and the (zlib-compressed) body of each URL's last 200, keyed by a
# SHA-256 of the URL (URLs are too long for an index). A 304 reuses the stored body and Link header.
http_etags = _keyed(
    "http_etags",
    ("url_hash",),
    Column("url_hash", KeyString(64), nullable=False),
    Column("url", Text, nullable=False),
    Column("etag", String(255)),
    Column("last_modified", String(64)),
    Column("token_key", String(32)),  # fingerprint of the token that got the ETag (GitHub binds ETags to it)
    Column("link", Text),
    Column("body", LongBlob),
    Column("fetched_at", UTCDateTime, nullable=False),
    Column("used_at", UTCDateTime, nullable=False),
)
Index("ix_http_etags_used_at", http_etags.c.used_at)

# The rate-limit budget every replica shares: the last remaining/reset seen per token (by fingerprint,
# never the token) and resource. The newest observation wins.
rate_limits = _keyed(
    "rate_limits",
    ("token_id", "resource"),
    Column("token_id", KeyString(64), nullable=False),
    Column("resource", KeyString(32), nullable=False),
    Column("limit", Integer),
    Column("remaining", Integer),
    Column("reset_at", UTCDateTime),
    Column("observed_at", UTCDateTime, nullable=False),
)

# Endpoint telemetry: series (name + sorted labels, hashed), raw samples per fire bucket, hourly rollups.
telemetry_series = _keyed(
    "telemetry_series",
    ("series_hash",),
    Column("series_hash", KeyString(64), nullable=False),
    Column("endpoint", String(255), nullable=False),
    Column("name", String(255), nullable=False),
    Column("labels", Text, nullable=False),
    Column("first_seen", UTCDateTime, nullable=False),
)

telemetry_samples = _keyed(
    "telemetry_samples",
    ("series_id", "observed_at"),
    Column("series_id", BigInteger, nullable=False),
    Column("observed_at", UTCDateTime, nullable=False),
    Column("value", Double, nullable=False),
)
Index("ix_telemetry_samples_observed_at", telemetry_samples.c.observed_at)

telemetry_hourly = _keyed(
    "telemetry_hourly",
    ("series_id", "hour"),
    Column("series_id", BigInteger, nullable=False),
    Column("hour", UTCDateTime, nullable=False),
    Column("min", Double, nullable=False),
    Column("max", Double, nullable=False),
    Column("avg", Double, nullable=False),
    Column("count", BigInteger, nullable=False),
    Column("last", Double, nullable=False),
    Column("last_at", UTCDateTime, nullable=False),
)
Index("ix_telemetry_hourly_hour", telemetry_hourly.c.hour)

# One row per endpoint scrape (per fire bucket): whether it worked and why not.
telemetry_scrapes = _keyed(
    "telemetry_scrapes",
    ("endpoint", "observed_at"),
    Column("endpoint", KeyString(255), nullable=False),
    Column("observed_at", UTCDateTime, nullable=False),
    Column("status_code", Integer, nullable=False),
    Column("error_type", String(32)),
    Column("error", Text),
    Column("samples", Integer, nullable=False, default=0, server_default="0"),
)
Index("ix_telemetry_scrapes_observed_at", telemetry_scrapes.c.observed_at)

# Idempotency keys of the HTTP summary's flushes: a flush inserts its id in the same transaction as its
# counter upsert, so a flush retried after an ambiguous COMMIT finds its id and is not counted twice.
telemetry_flushes = _keyed(
    "telemetry_flushes",
    ("flush_id",),
    Column("flush_id", KeyString(32), nullable=False),
    Column("owner", String(255), nullable=False),
    Column("flushed_at", UTCDateTime, nullable=False),
    Column("key_count", Integer, nullable=False),
    Column("request_count", BigInteger, nullable=False),
)
Index("ix_telemetry_flushes_flushed_at", telemetry_flushes.c.flushed_at)


# Fleet control (``scrapesched pause/resume/trigger``), read by every replica once a second in one query
# (scheduler/control.py). A pause with shard ``''`` pauses every shard of the job; resume deletes the row.
pauses = _keyed(
    "scrapesched_pauses",
    ("job_name", "shard"),
    Column("job_name", KeyString(100), nullable=False),
    _opt_key("shard", 255),
    Column("reason", Text),
    Column("paused_by", String(255), nullable=False),
    Column("paused_at", UTCDateTime, nullable=False),
)

# Pending fleet triggers, one row per shard: a replica with a free slot claims the fire through
# ``job_runs`` (trigger ``manual``, ``scheduled_for`` = ``requested_at``), and the row is deleted once its
# fire is claimed (the ``job_runs`` row is the record).
triggers = _keyed(
    "scrapesched_triggers",
    ("job_name", "shard", "requested_at"),
    Column("job_name", KeyString(100), nullable=False),
    _opt_key("shard", 255),
    Column("requested_at", UTCDateTime, nullable=False),
    Column("params", Text),
    Column("requested_by", String(255), nullable=False),
)

# One row per ``scrapesched run`` replica, refreshed every ``heartbeat_s`` (scheduler/replicas.py):
# silent when not seen for three heartbeats and not stopped cleanly.
replicas = _keyed(
    "scrapesched_replicas",
    ("instance_id",),
    Column("instance_id", KeyString(255), nullable=False),
    Column("host", String(255), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("version", String(64), nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("last_seen", UTCDateTime, nullable=False),
    Column("stopped_at", UTCDateTime),
    Column("heartbeat_s", Double, nullable=False),
    Column("running", Integer, nullable=False, default=0, server_default="0"),
    Column("running_runs", Text),
)
Index("ix_scrapesched_replicas_last_seen", replicas.c.last_seen)


def natural_key(table: Table) -> tuple[str, ...]:
    """The columns of the table's natural key (its ``uq_<table>`` UNIQUE constraint)."""
    key = table.info.get("key")
    if not key:
        raise LookupError(f"table {table.name} declares no natural key")
    return tuple(key)
