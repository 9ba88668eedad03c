"""Quiet at rest (issue 16): what an idle fleet costs the database and the CPU, next to APScheduler 4.

Four real ``scrapesched run`` replicas on a fresh PostgreSQL database (advisory-lock leases on the same
server), one job scheduled once a year, so nothing is due; side by side, four APScheduler 4 nodes (its
``SQLAlchemyDataStore`` on a PostgreSQL database of their own and its ``PsycopgEventBroker``, LISTEN/NOTIFY:
what a fleet of APScheduler 4 nodes needs to share schedules), with one schedule that is not due either.
APScheduler 4 runs from a virtualenv of its own that this benchmark creates (``.bench-venvs/apscheduler4``,
``pip install --pre "apscheduler>=4.0.0a1" sqlalchemy "psycopg[binary]"``).

After ``--settle`` seconds, over ``--seconds``, per replica (or node):

- **statements/s**, counted by the server: each benchmark database gets ``log_statement = 'all'``
  (``ALTER DATABASE``: its own sessions only, the server's configuration is untouched) and every statement
  the server logs for that database (``LOG:  statement:`` / ``LOG:  execute``) is counted from the server's
  log file: queries, writes and BEGIN / COMMIT / ROLLBACK alike (of which the transaction control is shown
  apart); the benchmark itself never connects to these databases during the window;
- **CPU ms/s**: user + system time of the process (``/proc/<pid>/stat``), divided by the window.

``--tree DIR`` runs the replicas from another checkout (``PYTHONPATH=DIR``), e.g. the last commit before
issue 16 (``git archive <commit> | tar -x -C DIR``), to measure before and after on the same machine.

``--db mariadb`` runs the fleet on MariaDB with Redis leases instead (APScheduler 4 stays on PostgreSQL:
its psycopg event broker needs it). MariaDB logs no statements per database, so there the replicas connect
as a user of their own (``bench_idle_<hex>``, created for the run and dropped after) and the statements are
the server's per-user statistics (``information_schema.USER_STATISTICS``, with ``userstat`` switched on for
the run and restored after): SELECT + UPDATE + OTHER commands, the last of which includes BEGIN, COMMIT and
ROLLBACK and is shown in the transaction-control column as an upper bound.

``--per-fire S`` also runs the fleet with the ``canary`` job (``seconds = 0``) fired every S seconds and
reports the **fleet's statements per fire**: (statements of the busy fleet - those of the idle fleet, over
the same window) / fires in the window, i.e. what one fire costs all replicas together (the winner's claim,
lease, run and completion, and the losers' claims), transaction control included.

    python -m bench.scheduler.idle [--seconds 30] [--settle 10] [--replicas 4] [--tree DIR] [--skip-apscheduler4]
        [--per-fire 2] [--db postgres|mariadb]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
import venv
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from bench.machine import load_average, machine
from bench.scheduler.common import REPO_ROOT, BenchEnv, fresh_database, lock_url_for, progress
from scrapesched.testing.fleet import Fleet, replica_env, wait_until
from scrapesched.testing.scratch import ServerUrls, scratch_database

SERVER_LOG = Path("/var/log/postgresql/postgresql-15-main.log")
APS4_VENV = REPO_ROOT / ".bench-venvs" / "apscheduler4"
# 4.0.0a6 imports sniffio without declaring it
APS4_REQUIREMENTS = ["apscheduler>=4.0.0a1", "sqlalchemy[asyncio]>=2", "psycopg[binary]>=3.1", "sniffio"]
APS4_IMPORTS = "import sqlalchemy.ext.asyncio, apscheduler.datastores.sqlalchemy, apscheduler.eventbrokers.psycopg"
CONFIG = '[jobs.canary]\ncron = "0 0 1 1 *"\n'  # once a year: nothing is due
TRANSACTION_CONTROL = re.compile(r"LOG:  (?:statement|execute [^:]*): (?:BEGIN|COMMIT|ROLLBACK)\b", re.IGNORECASE)

# One APScheduler 4 node (run by the virtualenv's interpreter, so not imported here): data store and event
# broker on PostgreSQL, one schedule that is not due; "ready" once its schedule is stored.
APS4_NODE = """
import sys
from apscheduler import ConflictPolicy, Scheduler
from apscheduler.datastores.sqlalchemy import SQLAlchemyDataStore
from apscheduler.eventbrokers.psycopg import PsycopgEventBroker
from apscheduler.triggers.cron import CronTrigger


