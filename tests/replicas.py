"""Running real ``scrapesched`` replica processes in tests: config files, start/stop/signal, and reading
back ``job_runs`` and ``canary_runs``."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

from conftest import REPO_ROOT, cli_env, scrapesched_cmd
from scrapesched.db.schema import canary_runs, job_runs

FAKETIME_LIB = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"


def faketime_available() -> bool:
    return Path(FAKETIME_LIB).exists() and shutil.which("faketime") is not None


def write_config(path: Path, body: str) -> Path:
    path.write_text(body)
    return path


@dataclass
class Replica:
    name: str
    proc: subprocess.Popen[str]
    log_path: Path

    def signal(self, sig: signal.Signals) -> None:
        self.proc.send_signal(sig)

    def wait(self, timeout: float = 60) -> int:
        return self.proc.wait(timeout=timeout)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@dataclass
class Fleet:
    """Replica processes started by one test; all killed at the end whatever happens."""

    tmp: Path
    env: dict[str, str]
    replicas: list[Replica] = field(default_factory=list)

    def start(
        self, name: str, config: Path, *, skew: str | None = None, extra_env: dict[str, str] | None = None
    ) -> Replica:
        env = dict(self.env)
        env.update(extra_env or {})
        env["SCRAPESCHED_INSTANCE_ID"] = name
        if skew:
            env["LD_PRELOAD"] = FAKETIME_LIB
            env["FAKETIME"] = skew
            env["FAKETIME_DONT_FAKE_MONOTONIC"] = "1"
            env["FAKETIME_NO_CACHE"] = "1"
        log_path = self.tmp / f"{name}.log"
        out = log_path.open("w")
        proc = subprocess.Popen(
            [*scrapesched_cmd(), "--config", str(config), "run"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=REPO_ROOT,
        )
        replica = Replica(name, proc, log_path)
        self.replicas.append(replica)
        return replica

    def stop_all(self, sig: signal.Signals = signal.SIGTERM, timeout: float = 60) -> list[int]:
        for r in self.replicas:
            if r.proc.poll() is None:
                r.proc.send_signal(sig)
        return [r.proc.wait(timeout=timeout) for r in self.replicas]

    def kill_all(self) -> None:
        for r in self.replicas:
            if r.proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(r.proc.pid, signal.SIGCONT)
                r.proc.kill()
                r.proc.wait(timeout=30)


@contextmanager
def fleet(tmp: Path, **settings: str) -> Iterator[Fleet]:
    f = Fleet(tmp, cli_env(**settings))
    try:
        yield f
    finally:
        f.kill_all()


def runs_of(engine: sa.Engine, job: str = "canary") -> list[sa.Row[object]]:
    with engine.connect() as conn:
        return list(conn.execute(sa.select(job_runs).where(job_runs.c.job_name == job).order_by(job_runs.c.id)))


def canary_rows(engine: sa.Engine) -> list[sa.Row[object]]:
    with engine.connect() as conn:
        return list(conn.execute(sa.select(canary_runs)))


def wait_for(predicate: object, timeout: float, every: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(every)
    return False
