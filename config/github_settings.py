"""The ``[github]`` part of the settings: credentials, API address, bot logins, sync and rate-limit tuning.

In the config file::

    [github]
    api_url = "https://github.example.com/api/v3"
    tokens = "/etc/scrapesched-tokens/tokens"
    max_wait = "10m"

Every key also has an environment variable, which beats the file: ``SCRAPESCHED_GITHUB_<KEY>`` (and
``GITHUB_TOKEN``), except the bot logins, ``SCRAPESCHED_TRILLIAN_BOT_LOGIN`` and
``SCRAPESCHED_CODECOV_BOT_LOGINS``; ``ENV_NAMES`` lists them. Tokens are secrets: never in a repr or a log.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from scrapesched.config.durations import Duration
from scrapesched.config.lists import CommaList
from scrapesched.config.strict import Whole


def token_list(value: str) -> list[str]:
    """Tokens from a comma-separated list, or from a file with one token per line (or comma-separated)."""
    text = value.strip()
    path = Path(text)
    if "," not in text and path.is_file():
        text = path.read_text()
    return [t.strip() for t in text.replace("\n", ",").split(",") if t.strip()]


class GitHubSettings(BaseModel):
    """The ``[github]`` table."""

    model_config = ConfigDict(extra="forbid")

    token: SecretStr | None = Field(default=None, repr=False)
    """GitHub token. Never logged or stored."""

    tokens: SecretStr | None = Field(default=None, repr=False)
    """Several tokens, comma-separated, or the path of a file with one per line (a mounted Kubernetes
    secret). Used one at a time, switched only when one is exhausted: GitHub's terms forbid pooling
    tokens to get around rate limits."""

    api_url: str = "https://api.github.com"
    """GitHub API base URL (GitHub Enterprise: `https://HOST/api/v3`)."""

    app_id: Whole | None = None
    """GitHub App id (with the private key file and installation id: installation tokens, more quota)."""

    app_private_key_file: Path | None = None
    """PEM private key file of the GitHub App."""

    app_installation_id: Whole | None = None
    """Installation id of the GitHub App on the organisation or repositories scraped."""

    trillian_bot_login: str = "blueorangutan"
    """Login of the smoke-test bot whose result comments fill pr_trillian_comments and test_results."""

    codecov_bot_logins: CommaList = Field(default_factory=lambda: ["codecov[bot]", "codecov-io", "codecov-commenter"])
    """Logins whose comments are Codecov reports."""

    sync_overlap: Duration = 300.0
    """Overlap window of incremental GitHub syncs: each run re-reads what changed this long before its
    cursor, so changes GitHub made visible late (eventual consistency, same-second updates) are not missed."""

    max_wait: Duration = 900.0
    """Longest rate-limit wait (primary reset or secondary `Retry-After`) a run accepts; a longer one ends
    the run with its cursor intact, to resume on the next fire."""

    rate_limit_reserve: Whole = Field(default=50, ge=0)
    """Requests per token and rate-limit window left unused (for people and other tools): a token at this
    many remaining counts as exhausted."""

    rate_limit_slowdown: Whole = Field(default=500, ge=0)
    """Below this many remaining requests (as last seen by any replica) requests are spread out evenly
    until the window resets, so the fleet slows down together instead of hitting the limit."""

    secondary_wait: Duration = 60.0
    """Wait after a secondary rate limit that gives no `Retry-After`; doubled on each repeat."""

    def all_tokens(self) -> list[str]:
        """``token`` first, then every token of ``tokens`` (read from its file if it names one)."""
        out: list[str] = []
        if self.token is not None:
            out.append(self.token.get_secret_value().strip())
        if self.tokens is not None:
            out += token_list(self.tokens.get_secret_value())
        return out


# The environment variables of each key, the first one found wins. They keep the names they had before
# the [github] table existed (deployments and the Dockerfile use them).
ENV_NAMES: dict[str, tuple[str, ...]] = {
    "token": ("SCRAPESCHED_GITHUB_TOKEN", "GITHUB_TOKEN"),
    "tokens": ("SCRAPESCHED_GITHUB_TOKENS",),
    "api_url": ("SCRAPESCHED_GITHUB_API_URL",),
    "app_id": ("SCRAPESCHED_GITHUB_APP_ID",),
    "app_private_key_file": ("SCRAPESCHED_GITHUB_APP_PRIVATE_KEY_FILE",),
    "app_installation_id": ("SCRAPESCHED_GITHUB_APP_INSTALLATION_ID",),
    "trillian_bot_login": ("SCRAPESCHED_TRILLIAN_BOT_LOGIN",),
    "codecov_bot_logins": ("SCRAPESCHED_CODECOV_BOT_LOGINS",),
    "sync_overlap": ("SCRAPESCHED_GITHUB_SYNC_OVERLAP",),
    "max_wait": ("SCRAPESCHED_GITHUB_MAX_WAIT",),
    "rate_limit_reserve": ("SCRAPESCHED_GITHUB_RATE_LIMIT_RESERVE",),
    "rate_limit_slowdown": ("SCRAPESCHED_GITHUB_RATE_LIMIT_SLOWDOWN",),
    "secondary_wait": ("SCRAPESCHED_GITHUB_SECONDARY_WAIT",),
}
