"""The log context of a run: bound once by the runner, carried by every line of the run (the scrapers' and
the libraries' included, and those of the run's worker threads); nested values are JSON, redacted inside."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import structlog
from structlog.contextvars import bound_contextvars, get_contextvars
from telemetry_support import EndpointServer, telemetry_responder

from conftest import cli_env, run_cli
from replicas import runs_of, write_config
from scrapesched.config.log_setup import configure_logging
from scrapesched.config.redact import Redactor
from scrapesched.db.engine import connect_engine
from scrapesched.db.migrate import upgrade
from scrapesched.scheduler.threads import RunThreadPool

RUN_KEYS = ("job", "shard", "run_id", "instance", "trigger", "fencing_token")
SECRET = "s3cr3t-Planted-Value"


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[sa.Engine]:
    engine = connect_engine(f"sqlite:///{tmp_path}/runs.db")
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """This process's logging as JSON lines into a buffer (the planted secret registered); restored after."""
    saved, root = structlog.get_config(), logging.getLogger()
    handlers, level = root.handlers[:], root.level
    stream = io.StringIO()
    configure_logging("info", "json", Redactor([SECRET]), stream=stream)
    yield stream
    structlog.configure(**saved)
    root.handlers[:] = handlers
    root.setLevel(level)


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def run_once(engine: sa.Engine, config: Path, job: str, *extra: str) -> tuple[list[dict[str, Any]], sa.Row[Any]]:
    """``scrapesched run-once JOB`` in a new process with JSON logs: its log lines and its job_runs row."""
    env = cli_env(database_url=engine.url.render_as_string(hide_password=False), instance_id="log-test",
                  log_format="json")
    result = run_cli("--config", str(config), *extra, "run-once", job, env=env)
    assert result.returncode == 0, result.stderr
    (run,) = runs_of(engine, job)
    return json_lines(result.stderr), run


