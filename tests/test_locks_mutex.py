"""Mutual exclusion under contention: 8 OS processes x 200 acquisitions of one name on every backend, and an
overlap detector over the holding intervals (recorded on CLOCK_MONOTONIC, which all processes share).

The 8 processes are forked by one worker process after its imports, each with its own connections."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from lock_helpers import SERVER_ENVS, WORKER, lock_env, overlaps, unique_name

from conftest import REPO_ROOT, cli_env

PROCESSES = 8
ACQUISITIONS = 200
HOLD_MS = 0.5


@pytest.mark.slow
@pytest.mark.parametrize("kind", SERVER_ENVS)
def test_eight_processes_never_hold_one_name_at_once(kind: str, tmp_path: Path) -> None:
    with lock_env(kind, tmp_path) as env:
        environ = cli_env()
        environ["PYTHONPATH"] = str(REPO_ROOT)
        args = [env.lock_url, env.db_url, unique_name("mutex"), str(PROCESSES), str(ACQUISITIONS), str(HOLD_MS)]
        done = subprocess.run(
            [sys.executable, str(WORKER), "mutex", *args, str(tmp_path)],
            env=environ,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert done.returncode == 0, done.stderr[-3000:]

    holdings = [json.loads(line) for path in tmp_path.glob("w*.jsonl") for line in path.read_text().splitlines()]
    assert len(holdings) == PROCESSES * ACQUISITIONS
    intervals = [(h["start"], h["end"], h["holder"]) for h in holdings]
    assert overlaps(intervals) == []
    tokens = [h["token"] for h in sorted(holdings, key=lambda h: h["start"])]
    assert all(a < b for a, b in itertools.pairwise(tokens)), "tokens must grow with every holder"


def test_eight_threads_never_hold_one_memory_name_at_once(tmp_path: Path) -> None:
    with lock_env("memory", tmp_path) as env:
        backend = env.connect("threads")
        name = unique_name("mutex")
        intervals: list[tuple[float, float, str]] = []
        tokens: list[tuple[float, int]] = []

        def work(who: str) -> None:
            for _ in range(ACQUISITIONS):
                lease = backend.acquire(name, 10, wait=60)
                assert lease is not None
                start = time.monotonic()
                time.sleep(0.0002)
                end = time.monotonic()
                lease.release()
                intervals.append((start, end, who))
                tokens.append((start, lease.token))

        threads = [threading.Thread(target=work, args=(f"t{i}",)) for i in range(PROCESSES)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        backend.close()
    assert len(intervals) == PROCESSES * ACQUISITIONS
    assert overlaps(intervals) == []
    ordered = [token for _, token in sorted(tokens)]
    assert ordered == sorted(set(ordered))
