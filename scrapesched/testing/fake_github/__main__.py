"""``python -m scrapesched.testing.fake_github``: serve a seeded fake GitHub until SIGTERM or SIGINT.

    python -m scrapesched.testing.fake_github --port 8765 --repos a/b,c/d --prs 20 --seed 1

The first line printed names the base URL (``fake GitHub on http://127.0.0.1:PORT serving ...``).
"""

from __future__ import annotations

import argparse
import signal
import threading
from collections.abc import Sequence
from types import FrameType

from scrapesched.testing.fake_github.server import FakeGitHub


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m scrapesched.testing.fake_github", description="Serve a seeded fake GitHub until SIGTERM."
    )
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: any free port)")
    parser.add_argument("--repos", default="apache/cloudstack,acme/widgets", help="comma-separated owner/name")
    parser.add_argument("--prs", type=int, default=20, help="pull requests per repository")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--tokens", default="", help="comma-separated valid tokens (empty: accept any)")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds slept per request")
    parser.add_argument("--rate-limit", type=int, default=5000, help="primary budget per token per hour")
    return parser.parse_args(argv)


def _split(csv: str) -> list[str]:
    return [item.strip() for item in csv.split(",") if item.strip()]


def main(argv: Sequence[str] | None = None) -> int:
    """Serve seeded data until SIGTERM or SIGINT; prints the base URL on its first line."""
    args = _parse_args(argv)
    repos = _split(args.repos)
    fake = FakeGitHub.seeded(
        repos=repos,
        prs_per_repo=args.prs,
        seed=args.seed,
        port=args.port,
        tokens=_split(args.tokens) or None,
        latency=args.latency,
        rate_limit=args.rate_limit,
    )
    stopping = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    with fake:
        print(f"fake GitHub on {fake.url} serving {', '.join(repos)}", flush=True)
        while not stopping.wait(0.5):
            pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
