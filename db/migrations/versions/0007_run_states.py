"""The run state machine in the schema (issue 12): ``job_runs.finished_at`` is set exactly when the run is
no longer ``running`` (CHECK ``ck_job_runs_finished``). Transitions themselves are conditional UPDATEs
that name the status they expect (``scheduler/runs.py``; the states are in docs/scheduler.md).

Rows that break the rule (a run ended by an older version without ``finished_at``) are repaired first:
their ``finished_at`` becomes their last heartbeat or start.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FINISHED = sa.or_(
    sa.and_(sa.column("status") == "running", sa.column("finished_at").is_(None)),
    sa.and_(sa.column("status") != "running", sa.column("finished_at").is_not(None)),
)


def upgrade() -> None:
    op.execute(sa.text(
        "UPDATE job_runs SET finished_at = COALESCE(heartbeat_at, started_at) "
        "WHERE status <> 'running' AND finished_at IS NULL"
    ))
    op.execute(sa.text("UPDATE job_runs SET finished_at = NULL WHERE status = 'running' AND finished_at IS NOT NULL"))
    if op.get_context().dialect.name == "sqlite":
        with op.batch_alter_table("job_runs", recreate="always") as batch_op:
            batch_op.create_check_constraint(op.f("ck_job_runs_finished"), FINISHED)
        return
    op.create_check_constraint(op.f("ck_job_runs_finished"), "job_runs", FINISHED)


def downgrade() -> None:
    if op.get_context().dialect.name == "sqlite":
        with op.batch_alter_table("job_runs", recreate="always") as batch_op:
            batch_op.drop_constraint(op.f("ck_job_runs_finished"), type_="check")
        return
    op.drop_constraint(op.f("ck_job_runs_finished"), "job_runs", type_="check")
