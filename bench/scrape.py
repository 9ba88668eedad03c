"""Benchmark of the GitHub sync against the fake GitHub with network latency.

    .venv/bin/python -m bench.scrape [--prs 1000] [--latency 0.05] [--database-url URL]

The fake runs in its own process (GitHub is not in the scraper's process: sharing one interpreter lock
with it would measure the fake, not the scraper). Two repositories of ``--prs`` pull requests each are
synced by one replica (both repositories at once, sharing one GitHub client of ``http_concurrency``
connections), then synced again with nothing changed (the first incremental run after the backfill moves
the comment feed to its ``since=`` URL, so it is shown on its own line), then after 10 pull requests of
each repository changed, then with nothing changed again. Prints a Markdown table: wall time, requests,
304s and the targets of issue 6. The database is checked against the fake's ground truth after every
phase.
"""

from __future__ import annotations

import argparse
import multiprocessing
import random
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from scrapesched.cli.wiring import scraper_resources
from scrapesched.config.settings import Settings, load_settings
from scrapesched.db.engine import connect_engine
from scrapesched.db.migrate import upgrade
from scrapesched.db.vocabulary import Trigger
from scrapesched.scheduler.context import RunContext
from scrapesched.scrapers.github.jobs import run_github_prs
from scrapesched.scrapers.resources import ScraperResources
from scrapesched.testing.fake_github import FakeGitHub, Truth
from scrapesched.testing.truth import differences

REPOS = ["apache/cloudstack", "acme/widgets"]
TOKEN = "ghp_benchmarkToken000000000000000000000"
CHANGED = 10


@dataclass(frozen=True)
class Phase:
    name: str
    seconds: float
    requests: dict[str, int]
    not_modified: dict[str, int]
    target: str
    met: bool


def _sync_all(settings: Settings, engine: sa.Engine, resources: ScraperResources) -> None:
    errors: list[BaseException] = []

    def one(repo: str) -> None:
        ctx = RunContext(
            job="github_prs", shard=repo, params={"per_page": 100}, scheduled_for=datetime.now(UTC),
            trigger=Trigger.MANUAL, run_id=0, owner="bench", settings=settings, engine=engine,
            lease=None, stop_event=threading.Event(), resources=resources,
        )
        try:
            run_github_prs(ctx)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(repo,)) for repo in REPOS]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


def _serve(conn: Any, prs: int, latency: float) -> None:
    """The fake GitHub's process: serves, and answers commands from the benchmark over ``conn``."""
    fake = FakeGitHub.seeded(repos=REPOS, prs_per_repo=prs, seed=6, tokens=[TOKEN])
    with fake:
        fake.latency = latency
        conn.send(fake.url)
        while True:
            command, arg = conn.recv()
            if command == "stop":
                print(f"fake GitHub process CPU: {time.process_time():.1f} s", file=sys.stderr)
                return
            if command == "reset":
                fake.reset_requests()
                conn.send(None)
            elif command == "requests":
                conn.send([(r.repo, r.status) for r in fake.requests])
            elif command == "truth":
                conn.send(fake.truth(arg))
            elif command == "change":
                rng = random.Random(arg)
                for repo in REPOS:
                    _change(fake, repo, rng)
                conn.send(None)


class RemoteFake:
    """The benchmark's handle on the fake GitHub process."""

    def __init__(self, prs: int, latency: float) -> None:
        self._conn, child = multiprocessing.Pipe()
        self._proc = multiprocessing.Process(target=_serve, args=(child, prs, latency), daemon=True)
        self._proc.start()
        self.url: str = self._conn.recv()

    def _call(self, command: str, arg: Any = None) -> Any:
        self._conn.send((command, arg))
        return self._conn.recv()

    def reset_requests(self) -> None:
        self._call("reset")

    def requests(self) -> list[tuple[str | None, int]]:
        result: list[tuple[str | None, int]] = self._call("requests")
        return result

    def truth(self, repo: str) -> Truth:
        result: Truth = self._call("truth", repo)
        return result

    def change(self, seed: int) -> None:
        self._call("change", seed)

    def stop(self) -> None:
        self._conn.send(("stop", None))
        self._proc.join(timeout=10)


def _change(fake: FakeGitHub, repo: str, rng: random.Random) -> None:
    """Change 10 different pull requests of ``repo`` in ways that move their ``updated_at``."""
    numbers = rng.sample(sorted(fake.truth(repo).pr_states), CHANGED)
    actions: list[Callable[[int], object]] = [
        lambda n: fake.add_comment(repo, n, "erin-w", "Rebased on main, please have another look."),
        lambda n: fake.add_comment(repo, n, "bob-ops", "Tested on KVM, LGTM"),
        lambda n: fake.add_review(repo, n, "hana-s", "APPROVED"),
        lambda n: fake.add_label(repo, n, "status:needs-review"),
        lambda n: fake.add_codecov_report(repo, n, rng=rng),
        lambda n: fake.add_trillian_result(repo, n, rng=rng),
        lambda n: fake.set_title(repo, n, f"Renamed #{n}"),
    ]
    for i, number in enumerate(numbers):
        fake.advance(30)
        actions[i % len(actions)](number)


