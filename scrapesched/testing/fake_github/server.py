"""The fake GitHub as one object (:class:`FakeGitHub`): its data set, served over real HTTP on 127.0.0.1
in a background thread, and the controls a test uses (faults, rate-limit budgets, the request log,
seeded data and random changes).

It wires the parts together: :mod:`.dataset` (the data and the fake clock), :mod:`.auth`,
:mod:`.rate_limits` and :mod:`.faults` (what a request may cost or hit), :mod:`.responder` (the answer),
:mod:`.handlers` (the HTTP server), :mod:`.history` and :mod:`.random_events` (realistic data).
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import datetime
from typing import Any

from scrapesched.testing.fake_github import auth, bulk, history, random_events
from scrapesched.testing.fake_github.auth import Credentials
from scrapesched.testing.fake_github.dataset import Dataset
from scrapesched.testing.fake_github.faults import Faults
from scrapesched.testing.fake_github.handlers import FakeServer
from scrapesched.testing.fake_github.model import DEFAULT_START
from scrapesched.testing.fake_github.protocol import Reply, Request, RequestRecord
from scrapesched.testing.fake_github.rate_limits import ANONYMOUS, Budgets, RateLimitStatus
from scrapesched.testing.fake_github.responder import Responder


class FakeGitHub(Dataset):
    """GitHub's REST API for pull requests, served from memory on ``http://127.0.0.1:PORT``.

    ``tokens``: the valid tokens (``Authorization: Bearer <t>`` or ``token <t>``); None accepts any
    token. ``allow_anonymous``: requests without a token use the anonymous budget (else 401).
    ``rate_limit``/``anonymous_rate_limit``: primary budget per identity and window.
    ``rate_limit_window``: seconds of wall clock before a budget refills. ``latency``: seconds slept
    per request (settable later). ``start_time``: the fake clock's start. All methods are thread-safe.

    GitHub App: with ``app_id``, ``app_public_key`` (PEM) and ``installation_id``,
    ``POST /app/installations/{id}/access_tokens`` with a JWT signed by the App's key (RS256, ``iss`` =
    app id) answers 201 with a new installation token valid ``installation_token_ttl`` wall-clock
    seconds; all installation tokens share one budget (identity ``installation-{id}``), as on GitHub.

    ``page_limit`` (settable later): page-number lists answer GitHub's 422 ("pagination is limited for
    this resource") past that page, and their ``rel="last"`` stops there. ``item_limit`` (settable
    later): the same for a page reaching past that many items (``page * per_page > item_limit``; GitHub's
    comment feed: 40,000). ``token_users``: token ->
    login of its user (default ``scrapesched-bot``), who alone sees their PENDING reviews.
    """

    def __init__(
        self,
        *,
        tokens: Collection[str] | None = None,
        allow_anonymous: bool = True,
        rate_limit: int = 5000,
        anonymous_rate_limit: int = 60,
        rate_limit_window: float = 3600.0,
        latency: float = 0.0,
        port: int = 0,
        start_time: datetime = DEFAULT_START,
        wall_clock: Callable[[], float] = time.time,
        app_id: int | None = None,
        app_public_key: str | None = None,
        installation_id: int | None = None,
        installation_token_ttl: float = 3600.0,
        page_limit: int | None = None,
        item_limit: int | None = None,
        token_users: Mapping[str, str] | None = None,
        host: str = "127.0.0.1",
        public_url: str | None = None,
    ) -> None:
        super().__init__(start_time)
        self._host = host  # another address (0.0.0.0) serves other containers, e.g. docker compose's demo
        self._public_url = public_url.rstrip("/") if public_url else None  # the base URL its links name
        self.latency = latency
        self.page_limit, self.item_limit = page_limit, item_limit
        self._port = port
        self._credentials = Credentials(
            tokens,
            allow_anonymous,
            wall_clock,
            app_id=app_id,
            app_public_key=app_public_key,
            installation_id=installation_id,
            installation_token_ttl=installation_token_ttl,
            token_users=token_users,
        )
        self._budgets = Budgets(rate_limit, anonymous_rate_limit, rate_limit_window, wall_clock)
        self._faults = Faults()
        self._requests: list[RequestRecord] = []
        self._responder = Responder(
            self,
            self._credentials,
            self._budgets,
            self._faults,
            self._requests,
            wall_clock,
            self._api_base,
            lambda: (self.page_limit, self.item_limit),
        )
        self._server: FakeServer | None = None
        self._thread: threading.Thread | None = None

    # ---- lifecycle -------------------------------------------------------------------------------

    @classmethod
    def seeded(
        cls,
        repos: Sequence[str] = ("apache/cloudstack", "acme/widgets"),
        prs_per_repo: int = 20,
        seed: int = 42,
        *,
        comments_per_repo: int | None = None,
        **options: Any,
    ) -> FakeGitHub:
        """A fake (not started) holding deterministic realistic data; ``options`` go to the constructor.

        ``comments_per_repo``: build each repository at scale instead (:mod:`.bulk`: 10,000 PRs and
        200,000 comments in seconds) rather than replaying event histories (:meth:`populate`).
        """
        fake = cls(**options)
        if comments_per_repo is None:
            fake.populate(repos, prs_per_repo, seed)
        else:
            for offset, repo in enumerate(repos):
                bulk.populate_bulk(fake, repo, prs_per_repo, comments_per_repo, seed + offset)
        return fake

    def start(self) -> FakeGitHub:
        """Bind 127.0.0.1 (port 0 = any free port) and serve in a daemon thread."""
        if self._server is not None:
            raise RuntimeError("FakeGitHub already started")
        self._server = FakeServer((self._host, self._port), self._serve)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the listening socket (idempotent)."""
        server, thread = self._server, self._thread
        self._server, self._thread = None, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> FakeGitHub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("FakeGitHub not started")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """Base URL, ``http://127.0.0.1:PORT`` or the ``public_url`` given (no trailing slash)."""
        return self._public_url or f"http://127.0.0.1:{self.port}"

    def _api_base(self) -> str:
        return self.url if self._server is not None else "http://127.0.0.1"

    def _serve(self, request: Request) -> Reply | None:
        """Answer one request (None: drop the connection). Called by the HTTP handler's threads."""
        if self.latency > 0:
            time.sleep(self.latency)
        return self._responder.serve(request)

    # ---- faults ----------------------------------------------------------------------------------

    def fail_next(self, n: int = 1, status: int = 502) -> None:
        """The next ``n`` requests get ``status`` (a 5xx) with a JSON error body, costing no budget."""
        with self.lock:
            self._faults.fail_next(n, status)

    def secondary_limit_next(
        self, n: int = 1, retry_after: int | None = 1, status: int = 403, *, rate_headers: bool = True
    ) -> None:
        """The next ``n`` requests hit a secondary rate limit (403 or 429, ``Retry-After`` unless None);
        ``rate_headers=False``: the answers carry no ``X-RateLimit-*`` header, as GitHub's often do not."""
        with self.lock:
            self._faults.secondary_limit_next(n, retry_after, status, rate_headers)

    def slow_pages(
        self,
        path_contains: str = "",
        *,
        per_page_above: int = 50,
        status: int = 502,
        n: int | None = None,
        probability: float = 1.0,
        seed: int = 0,
    ) -> None:
        """List requests whose path+query contains ``path_contains`` and whose ``per_page`` (default 30)
        is above ``per_page_above`` answer ``status`` (502/504, GitHub's "couldn't respond to your request
        in time"), each with ``probability``, for the next ``n`` of them (None: until ``clear_faults``).
        They cost no budget; the request log says ``fault="slow"``."""
        with self.lock:
            self._faults.slow_pages(path_contains, per_page_above, status, n, probability, seed)

    def malformed_json_next(self, n: int = 1, path_contains: str = "") -> None:
        """The next ``n`` 200 answers whose path+query contains ``path_contains`` carry truncated JSON."""
        with self.lock:
            self._faults.malformed_json_next(n, path_contains)

    def drop_connection_next(self, n: int = 1) -> None:
        """The next ``n`` requests are answered by closing the socket, with no response at all."""
        with self.lock:
            self._faults.drop_connection_next(n)

    def clear_faults(self) -> None:
        with self.lock:
            self._faults.clear()

    # ---- request log and budgets -----------------------------------------------------------------

    @staticmethod
    def fingerprint(token: str) -> str:
        """How the request log names a token: the first 8 hex digits of its sha256."""
        return auth.fingerprint(token)

    @property
    def requests(self) -> list[RequestRecord]:
        """A copy of the request log, oldest first."""
        with self.lock:
            return list(self._requests)

    def reset_requests(self) -> None:
        with self.lock:
            self._requests.clear()

    def request_counts(self) -> dict[str, int]:
        """Logged requests per repository (``owner/name``); requests naming no repository are left out."""
        with self.lock:
            return dict(Counter(r.repo for r in self._requests if r.repo is not None))

    @property
    def installation_tokens_issued(self) -> int:
        """How many installation tokens the GitHub App flow has issued."""
        with self.lock:
            return self._credentials.installation_tokens_issued

    def rate_limit_status(self, token: str | None = None) -> RateLimitStatus:
        """The primary budget of ``token`` (None: anonymous)."""
        with self.lock:
            return self._budgets.of(self._identity(token)).status()

    def set_remaining(self, token: str | None, remaining: int) -> None:
        """Set what is left of a budget in the current window (e.g. 0 to test exhaustion)."""
        with self.lock:
            budget = self._budgets.of(self._identity(token))
            budget.used = max(0, budget.limit - remaining)

    def reset_rate_limits(self) -> None:
        """Forget every budget: the next request of each identity starts a full window."""
        with self.lock:
            self._budgets.clear()

    @staticmethod
    def _identity(token: str | None) -> str:
        return ANONYMOUS if token is None else auth.fingerprint(token)

    # ---- realistic data --------------------------------------------------------------------------

    def populate(self, repos: Sequence[str], prs_per_repo: int, seed: int) -> None:
        """Add ``prs_per_repo`` PRs with realistic histories to each repo (created if missing).

        Histories span about 90 days from ``now``; their events are applied in time order with the fake
        clock set to each event's time, and the clock ends one hour after the last event.
        """
        history.populate(self, repos, prs_per_repo, seed)

    def mutate_random(self, n: int, rng: random.Random, *, untouched: float = 0.0) -> list[str]:
        """Make ``n`` mixed changes (advancing the clock 1-900 s before each); returns what was done.

        ``untouched``: probability that a label/review change does not move the PR's updated_at.
        """
        return random_events.mutate_random(self, n, rng, untouched=untouched)