def the_run(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The lines from ``run_started`` to ``run_succeeded``."""
    events = [line["event"] for line in lines]
    return lines[events.index("run_started") : events.index("run_succeeded") + 1]


def test_every_line_of_a_run_carries_job_shard_run_id_instance_trigger_and_fencing_token(
    sqlite_engine: sa.Engine, tmp_path: Path
) -> None:
    with EndpointServer(telemetry_responder()) as server:
        config = write_config(
            tmp_path / "c.toml", f'[[telemetry.endpoints]]\nname = "api"\nurl = "{server.url}/prom/api"\n'
        )
        lines, run = run_once(sqlite_engine, config, "http_telemetry", "--log-level", "debug")
    during = the_run(lines)
    expected = {"job": "http_telemetry", "shard": "api", "run_id": run.id, "instance": "log-test",
                "trigger": "manual", "fencing_token": run.fencing_token}
    assert run.fencing_token is not None
    for line in during:
        assert {key: line.get(key) for key in RUN_KEYS} == expected, line
    loggers = {line.get("logger") for line in during}
    # The runner's lines, the job's, the telemetry buffer's flush at the end of the run (a scraper module's
    # own logger) and the database library's: all of them carry the run's context.
    assert {"scheduler.runner", "job", "scrapers.telemetry"} <= loggers, loggers
    assert any(str(name).startswith("sqlalchemy") for name in loggers), loggers
    assert "endpoint_sampled" in {line["event"] for line in during}
    after = lines[lines.index(during[-1]) + 1 :]
    assert all("run_id" not in line for line in after), "the context ends with the run"


def test_a_nested_value_is_a_json_object_in_the_line(sqlite_engine: sa.Engine, tmp_path: Path) -> None:
    lines, run = run_once(sqlite_engine, write_config(tmp_path / "c.toml", ""), "retention")
    (report,) = [line for line in lines if line["event"] == "retention_deleted"]
    assert isinstance(report["deleted"], dict) and isinstance(report["cutoffs"], dict)
    assert report["deleted"]["job_runs"] == 0 and report["total"] == 0
    assert (report["job"], report["run_id"], report["fencing_token"]) == ("retention", run.id, run.fencing_token)


def test_a_secret_inside_a_nested_value_is_redacted_and_the_structure_kept(json_log: io.StringIO) -> None:
    structlog.get_logger("test").info(
        "nested",
        detail={
            "url": f"postgresql://scraper:{SECRET}@db.example/app",
            "tokens": ["ghp_abcdefghijklmnopqrstuvwxyz0123456789", f"plain {SECRET} text"],
            "deeper": {"k": (SECRET, 3)},
            "count": 3,
            "ok": True,
            "none": None,
        },
    )
    text = json_log.getvalue()
    assert SECRET not in text and "ghp_abcdef" not in text
    (line,) = json_lines(text)
    assert line["detail"] == {
        "url": "postgresql://scraper:***@db.example/app",
        "tokens": ["***", "plain *** text"],
        "deeper": {"k": ["***", 3]},
        "count": 3,
        "ok": True,
        "none": None,
    }


def test_the_worker_threads_of_a_run_carry_its_log_context(json_log: io.StringIO) -> None:
    log = structlog.get_logger("worker")
    with RunThreadPool(max_workers=2) as pool:
        with bound_contextvars(job="github_prs", shard="acme/widgets", run_id=7):
            seen = pool.submit(get_contextvars).result()
            list(pool.map(lambda n: log.info("page_fetched", page=n), range(4)))
        outside = pool.submit(get_contextvars).result()
    assert seen == {"job": "github_prs", "shard": "acme/widgets", "run_id": 7}
    assert outside == {}
    lines = json_lines(json_log.getvalue())
    assert len(lines) == 4
    assert all((line["job"], line["shard"], line["run_id"]) == ("github_prs", "acme/widgets", 7) for line in lines)


FIRST_USE = """
import logging, sys
from scrapesched.config.log_setup import configure_logging_on_first_use, get_logger
from scrapesched.config.redact import Redactor

secret, first = sys.argv[1], sys.argv[2]
log = get_logger("ours")
configure_logging_on_first_use("info", "json", Redactor([secret]))
logging.getLogger("sqlalchemy.pool").info("below its level %s", secret)
print("structlog" in sys.modules)
if first == "library":
    logging.getLogger("apscheduler").warning("library first %s", secret)
log.info("ours", token=secret)
logging.getLogger("httpx").warning("library after %s", secret)
print("structlog" in sys.modules)
"""


@pytest.mark.parametrize("first", ["library", "ours"])
def test_logging_set_up_on_first_use_formats_and_redacts_every_line_whoever_logs_first(first: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", FIRST_USE, SECRET, first], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.split() == ["False", "True"]  # nothing imported structlog until a line was logged
    assert SECRET not in done.stderr
    lines = json_lines(done.stderr)
    events = [line["event"] for line in lines]
    expected = ["ours", "library after ***"]
    assert events == (["library first ***", *expected] if first == "library" else expected)
    assert lines[events.index("ours")]["token"] == "***"
    assert all(line["level"] in ("info", "warning") and line["timestamp"] for line in lines)


EARLY = """
import sys
from scrapesched.config.log_setup import configure_logging_on_first_use, get_logger
from scrapesched.config.redact import Redactor

early = get_logger("early")
early.debug("used before the CLI configured logging")  # below structlog's default level: nothing printed
configure_logging_on_first_use("info", "json", Redactor([sys.argv[1]]))
early.info("early", token=sys.argv[1])
"""


def test_a_logger_used_before_logging_was_configured_logs_configured_and_redacted_after() -> None:
    done = subprocess.run([sys.executable, "-c", EARLY, SECRET], capture_output=True, text=True, timeout=60, check=True)
    assert SECRET not in done.stdout + done.stderr
    assert json_lines(done.stderr)[0] | {"timestamp": "t"} == {
        "event": "early",
        "token": "***",
        "level": "info",
        "logger": "early",
        "timestamp": "t",
    }
