"""Jobs are plug-ins found through the entry-point group ``scrapesched.jobs``: ours are entry points of the
scrapesched distribution, another distribution's jobs join them, and a plug-in that cannot be loaded is an
error naming it (one line at the command line, exit non-zero), never skipped."""

from __future__ import annotations

import json
import os
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

from conftest import cli_env, run_cli
from scrapesched.scheduler.plugins import GROUP, PluginError, load_registry

SHIPPED = [
    "canary",
    "flaky_tests_summary",
    "github_prs",
    "http_telemetry",
    "pr_states_refresh",
    "retention",
    "telemetry_rollup",
]


def fake_distribution(where: Path, name: str, entry_points: dict[str, str], modules: dict[str, str]) -> Path:
    """An installed-looking distribution in ``where``: its ``.dist-info`` (metadata, entry points) and modules."""
    info = where / f"{name}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    lines = "".join(f"{job} = {target}\n" for job, target in entry_points.items())
    (info / "entry_points.txt").write_text(f"[{GROUP}]\n{lines}")
    for module, source in modules.items():
        (where / f"{module}.py").write_text(source)
    return where


def env_with_path(path: Path) -> dict[str, str]:
    env = cli_env()
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(path), env.get("PYTHONPATH", "")) if p)
    return env


def test_the_shipped_jobs_are_entry_points_of_the_scrapesched_distribution() -> None:
    registry = load_registry()
    assert registry.names() == SHIPPED
    assert {registry.origin(name).split()[0] for name in SHIPPED} == {"scrapesched"}


def test_a_job_module_that_fails_to_import_makes_jobs_exit_nonzero_with_one_line_naming_it(tmp_path: Path) -> None:
    site = fake_distribution(
        tmp_path / "site",
        "brokenjobs",
        {"frobnicate": "brokenjobs_module:SPEC"},
        {"brokenjobs_module": 'raise ImportError("brokenjobs needs libfrob, which is not installed")\n'},
    )
    result = run_cli("jobs", env=env_with_path(site))
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    line = lines[0]
    assert "'frobnicate'" in line and "brokenjobs_module" in line and "brokenjobs 1.0" in line
    assert "ImportError: brokenjobs needs libfrob" in line
    assert result.stdout == ""


def test_a_job_of_another_distribution_is_listed_with_where_it_comes_from(tmp_path: Path) -> None:
    source = (
        "from scrapesched.scheduler.registry import JobSpec\n"
        "def run(ctx):\n"
        "    ctx.log.info('hello')\n"
        "SPEC = JobSpec(name='hello', run='hellojobs_module:run', description='Says hello.', interval=30.0)\n"
    )
    site = fake_distribution(tmp_path / "site", "hellojobs", {"hello": "hellojobs_module:SPEC"},
                             {"hellojobs_module": source})
    result = run_cli("jobs", "--json", env=env_with_path(site))
    assert result.returncode == 0, result.stderr
    rows = {r["job"]: r for r in json.loads(result.stdout)}
    assert sorted(rows) == sorted([*SHIPPED, "hello"])
    assert rows["hello"]["provided_by"] == "hellojobs 1.0"
    assert rows["hello"]["description"] == "Says hello."
    assert rows["canary"]["provided_by"].startswith("scrapesched ")


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("canary2", "scrapesched.scheduler.canary:CanaryFailure", "is a type, not a JobSpec"),
        ("canary2", "scrapesched.scheduler.canary:SPEC", "the JobSpec is named 'canary', not 'canary2'"),
        ("canary2", "scrapesched.scheduler.no_such_module:SPEC", "scheduler.no_such_module failed to import"),
        ("canary2", "scrapesched.scheduler.canary:NO_SUCH", "module scrapesched.scheduler.canary has no 'NO_SUCH'"),
        ("canary", "scrapesched.scheduler.canary:SPEC", "job 'canary' is already provided by"),
    ],
)
def test_a_plugin_that_is_not_a_well_formed_job_is_an_error_naming_its_entry_point(
    name: str, value: str, message: str
) -> None:
    ours = [EntryPoint("canary", "scrapesched.scheduler.canary:SPEC", GROUP)]
    with pytest.raises(PluginError) as failed:
        load_registry([*ours, EntryPoint(name, value, GROUP)])
    text = str(failed.value)
    assert message in text and f"'{name}'" in text and value in text
    assert "\n" not in text


def test_a_job_whose_function_fails_to_import_is_listed_but_refuses_to_run_with_one_line(tmp_path: Path) -> None:
    spec = (
        "from scrapesched.scheduler.registry import JobSpec\n"
        "SPEC = JobSpec(name='frob', run='frobrun_module:run', description='Needs libfrob.', interval=30.0)\n"
    )
    broken = 'raise ImportError("frobrun needs libfrob, which is not installed")\n'
    site = fake_distribution(tmp_path / "site", "frobjobs", {"frob": "frobspec_module:SPEC"},
                             {"frobspec_module": spec, "frobrun_module": broken})
    env = env_with_path(site)
    env["SCRAPESCHED_DATABASE_URL"] = f"sqlite:///{tmp_path / 'frob.db'}"
    listed = run_cli("jobs", "--json", env=env)
    assert listed.returncode == 0, listed.stderr
    assert "frob" in {r["job"] for r in json.loads(listed.stdout)}
    refused = run_cli("run-once", "frob", env=env)
    assert refused.returncode == 2
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in refused.stderr, refused.stderr
    assert "job frob" in lines[0] and "frobrun_module" in lines[0] and "ImportError: frobrun needs libfrob" in lines[0]
