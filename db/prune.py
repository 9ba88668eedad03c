"""Deleting old rows in bounded batches: the statement pair behind every delete of the ``retention`` job.

The module that owns a table says which column ages its rows (``scheduler.runs.delete_finished_before`` for
``job_runs``, ...); this one only knows how to delete the oldest of them a batch at a time, so that no
statement holds a table's locks for long.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, Connection, delete, select


def delete_before(conn: Connection, column: Column[Any], cutoff: datetime, limit: int) -> int:
    """Delete up to ``limit`` of the oldest rows whose ``column`` is before ``cutoff``; rows deleted.

    Two statements (ids, then DELETE by id) because MariaDB refuses LIMIT in an IN subquery; the DELETE
    repeats the condition, so a row touched in between is not deleted by mistake. Rows whose ``column`` is
    NULL are never deleted.
    """
    table = column.table
    ids = list(conn.execute(select(table.c.id).where(column < cutoff).order_by(column).limit(limit)).scalars())
    if not ids:
        return 0
    return int(conn.execute(delete(table).where(table.c.id.in_(ids), column < cutoff)).rowcount)
