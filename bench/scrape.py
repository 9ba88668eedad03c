"""Benchmark of the GitHub sync against the fake GitHub with network latency.

    .venv/bin/python -m bench.scrape [--prs 1000] [--latency 0.05] [--database-url URL]
    .venv/bin/python -m bench.scrape --cloudstack [--prs 10000] [--comments 200000] [--window 60]

The fake runs in its own process (GitHub is not in the scraper's process: sharing one interpreter lock
with it would measure the fake, not the scraper). Two repositories of ``--prs`` pull requests each are
synced by one replica (both repositories at once, sharing one GitHub client of ``http_concurrency``
connections), then synced again with nothing changed (the first incremental run after the backfill moves
the comment feed to its ``since=`` URL, so it is shown on its own line), then after 10 pull requests of
each repository changed, then with nothing changed again. Prints a Markdown table: wall time, requests,
304s and the targets of issue 6. The database is checked against the fake's ground truth after every
phase.

``--cloudstack`` (issue 11): one repository of apache/cloudstack's size (10,000 pull requests, 200,000
comments) behind a GitHub App whose budget is 5,000 requests per ``--window`` seconds, with a page-depth
limit; ``scrapesched run-once`` replicas (real processes) do the cold sync, the first one SIGKILLed when
half the minimum requests are spent, a second one continuing from the cursors; then "nothing changed"
runs, each in a new process, i.e. with a new installation token. Prints requests vs the minimum (list
pages + review lists + feed pages at per_page=100), budget windows used, wall time, rows == truth.
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
    parser.add_argument("--cloudstack", action="store_true",
                        help="issue 11: one cloudstack-sized repository, a SIGKILLed replica, short windows")
    parser.add_argument("--comments", type=int, default=200_000, help="--cloudstack: issue comments")
    parser.add_argument("--window", type=float, default=60.0, help="--cloudstack: seconds per 5,000 requests")
    parser.add_argument("--page-limit", type=int, default=100, help="--cloudstack: GitHub's page-depth limit")
    args = parser.parse_args()
    if args.cloudstack:
        if args.prs == 1000:
            args.prs = 10_000
        return cloudstack(args)

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



# ---- issue 11: apache/cloudstack's size, rate-limit windows, a SIGKILLed replica ---------------------------

CLOUDSTACK = "apache/cloudstack"


def _serve_cloudstack(conn: Any, prs: int, comments: int, latency: float, window: float, page_limit: int,
                      public_key: str) -> None:
    """The fake GitHub's process for the cloudstack benchmark (a GitHub App, one budget per window)."""
    import math

    fake = FakeGitHub.seeded(
        [CLOUDSTACK], prs, 11, comments_per_repo=comments, page_limit=page_limit, rate_limit=5000,
        rate_limit_window=window, app_id=77, app_public_key=public_key, installation_id=5, tokens=[],
    )
    with fake:
        fake.latency = latency
        repo = fake.find_repo(CLOUDSTACK)
        assert repo is not None
        minimum = {
            "pulls pages": math.ceil(len(repo.pulls) / 100),
            "review lists": sum(max(1, math.ceil(len(p.reviews) / 100)) for p in repo.pulls.values()),
            "feed pages": math.ceil(len(repo.comments) / 100),
        }
        conn.send((fake.url, minimum))
        while True:
            command, arg = conn.recv()
            if command == "stop":
                return
            if command == "requests":
                conn.send([(r.path, r.status, r.counted, r.token, r.at, r.fault) for r in fake.requests[arg:]])
            elif command == "count":
                conn.send(sum(1 for r in fake.requests if r.counted))
            elif command == "truth":
                conn.send(fake.truth(CLOUDSTACK))


def _windows(counted_at: list[float], window: float) -> int:
    """How many budget windows the counted requests fell into (a window opens at the first request after
    the previous one closed, as GitHub's and the fake's budgets do)."""
    windows, end = 0, float("-inf")
    for at in sorted(counted_at):
        if at >= end:
            windows, end = windows + 1, at + window
    return windows


