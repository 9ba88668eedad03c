"""``scrapesched demo``: the whole system, offline, in under a minute.

A seeded fake GitHub serves two repositories; three replica processes of the real ``scrapesched run`` share
a SQLite file (leases in its lease table) and scrape them on a short interval. After the first schedule
cycle the fake's data is changed (new pull requests, comments, reviews, merges, Codecov and Trillian
results); after the second the replicas are stopped and the demo prints what each replica did, the run
history and the table counts, then checks that the tables equal the fake's ground truth with no duplicate
keys. ``DemoResult.ok`` is that check.
"""

from __future__ import annotations

import random
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from scrapesched.db.clock import server_time
from scrapesched.db.engine import connect_engine
from scrapesched.db.vocabulary import RunStatus
from scrapesched.scheduler.runs import history, succeeded_since
from scrapesched.testing.fake_github import FakeGitHub
from scrapesched.testing.fleet import Fleet, Replica, replica_env, scrapesched_command
from scrapesched.testing.truth import differences, duplicate_keys, table_counts

DEMO_REPOS = ("apache/cloudstack", "acme/widgets")
DEMO_TOKEN = "ghp_demoTokenNotASecret0000000000000000"
GITHUB_JOBS = ("github_prs", "pr_states_refresh", "flaky_tests_summary")


@dataclass(frozen=True)
class DemoOptions:
    prs: int = 40
    replicas: int = 3
    interval: float = 3.0
    mutations: int = 25
    seed: int = 2024
    timeout: float = 50.0
    keep: bool = False


@dataclass
class DemoResult:
    ok: bool
    problems: list[str] = field(default_factory=list)
    workdir: Path | None = None


def _config(interval: float) -> str:
    jobs = "".join(
        f'\n[jobs.{job}]\ninterval = "{interval:g}s"\nlease_ttl = "30s"\nmisfire_grace = "10s"\n' for job in GITHUB_JOBS
    )
    return f'repos = [{", ".join(repr(r).replace(chr(39), chr(34)) for r in DEMO_REPOS)}]\n{jobs}'


def _env(workdir: Path, api_url: str) -> dict[str, str]:
    """The replicas' environment: ours without SCRAPESCHED_* and GITHUB_TOKEN, plus the demo's settings."""
    return replica_env(
        None,
        ("GITHUB_TOKEN",),
        config=str(workdir / "demo.toml"),
        database_url=f"sqlite:///{workdir / 'demo.db'}",
        lock_url="table",
        github_api_url=api_url,
        github_token=DEMO_TOKEN,
        log_format="json",
        http_concurrency="4",
    )


