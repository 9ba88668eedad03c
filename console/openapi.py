"""The OpenAPI 3.1 description of the console's JSON API (``/api/openapi.json``), generated from the
pydantic models of ``console.models`` (their JSON Schemas are the ``components.schemas``)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from scrapesched.console import models
from scrapesched.console.queries import DEFAULT_PAGE, MAX_PAGE, MAX_RUN_ID
from scrapesched.db.vocabulary import RunStatus

REF = "#/components/schemas/{model}"
ACTIONS = ("pause", "resume", "trigger")
_ANSWERS = (models.Fleet, models.RunPage, models.GitHub, models.Host, models.Info, models.ActionResult, models.Problem)


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": REF.format(model=model.__name__)}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _problem(description: str) -> dict[str, Any]:
    return _json(_ref(models.Problem), description)


def _get(summary: str, answer: dict[str, Any], parameters: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    operation: dict[str, Any] = {"summary": summary, "responses": {"200": _json(answer, summary)}}
    if parameters:
        operation["parameters"] = parameters
        operation["responses"]["400"] = _problem("a parameter is not valid")
    operation["responses"]["503"] = _problem("the database cannot be read")
    return {"get": operation}


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


def _action(action: str) -> dict[str, Any]:
    what = {
        "pause": "Pause the job (or one shard) on every replica; `reason` is shown everywhere.",
        "resume": "Lift the job's pauses (or one shard's).",
        "trigger": "Run the job's shards (or one) once, now, on whichever replica has a free slot.",
    }[action]
    body = {"schema": _ref(models.Action)}
    return {
        "post": {
            "summary": what,
            "security": [{"bearer": []}],
            "parameters": [{"name": "job", "in": "path", "required": True, "schema": {"type": "string"}}],
            "requestBody": {
                "required": False,
                "content": {"application/json": body, "application/x-www-form-urlencoded": body},
            },
            "responses": {
                "200": _json(_ref(models.ActionResult), "done"),
                "400": _problem("the body is not valid"),
                "401": _problem("no bearer token"),
                "403": _problem("wrong token, or write actions are disabled"),
                "404": _problem("unknown job or shard"),
                "503": _problem("the database cannot be written"),
            },
        }
    }


def document(version: str) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``/api/``."""
    _, schemas = models_json_schema(
        [(m, "serialization") for m in _ANSWERS] + [(models.Action, "validation")], ref_template=REF
    )
    run_filters = [
        _query("job", {"type": "string"}, "only runs of this job"),
        _query("shard", {"type": "string"}, "only runs of this shard (empty: unsharded jobs)"),
        _query("status", {"type": "string", "enum": [s.value for s in RunStatus]}, "only runs in this status"),
        _query("before", {"type": "integer", "minimum": 1, "maximum": MAX_RUN_ID}, "only runs with a smaller run_id"),
        _query("limit", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": DEFAULT_PAGE}, "per page"),
    ]
    paths: dict[str, Any] = {
        "/api/info": _get("The replica serving the console and whether write actions are enabled", _ref(models.Info)),
        "/api/fleet": _get("Every replica and job shard (what `scrapesched status --json` prints)", _ref(models.Fleet)),
        "/api/runs": _get("Recent runs, newest first, filtered and paginated", _ref(models.RunPage), run_filters),
        "/api/github": _get("GitHub budgets per token identity and backfills", _ref(models.GitHub)),
        "/api/hosts": _get("HTTP summary per host", {"type": "array", "items": _ref(models.Host)}),
        "/api/openapi.json": _get("This document", {"type": "object"}),
    }
    for action in ACTIONS:
        paths[f"/api/jobs/{{job}}/{action}"] = _action(action)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "scrapesched console API",
            "version": version,
            "description": "What every replica, job and shard of a scrapesched fleet is doing, read from the "
            "database by any replica. Write actions need `console_write_token` and `Authorization: Bearer`.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas["$defs"],
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
