"""The ``[telemetry]`` part of the settings: endpoints to scrape and the HTTP summary's flush interval
(how long samples and rollups are kept is the ``[retention]`` table's business).

In the config file::

    [telemetry]
    flush_interval = "10s"

    [[telemetry.endpoints]]
    name = "api"
    url = "http://api.internal:9100/metrics"
    format = "prometheus"
    interval = "1m"
    timeout = "5s"
    labels = { env = "prod" }

    [[telemetry.endpoints]]
    name = "queue"
    url = "http://queue.internal/stats.json"
    format = "json"
    paths = ["jobs.waiting", "jobs.running", "workers.0.busy"]

Each endpoint is one shard of the ``http_telemetry`` job (the shard is the endpoint's name).
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from scrapesched.config.durations import Duration

ENDPOINT_NAME = re.compile(r"[A-Za-z0-9_.:-]{1,255}")
LABEL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class EndpointSettings(BaseModel):
    """One ``[[telemetry.endpoints]]`` table: an HTTP endpoint whose numbers are sampled on every fire."""

    model_config = ConfigDict(extra="forbid")

    name: str
    """Name of the endpoint: the shard of `http_telemetry` and the `endpoint` label of its series."""
    url: str
    """URL to GET (`http://` or `https://`)."""
    format: Literal["prometheus", "json"] = "prometheus"
    """`prometheus` (text exposition format) or `json` (numbers at `paths`)."""
    paths: list[str] = []  # a value, not default_factory=list: see config/settings.py
    """For `json`: dotted paths to numeric fields (`a.b.0.c`: object keys and list indexes); each path is a
    series named by the path. Booleans count as 1 and 0."""
    interval: Duration | None = None
    """Sample at most once per this long: samples are stored at the start of the interval (buckets anchored
    at the Unix epoch) and later fires in the same bucket are skipped. Default: every fire of the job."""
    timeout: Duration = 10.0
    """Timeout of one request to the endpoint."""
    labels: dict[str, str] = {}
    """Labels added to every series of this endpoint (they replace scraped labels of the same name)."""

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not ENDPOINT_NAME.fullmatch(value):
            raise ValueError(f"{value!r} is not an endpoint name (letters, digits, _ . : -; at most 255)")
        return value

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"{value!r} is not an http:// or https:// URL")
        return value

    @field_validator("labels")
    @classmethod
    def _labels(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            if not LABEL_NAME.fullmatch(name):
                raise ValueError(f"{name!r} is not a label name")
            if name == "endpoint":
                raise ValueError("the label 'endpoint' is set from the endpoint's name")
        return value

    @model_validator(mode="after")
    def _paths(self) -> EndpointSettings:
        if self.format == "json" and not self.paths:
            raise ValueError(f"endpoint {self.name}: format json needs paths (dotted paths to numeric fields)")
        if self.format == "prometheus" and self.paths:
            raise ValueError(f"endpoint {self.name}: paths only apply to format json")
        return self


class TelemetrySettings(BaseModel):
    """The ``[telemetry]`` table."""

    model_config = ConfigDict(extra="forbid")

    endpoints: list[EndpointSettings] = []
    """Endpoints the `http_telemetry` job samples, one `[[telemetry.endpoints]]` table each."""
    flush_interval: Duration = 10.0
    """The per-host HTTP summary is buffered in memory and written when a run ends, at shutdown, and every
    this long during long runs."""

    @field_validator("endpoints")
    @classmethod
    def _unique_names(cls, value: list[EndpointSettings]) -> list[EndpointSettings]:
        seen: set[str] = set()
        for endpoint in value:
            if endpoint.name in seen:
                raise ValueError(f"endpoint name {endpoint.name!r} is used twice")
            seen.add(endpoint.name)
        return value

    def endpoint(self, name: str) -> EndpointSettings | None:
        """The endpoint with this name, if configured."""
        return next((e for e in self.endpoints if e.name == name), None)
