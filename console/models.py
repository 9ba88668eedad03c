"""The console's answers as typed models: what the JSON API returns, what the page renders, what
``scrapesched status --json`` prints, and where the OpenAPI document's schemas come from.

Times are the database's, timezone-aware UTC, written as ISO 8601 (``2026-12-01T18:48:19.5+00:00``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, WithJsonSchema

Timestamp = Annotated[
    datetime,
    PlainSerializer(lambda value: value.isoformat(), return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]
ReplicaState = Literal["live", "silent", "stopped"]
RunStatusName = Literal["running", "succeeded", "failed", "abandoned", "skipped", "deferred"]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class RunningRun(_Model):
    """A run a replica executes, as of its last heartbeat."""

    run_id: int
    job: str
    shard: str


class Replica(_Model):
    """One ``scrapesched run`` replica: ``live``, ``silent`` (not seen for three heartbeats: killed, frozen,
    cut off) or ``stopped`` (exited cleanly)."""

    instance_id: str
    state: ReplicaState
    host: str
    pid: int
    version: str
    started_at: Timestamp
    last_seen: Timestamp
    stopped_at: Timestamp | None
    heartbeat_s: float
    running: int
    running_runs: list[RunningRun]


class Pause(_Model):
    """A pause of a job (``shard`` empty: every shard) or of one shard."""

    job: str
    shard: str
    reason: str | None
    paused_by: str
    paused_at: Timestamp


class Cursor(_Model):
    """Where one GitHub stream of a repository stands (``scrape_cursors``): a pass in progress has
    ``in_pass``, ``done`` items listed so far and GitHub's estimate ``total``."""

    stream: str
    high_water: Timestamp | None
    in_pass: bool
    done: int
    total: int | None
    mode: str
    since: Timestamp | None


class Shard(_Model):
    """One job shard: schedule, next fire, newest run, last success, lease, pause and progress."""

    job: str
    shard: str
    schedule: str
    scheduled: bool
    next_fire: Timestamp | None
    last_run: Timestamp | None = Field(description="scheduled time of the newest run")
    last_status: RunStatusName | None
    last_owner: str | None
    last_error: str | None
    last_success: Timestamp | None
    holder: str | None = Field(description="replica holding the shard's lease")
    lease_until: Timestamp | None
    stale: bool = Field(description="no success for two intervals (never for a paused shard)")
    paused: Pause | None
    pending_triggers: int
    running_run_id: int | None
    progress: str | None = Field(description="a running sync's last progress line")
    cursors: list[Cursor]


class Fleet(_Model):
    """Every replica and job shard at one moment of the database's clock (``status --json``)."""

    now: Timestamp
    replicas: list[Replica]
    shards: list[Shard]


class Run(_Model):
    """One ``job_runs`` row."""

    run_id: int
    job: str
    shard: str
    scheduled_for: Timestamp
    trigger: str
    status: RunStatusName
    owner: str
    fencing_token: int | None
    started_at: Timestamp
    heartbeat_at: Timestamp | None
    finished_at: Timestamp | None
    duration_s: float | None
    error: str | None
    rows_written: int
    requests: int
    not_modified: int = Field(description="HTTP 304 answers (conditional requests)")
    retries: int
    rate_limit_waits: int
    progress: str | None


class RunPage(_Model):
    """Runs, newest first; ``next_before`` is the ``before`` of the next (older) page, None on the last."""

    runs: list[Run]
    next_before: int | None


class TokenBudget(_Model):
    """What the fleet last saw of one GitHub token's rate limit, by token identity (never the token)."""

    token_id: str
    limit: int | None
    remaining: int | None
    reset_at: Timestamp | None
    observed_at: Timestamp | None
    paused_until: Timestamp | None = Field(description="end of a secondary rate limit pause still in force")


class Backfill(_Model):
    """A repository whose sync is part way through a pass, or whose newest run was deferred (budget spent,
    cursor saved: the next fire continues)."""

    job: str
    shard: str
    last_status: RunStatusName | None
    last_run: Timestamp | None
    detail: str | None
    cursors: list[Cursor]


class GitHub(_Model):
    """GitHub budgets per token identity and the backfills in progress or deferred."""

    now: Timestamp
    budgets: list[TokenBudget]
    backfills: list[Backfill]


class HostStatus(_Model):
    """How often a host answered one status (0: a transport failure of ``error_type``)."""

    status_code: int
    error_type: str
    count: int
    last_seen: Timestamp


class Host(_Model):
    """The HTTP summary of one host (``http_error_summary``), successes included."""

    host: str
    requests: int
    ok: int = Field(description="2xx answers")
    not_modified: int = Field(description="304 answers")
    client_errors: int
    server_errors: int
    transport_errors: int
    last_seen: Timestamp
    statuses: list[HostStatus]


class Info(_Model):
    """The replica serving this console."""

    instance_id: str
    version: str
    write_enabled: bool = Field(description="write actions are enabled (a bearer token is configured)")


class Action(_Model):
    """Body of a write action: the shard (default: every shard of the job) and, for a pause, why."""

    shard: str | None = Field(default=None, max_length=255)
    reason: str | None = Field(default=None, max_length=1000)


class ActionResult(_Model):
    """What a write action did."""

    action: Literal["pause", "resume", "trigger"]
    job: str
    shards: list[str]
    message: str


class Problem(_Model):
    """An error answer."""

    error: str
