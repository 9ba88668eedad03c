"""Benchmark of the fake GitHub at the scale of apache/cloudstack: how long it takes to build 10,000 pull
requests and 200,000 issue comments (wall and CPU seconds: the machine is shared), to compute their ground
truth, and to serve the first and the next page of the repository-wide comment feed over HTTP.

Usage::

    .venv/bin/python -m bench.fake_github [--prs 10000] [--comments 200000] [--seed 1]

Prints a Markdown table. Timings are never a test.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence
from typing import Any

import httpx

from bench.machine import machine
from scrapesched.testing.fake_github import FakeGitHub

REPO = "apache/cloudstack"


def _timed(action: Callable[[], Any]) -> tuple[Any, float, float]:
    """``action()``'s result, wall seconds and CPU seconds of this process."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = action()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.fake_github", description=__doc__.split("\n\n")[0])
    parser.add_argument("--prs", type=int, default=10_000)
    parser.add_argument("--comments", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)

    rows: list[tuple[str, float, float]] = []
    fake, wall, cpu = _timed(
        lambda: FakeGitHub.seeded([REPO], args.prs, args.seed, comments_per_repo=args.comments, page_limit=400)
    )
    rows.append((f"build {args.prs:,} PRs + {args.comments:,} comments", wall, cpu))
    truth, wall, cpu = _timed(lambda: fake.truth(REPO))
    rows.append((f"ground truth ({len(truth.pr_states):,} PRs, {len(truth.trillian):,} Trillian results)", wall, cpu))
    with fake, httpx.Client(base_url=fake.url, timeout=60) as client:
        params: dict[str, str | int] = {
            "sort": "updated",
            "direction": "asc",
            "per_page": 100,
            "since": "2024-06-01T00:00:00Z",
        }
        first, wall, cpu = _timed(lambda: client.get(f"/repos/{REPO}/issues/comments", params=params))
        rows.append(("feed page 1 (sorts the feed once)", wall, cpu))
        _, wall, cpu = _timed(lambda: client.get(first.links["next"]["url"]))
        rows.append(("feed page 2", wall, cpu))
    print(f"machine: {machine()}")
    print("| step | wall s | CPU s |\n|---|---:|---:|")
    for name, wall, cpu in rows:
        print(f"| {name} | {wall:.2f} | {cpu:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
