"""The deployment files describe the real CLI, settings and metrics: the Dockerfile, docker-compose.yml, the
Kustomize base and its example overlay, and the Grafana dashboard (no Docker engine or cluster here, so they
are checked against the code and a live replica instead of run; .ci/run adds hadolint, kubernetes-validate,
checkov and promtool)."""

from __future__ import annotations

import json
import re
import subprocess
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from packaging.requirements import Requirement

from conftest import REPO_ROOT, cli_env, run_cli, scrapesched_cmd
from replicas import wait_for, write_config
from scrapesched.config.settings import CONFIG_ENV, ENV_PREFIX, SECRETS_DIR_ENV, environment_variables, load_settings
from scrapesched.testing.local_servers import free_port

DOCKERFILE = (REPO_ROOT / "Dockerfile").read_text()
PYPROJECT = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
KUSTOMIZE = REPO_ROOT / "deploy" / "kubernetes"
BASE = [doc for path in sorted((KUSTOMIZE / "base").glob("*.yaml")) for doc in yaml.safe_load_all(path.read_text())]
OVERLAY = KUSTOMIZE / "overlays" / "example"
COMPOSE = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
DASHBOARD = json.loads((REPO_ROOT / "deploy" / "grafana" / "scrapesched.json").read_text())
# Variables that are not settings but are read at start-up: the config file and the secrets directory.
BOOTSTRAP_ENV = {CONFIG_ENV, SECRETS_DIR_ENV}
IMAGE = "scrapesched:0.1.0"


def _setting_env(name: str) -> bool:
    return name in environment_variables() or name in BOOTSTRAP_ENV


# ---- Dockerfile ------------------------------------------------------------------------------------------


def _instructions(name: str) -> list[str]:
    joined = re.sub(r"\\\n\s*", " ", DOCKERFILE)
    return [line.split(None, 1)[1] for line in joined.splitlines() if line.upper().startswith(name + " ")]


def _docker_env() -> dict[str, str]:
    return {k: v for item in _instructions("ENV") for k, v in re.findall(r"(\w+)=(\S+)", item)}


def test_dockerfile_base_is_a_supported_slim_python_pinned_by_tag_and_digest() -> None:
    stages = [item.split()[0] for item in _instructions("FROM")]
    assert len(stages) >= 2 and len(set(stages)) == 1, stages  # multi-stage, one base
    match = re.fullmatch(r"python:3\.(\d+)\.\d+-slim-bookworm@sha256:[0-9a-f]{64}", stages[0])
    assert match, stages[0]
    assert int(match.group(1)) >= int(PYPROJECT["project"]["requires-python"].split(".")[1])


def test_dockerfile_runs_as_a_non_root_user_with_a_healthcheck_on_healthz() -> None:
    users = _instructions("USER")
    assert users and users[-1].strip() not in ("root", "0")
    (check,) = _instructions("HEALTHCHECK")
    assert "/healthz" in check and "SCRAPESCHED_HTTP_PORT" in check


def test_dockerfile_entrypoint_is_the_console_script_and_cmd_a_real_command() -> None:
    (entry,) = _instructions("ENTRYPOINT")
    assert json.loads(entry) == ["scrapesched"]
    assert "scrapesched" in PYPROJECT["project"]["scripts"]
    (cmd,) = _instructions("CMD")
    assert run_cli(*json.loads(cmd), "--help").returncode == 0


def test_dockerfile_copies_every_package_and_the_dockerignore_lets_them_through() -> None:
    copied = set()
    for item in _instructions("COPY"):
        words = [w for w in item.split() if not w.startswith("--")]
        if "--from=" not in item:
            copied |= set(words[:-1])
    for src in copied:
        assert (REPO_ROOT / src).exists(), src
    package = REPO_ROOT / "scrapesched"
    linked = {p.readlink().name for p in package.iterdir() if p.is_symlink()}
    assert {"scrapesched", "constraints.txt", "LICENSE", *linked} <= copied
    allowed = {line.strip("!/") for line in (REPO_ROOT / ".dockerignore").read_text().splitlines() if line[:1] == "!"}
    assert copied <= allowed, copied - allowed


