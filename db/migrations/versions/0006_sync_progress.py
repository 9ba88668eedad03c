"""Resumable GitHub sync (issue 11): the ``deferred`` run status, a run's progress line, and the token an
ETag belongs to.

- ``job_runs.status`` may be ``deferred``: the run stopped cleanly because its GitHub budget was spent, the
  next fire continues from the cursor (the CHECK constraint is replaced; SQLite copies the table);
- ``job_runs.progress``: the last progress line a running sync reported (items done, estimate, cursor);
- ``http_etags.token_key``: a fingerprint of the token whose request got the ETag (GitHub binds ETags to
  the token): the validator is sent as ``If-None-Match`` only with that token, else ``If-Modified-Since``.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_STATUSES = ("running", "succeeded", "failed", "abandoned", "skipped")
NEW_STATUSES = (*OLD_STATUSES, "deferred")


def _status_check(statuses: tuple[str, ...]) -> None:
    condition = sa.column("status").in_(statuses)
    if op.get_context().dialect.name == "sqlite":
        with op.batch_alter_table("job_runs", recreate="always") as batch_op:
            batch_op.drop_constraint(op.f("ck_job_runs_status"), type_="check")
            batch_op.create_check_constraint(op.f("ck_job_runs_status"), condition)
        return
    op.drop_constraint(op.f("ck_job_runs_status"), "job_runs", type_="check")
    op.create_check_constraint(op.f("ck_job_runs_status"), "job_runs", condition)


def upgrade() -> None:
    with op.batch_alter_table("job_runs") as batch_op:
        batch_op.add_column(sa.Column("progress", sa.Text(), nullable=True))
    with op.batch_alter_table("http_etags") as batch_op:
        batch_op.add_column(sa.Column("token_key", sa.String(length=32), nullable=True))
    _status_check(NEW_STATUSES)


def downgrade() -> None:
    op.execute(sa.text("UPDATE job_runs SET status = 'failed' WHERE status = 'deferred'"))
    _status_check(OLD_STATUSES)
    with op.batch_alter_table("http_etags") as batch_op:
        batch_op.drop_column("token_key")
    with op.batch_alter_table("job_runs") as batch_op:
        batch_op.drop_column("progress")
