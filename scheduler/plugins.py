"""The jobs scrapesched ships, assembled into a registry (the CLI passes it to the scheduler core)."""

from __future__ import annotations

import importlib

from scrapesched.scheduler import canary
from scrapesched.scheduler.registry import JobSpec, Registry

# Modules that export ``SPECS: list[JobSpec]`` (scraper jobs); a missing one is skipped.
JOB_MODULES = ("scrapesched.scrapers.github.jobs", "scrapesched.scrapers.telemetry.jobs")


def default_registry() -> Registry:
    specs: list[JobSpec] = [canary.SPEC]
    for name in JOB_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        specs.extend(module.SPECS)
    return Registry(specs)
