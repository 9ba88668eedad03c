"""Eight OS processes upserting over the same keys end with one row per key and exact counter totals."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter

import pytest
import sqlalchemy as sa
from upsert_worker import workload

from conftest import REPO_ROOT, cli_env
from scrapesched.db.schema import http_error_summary, pr_states

PROCESSES = 8
UPSERTS_EACH = 5000
BATCH = 100


@pytest.mark.slow
def test_eight_processes_of_overlapping_upserts_give_one_row_per_key_and_exact_counts(engine: sa.Engine) -> None:
    url = engine.url.render_as_string(hide_password=False)
    worker = REPO_ROOT / "tests" / "workers" / "upsert_worker.py"
    env = cli_env()
    env["PYTHONPATH"] = str(REPO_ROOT)
    procs = [
        subprocess.Popen(
            [sys.executable, str(worker), url, str(seed), str(UPSERTS_EACH), str(BATCH)],
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        for seed in range(PROCESSES)
    ]
    errors = [(p.wait(timeout=600), p.stderr.read() if p.stderr else "") for p in procs]
    assert all(code == 0 for code, _ in errors), errors

    expected: Counter[tuple[str, int]] = Counter()
    pr_keys: set[int] = set()
    for seed in range(PROCESSES):
        for kind, row in workload(seed, UPSERTS_EACH):
            if kind == "counter":
                expected[(str(row["host"]), int(row["status_code"]))] += int(row["count"])  # type: ignore[call-overload]
            else:
                pr_keys.add(int(row["pr_number"]))  # type: ignore[call-overload]
    with engine.connect() as conn:
        counted = {(r.host, r.status_code): r.count for r in conn.execute(sa.select(http_error_summary))}
        prs = [r.pr_number for r in conn.execute(sa.select(pr_states.c.pr_number))]
    assert counted == dict(expected)
    assert sorted(prs) == sorted(pr_keys)  # one row per key, no duplicates
