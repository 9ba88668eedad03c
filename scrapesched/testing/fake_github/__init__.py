"""A real local HTTP server that behaves like the GitHub REST API, for tests, benchmarks and
``scrapesched demo``.

We never mock GitHub with patched functions: tests and the demo talk HTTP to this server. It holds an
in-memory state (repositories, pull requests, labels, reviews, issue comments including the Codecov and
Trillian bot comments), serves it with GitHub's JSON shapes (valid against GitHub's published schema),
pagination (``Link`` headers with ``/repositories/{id}/...`` URLs, a page-depth limit), token-bound ETags,
``Last-Modified`` and ``304``,
per-token primary rate limits, and faults armed from tests (5xx bursts, slow big pages, secondary rate
limits, truncated JSON, dropped connections, latency). It also produces what GitHub produces: PENDING
reviews only their author sees, deleted accounts (``"user": null``), reviews appended past 100.
``truth(repo)`` says what a correct scraper must store. docs/github.md ("The fake's fidelity") says
what GitHub does and how the fake models it.

Two clocks, on purpose: the fake clock (``now``/``advance``) stamps every ``created_at``/``updated_at`` of
the data, so tests are deterministic; the rate-limit windows use the wall clock (``wall_clock``, default
:func:`time.time`), because a scraper sleeps in real time until ``X-RateLimit-Reset``.

Standard library only, but PyJWT to check GitHub App JWTs. The modules, one job each:

- :mod:`.model` the data classes; :mod:`.dataset` the data set, its fake clock and GitHub's actions on it;
- :mod:`.content`, :mod:`.random_events`, :mod:`.history` realistic seeded data and random changes;
  :mod:`.bulk` a repository at apache/cloudstack's scale (10,000 PRs, 200,000 comments) in seconds;
- :mod:`.comments` the bots' comment bodies; :mod:`.ground_truth` what a correct scraper stores;
- :mod:`.auth`, :mod:`.rate_limits`, :mod:`.faults` what a request may cost or hit;
- :mod:`.routes` and :mod:`.shapes` the REST resources and their JSON; :mod:`.responder` one answer;
- :mod:`.handlers` the HTTP server; :mod:`.server` :class:`FakeGitHub`, the whole fake and its controls;
- :mod:`.__main__` ``python -m scrapesched.testing.fake_github --port 8765 --repos a/b,c/d --prs 20
  --seed 1`` serves seeded data until SIGTERM.
"""

from scrapesched.testing.fake_github.comments import (
    CODECOV_BOT,
    TRILLIAN_BOT,
    CodecovSpec,
    TestOutcome,
    TrillianResultSpec,
    TrillianTestRow,
    render_codecov,
    render_trillian,
)
from scrapesched.testing.fake_github.ground_truth import Truth
from scrapesched.testing.fake_github.protocol import RequestRecord
from scrapesched.testing.fake_github.rate_limits import RateLimitStatus
from scrapesched.testing.fake_github.server import FakeGitHub

__all__ = [
    "CODECOV_BOT",
    "TRILLIAN_BOT",
    "CodecovSpec",
    "FakeGitHub",
    "RateLimitStatus",
    "RequestRecord",
    "TestOutcome",
    "TrillianResultSpec",
    "TrillianTestRow",
    "Truth",
    "render_codecov",
    "render_trillian",
]