def cloudstack(args: argparse.Namespace) -> int:
    """Cold sync of a cloudstack-sized repository by ``scrapesched run-once`` replicas (real processes): the
    first is SIGKILLed half-way, a second one continues; then "nothing changed" twice (each replica process
    gets a new App installation token, i.e. runs right after a token renewal)."""
    import os
    import signal
    import subprocess
    from pathlib import Path

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    from bench.machine import machine
    from scrapesched.testing.fleet import replica_env, scrapesched_command

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    tmp = Path(tempfile.mkdtemp(prefix="scrapesched-bench-cs-"))
    (tmp / "app.pem").write_text(private)
    (tmp / "jobs.toml").write_text('[jobs.github_prs]\ninterval = "1h"\nlease_ttl = "20s"\n')
    url = args.database_url or f"sqlite:///{tmp}/bench.db"
    engine = connect_engine(url)
    upgrade(engine)
    parent, child = multiprocessing.Pipe()
    started = time.perf_counter()
    proc = multiprocessing.Process(
        target=_serve_cloudstack,
        args=(child, args.prs, args.comments, args.latency, args.window, args.page_limit, public), daemon=True,
    )
    proc.start()
    child.close()  # a fake that dies makes recv() raise instead of hang
    api, minimum = parent.recv()
    print(f"fake up in {time.perf_counter() - started:.1f} s: {minimum}", file=sys.stderr, flush=True)

    def call(command: str, arg: Any = None) -> Any:
        parent.send((command, arg))
        return parent.recv()

    env = replica_env(
        None, ("GITHUB_TOKEN",), database_url=url, github_api_url=api, github_app_id="77",
        github_app_private_key_file=str(tmp / "app.pem"), github_app_installation_id="5", repos=CLOUDSTACK,
        config=str(tmp / "jobs.toml"), http_concurrency=str(args.concurrency), log_level="warning",
    )
    command = [*scrapesched_command(), "run-once", "github_prs"]

    deferred: list[str] = []  # runs that ended ``deferred`` because the budget was spent

    def run_replica(name: str) -> tuple[int, float]:
        t0 = time.perf_counter()
        while True:  # 75: the killed replica's lease has not run out yet, or the run was deferred
            done = subprocess.run(command, env={**env, "SCRAPESCHED_INSTANCE_ID": name}, capture_output=True,
                                  text=True, check=False)
            print(f"{name}: exit {done.returncode}: {done.stdout.strip()[-300:]}", file=sys.stderr, flush=True)
            if done.returncode == 75 and "deferred" in done.stdout + done.stderr:
                deferred.append(name)
            if done.returncode not in (0, 75):
                print(done.stderr[-3000:], file=sys.stderr, flush=True)
            if done.returncode != 75:
                return done.returncode, time.perf_counter() - t0
            time.sleep(2)

    total_minimum = sum(minimum.values())
    t0 = time.perf_counter()
    first = subprocess.Popen(command, env={**env, "SCRAPESCHED_INSTANCE_ID": "replica-a"},
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while call("count") < total_minimum // 2 and first.poll() is None:
        time.sleep(0.5)
    os.kill(first.pid, signal.SIGKILL)
    first.wait()
    killed_at = time.perf_counter() - t0
    log_a = call("requests", 0)
    code, _ = run_replica("replica-b")
    cold_seconds = time.perf_counter() - t0
    log = call("requests", 0)
    truth_ok = differences(engine, call("truth"), CLOUDSTACK) == []
    token_a = {r[3] for r in log_a}
    log_b = log[len(log_a):]
    lists = ("/pulls?", "/issues/comments?")
    a_done = {r[0] for r in log_a if r[1] in (200, 304) and any(s in r[0] for s in lists)}
    repeated_pages = sorted({r[0] for r in log_b if r[0] in a_done})
    a_reviews = {r[0] for r in log_a if "/reviews" in r[0] and r[1] == 200}
    repeated_reviews = sum(1 for r in log_b if r[0] in a_reviews)
    counted = [r for r in log if r[2]]
    windows = _windows([r[4] for r in counted], args.window)
    kinds = {"pulls": "/pulls?", "reviews": "/reviews", "feed": "/issues/comments?"}
    by_kind = {k: sum(1 for r in counted if v in r[0]) for k, v in kinds.items()}
    print(f"counted by kind: {by_kind}; statuses: {sorted({r[1] for r in log})}", file=sys.stderr, flush=True)
    print(f"cold sync: exit {code}, {cold_seconds:.0f} s, {len(log)} requests ({len(counted)} counted), "
          f"{windows} windows; killed at {killed_at:.0f} s", file=sys.stderr, flush=True)

    phases: list[tuple[str, int, float, int, int]] = []
    for name in ("first incremental (feed moves to its since= URL)", "nothing changed, new token",
                 "nothing changed, new token again"):
        before = len(call("requests", 0))
        code_n, seconds = run_replica(f"replica-{len(phases) + 3}")
        new = [r for r in call("requests", before) if r[0].startswith(("/repos/", "/repositories/"))]  # not the App's
        phases.append((name, code_n, seconds, len(new), sum(1 for r in new if r[1] == 304)))
    truth_ok = truth_ok and differences(engine, call("truth"), CLOUDSTACK) == []
    parent.send(("stop", None))  # the fake exits without an answer
    proc.join(timeout=10)
    engine.dispose()

    ratio = len(counted) / total_minimum
    print(f"\nmachine: {machine()}")
    print(f"apache/cloudstack-sized fake: {args.prs:,} PRs, {args.comments:,} comments, {args.latency * 1000:.0f} ms "
          f"latency, page limit {args.page_limit}, 5,000 requests per {args.window:.0f} s window; "
          f"http_concurrency {args.concurrency}; database {url.split(':')[0]}\n")
    print("| measure | value | target | met |\n|---|---:|---|---|")
    rows = [
        ("cold sync wall time (2 replicas, A SIGKILLed)", f"{cold_seconds:.0f} s", "finishes", code == 0),
        ("rows == truth", str(truth_ok), "True", truth_ok),
        ("minimum requests (" + ", ".join(f"{k} {v:,}" for k, v in minimum.items()) + ")",
         f"{total_minimum:,}", "", True),
        ("requests used (counted by the budget)", f"{len(counted):,} ({ratio:.3f} x minimum)",
         "<= 1.1 x minimum", ratio <= 1.1),
        ("all requests (incl. 304s, 422s, 502s)", f"{len(log):,}", "", True),
        ("budget windows used", str(windows), "", True),
        ("runs ended deferred (budget spent), continued by the next run", str(len(deferred)), "", True),
        ("answers 403 rate limit exceeded", str(sum(1 for r in log if r[1] == 403)), "", True),
        ("list pages asked again after the SIGKILL", f"{len(repeated_pages)}", "<= 1 per stream",
         len(repeated_pages) <= 2),
        ("review lists asked again after the SIGKILL", str(repeated_reviews), "<= one page's + in flight",
         repeated_reviews <= 100 + 2 * args.concurrency),
        ("replica A's tokens / replica B's", f"{len(token_a)} / {len({r[3] for r in log_b})}", "", True),
    ]
    for name, code_n, seconds, n, n304 in phases:
        target = "<= 3, all 304" if "nothing changed" in name else ""
        met = code_n == 0 and (n <= 3 and n304 == n if target else True)
        rows.append((name, f"{n} requests, {n304} x 304, {seconds:.1f} s", target, met))
    for name, value, target, met in rows:
        print(f"| {name} | {value} | {target} | {'yes' if met else 'NO'} |")
    return 0 if all(r[3] for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
