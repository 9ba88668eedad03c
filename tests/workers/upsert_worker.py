"""One writer process of the upsert concurrency test: N upserts over keys shared with the other writers.

Half the upserts add to shared counters (``http_error_summary.count``), half overwrite PR rows. The
sequence is a pure function of the seed, so the test can recompute the exact expected totals.
"""

from __future__ import annotations

import random
import sys
from datetime import UTC, datetime, timedelta

from scrapesched.db.engine import connect_engine
from scrapesched.db.retry import transaction
from scrapesched.db.schema import http_error_summary, pr_states
from scrapesched.db.upsert import upsert

HOSTS = [f"host{i}.example" for i in range(10)]
STATUSES = [200, 304, 404, 500, 502]
T0 = datetime(2024, 1, 1, tzinfo=UTC)


def workload(seed: int, n: int) -> list[tuple[str, dict[str, object]]]:
    rng = random.Random(seed)
    out: list[tuple[str, dict[str, object]]] = []
    for i in range(n):
        at = T0 + timedelta(seconds=rng.randrange(100_000))
        if i % 2 == 0:
            out.append(
                (
                    "counter",
                    {
                        "host": rng.choice(HOSTS),
                        "status_code": rng.choice(STATUSES),
                        "error_type": "",
                        "count": rng.randrange(1, 5),
                        "first_seen": at,
                        "last_seen": at,
                    },
                )
            )
        else:
            out.append(
                (
                    "pr",
                    {
                        "repo": "acme/widgets",
                        "pr_number": rng.randrange(1, 200),
                        "pr_title": f"title {seed}-{i}",
                        "pr_state": "open",
                        "last_checked": at,
                    },
                )
            )
    return out


def main() -> None:
    url, seed, n, batch = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    engine = connect_engine(url)
    work = workload(seed, n)
    for start in range(0, len(work), batch):
        chunk = work[start : start + batch]
        counters = [r for kind, r in chunk if kind == "counter"]
        prs = [r for kind, r in chunk if kind == "pr"]

        def write(
            conn: object, counters: list[dict[str, object]] = counters, prs: list[dict[str, object]] = prs
        ) -> None:
            upsert(
                conn,
                http_error_summary,
                counters,
                increment=["count"],
                least=["first_seen"],  # type: ignore[arg-type]
                greatest=["last_seen"],
            )
            upsert(conn, pr_states, prs)  # type: ignore[arg-type]

        transaction(engine, write, attempts=20, what="worker batch")  # type: ignore[arg-type]
    engine.dispose()


if __name__ == "__main__":
    main()
