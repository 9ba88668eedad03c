"""``python -m scrapesched.testing.fake_github``: serve a seeded fake GitHub until SIGTERM or SIGINT.

    python -m scrapesched.testing.fake_github --port 8765 --repos a/b,c/d --prs 20 --seed 1
    python -m scrapesched.testing.fake_github --repos apache/cloudstack --prs 10000 --comments 200000

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
    parser.add_argument("--port", type=int, default=0, help="port (0: any free port)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (0.0.0.0: other containers too)")
    parser.add_argument("--public-url", default=None, help="base URL clients use, e.g. http://fake-github:8765")
    parser.add_argument("--repos", default="apache/cloudstack,acme/widgets", help="comma-separated owner/name")
    parser.add_argument("--prs", type=int, default=20, help="pull requests per repository")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--comments", type=int, default=None, help="comments per repository: build at scale")
    parser.add_argument("--page-limit", type=int, default=None, help="422 past this page number, as GitHub does")
    parser.add_argument("--tokens", default="", help="comma-separated valid tokens (empty: accept any)")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds slept per request")
    parser.add_argument("--rate-limit", type=int, default=5000, help="primary budget per token per window")
    parser.add_argument("--rate-limit-window", type=float, default=3600.0, help="seconds before a budget refills")
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
        comments_per_repo=args.comments,
        page_limit=args.page_limit,
        port=args.port,
        host=args.host,
        public_url=args.public_url,
        tokens=_split(args.tokens) or None,
        latency=args.latency,
        rate_limit=args.rate_limit,
        rate_limit_window=args.rate_limit_window,
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
