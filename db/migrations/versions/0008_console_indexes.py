"""Indexes the web console (issue 15) needs to stay fast with a long ``job_runs`` history:

- ``ix_job_runs_job_shard_id`` (job_name, shard, id): a shard's newest run (``last_runs``) and its recent
  runs, newest first, by index;
- ``ix_job_runs_status_id`` (status, id): recent runs of one status, and the running runs;
- ``ix_job_runs_job_shard_started`` (job_name, shard, started_at): each shard's first start, index only;
- ``ix_job_runs_job_shard_status_finished`` (job_name, shard, status, finished_at): each shard's last
  success, index only.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = {
    "ix_job_runs_job_shard_id": ["job_name", "shard", "id"],
    "ix_job_runs_status_id": ["status", "id"],
    "ix_job_runs_job_shard_started": ["job_name", "shard", "started_at"],
    "ix_job_runs_job_shard_status_finished": ["job_name", "shard", "status", "finished_at"],
}


def upgrade() -> None:
    for name, columns in INDEXES.items():
        op.create_index(name, "job_runs", columns, unique=False)


def downgrade() -> None:
    for name in reversed(INDEXES):
        op.drop_index(name, table_name="job_runs")
