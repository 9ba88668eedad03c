"""Four replica processes scrape the same repositories at once, with no lease between them, on MariaDB:
every row is written once (no duplicate keys) and the tables equal the fake's ground truth."""

from __future__ import annotations

import json
import random
import subprocess
import sys

import pytest
import sqlalchemy as sa
from github_support import TOKEN

from conftest import REPO_ROOT
from scrapesched.testing.fake_github import FakeGitHub
from scrapesched.testing.truth import differences, duplicate_keys, table_counts

REPOS = ["apache/cloudstack", "acme/widgets"]
WORKER = REPO_ROOT / "tests" / "workers" / "github_replica.py"


def run_replicas(db_url: str, fake: FakeGitHub, count: int = 4) -> list[dict[str, int]]:
    procs = [
        subprocess.Popen(
            [sys.executable, str(WORKER), db_url, fake.url, ",".join(REPOS), TOKEN, str(seed)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO_ROOT,
        )
        for seed in range(count)
    ]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=240)
        assert proc.returncode == 0, f"replica failed: {out[-2000:]} {err[-4000:]}"
        assert TOKEN not in out + err
        results.append(json.loads(out.strip().splitlines()[-1]))
    return results


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["mariadb"])
def test_four_replica_processes_on_mariadb_give_the_truth_without_duplicates(db_url: str, engine: sa.Engine) -> None:
    with FakeGitHub.seeded(repos=REPOS, prs_per_repo=25, seed=8) as fake:
        first = run_replicas(db_url, fake)
        assert sum(r["rows_written"] for r in first) > 0
        for repo in REPOS:
            assert differences(engine, fake.truth(repo), repo) == []
        assert duplicate_keys(engine) == []
        counts = table_counts(engine)

        fake.mutate_random(30, random.Random(12))
        run_replicas(db_url, fake)
        for repo in REPOS:
            assert differences(engine, fake.truth(repo), repo) == []
        assert duplicate_keys(engine) == []
        assert table_counts(engine)["pr_states"] >= counts["pr_states"]
