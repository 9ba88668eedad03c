"""A replica frozen inside a write transaction: opens a transaction, row-locks one ``job_runs`` row (the
way a run's write guard does before COMMIT), prints ``locked`` and stops itself with SIGSTOP.

Usage: ``python frozen_in_transaction.py DATABASE_URL RUN_ID IDLE_TIMEOUT_S``
"""

from __future__ import annotations

import os
import signal
import sys

import sqlalchemy as sa

from scrapesched.db.engine import connect_engine
from scrapesched.db.schema import job_runs


def main() -> None:
    url, run_id, idle = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    engine = connect_engine(url, idle_transaction_timeout=idle)
    with engine.connect() as conn:
        conn.begin()
        conn.execute(sa.update(job_runs).where(job_runs.c.id == run_id).values(owner=job_runs.c.owner))
        print("locked", flush=True)
        os.kill(os.getpid(), signal.SIGSTOP)
        conn.commit()  # after SIGCONT: the server ended the idle transaction long ago, so this fails


if __name__ == "__main__":
    main()
