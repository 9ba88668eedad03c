"""What a chaos run starts: a scratch database migrated to head, the lock server (its own ``redis-server``
on a free port for ``--lock redis``: the shared Redis on 6379 is never touched), the fake GitHub, and a
fleet of ``scrapesched run`` replicas on short schedules.

Every replica incarnation (a killed replica comes back under a new name, ``r1-2``) has a GitHub token of
its own, so the fake's request log says which process asked what.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

from scrapesched.db.engine import connect_engine
from scrapesched.db.migrate import upgrade
from scrapesched.testing.fake_github import FakeGitHub
from scrapesched.testing.fleet import Fleet, Replica, replica_env
from scrapesched.testing.local_servers import RedisServer
from scrapesched.testing.scratch import ServerUrls, create_scratch, drop_scratch

REPO_ROOT = Path(__file__).resolve().parents[2]
REPOS = ("apache/cloudstack", "acme/widgets")
TTL_S = 4.0  # every job's lease ttl: a frozen replica's run is dead after it
IDLE_TRANSACTION_S = 8.0  # the server ends a transaction idle this long (db_idle_transaction_timeout)
HOLD_S = 0.3  # the canary holds its final transaction open this long after its write (the window fault)
INTERVALS = {"canary": 1.0, "github_prs": 3.0, "pr_states_refresh": 5.0, "flaky_tests_summary": 4.0}
GITHUB_JOBS = ("github_prs", "pr_states_refresh", "flaky_tests_summary")
LOCKS = ("redis", "table", "mysql", "postgres")
DATABASES = ("mariadb", "postgres")



def token_for(n: int) -> str:
    """The GitHub token of replica incarnation ``n`` (shaped like a classic token)."""
    return f"ghp_chaos{n:031d}"


def config_toml() -> str:
    repos = ", ".join(f'"{r}"' for r in REPOS)
    out = [f"repos = [{repos}]"]
    params = {
        "canary": f"{{ hold = {HOLD_S:g} }}",
        "github_prs": "{ per_page = 10 }",
        "pr_states_refresh": "{ per_page = 10 }",
    }
    for job, interval in INTERVALS.items():
        out.append(
            f'\n[jobs.{job}]\ninterval = "{interval:g}s"\nlease_ttl = "{TTL_S:g}s"\nmisfire_grace = "5s"\n'
            "recover = true" + (f"\nparams = {params[job]}" if job in params else "")
        )
    return "\n".join(out) + "\n"


@dataclass
class ChaosFleet:
    """The replicas: ``slots`` names (r1..rN), each slot's live incarnation, every incarnation's token."""

    fleet: Fleet
    slots: list[str]
    live: dict[str, Replica] = field(default_factory=dict)
    token_of: dict[str, str] = field(default_factory=dict)
    faulted: set[str] = field(default_factory=set)
    """Incarnations that got a fault signal (their HTTP counts need not be exact)."""

    def start(self, slot: str) -> Replica:
        n = len(self.token_of)
        name = slot if slot not in self.token_of else f"{slot}-{sum(1 for k in self.token_of if k.startswith(slot))+1}"
        token = token_for(n)
        self.token_of[name] = token
        replica = self.fleet.start(name, extra_env={"SCRAPESCHED_GITHUB_TOKEN": token})
        self.live[slot] = replica
        return replica

    def by_name(self, name: str) -> tuple[str, Replica] | None:
        for slot, replica in self.live.items():
            if replica.name == name and replica.running():
                return slot, replica
        return None


@dataclass
class World:
    db: str
    lock: str
    url: str
    engine: sa.Engine
    lock_url: str
    servers: ServerUrls
    fake: FakeGitHub
    fleet: ChaosFleet
    redis_server: RedisServer | None
    workdir: Path


@contextmanager
def world(
    db: str, lock: str, replicas: int, seed: int, workdir: Path, *, keep: bool = False, max_tokens: int = 200
) -> Iterator[World]:
    """Everything started (replicas too); on exit the replicas are killed, the fake and Redis stopped and the
    scratch database dropped (unless ``keep``)."""
    servers = ServerUrls.from_env()
    tag = f"chaos{seed}"
    redis_server: RedisServer | None = None
    if lock == "redis":
        redis_server = RedisServer(workdir)
        redis_server.start()
        lock_url = f"{redis_server.url}?prefix={tag}:"
    elif lock == "table":
        lock_url = "table"
    else:
        lock_url = servers.lock_url("mysql" if lock == "mysql" else "postgresql", f"{tag}:")
    tokens = [token_for(n) for n in range(max_tokens)]
    fake = FakeGitHub.seeded(repos=list(REPOS), prs_per_repo=10, seed=seed, tokens=tokens)
    config = workdir / "chaos.toml"
    config.write_text(config_toml())
    try:
        url = create_scratch(db, workdir, servers, prefix="chaos_")
        engine = connect_engine(url)
        try:
            upgrade(engine)
            fake.start()
            env = replica_env(
                None,
                ("GITHUB_TOKEN",),
                database_url=url,
                lock_url=lock_url,
                log_format="json",
                github_api_url=fake.url,
                github_secondary_wait="0.5",
                github_rate_limit_reserve="0",
                github_max_wait="5",
                http_concurrency="2",
                http_timeout="5",
                db_lock_timeout="1",
                db_idle_transaction_timeout=f"{IDLE_TRANSACTION_S:g}",
                shutdown_grace="5",
            )
            fleet = Fleet(workdir, env, config=config, cwd=REPO_ROOT, stop_timeout=20)
            chaos = ChaosFleet(fleet, [f"r{i}" for i in range(1, replicas + 1)])
            try:
                for slot in chaos.slots:
                    chaos.start(slot)
                yield World(db, lock, url, engine, lock_url, servers, fake, chaos, redis_server, workdir)
            finally:
                fleet.kill_all()
        finally:
            engine.dispose()
            if keep:
                print(f"database kept: {url}")
            else:
                drop_scratch(db, url, servers)
    finally:
        fake.stop()
        if redis_server is not None:
            redis_server.kill()