def test_constraints_pin_every_dependency_within_the_declared_bounds() -> None:
    pins = {}
    for line in (REPO_ROOT / "constraints.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, version = line.split("==")
            pins[re.sub(r"[-_.]+", "-", name.lower())] = version
    project = PYPROJECT["project"]
    extras = [d for e in ("mysql", "postgres", "redis") for d in project["optional-dependencies"][e]]
    declared = project["dependencies"] + extras
    for spec in map(Requirement, declared):
        name = re.sub(r"[-_.]+", "-", spec.name.lower())
        assert name in pins, f"{name} is not pinned in constraints.txt"
        assert spec.specifier.contains(pins[name]), f"{name}=={pins[name]} is outside {spec.specifier}"


def test_dockerfile_environment_names_real_settings_and_is_valid() -> None:
    settings_env = {k: v for k, v in _docker_env().items() if k.startswith(ENV_PREFIX)}
    for key in settings_env:
        assert _setting_env(key), key
    result = run_cli("jobs", env=cli_env(**{k[len(ENV_PREFIX) :].lower(): v for k, v in settings_env.items()}))
    assert result.returncode == 0, result.stderr
    (exposed,) = _instructions("EXPOSE")
    assert exposed.strip() == settings_env["SCRAPESCHED_HTTP_PORT"]


def test_packaging_metadata_has_an_spdx_license_and_the_license_file() -> None:
    assert PYPROJECT["project"]["license"] == "Apache-2.0"
    assert "Apache License" in (REPO_ROOT / "LICENSE").read_text()[:200]


# ---- Kubernetes --------------------------------------------------------------------------------------------


def _kind(kind: str) -> dict[str, Any]:
    (doc,) = [d for d in BASE if d["kind"] == kind]
    return doc


def _pod() -> dict[str, Any]:
    return dict(_kind("Deployment")["spec"]["template"]["spec"])


def _secret_keys() -> set[str]:
    lines = (OVERLAY / "secrets.example.env").read_text().splitlines()
    return {line.split("=", 1)[0] for line in lines if line.strip() and not line.startswith("#")}


@pytest.mark.parametrize("which", ["initContainers", "containers"])
def test_manifest_containers_run_real_commands_with_real_settings(which: str) -> None:
    for container in _pod()[which]:
        args = list(container["args"])
        if args[:1] == ["--config"]:
            args = args[2:]
        assert run_cli(*args, "--help").returncode == 0, args
        for item in container.get("env", []):
            assert _setting_env(item["name"]), item["name"]
    for key in _secret_keys():  # each key is a file in /run/secrets, read as the variable of that name
        assert _setting_env(key), key


def test_migrations_run_as_an_init_container_before_the_replicas() -> None:
    (init,) = _pod()["initContainers"]
    assert init["args"] == ["migrate"]
    assert "Job" not in {d["kind"] for d in BASE}


def test_a_pod_without_the_database_url_exits_with_one_line_instead_of_using_sqlite(tmp_path: Path) -> None:
    (container,) = _pod()["containers"]
    env = {e["name"]: e["value"] for e in container["env"] if "value" in e}
    assert env["SCRAPESCHED_REQUIRE_DATABASE_URL"] == "true"
    secrets = tmp_path / "secrets"  # the Secret mounted without SCRAPESCHED_DATABASE_URL
    secrets.mkdir()
    (secrets / "GITHUB_TOKEN").write_text("ghp_example\n")
    config = write_config(tmp_path / "c.toml", (OVERLAY / "scrapesched.toml").read_text())
    settings = {k[len(ENV_PREFIX) :].lower(): v for k, v in env.items()}
    result = run_cli("--config", str(config), "run", env=cli_env(**settings, secrets_dir=str(secrets)), timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "scrapesched: error: SCRAPESCHED_DATABASE_URL is not set but SCRAPESCHED_REQUIRE_DATABASE_URL is: refusing"
        " to run on the embedded SQLite default (give the URL in the environment, a secret file or the config file)"
    ]
    assert not list(tmp_path.glob("*.db")) and not (REPO_ROOT / "scrapesched.db").exists()


def test_manifest_probes_grace_period_resources_and_security_match_the_server() -> None:
    deployment = _kind("Deployment")
    pod = _pod()
    (container,) = pod["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    port = int(env["SCRAPESCHED_HTTP_PORT"])
    assert container["ports"][0]["containerPort"] == port
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
    grace = load_settings(shutdown_grace=env["SCRAPESCHED_SHUTDOWN_GRACE"]).shutdown_grace
    assert pod["terminationGracePeriodSeconds"] > grace
    assert deployment["spec"]["replicas"] == 3
    assert pod["topologySpreadConstraints"][0]["topologyKey"] == "kubernetes.io/hostname"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    for c in pod["containers"] + pod["initContainers"]:
        sc = c["securityContext"]
        assert sc["allowPrivilegeEscalation"] is False and sc["readOnlyRootFilesystem"] is True
        assert sc["capabilities"]["drop"] == ["ALL"]
        assert set(c["resources"]["requests"]) == set(c["resources"]["limits"]) == {"cpu", "memory"}
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert "/run/secrets" in mounts and "/etc/scrapesched" in mounts
    assert {"PodDisruptionBudget", "Service", "PodMonitor", "NetworkPolicy"} <= {d["kind"] for d in BASE}
    assert _kind("Service")["spec"]["ports"][0]["port"] == port


def test_example_overlay_schedule_is_valid_for_the_real_cli() -> None:
    result = run_cli("--config", str(OVERLAY / "scrapesched.toml"), "jobs")
    assert result.returncode == 0, result.stderr
    kustomization = yaml.safe_load((OVERLAY / "kustomization.yaml").read_text())
    assert kustomization["configMapGenerator"][0]["name"] == "scrapesched-config"
    assert kustomization["images"][0]["digest"].startswith("sha256:")
    assert {"SCRAPESCHED_DATABASE_URL", "SCRAPESCHED_LOCK_URL", "GITHUB_TOKEN"} <= _secret_keys()


# ---- docker compose ----------------------------------------------------------------------------------------


def _ours(service: dict[str, Any]) -> bool:
    return bool(service.get("image") == IMAGE)


def test_compose_commands_environment_and_ports_match_the_real_cli_and_settings() -> None:
    services = COMPOSE["services"]
    ours = {name: s for name, s in services.items() if _ours(s) and "entrypoint" not in s}
    assert {"migrate", "scrapesched"} <= set(ours)
    for name, service in ours.items():
        args = list(service["command"])
        if args[:1] == ["--config"]:
            mount = next(v for v in service["volumes"] if v.split(":")[1] == args[1])
            assert (REPO_ROOT / mount.split(":")[0]).is_file(), mount
            assert run_cli("--config", str(REPO_ROOT / mount.split(":")[0]), "jobs").returncode == 0
            args = args[2:]
        assert run_cli(*args, "--help").returncode == 0, (name, args)
        for key in service["environment"]:
            assert _setting_env(key), (name, key)
    replicas = services["scrapesched"]
    assert replicas["deploy"]["replicas"] == 3
    port = replicas["environment"]["SCRAPESCHED_HTTP_PORT"]
    assert replicas["ports"] == [port]
    assert f":{port}/readyz" in " ".join(replicas["healthcheck"]["test"])
    assert replicas["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert services["migrate"]["depends_on"]["mariadb"]["condition"] == "service_healthy"
    assert services["mariadb"]["healthcheck"] and services["redis"]["healthcheck"]


def test_compose_demo_profile_runs_the_fake_github_with_arguments_it_accepts() -> None:
    fake = COMPOSE["services"]["fake-github"]
    assert fake["profiles"] == ["demo"]
    from scrapesched.testing.fake_github.__main__ import _parse_args

    args = _parse_args(fake["command"])
    url = COMPOSE["services"]["scrapesched"]["environment"]["SCRAPESCHED_GITHUB_API_URL"]
    assert args.public_url in url and args.host == "0.0.0.0"
    assert fake["entrypoint"][:3] == ["python", "-m", "scrapesched.testing.fake_github"]


def test_compose_secrets_come_from_an_uncommitted_env_file_with_a_committed_example() -> None:
    text = (REPO_ROOT / "docker-compose.yml").read_text()
    used = set(re.findall(r"\$\{(\w+)", text))
    example = {line.split("=", 1)[0] for line in (REPO_ROOT / ".env.example").read_text().splitlines()
               if line.strip() and not line.startswith("#")}
    assert used <= example, used - example
    assert ".env" in (REPO_ROOT / ".gitignore").read_text().splitlines()
    for service in COMPOSE["services"].values():  # no literal secret in the file
        for key, value in dict(service.get("environment") or {}).items():
            if re.search("PASSWORD|TOKEN", key):
                assert str(value).startswith("${"), key


# ---- the dashboard names real metrics ----------------------------------------------------------------------

PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool",
                "offset", "le", "inf", "nan"}
PROMETHEUS_OWN = {"up"}  # series Prometheus itself records for every target


def promql_metric_names(expr: str) -> set[str]:
    """The metric names an expression reads: identifiers that are not functions, keywords, label matchers,
    grouping labels, strings or durations."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', "", expr)
    text = re.sub(r"\{[^}]*\}", "", text)
    text = re.sub(r"\[[^\]]*\]", "", text)
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", text)
    names = set()
    for match in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", text):
        following = text[match.end() :].lstrip()[:1]
        if following != "(" and match.group().lower() not in PROMQL_WORDS:
            names.add(match.group())
    return names


def test_promql_metric_names_are_found() -> None:
    expr = 'histogram_quantile(0.95, sum by (job_name, le) (rate(x_bucket{a="b(c)"}[5m]))) / on (i) group_left () y'
    assert promql_metric_names(expr) == {"x_bucket", "y"}


@pytest.fixture(scope="module")
def live_metrics(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The /metrics text of a real replica that has run the canary."""
    tmp = tmp_path_factory.mktemp("replica")
    port = free_port()
    env = cli_env(database_url=f"sqlite:///{tmp / 'r.db'}", http_port=str(port), http_host="127.0.0.1")
    assert run_cli("migrate", env=env).returncode == 0
    config = write_config(tmp / "c.toml", '[jobs.canary]\ninterval = "1s"\n')
    proc = subprocess.Popen([*scrapesched_cmd(), "--config", str(config), "run"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/metrics"

    def scraped() -> str | None:
        try:
            text = httpx.get(url, timeout=2).text
        except httpx.TransportError:
            return None
        return text if 'scrapesched_runs_total{job_name="canary",status="succeeded"}' in text else None

    try:
        assert wait_for(lambda: scraped() is not None, 90)
        yield scraped() or ""
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def test_every_dashboard_query_names_a_metric_a_live_replica_exports(live_metrics: str) -> None:
    exported = set(re.findall(r"^# TYPE (\S+)", live_metrics, re.M))
    exported |= set(re.findall(r"^([A-Za-z_:][A-Za-z0-9_:]*)[ {]", live_metrics, re.M))
    queries = [t["expr"] for panel in DASHBOARD["panels"] for t in panel["targets"]]
    assert len(queries) >= 10
    for expr in queries:
        names = promql_metric_names(expr)
        assert names, expr
        assert names - PROMETHEUS_OWN <= exported, (expr, names - exported)
    rules = yaml.safe_load((REPO_ROOT / "deploy" / "prometheus" / "rules.yml").read_text())
    recorded = {r["record"] for g in rules["groups"] for r in g["rules"] if "record" in r}
    for rule in (r for g in rules["groups"] for r in g["rules"]):
        names = promql_metric_names(rule["expr"]) - {"time", "vector"}
        assert names - PROMETHEUS_OWN - recorded <= exported, (rule, names - exported)


# ---- README and CI -----------------------------------------------------------------------------------------


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
