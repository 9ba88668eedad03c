"""Real ``scrapesched`` processes for tests, benchmarks and ``scrapesched demo``: the command line, the
environment a replica gets, and a :class:`Fleet` of ``scrapesched run`` replicas with one log file each,
to signal (SIGTERM, SIGSTOP/SIGCONT, SIGKILL), stop and kill.

Replicas run ``python -m scrapesched`` with the interpreter running the caller, so they use the same
installation. Their environment is the caller's without any ``SCRAPESCHED_*`` variable, plus the settings
given (``replica_env(database_url=...)`` sets ``SCRAPESCHED_DATABASE_URL``): nothing leaks in from the
shell that started the tests.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

ENV_PREFIX = "SCRAPESCHED_"
FAKETIME_LIB = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"


def scrapesched_command(*args: str) -> list[str]:
    """``scrapesched ARGS`` run by this interpreter (``python -m scrapesched ARGS``)."""
    return [sys.executable, "-m", "scrapesched", *args]


def replica_env(
    base: Mapping[str, str] | None = None, drop: Collection[str] = (), /, **settings: str
) -> dict[str, str]:
    """``base`` (default: this process's environment) without ``SCRAPESCHED_*`` variables and the names in
    ``drop``, plus ``SCRAPESCHED_<NAME>`` for each setting and unbuffered Python output."""
    source = os.environ if base is None else base
    env = {k: v for k, v in source.items() if not k.startswith(ENV_PREFIX) and k not in drop}
    env.update({ENV_PREFIX + k.upper(): v for k, v in settings.items()})
    env["PYTHONUNBUFFERED"] = "1"
    return env


def faketime_available() -> bool:
    """Whether libfaketime is installed (a replica can then run with a skewed clock)."""
    return Path(FAKETIME_LIB).exists() and shutil.which("faketime") is not None


def skewed_clock_env(skew: str) -> dict[str, str]:
    """Environment variables that run a process under libfaketime, its clock off by ``skew`` (``"+2s"``)."""
    return {
        "LD_PRELOAD": FAKETIME_LIB,
        "FAKETIME": skew,
        "FAKETIME_DONT_FAKE_MONOTONIC": "1",
        "FAKETIME_NO_CACHE": "1",
    }


def wait_until(predicate: Callable[[], object], timeout: float, every: float = 0.2) -> bool:
    """Poll ``predicate`` every ``every`` seconds until it is true (True) or ``timeout`` has passed (its
    last answer)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(every)
    return bool(predicate())


@dataclass
class Replica:
    """One ``scrapesched run`` process and its log file (stdout and stderr)."""

    name: str
    proc: subprocess.Popen[bytes]
    log_path: Path

    def signal(self, sig: signal.Signals) -> None:
        self.proc.send_signal(sig)

    def running(self) -> bool:
        return self.proc.poll() is None

    def wait(self, timeout: float = 60) -> int:
        return self.proc.wait(timeout=timeout)

    def kill(self) -> None:
        """SIGKILL (after SIGCONT, in case it was stopped) and reap it."""
        if self.running():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, signal.SIGCONT)
            self.proc.kill()
        self.proc.wait(timeout=30)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def started(self) -> bool:
        """Whether its scheduler has logged that it started."""
        return "scheduler_started" in self.log()


class Fleet:
    """Replicas of ``scrapesched run`` sharing one environment, logging to ``workdir/<name>.log``.

    ``config``: the config file every replica gets (unless :meth:`start` names another); ``cwd``: their
    working directory (default: the caller's). Used as a context manager, it stops every replica at the
    end (SIGTERM, then SIGKILL after ``stop_timeout`` seconds).
    """

    def __init__(
        self,
        workdir: Path,
        env: Mapping[str, str],
        *,
        config: Path | None = None,
        cwd: Path | None = None,
        stop_timeout: float = 30.0,
    ) -> None:
        self.workdir, self.env, self.config, self.cwd = workdir, dict(env), config, cwd
        self.stop_timeout = stop_timeout
        self.replicas: list[Replica] = []

    def start(
        self,
        name: str,
        config: Path | None = None,
        *,
        args: Sequence[str] = (),
        extra_env: Mapping[str, str] | None = None,
        skew: str | None = None,
    ) -> Replica:
        """Start replica ``name`` (``SCRAPESCHED_INSTANCE_ID``); ``args`` follow ``run``; ``skew`` runs it
        under libfaketime with its clock off by that much."""
        config = config or self.config
        env = {**self.env, **(extra_env or {}), ENV_PREFIX + "INSTANCE_ID": name}
        if skew:
            env.update(skewed_clock_env(skew))
        options = ["--config", str(config)] if config is not None else []
        log_path = self.workdir / f"{name}.log"
        with log_path.open("wb") as out:
            proc = subprocess.Popen(
                scrapesched_command(*options, "run", *args),
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.cwd,
            )
        replica = Replica(name, proc, log_path)
        self.replicas.append(replica)
        return replica

    def by_name(self, name: str) -> Replica:
        return next(r for r in self.replicas if r.name == name)

    def exited(self) -> list[Replica]:
        """The replicas whose process has ended."""
        return [r for r in self.replicas if not r.running()]

    def stop_all(self, sig: signal.Signals = signal.SIGTERM, timeout: float = 60) -> list[int]:
        """Send ``sig`` to every running replica and wait for all; their exit codes, in start order
        (``subprocess.TimeoutExpired`` if one does not end within ``timeout``)."""
        for r in self.replicas:
            if r.running():
                r.signal(sig)
        return [r.wait(timeout) for r in self.replicas]

    def close(self) -> None:
        """SIGTERM every running replica; SIGKILL those still running ``stop_timeout`` seconds later."""
        for r in self.replicas:
            if r.running():
                r.signal(signal.SIGTERM)
        for r in self.replicas:
            try:
                r.wait(self.stop_timeout)
            except subprocess.TimeoutExpired:
                r.kill()

    def kill_all(self) -> None:
        """SIGKILL every replica still running."""
        for r in self.replicas:
            r.kill()

    def __enter__(self) -> Fleet:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
