"""The heartbeat of a replica's running runs: ONE thread per runner refreshes every running run's row
(``heartbeat_at``) every ``ttl / 3``, instead of a thread started for each fire.

- Each run is beaten in a copy of the log context it was added from, so its lines carry the run's job,
  shard, run id and fencing token, as a thread of its own would.
- Beats run one after another. Each is one short transaction, bounded by the database's lock timeout and
  the connection's timeouts, and every run of a replica talks to the same database: when one beat is slow
  the others would be too.
- ``discard`` returns only once a beat of that run in flight has ended, so a run is never beaten after its
  completion was written.
- The thread starts with the first run and ends after ``LINGER_S`` with no run to beat, so a replica firing
  every few seconds keeps one thread and an idle one has none.
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from scrapesched.config.log_setup import get_logger

log = get_logger("scheduler")

LINGER_S = 60.0


@dataclass
class _Beating:
    beat: Callable[[], bool]  # one heartbeat; False: stop beating this run
    every: float
    due: float
    context: contextvars.Context


class RunHeartbeats:
    """Calls each added run's ``beat`` every ``every`` seconds (after the previous one ended) until it returns
    False or the run is discarded."""

    def __init__(self, label: str = "run-heartbeats") -> None:
        self.label = label
        self._cond = threading.Condition()
        self._runs: dict[int, _Beating] = {}
        self._busy: int | None = None  # the run whose beat is in flight
        self._thread_alive = False

    def add(self, run_id: int, every: float, beat: Callable[[], bool]) -> None:
        """Beat ``run_id`` every ``every`` seconds from now on, in a copy of the caller's context."""
        entry = _Beating(beat, every, time.monotonic() + every, contextvars.copy_context())
        with self._cond:
            self._runs[run_id] = entry
            if not self._thread_alive:
                self._thread_alive = True
                threading.Thread(target=self._loop, name=self.label, daemon=True).start()
            else:
                self._cond.notify_all()

    def discard(self, run_id: int) -> None:
        """Stop beating ``run_id``; waits for its beat in flight, if any, to end."""
        with self._cond:
            self._runs.pop(run_id, None)
            while self._busy == run_id:
                self._cond.wait()

    def beating(self) -> list[int]:
        """The runs beaten now."""
        with self._cond:
            return sorted(self._runs)

    def _loop(self) -> None:
        with self._cond:
            idle_since: float | None = None
            while True:
                now = time.monotonic()
                if not self._runs:
                    idle_since = now if idle_since is None else idle_since
                    if now - idle_since >= LINGER_S:
                        self._thread_alive = False
                        return
                    self._cond.wait(LINGER_S - (now - idle_since))
                    continue
                idle_since = None
                run_id, entry = min(self._runs.items(), key=lambda item: item[1].due)
                if entry.due > now:
                    self._cond.wait(entry.due - now)
                    continue
                self._busy = run_id
                self._cond.release()
                try:
                    keep = entry.context.run(entry.beat)
                except Exception as exc:  # a beat handles its own errors; this keeps the thread for the others
                    log.warning("heartbeat_failed", run_id=run_id, error_type=type(exc).__name__)
                    keep = True
                finally:
                    self._cond.acquire()
                    self._busy = None
                    self._cond.notify_all()
                if self._runs.get(run_id) is entry:
                    if keep:
                        entry.due = time.monotonic() + entry.every
                    else:
                        del self._runs[run_id]
