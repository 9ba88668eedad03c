"""The job registry: what a job is (name, function, default schedule, shards, parameters, lease ttl).

Jobs are plain functions ``run(ctx: RunContext) -> None``; they report counters through ``ctx`` and
write through ``ctx.transaction`` (a fenced, retried transaction). The scheduler core only knows this
interface; concrete jobs (canary, GitHub, telemetry, retention) are plug-ins, found through the entry-point
group ``scrapesched.jobs`` by ``scheduler.plugins.load_registry``.

A ``JobSpec`` names its function as a ``"module:function"`` string, imported when the job first runs
(``JobSpec.function``): listing jobs, building the plan and ``status`` never import a job's module and what
it needs (the GitHub client, httpx). ``scrapesched run`` resolves every function at start-up, so a job whose
module fails to import stops the replica there, never at its first fire.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any, cast

from scrapesched.config.errors import ConfigError

if TYPE_CHECKING:
    from scrapesched.config.settings import Settings
    from scrapesched.scheduler.context import RunContext

JobFunction = Callable[["RunContext[Any]"], None]
"""A job's body; it declares the resources it expects (``RunContext[ScraperResources]``)."""
ShardLister = Callable[["Settings"], list[str]]

DEFAULT_SHARD = ""


@cache
def _import_function(job: str, target: str) -> JobFunction:
    module_name, _, attr = target.partition(":")
    if not module_name or not attr:
        raise ConfigError(f"job {job}: run = {target!r} is not 'module:function'")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # ImportError, or anything the module raises while it is imported
        first_line = (str(exc).strip().splitlines() or [""])[0]
        why = f"{type(exc).__name__}: {first_line}" if first_line else type(exc).__name__
        raise ConfigError(f"job {job}: module {module_name} of run = {target!r} failed to import: {why}") from exc
    function = getattr(module, attr, None)
    if not callable(function):
        raise ConfigError(f"job {job}: run = {target!r}: module {module_name} has no function {attr!r}")
    return cast(JobFunction, function)


def single_shard(_settings: Settings) -> list[str]:
    """The shard list of a job that is not sharded: one unnamed shard."""
    return [DEFAULT_SHARD]


@dataclass(frozen=True)
class Param:
    """One job parameter: its type (bool, int, float or str), default and meaning."""

    type: type
    default: Any
    help: str = ""

    def coerce(self, job: str, name: str, value: Any) -> Any:
        """The value converted to this parameter's type; ConfigError naming it when impossible."""
        try:
            if self.type is bool:
                if isinstance(value, bool):
                    return value
                text = str(value).strip().lower()
                if text in ("1", "true", "yes", "on"):
                    return True
                if text in ("0", "false", "no", "off"):
                    return False
                raise ValueError(value)
            if self.type in (int, float) and isinstance(value, bool):
                raise ValueError(value)
            return self.type(value)
        except (TypeError, ValueError):
            raise ConfigError(f"job {job}: parameter {name} must be {self.type.__name__}, got {value!r}") from None


@dataclass(frozen=True)
class JobSpec:
    """A job as the code defines it; the TOML ``[jobs.NAME]`` table may override its schedule and shards."""

    name: str
    run: str
    """The job's function as ``"module:function"``, imported by ``function()`` when the job first runs."""
    description: str
    cron: str | None = None
    interval: float | None = None
    lease_ttl: float = 120.0
    shards: ShardLister = single_shard
    params: Mapping[str, Param] = field(default_factory=dict)

    def function(self) -> JobFunction:
        """The function ``run`` names, imported once; ConfigError naming the job when it cannot be."""
        return _import_function(self.name, self.run)

    def resolve_params(self, given: Mapping[str, Any]) -> dict[str, Any]:
        """Defaults overlaid with ``given``; an unknown parameter is a ConfigError naming it."""
        unknown = sorted(set(given) - set(self.params))
        if unknown:
            known = ", ".join(sorted(self.params)) or "none"
            raise ConfigError(f"job {self.name}: unknown parameter {unknown[0]!r} (known: {known})")
        out = {name: p.default for name, p in self.params.items()}
        out.update({k: self.params[k].coerce(self.name, k, v) for k, v in given.items()})
        return out


class Registry:
    """The jobs this process knows, by name, and where each came from (its distribution)."""

    def __init__(self, jobs: list[JobSpec] | None = None) -> None:
        self._jobs: dict[str, JobSpec] = {}
        self._origins: dict[str, str] = {}
        for job in jobs or []:
            self.add(job)

    def add(self, job: JobSpec, *, origin: str = "") -> None:
        """Register ``job``; ``origin`` says where it came from (e.g. ``"scrapesched 0.1.0"``)."""
        if job.name in self._jobs:
            raise ValueError(f"job {job.name} registered twice")
        self._jobs[job.name] = job
        self._origins[job.name] = origin

    def origin(self, name: str) -> str:
        """The distribution that provides job ``name`` ("" when it was added directly)."""
        self.get(name)
        return self._origins[name]

    def __contains__(self, name: object) -> bool:
        return name in self._jobs

    def get(self, name: str) -> JobSpec:
        try:
            return self._jobs[name]
        except KeyError:
            known = ", ".join(sorted(self._jobs))
            raise ConfigError(f"unknown job {name!r} (known: {known})") from None

    def names(self) -> list[str]:
        return sorted(self._jobs)

    def __iter__(self) -> Iterator[JobSpec]:
        return iter(self._jobs[name] for name in self.names())
