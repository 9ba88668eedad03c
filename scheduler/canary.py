"""The built-in ``canary`` job: records that it ran (in ``canary_runs``) and sleeps.

Used to check a deployment, in tests and in the demo: ``canary_runs.executions`` counts how often the
job's body ran for one fire, so "exactly once" can be checked from the database alone. Its record is its
final write: it commits with the run's ``succeeded`` completion.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from scrapesched.scheduler.registry import JobSpec, Param

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from scrapesched.scheduler.context import RunContext


class CanaryFailure(Exception):
    """The canary was asked to fail."""


def run(ctx: RunContext) -> None:
    # Imported when the job runs: listing jobs (``jobs``, ``status``) imports only this module's ``SPEC``.
    from scrapesched.db.clock import db_now
    from scrapesched.db.schema import canary_runs
    from scrapesched.db.upsert import upsert

    seconds, hold = float(ctx.params["seconds"]), float(ctx.params["hold"])
    if seconds > 0:
        ctx.sleep(seconds)
    if ctx.params["fail"]:
        raise CanaryFailure("canary asked to fail (fail = true)")

    def record(conn: Connection) -> None:
        row = {
            "shard": ctx.shard,
            "scheduled_for": ctx.scheduled_for,
            "trigger": ctx.trigger,
            "owner": ctx.owner,
            "executions": 1,
            "ran_at": ctx.scheduled_for,
        }
        upsert(conn, canary_runs, [row], increment=["executions"])
        if hold > 0:  # tests: the window between the write and the completion, made wide enough to aim at
            ctx.log.info("canary_write_pending", hold_s=hold)
            time.sleep(hold)
        conn.execute(
            canary_runs.update()
            .where(
                canary_runs.c.shard == ctx.shard,
                canary_runs.c.scheduled_for == ctx.scheduled_for,
                canary_runs.c.trigger == ctx.trigger,
            )
            .values(ran_at=db_now())
        )

    # The record and the run's completion commit together: a fire's body takes effect exactly once.
    ctx.transaction(record, what="canary record", final=True, rows=lambda _: 1)


SPEC = JobSpec(
    name="canary",
    run="scrapesched.scheduler.canary:run",
    description="Records its run and sleeps: checks a deployment end to end.",
    interval=60.0,
    lease_ttl=30.0,
    params={
        "seconds": Param(float, 0.0, "how long to sleep"),
        "fail": Param(bool, False, "raise an error at the end"),
        "hold": Param(
            float, 0.0, "tests: seconds to hold the final transaction open after the record, before the completion"
        ),
    },
)