def canary():
    pass


url, conninfo, identity = sys.argv[1:4]
store = SQLAlchemyDataStore(url)
broker = PsycopgEventBroker(conninfo)
with Scheduler(store, broker, identity=identity) as scheduler:
    scheduler.add_schedule(canary, CronTrigger.from_crontab("0 0 1 1 *"), id="canary",
                           conflict_policy=ConflictPolicy.replace)
    print("ready", flush=True)
    scheduler.run_until_stopped()
"""


@dataclass(frozen=True)
class Idle:
    """One fleet's idle cost, per replica and second."""

    fleet: str
    replicas: int
    seconds: float
    statements: float
    transaction_control: float
    cpu_ms: float


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (``/proc/<pid>/stat`` fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def log_statement_all(admin_url: str, database: str) -> None:
    """Make the server log every statement of ``database``'s new sessions (nothing else changes)."""
    engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(sa.text(f"ALTER DATABASE \"{database}\" SET log_statement = 'all'"))
    finally:
        engine.dispose()


class StatementLog:
    """The statements the server logs for one database, from a point of the log file on."""

    def __init__(self, path: Path, database: str) -> None:
        self.path, self.marker = path, f"@{database} LOG:  "
        self.offset = 0

    def mark(self) -> None:
        self.offset = self.path.stat().st_size

    def count(self) -> tuple[int, int]:
        """(statements, of which BEGIN/COMMIT/ROLLBACK) logged since ``mark``."""
        with self.path.open("rb") as fh:
            fh.seek(self.offset)
            text = fh.read().decode("utf-8", errors="replace")
        lines = [ln for ln in text.splitlines() if self.marker in ln]
        statements = [ln for ln in lines if "LOG:  statement: " in ln or "LOG:  execute " in ln]
        return len(statements), sum(1 for ln in statements if TRANSACTION_CONTROL.search(ln))


class UserStatistics:
    """The statements MariaDB counted for one user (``information_schema.USER_STATISTICS``), from a point on."""

    def __init__(self, admin_url: str, user: str) -> None:
        self.admin_url, self.user = admin_url, user
        self.start = (0, 0)

    def _read(self) -> tuple[int, int]:
        engine = sa.create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                row = conn.execute(
                    sa.text(
                        "SELECT SELECT_COMMANDS, UPDATE_COMMANDS, OTHER_COMMANDS "
                        "FROM information_schema.USER_STATISTICS WHERE USER = :user"
                    ),
                    {"user": self.user},
                ).first()
        finally:
            engine.dispose()
        return (0, 0) if row is None else (int(row[0]) + int(row[1]) + int(row[2]), int(row[2]))

    def mark(self) -> None:
        self.start = self._read()

    def count(self) -> tuple[int, int]:
        """(statements, of which OTHER commands: BEGIN/COMMIT/ROLLBACK among them) counted since ``mark``."""
        now = self._read()
        return now[0] - self.start[0], now[1] - self.start[1]


@contextmanager
def mariadb_user(admin_url: str, database: str) -> Iterator[tuple[str, str]]:
    """(user, password) of a new MariaDB user with every right on ``database``, with per-user statistics
    switched on; the user is dropped and ``userstat`` restored afterwards."""
    user, password = f"bench_idle_{os.urandom(4).hex()}", os.urandom(8).hex()
    engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            was = conn.exec_driver_sql("SELECT @@GLOBAL.userstat").scalar()
            conn.exec_driver_sql(f"CREATE USER '{user}'@'%%' IDENTIFIED BY '{password}'")
            conn.exec_driver_sql(f"GRANT ALL ON `{database}`.* TO '{user}'@'%%'")
            conn.exec_driver_sql("SET GLOBAL userstat = 1")
        try:
            yield user, password
        finally:
            with engine.connect() as conn:
                conn.exec_driver_sql(f"DROP USER IF EXISTS '{user}'@'%%'")
                conn.exec_driver_sql(f"SET GLOBAL userstat = {int(bool(was))}")
    finally:
        engine.dispose()


def measure(
    name: str, pids: list[int], log: StatementLog | UserStatistics, settle: float, seconds: float
) -> Idle:
    time.sleep(settle)
    log.mark()
    cpu0 = [cpu_seconds(p) for p in pids]
    start = time.monotonic()
    time.sleep(seconds)
    cpu1 = [cpu_seconds(p) for p in pids]
    elapsed = time.monotonic() - start
    statements, control = log.count()
    per = len(pids) * elapsed
    cpu = sum(b - a for a, b in zip(cpu0, cpu1, strict=True))
    return Idle(name, len(pids), elapsed, statements / per, control / per, 1000 * cpu / per)


def scrapesched_fleet(
    env: BenchEnv,
    n: int,
    settle: float,
    seconds: float,
    tree: Path | None,
    schedule: str = CONFIG,
    db: str = "postgres",
) -> Idle:
    config = env.workdir / "idle.toml"
    config.write_text(schedule)
    with fresh_database(db, env) as (url, engine):
        database = make_url(url).database
        assert database is not None
        engine.dispose()
        with ExitStack() as stack:
            counter: StatementLog | UserStatistics
            if db == "postgres":
                log_statement_all(env.servers.admin_url("postgres"), database)
                counter = StatementLog(SERVER_LOG, database)
                lock_url = lock_url_for("postgresql", env, database)
            else:
                admin = env.servers.admin_url("mariadb")
                user, password = stack.enter_context(mariadb_user(admin, database))
                url = make_url(url).set(username=user, password=password).render_as_string(hide_password=False)
                counter = UserStatistics(admin, user)
                lock_url = lock_url_for("redis", env, database)
            return _measure_fleet(env, n, settle, seconds, tree, config, url, lock_url, counter)
    raise AssertionError("unreachable")  # pragma: no cover


def _measure_fleet(
    env: BenchEnv,
    n: int,
    settle: float,
    seconds: float,
    tree: Path | None,
    config: Path,
    url: str,
    lock_url: str,
    counter: StatementLog | UserStatistics,
) -> Idle:
    settings = replica_env(database_url=url, lock_url=lock_url, log_format="json")
    if tree is not None:
        settings["PYTHONPATH"] = str(tree)
    with Fleet(env.workdir, settings, config=config, cwd=tree or REPO_ROOT, stop_timeout=20) as fleet:
        for i in range(n):
            fleet.start(f"idle-{i}")
        if not wait_until(lambda: all(r.started() for r in fleet.replicas), 120):
            raise RuntimeError("replicas did not start:\n" + "\n".join(r.log()[-2000:] for r in fleet.replicas))
        label = "scrapesched" + (f" ({tree.name})" if tree is not None else "")
        result = measure(label, [r.proc.pid for r in fleet.replicas], counter, settle, seconds)
        fleet.stop_all()
    return result


def aps4_python() -> Path:
    """The interpreter of the APScheduler 4 virtualenv, created (and the packages installed) when missing."""
    python = APS4_VENV / "bin" / "python"
    if not python.exists():
        progress(f"creating {APS4_VENV} (APScheduler 4)")
        venv.create(APS4_VENV, with_pip=True)
    if subprocess.run([str(python), "-c", APS4_IMPORTS], capture_output=True).returncode != 0:
        subprocess.run([str(python), "-m", "pip", "install", "-q", "--pre", *APS4_REQUIREMENTS], check=True)
    return python


@contextmanager
def aps4_nodes(python: Path, env: BenchEnv, url: str, n: int) -> Iterator[list[subprocess.Popen[bytes]]]:
    script = env.workdir / "aps4_node.py"
    script.write_text(APS4_NODE)
    parsed = make_url(url)
    async_url = parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    conninfo = f"host={parsed.host} port={parsed.port or 5432} user={parsed.username} dbname={parsed.database}"
    if parsed.password:
        conninfo += f" password={parsed.password}"
    procs: list[subprocess.Popen[bytes]] = []
    logs: list[Path] = []

    def start(i: int) -> None:
        logs.append(env.workdir / f"aps4-{i}.log")
        with logs[-1].open("wb") as out:
            procs.append(
                subprocess.Popen(
                    [str(python), str(script), async_url, conninfo, f"aps4-{i}"],
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    cwd=env.workdir,
                )
            )

    def ready(k: int) -> bool:
        return all("ready" in p.read_text(errors="replace") for p in logs[:k])

    try:
        start(0)  # the first node creates the tables; then the others start together
        if not wait_until(lambda: ready(1), 120):
            raise RuntimeError("APScheduler 4 node did not start:\n" + logs[0].read_text(errors="replace")[-3000:])
        for i in range(1, n):
            start(i)
        if not wait_until(lambda: ready(n), 120):
            raise RuntimeError("APScheduler 4 nodes did not start")
        yield procs
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()


def apscheduler4_fleet(env: BenchEnv, n: int, settle: float, seconds: float) -> Idle:
    python = aps4_python()
    with scratch_database("postgres", env.workdir, env.servers, prefix="bench_aps4_") as url:
        database = make_url(url).database
        assert database is not None
        log_statement_all(env.servers.admin_url("postgres"), database)
        with aps4_nodes(python, env, url, n) as procs:
            return measure(
                "APScheduler 4.0.0a6", [p.pid for p in procs], StatementLog(SERVER_LOG, database), settle, seconds
            )


def report(results: list[Idle], db: str) -> None:
    print(
        f"| fleet ({'PostgreSQL' if db == 'postgres' else 'MariaDB + Redis leases'}; APScheduler 4 on PostgreSQL),"
        " idle | replicas | window | **statements/s per replica**"
        " | of which BEGIN/COMMIT/ROLLBACK "
        "| **CPU ms/s per replica** |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for r in results:
        print(
            f"| {r.fleet} | {r.replicas} | {r.seconds:.0f} s | **{r.statements:.2f}** | {r.transaction_control:.2f} "
            f"| **{r.cpu_ms:.2f}** |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.scheduler.idle", description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="the measured window (default 30)")
    parser.add_argument("--settle", type=float, default=10.0, help="seconds after start-up before it (default 10)")
    parser.add_argument("--replicas", type=int, default=4)
    parser.add_argument("--tree", type=Path, default=None, help="run the replicas from this checkout")
    parser.add_argument("--skip-apscheduler4", action="store_true")
    parser.add_argument("--db", choices=("postgres", "mariadb"), default="postgres",
                        help="the fleet's database (mariadb: with Redis leases)")
    parser.add_argument("--per-fire", type=float, default=None, metavar="S",
                        help="also fire the canary every S seconds and report the fleet's statements per fire")
    args = parser.parse_args()
    if args.db == "postgres" and not os.access(SERVER_LOG, os.R_OK):
        sys.exit(f"cannot read the PostgreSQL server log {SERVER_LOG}: statements are counted from it")
    print(machine())
    servers = ServerUrls.from_env()
    results: list[Idle] = []
    with tempfile.TemporaryDirectory(prefix="bench-idle-") as tmp:
        env = BenchEnv(Path(tmp), servers)
        progress("scrapesched fleet")
        results.append(scrapesched_fleet(env, args.replicas, args.settle, args.seconds, args.tree, db=args.db))
        if args.per_fire:
            progress(f"scrapesched fleet, canary every {args.per_fire:g} s")
            every = f'[jobs.canary]\ninterval = "{args.per_fire:g}s"\nparams = {{ seconds = 0 }}\n'
            busy = scrapesched_fleet(env, args.replicas, args.settle, args.seconds, args.tree, every, db=args.db)
            idle, fires = results[0], busy.seconds / args.per_fire
            extra = (busy.statements - idle.statements) * busy.replicas * busy.seconds
            control = (busy.transaction_control - idle.transaction_control) * busy.replicas * busy.seconds
            print(f"fleet of {busy.replicas}, canary every {args.per_fire:g} s, {fires:.0f} fires in "
                  f"{busy.seconds:.0f} s: **{extra / fires:.1f} statements per fire** "
                  f"({control / fires:.1f} of them BEGIN/COMMIT/ROLLBACK); CPU {busy.cpu_ms:.2f} ms/s per replica\n")
        if not args.skip_apscheduler4:
            progress("APScheduler 4 fleet")
            results.append(apscheduler4_fleet(env, args.replicas, args.settle, args.seconds))
    report(results, args.db)
    print(f"\nLoad average after: {load_average()}")


if __name__ == "__main__":
    main()
