"""Worker threads for a run that keep the run's log context.

A new thread starts with an empty ``contextvars`` context, so the job, shard, run id and fencing token the
runner bound (``structlog.contextvars``) would be missing from every line a worker logs. ``RunThreadPool``
is a ``ThreadPoolExecutor`` whose tasks run in a copy of the context of the thread that submitted them
(``submit`` and ``map`` alike), the way ``asyncio`` runs callbacks.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")


class RunThreadPool(ThreadPoolExecutor):
    """A thread pool whose tasks see the submitting thread's context variables (the run's log context)."""

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        # One copy per task: a Context can be entered by one thread at a time.
        return super().submit(partial(contextvars.copy_context().run, fn, *args, **kwargs))
