"""Issue 16, "cheap per fire": a replica keeps its running runs alive from ONE heartbeat thread, not a thread
started per fire; every run is still beaten at its own period, in its own log context, and never after it
was discarded (its completion written)."""

from __future__ import annotations

import threading
import time

import structlog
from structlog.contextvars import bound_contextvars

from scrapesched.scheduler.heartbeats import RunHeartbeats


def test_runs_are_beaten_at_their_periods_by_one_thread_in_their_log_context() -> None:
    beats: dict[int, list[tuple[float, str, object]]] = {1: [], 2: []}
    heartbeats = RunHeartbeats()

    def beat(run_id: int) -> bool:
        run = structlog.contextvars.get_contextvars().get("run_id")
        beats[run_id].append((time.monotonic(), threading.current_thread().name, run))
        return True

    before = threading.active_count()
    for run_id, every in ((1, 0.05), (2, 0.15)):
        with bound_contextvars(run_id=run_id):
            heartbeats.add(run_id, every, lambda run_id=run_id: beat(run_id))
    assert threading.active_count() == before + 1  # one thread for both runs
    deadline = time.monotonic() + 10
    while len(beats[2]) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    heartbeats.discard(1)
    heartbeats.discard(2)
    assert len(beats[2]) >= 3 and len(beats[1]) >= len(beats[2])  # each at its own period, not a shared one
    assert {name for entries in beats.values() for _, name, _ in entries} == {"run-heartbeats"}
    assert all(run == run_id for run_id, entries in beats.items() for _, _, run in entries)


def test_a_discarded_run_is_never_beaten_again_even_with_a_beat_in_flight() -> None:
    heartbeats = RunHeartbeats()
    entered, release = threading.Event(), threading.Event()
    calls: list[float] = []

    def slow_beat() -> bool:
        calls.append(time.monotonic())
        entered.set()
        release.wait(5)
        return True

    heartbeats.add(7, 0.01, slow_beat)
    assert entered.wait(5)
    done = threading.Event()
    threading.Thread(target=lambda: (heartbeats.discard(7), done.set())).start()
    assert not done.wait(0.2)  # discard waits for the beat in flight
    release.set()
    assert done.wait(5)
    seen = len(calls)
    time.sleep(0.1)
    assert len(calls) == seen and heartbeats.beating() == []


def test_a_beat_that_returns_false_ends_that_run_only() -> None:
    heartbeats = RunHeartbeats()
    counts = {"done": 0, "alive": 0}

    def done() -> bool:
        counts["done"] += 1
        return False

    def alive() -> bool:
        counts["alive"] += 1
        return True

    heartbeats.add(1, 0.02, done)
    heartbeats.add(2, 0.02, alive)
    deadline = time.monotonic() + 10
    while counts["alive"] < 5 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert counts["done"] == 1 and counts["alive"] >= 5 and heartbeats.beating() == [2]
    heartbeats.discard(2)
