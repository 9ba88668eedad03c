"""``run-once`` stopped by SIGTERM or SIGINT, in real OS processes: the job is cancelled, its run recorded
failed, its lease released at once (the next ``run-once`` runs instead of exiting 75), one line, exit 143/130."""

from __future__ import annotations

import signal
import subprocess

import pytest
import sqlalchemy as sa

from conftest import REPO_ROOT, cli_env, run_cli, scrapesched_cmd
from replicas import runs_of, wait_for
from scrapesched import locks
from scrapesched.db.vocabulary import RunStatus
from scrapesched.scheduler.runs import lease_name


def _url(engine: sa.Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def _interrupt_a_running_canary(engine: sa.Engine, sig: signal.Signals) -> tuple[int, str]:
    """Start ``run-once canary`` sleeping 30 s, wait until its run is running, send ``sig``: (exit, stderr)."""
    proc = subprocess.Popen(
        [*scrapesched_cmd(), "run-once", "canary", "--param", "seconds=30"],
        env=cli_env(database_url=_url(engine)),
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert wait_for(
            lambda: any(r.status == RunStatus.RUNNING and r.fencing_token for r in runs_of(engine)), 30
        ), "the run never started"
        proc.send_signal(sig)
        _, stderr = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, stderr


def _message_lines(stderr: str) -> list[str]:
    """stderr without the JSON log lines."""
    return [line for line in stderr.splitlines() if line.strip() and not line.startswith("{")]


def _assert_cancelled_and_free(engine: sa.Engine, stderr: str, sig: signal.Signals) -> None:
    assert "Traceback" not in stderr
    (run,) = runs_of(engine)
    assert _message_lines(stderr) == [
        f"scrapesched: interrupted by {sig.name}: canary run {run.id} cancelled, lease released"
    ]
    assert run.status == RunStatus.FAILED and run.error == f"cancelled: interrupted by {sig.name}"
    assert run.finished_at is not None
    backend = locks.connect("table", engine=engine)
    try:
        assert backend.holder(lease_name("canary", "")) is None, "the lease was released, not left to its ttl"
    finally:
        backend.close()
    again = run_cli("run-once", "canary", "--param", "seconds=0", env=cli_env(database_url=_url(engine)))
    assert again.returncode == 0, again.stdout + again.stderr
    assert [r.status for r in runs_of(engine)] == [RunStatus.FAILED, RunStatus.SUCCEEDED]


def test_sigterm_cancels_the_run_releases_the_lease_and_exits_143(engine: sa.Engine) -> None:
    code, stderr = _interrupt_a_running_canary(engine, signal.SIGTERM)
    assert code == 143, stderr
    _assert_cancelled_and_free(engine, stderr, signal.SIGTERM)


@pytest.mark.parametrize("backend", ["postgres"])
def test_sigint_cancels_the_run_releases_the_lease_and_exits_130(engine: sa.Engine) -> None:
    code, stderr = _interrupt_a_running_canary(engine, signal.SIGINT)
    assert code == 130, stderr
    _assert_cancelled_and_free(engine, stderr, signal.SIGINT)
