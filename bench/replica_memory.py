"""Resident memory of one ``scrapesched run`` replica, for the Kubernetes requests and limits.

Starts a real replica (its own process, the installed CLI) on the given database with the ``canary`` job
every second on a few shards and ``retention`` every 5 s, reads ``process_resident_memory_bytes`` from its
``/metrics`` once a second for ``--seconds``, then stops it and prints the first, median and largest value.

    python -m bench.replica_memory --database-url mysql://root@127.0.0.1:3306/test --seconds 120
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench.machine import machine

SCHEDULE = '[jobs.canary]\ninterval = "1s"\nshards = ["a", "b", "c"]\n[jobs.retention]\ninterval = "5s"\n'


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _rss(url: str) -> float | None:
    try:
        text = httpx.get(url, timeout=2).text
    except httpx.TransportError:
        return None
    match = re.search(r"^process_resident_memory_bytes (\S+)$", text, re.M)
    return float(match.group(1)) if match else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.replica_memory", description=__doc__)
    parser.add_argument("--database-url", default=None, help="default: a temporary SQLite file")
    parser.add_argument("--seconds", type=int, default=120)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench_rss_") as tmp:
        port = _free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("SCRAPESCHED_")}
        env |= {
            "SCRAPESCHED_DATABASE_URL": args.database_url or f"sqlite:///{tmp}/bench.db",
            "SCRAPESCHED_HTTP_PORT": str(port),
            "SCRAPESCHED_HTTP_HOST": "127.0.0.1",
        }
        config = Path(tmp) / "schedule.toml"
        config.write_text(SCHEDULE)
        cli = [sys.executable, "-m", "scrapesched"]
        subprocess.run([*cli, "migrate"], env=env, check=True, capture_output=True)
        replica = subprocess.Popen([*cli, "--config", str(config), "run"], env=env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        samples: list[float] = []
        try:
            url = f"http://127.0.0.1:{port}/metrics"
            deadline = time.monotonic() + 120
            while _rss(url) is None and time.monotonic() < deadline:
                time.sleep(1)
            end = time.monotonic() + args.seconds
            while time.monotonic() < end:
                value = _rss(url)
                if value is not None:
                    samples.append(value)
                time.sleep(1)
        finally:
            replica.terminate()
            replica.wait(timeout=120)
    if not samples:
        print("no /metrics sample: the replica did not start", file=sys.stderr)
        return 1
    mib = [s / 2**20 for s in samples]
    print(f"machine: {machine()}")
    print(f"replica RSS over {args.seconds}s ({len(mib)} samples): first {mib[0]:.1f} MiB, "
          f"median {statistics.median(mib):.1f} MiB, max {max(mib):.1f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
