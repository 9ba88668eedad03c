"""Which fires lie between two instants: the scheduler's bookkeeping of fires it did not run itself (catch-up
at start-up, fires APScheduler coalesced away) depends on it. Seen in the chaos suite: a replica restarted
after a SIGKILL caught up at 22:31:52.8 and fired first at 22:31:54, and the interval fire of 22:31:53 in
between got no run row, because the enumeration started from an instant that was not a fire."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from scrapesched.config.settings import load_settings
from scrapesched.scheduler import canary
from scrapesched.scheduler.plan import PlannedJob, build_plan
from scrapesched.scheduler.registry import Registry

T = datetime(2026, 12, 1, 22, 31, 50, tzinfo=UTC)


def planned(**schedule: str) -> PlannedJob:
    settings = load_settings(jobs={"canary": schedule})
    return {p.name: p for p in build_plan(settings, Registry([canary.SPEC]))}["canary"]


@pytest.mark.parametrize(
    ("schedule", "step"), [({"interval": "1s"}, timedelta(seconds=1)), ({"cron": "* * * * *"}, timedelta(minutes=1))]
)
def test_fires_between_instants_that_are_not_fires_are_the_nominal_ones(
    schedule: dict[str, str], step: timedelta
) -> None:
    job = planned(**schedule)
    start = T.replace(minute=0, second=0) + step * 0.8  # not a fire
    assert job.fires_between(start, T.replace(minute=0, second=0) + step * 3) == [
        T.replace(minute=0, second=0) + step * k for k in (1, 2, 3)
    ]
    first = T.replace(minute=0, second=0)
    assert job.fires_between(first, first + step * 2) == [first + step, first + step * 2]  # from a fire: after it
    assert job.fires_between(first + step * 2, first + step * 2) == []
