"""Jobs are plug-ins: every entry point of the group ``scrapesched.jobs`` names one ``JobSpec``.

The way APScheduler 3 finds its triggers and job stores: a distribution declares its jobs in its metadata,
one entry point per job, named as the job::

    [project.entry-points."scrapesched.jobs"]
    canary = "scrapesched.scheduler.canary:SPEC"

``load_registry()`` loads them all into a ``Registry`` that knows which distribution each job came from.
A plug-in that cannot be loaded (its module fails to import, the object is not a ``JobSpec``, its name is
not the entry point's, two distributions claim one name) is a ``PluginError`` naming the entry point and
its module: never skipped, since a replica missing a job would silently never run it.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from importlib.metadata import EntryPoint, entry_points

from scrapesched.config.errors import ConfigError
from scrapesched.scheduler.registry import JobSpec, Registry

GROUP = "scrapesched.jobs"


class PluginError(ConfigError):
    """A job plug-in cannot be loaded (named with its entry point and module)."""


def _origin(ep: EntryPoint) -> str:
    dist = ep.dist
    if dist is None:
        return "an unknown distribution"
    meta = dist.metadata  # parsed on every access: read once for both fields
    return f"{meta['Name']} {meta['Version']}"


def _describe(ep: EntryPoint) -> str:
    return f"job plug-in {ep.name!r} (entry point {ep.name} = {ep.value} in {GROUP}, from {_origin(ep)})"


def load_spec(ep: EntryPoint) -> JobSpec:
    """The ``JobSpec`` an entry point names; PluginError when it cannot be imported or is not one."""
    try:
        importlib.import_module(ep.module)
    except Exception as exc:  # ImportError, or anything the module raises while it is imported
        first_line = (str(exc).strip().splitlines() or [""])[0]
        why = f"{type(exc).__name__}: {first_line}" if first_line else type(exc).__name__
        raise PluginError(f"{_describe(ep)}: module {ep.module} failed to import: {why}") from exc
    try:
        spec = ep.load()
    except AttributeError:
        raise PluginError(f"{_describe(ep)}: module {ep.module} has no {ep.attr!r}") from None
    if not isinstance(spec, JobSpec):
        raise PluginError(f"{_describe(ep)}: {ep.value} is a {type(spec).__name__}, not a JobSpec")
    if spec.name != ep.name:
        raise PluginError(f"{_describe(ep)}: the JobSpec is named {spec.name!r}, not {ep.name!r}")
    return spec


def load_registry(found: Iterable[EntryPoint] | None = None) -> Registry:
    """Every job of every installed distribution (``found``: the entry points, default the group's)."""
    registry = Registry()
    origins: dict[int, str] = {}  # per distribution (its entry points share it): its metadata is parsed once
    for ep in sorted(found if found is not None else entry_points(group=GROUP), key=lambda e: e.name):
        spec = load_spec(ep)
        if spec.name in registry:
            raise PluginError(f"{_describe(ep)}: job {spec.name!r} is already provided by {registry.origin(spec.name)}")
        if id(ep.dist) not in origins:
            origins[id(ep.dist)] = _origin(ep)
        registry.add(spec, origin=origins[id(ep.dist)])
    return registry
