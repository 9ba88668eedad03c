"""The Dockerfile and Kubernetes manifest describe the real CLI and settings (no Docker engine here, so
they are checked against the code instead of built)."""

from __future__ import annotations

import json
import re
import tomllib
from typing import Any

import pytest
import yaml

from conftest import REPO_ROOT, cli_env, run_cli
from scrapesched.config.settings import ENV_PREFIX, environment_variables, load_settings

DOCKERFILE = (REPO_ROOT / "Dockerfile").read_text()
PYPROJECT = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
MANIFEST = list(yaml.safe_load_all((REPO_ROOT / "deploy" / "kubernetes.yaml").read_text()))


def _instructions(name: str) -> list[str]:
    joined = re.sub(r"\\\n\s*", " ", DOCKERFILE)
    return [line.split(None, 1)[1] for line in joined.splitlines() if line.upper().startswith(name + " ")]


def _docker_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for item in _instructions("ENV"):
        for key, value in re.findall(r"(\w+)=(\S+)", item):
            env[key] = value
    return env


def test_dockerfile_uses_a_slim_python_that_the_package_supports() -> None:
    (base,) = _instructions("FROM")
    match = re.fullmatch(r"python:3\.(\d+)-slim", base.strip())
    assert match, base
    minimum = int(PYPROJECT["project"]["requires-python"].split(".")[1])
    assert int(match.group(1)) >= minimum


def test_dockerfile_runs_as_a_non_root_user() -> None:
    users = _instructions("USER")
    assert users and users[-1].strip() not in ("root", "0")


def test_dockerfile_entrypoint_is_the_console_script_and_cmd_a_real_command() -> None:
    (entry,) = _instructions("ENTRYPOINT")
    assert json.loads(entry) == ["scrapesched"]
    assert "scrapesched" in PYPROJECT["project"]["scripts"]
    (cmd,) = _instructions("CMD")
    args = json.loads(cmd)
    assert run_cli(*args, "--help").returncode == 0


def test_dockerfile_copies_every_package_the_project_installs() -> None:
    copied = {item.split()[0] for item in _instructions("COPY")}
    for src in copied:
        assert (REPO_ROOT / src).exists(), src
    package = REPO_ROOT / "scrapesched"
    linked = {p.readlink().name for p in package.iterdir() if p.is_symlink()}
    assert {"scrapesched", *linked} <= copied


def test_dockerfile_environment_names_real_settings_and_is_valid() -> None:
    env = _docker_env()
    settings_env = {k: v for k, v in env.items() if k.startswith(ENV_PREFIX)}
    for key in settings_env:
        assert key in environment_variables(), key
    result = run_cli("jobs", env=cli_env(**{k[len(ENV_PREFIX) :].lower(): v for k, v in settings_env.items()}))
    assert result.returncode == 0, result.stderr
    (exposed,) = _instructions("EXPOSE")
    assert exposed.strip() == settings_env["SCRAPESCHED_HTTP_PORT"]


def _containers() -> list[tuple[dict[str, Any], dict[str, Any]]]:
    out = []
    for doc in MANIFEST:
        spec = doc["spec"]["template"]["spec"]
        out += [(doc, c) for c in spec["containers"]]
    return out


@pytest.mark.parametrize("index", range(2))
def test_manifest_containers_run_real_commands_with_real_settings(index: int) -> None:
    _doc, container = _containers()[index]
    args = list(container["args"])
    if args[:1] == ["--config"]:
        args = args[2:]
    assert run_cli(*args, "--help").returncode == 0, args
    for item in container.get("env", []):
        assert item["name"].startswith(ENV_PREFIX), item["name"]
        assert item["name"] in environment_variables(), item["name"]


def test_manifest_probes_and_grace_period_match_the_server() -> None:
    doc, container = next((d, c) for d, c in _containers() if d["kind"] == "Deployment")
    env = {e["name"]: e.get("value") for e in container["env"]}
    port = int(env["SCRAPESCHED_HTTP_PORT"])
    assert container["ports"][0]["containerPort"] == port
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    grace = load_settings(shutdown_grace=env["SCRAPESCHED_SHUTDOWN_GRACE"]).shutdown_grace
    assert doc["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] > grace


def test_readme_configuration_reference_is_generated_from_the_settings() -> None:
    from scrapesched.config.reference import BEGIN, END, render

    readme = (REPO_ROOT / "README.md").read_text()
    assert BEGIN in readme and END in readme
    current = readme[readme.index(BEGIN) : readme.index(END) + len(END)] + "\n"
    assert current == render(), "run: python -m scrapesched.config.reference, and paste it into README.md"


def test_ci_runs_exactly_the_readme_test_command() -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    ci = (REPO_ROOT / ".ci" / "run").read_text()
    commands = re.findall(r"```(?:sh|bash)?\n(.*?)\n```", readme, re.S)
    test_command = next(c.strip() for c in commands if "pytest" in c)
    assert test_command in [line.strip() for line in ci.splitlines()]


def test_module_docstrings_everywhere() -> None:
    for package in ("cli", "config", "db", "locks", "scheduler", "scrapers", "scrapesched", "bench"):
        for path in (REPO_ROOT / package).rglob("*.py"):
            if "versions" in path.parts:
                continue
            text = path.read_text().lstrip()
            assert text.startswith(('"""', "'''")), f"{path} has no module docstring"


def test_help_lists_every_command_module() -> None:
    result = run_cli("--help")
    commands = {
        p.stem.replace("_", "-") for p in (REPO_ROOT / "cli" / "commands").glob("*.py") if p.stem != "__init__"
    }
    assert len(commands) >= 6
    for name in commands:
        assert name in result.stdout, name
