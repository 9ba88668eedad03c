"""A replica process for the GitHub tests: runs the GitHub jobs on every repository, with no lease, so several
of these write the same rows at the same time.

    python github_replica.py DATABASE_URL API_URL REPOS(comma-separated) TOKEN SEED

Prints one JSON line: the counters summed over its runs. Exit 1 (and the error) if a job failed.
"""

from __future__ import annotations

import json
import random
import sys

from github_support import JobRunner

from scrapesched.config.settings import load_settings
from scrapesched.db.engine import connect_engine


def main() -> int:
    url, api, repos_csv, token, seed = sys.argv[1:6]
    repos = repos_csv.split(",")
    settings = load_settings(
        database_url=url, repos=repos, http_concurrency=4,
        github={"api_url": api, "token": token, "rate_limit_reserve": 0, "rate_limit_slowdown": 0,
                "secondary_wait": 0.2},
    )
    engine = connect_engine(settings.database_url)
    runner = JobRunner(settings, engine)
    totals: dict[str, int] = {}
    order = list(repos)
    random.Random(int(seed)).shuffle(order)
    try:
        for job in ("github_prs", "pr_states_refresh", "flaky_tests_summary"):
            for repo in order:
                ctx = runner.run(job, repo, **({"per_page": 7} if job != "flaky_tests_summary" else {}))
                for name, value in ctx.counters.as_dict().items():
                    totals[name] = totals.get(name, 0) + value
    except Exception as exc:
        print(json.dumps({"error": f"{type(exc).__name__}: {exc}"}), flush=True)
        return 1
    finally:
        runner.close()
        engine.dispose()
    print(json.dumps(totals), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