class Demo:
    """One demo: a fake GitHub, a SQLite file, replica processes."""

    def __init__(self, options: DemoOptions, echo: Callable[[str], None]) -> None:
        self.options = options
        self.echo = echo
        self.workdir = Path(tempfile.mkdtemp(prefix="scrapesched-demo-"))
        self.fake = FakeGitHub.seeded(
            repos=DEMO_REPOS, prs_per_repo=options.prs, seed=options.seed, tokens=[DEMO_TOKEN]
        )
        self.fleet: Fleet | None = None
        self.engine: sa.Engine | None = None

    # ---- steps -----------------------------------------------------------------------------------

    def run(self) -> DemoResult:
        deadline = time.monotonic() + self.options.timeout
        try:
            self.fake.start()
            (self.workdir / "demo.toml").write_text(_config(self.options.interval))
            env = _env(self.workdir, self.fake.url)
            self.echo(f"fake GitHub on {self.fake.url}: {', '.join(DEMO_REPOS)}, {self.options.prs} PRs each")
            self.echo(f"work directory {self.workdir}")
            migrated = subprocess.run(scrapesched_command("migrate"), env=env, cwd=self.workdir,
                                      capture_output=True, text=True, check=False, timeout=60)
            if migrated.returncode != 0:
                return DemoResult(False, [f"migrate failed: {migrated.stderr.strip()[-500:]}"], self.workdir)
            self.engine = connect_engine(env["SCRAPESCHED_DATABASE_URL"])
            self.fleet = Fleet(self.workdir, env, cwd=self.workdir)
            for i in range(1, self.options.replicas + 1):
                self.fleet.start(f"replica-{i}")
            self.echo(f"started {self.options.replicas} replicas of `scrapesched run`")
            started = self._db_now()
            if not self._wait_cycle(started, deadline):
                return self._finish(["cycle 1 did not complete in time"])
            self.echo("cycle 1 done: every repository synced")
            changed = self.fake.mutate_random(self.options.mutations, random.Random(self.options.seed))
            self.echo(f"changed the fake GitHub: {len(changed)} mutations, e.g. {', '.join(changed[:4])}")
            mutated = self._db_now()
            if not self._wait_cycle(mutated, deadline):
                return self._finish(["cycle 2 did not complete in time"])
            self.echo("cycle 2 done: every repository synced again")
            return self._finish([])
        finally:
            self._stop()
            self.fake.stop()
            if self.engine is not None:
                self.engine.dispose()
            if not self.options.keep:
                shutil.rmtree(self.workdir, ignore_errors=True)

    @property
    def _replicas(self) -> list[Replica]:
        return self.fleet.replicas if self.fleet is not None else []

    def _stop(self) -> None:
        if self.fleet is not None:
            self.fleet.close()

    def _db_now(self) -> datetime:
        assert self.engine is not None
        with self.engine.connect() as conn:
            return server_time(conn)

    def _wait_cycle(self, since: datetime, deadline: float) -> bool:
        """Every GitHub job has succeeded on every repository with a run that started after ``since``."""
        assert self.engine is not None
        wanted = {(job, repo) for job in GITHUB_JOBS for repo in DEMO_REPOS}
        while time.monotonic() < deadline:
            with self.engine.connect() as conn:
                done = succeeded_since(conn, since)
            if wanted <= done:
                return True
            dead = [r.name for r in self._replicas if not r.running()]
            if dead:
                self.echo(f"replica(s) exited early: {', '.join(dead)}")
                return False
            time.sleep(0.3)
        return False

    # ---- report ----------------------------------------------------------------------------------

    def _finish(self, problems: list[str]) -> DemoResult:
        self._stop()
        assert self.engine is not None
        runs = self._runs()
        self._report_replicas(runs)
        self._report_history(runs)
        counts = table_counts(self.engine)
        self.echo("\ntable counts: " + ", ".join(f"{name} {n}" for name, n in counts.items()))
        for repo in DEMO_REPOS:
            problems += differences(self.engine, self.fake.truth(repo), repo)
        problems += duplicate_keys(self.engine)
        failed = [r for r in runs if r["status"] == RunStatus.FAILED]
        problems += [f"run {r['id']} {r['job_name']} [{r['shard']}] failed: {r['error']}" for r in failed]
        if problems:
            self.echo("\nFAILED: the tables do not equal the fake's ground truth:")
            for problem in problems:
                self.echo(f"  {problem}")
        else:
            self.echo("\nOK: every table equals the fake GitHub's ground truth, no duplicate keys, no failed run")
        return DemoResult(not problems, problems, self.workdir)

    def _runs(self) -> list[dict[str, Any]]:
        assert self.engine is not None
        with self.engine.connect() as conn:
            return history(conn)

    def _report_replicas(self, runs: list[dict[str, Any]]) -> None:
        self.echo("\nwhat each replica did:")
        for replica in self._replicas:
            name = replica.name
            mine = [r for r in runs if r["owner"] == name]
            by_status: dict[str, int] = {}
            for r in mine:
                by_status[r["status"]] = by_status.get(r["status"], 0) + 1
            requests = sum(r["requests"] for r in mine)
            cached = sum(r["not_modified"] for r in mine)
            rows = sum(r["rows_written"] for r in mine)
            statuses = ", ".join(f"{n} {s}" for s, n in sorted(by_status.items())) or "no runs"
            self.echo(f"  {name}: {statuses}; {requests} requests ({cached} answered 304), {rows} rows written")

    def _report_history(self, runs: list[dict[str, Any]]) -> None:
        self.echo("\nrun history:")
        self.echo(
            f"  {'fire':<19} {'job':<20} {'repository':<18} {'replica':<10} {'status':<9} "
            f"{'req':>4} {'304':>4} {'rows':>5}"
        )
        for r in runs:
            self.echo(
                f"  {r['scheduled_for']:%Y-%m-%d %H:%M:%S} {r['job_name']:<20} {r['shard']:<18} {r['owner']:<10} "
                f"{r['status']:<9} {r['requests']:>4} {r['not_modified']:>4} {r['rows_written']:>5}"
            )


def run_demo(options: DemoOptions, echo: Callable[[str], None]) -> DemoResult:
    """Run the demo (see the module docstring); ``echo`` prints a line."""
    return Demo(options, echo).run()