def _check(engine: object, fake: RemoteFake) -> None:
    for repo in REPOS:
        diff = differences(engine, fake.truth(repo), repo)  # type: ignore[arg-type]
        if diff:
            raise SystemExit(f"database differs from the truth of {repo}: {diff[:3]}")


def _measure(name: str, fake: RemoteFake, work: Callable[[], None]) -> tuple[float, dict[str, int], dict[str, int]]:
    fake.reset_requests()
    started = time.perf_counter()
    work()
    seconds = time.perf_counter() - started
    log = fake.requests()
    requests = {repo: sum(1 for r, _ in log if r == repo) for repo in REPOS}
    cached = {repo: sum(1 for r, status in log if r == repo and status == 304) for repo in REPOS}
    print(f"{name}: {seconds:.2f} s, {sum(requests.values())} requests", file=sys.stderr, flush=True)
    return seconds, requests, cached


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prs", type=int, default=1000, help="pull requests per repository")
    parser.add_argument("--latency", type=float, default=0.05, help="seconds the fake waits per request")
    parser.add_argument("--database-url", default=None, help="default: a SQLite file in a temporary directory")
    parser.add_argument("--concurrency", type=int, default=8, help="http_concurrency")
    args = parser.parse_args()

    tmp = tempfile.mkdtemp(prefix="scrapesched-bench-")
    url = args.database_url or f"sqlite:///{tmp}/bench.db"
    engine = connect_engine(url)
    upgrade(engine)
    fake = RemoteFake(args.prs, args.latency)
    phases: list[Phase] = []
    try:
        settings = load_settings(
            database_url=url, github={"api_url": fake.url, "token": TOKEN}, repos=REPOS,
            http_concurrency=args.concurrency,
        )
        resources = scraper_resources(settings, engine)

        def sync() -> None:
            _sync_all(settings, engine, resources)

        seconds, req, cached = _measure("full", fake, sync)
        _check(engine, fake)
        ideal = sum(req.values()) * args.latency / args.concurrency
        phases.append(Phase("full sync", seconds, req, cached, f"<= 1.5 x {ideal:.2f} s = {1.5 * ideal:.2f} s",
                            seconds <= 1.5 * ideal))
        seconds, req, cached = _measure("first incremental", fake, sync)
        _check(engine, fake)
        phases.append(Phase("incremental, nothing changed (first after the backfill)", seconds, req, cached,
                            "(feed moves to its since= URL)", True))
        seconds, req, cached = _measure("unchanged", fake, sync)
        _check(engine, fake)
        phases.append(Phase("incremental, nothing changed", seconds, req, cached, "<= 3 per repository, all 304",
                            all(req[r] <= 3 and cached[r] == req[r] for r in REPOS)))
        fake.change(17)
        seconds, req, cached = _measure("10 changed", fake, sync)
        _check(engine, fake)
        limit = 3 + 3 * CHANGED
        phases.append(Phase(f"incremental, {CHANGED} PRs changed per repository", seconds, req, cached,
                            f"<= {limit} per repository", all(req[r] <= limit for r in REPOS)))
        seconds, req, cached = _measure("unchanged again", fake, sync)
        _check(engine, fake)
        phases.append(Phase("incremental, nothing changed since", seconds, req, cached,
                            "<= 3 per repository, all 304", all(req[r] <= 3 and cached[r] == req[r] for r in REPOS)))
        resources.close()
    finally:
        fake.stop()
    engine.dispose()

    print(f"benchmark process CPU: {time.process_time():.1f} s", file=sys.stderr)
    print(f"\n{len(REPOS)} repositories x {args.prs} PRs, {args.latency * 1000:.0f} ms latency, "
          f"http_concurrency {args.concurrency}, database {url.split(':')[0]}\n")
    print("| phase | wall time | requests (per repository) | 304 | target | met |")
    print("|---|---:|---:|---:|---|---|")
    for p in phases:
        per_repo = " + ".join(str(p.requests[r]) for r in REPOS)
        print(f"| {p.name} | {p.seconds:.2f} s | {sum(p.requests.values())} ({per_repo}) | "
              f"{sum(p.not_modified.values())} | {p.target} | {'yes' if p.met else 'NO'} |")
    return 0 if all(p.met for p in phases) else 1


if __name__ == "__main__":
    raise SystemExit(main())
