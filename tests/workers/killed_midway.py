"""A process that SIGKILLs itself at a chosen point of ``migrate`` or ``dedupe``, to prove both complete
when run again: the library calls ``on_step`` / ``on_batch`` after each committed step, and this worker
kills itself there, with no chance to clean up (as a pod's OOM kill would).

    python killed_midway.py migrate URL ADOPT_REPO STEP   # killed right after adoption step STEP (1 = first)
    python killed_midway.py dedupe URL TABLE BATCH         # killed right after the first committed batch
"""

from __future__ import annotations

import os
import signal
import sys

from scrapesched.db.dedupe import apply
from scrapesched.db.engine import connect_engine
from scrapesched.db.migrate import upgrade


def main(argv: list[str]) -> int:
    mode, url = argv[0], argv[1]
    engine = connect_engine(url)
    done = 0

    def kill_after(limit: int) -> None:
        nonlocal done
        done += 1
        if done >= limit:
            print(f"killed after step {done}", flush=True)
            os.kill(os.getpid(), signal.SIGKILL)

    if mode == "migrate":
        limit = int(argv[3])
        upgrade(engine, adopt_repo=argv[2], on_step=lambda step: kill_after(limit))
    else:
        apply(engine, argv[2], batch=int(argv[3]), on_batch=lambda n: kill_after(1))
    return 3  # not killed: the test fails on this exit status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
