"""Benchmark of the scheduler core (issue 5), one module per part: (a) per-fire overhead
(:mod:`.overhead`, profiled by :mod:`.profiling`), (b) failover after SIGKILL (:mod:`.failover`),
(c) fleet throughput (:mod:`.throughput`); :mod:`.common` holds what they share. The cost of an idle fleet
next to APScheduler 4 (issue 16) is a command of its own: ``python -m bench.scheduler.idle`` (:mod:`.idle`).

Each combination of database and lock backend gets a fresh database (``bench_<random>`` on
MariaDB/PostgreSQL, dropped at the end; a temporary file for SQLite) migrated to head and its own Redis
key / lock name prefix ``bench:<random>:``. Servers come from ``SSTEST_MYSQL_URL``, ``SSTEST_POSTGRES_URL``
and ``SSTEST_REDIS_URL`` (defaults: the loopback servers).

Usage (from the repository's top folder)::

    .venv/bin/python -m bench.scheduler [--part overhead,failover,throughput] [--quick]
        [--fires 300] [--overhead-combos sqlite+table,...] [--profile mariadb+redis] [--ttls 2,5,10]
        [--failover-reps 3] [--failover-combos ...] [--replicas 1,2,4] [--throughput-reps 2]
        [--throughput-combos ...]

Prints Markdown tables on stdout (progress on stderr). Timings are never a test.
"""
