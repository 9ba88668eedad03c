"""Where GitHub credentials come from: one token, several tokens used one at a time, or a GitHub App.

- ``StaticTokens``: ``GITHUB_TOKEN`` and/or ``SCRAPESCHED_GITHUB_TOKENS``. The list is an order of
  preference, not a pool: the rate-limit budget (``scrapers.github.budget``) always picks the first token
  that is not exhausted, so the whole fleet uses one token until it runs out. GitHub's terms forbid
  rotating tokens to get around its rate limits; a second token is a fallback, not extra capacity.
- ``AppTokens``: a GitHub App's installation token, the supported way to more quota. A JWT signed with the
  App's private key (RS256, valid 9 minutes) is exchanged for an installation token, which is refreshed
  five minutes before it expires.

A ``Credential`` carries the ``Authorization`` header value and a ``token_id`` that names the budget it
draws from (a SHA-256 prefix for tokens, the installation id for an App): the token itself is never
logged, stored or put in an error message.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

import jwt

from scrapesched.config.errors import ConfigError
from scrapesched.scrapers.github.errors import GitHubAuthError, GitHubBadResponse, describe_request
from scrapesched.scrapers.http import HttpClient

ANONYMOUS = "anonymous"
JWT_LIFETIME_S = 540  # GitHub accepts at most 10 minutes
JWT_BACKDATE_S = 60  # allow for clock drift, as GitHub recommends
REFRESH_BEFORE_S = 300  # renew an installation token this long before it expires


@dataclass(frozen=True)
class Credential:
    """One identity: ``header`` is the Authorization value (None: anonymous), ``token_id`` its budget."""

    token_id: str
    header: str | None

    def __repr__(self) -> str:  # never show the header, even in a debugger or a traceback
        return f"Credential(token_id={self.token_id!r})"

    @property
    def token_key(self) -> str:
        """A fingerprint of this very token (an App's renewed installation token gets a new one, unlike its
        ``token_id``): GitHub binds an ETag to the token that got it, so a validator is sent as
        ``If-None-Match`` only with the same ``token_key``."""
        return "anon" if self.header is None else hashlib.sha256(self.header.encode()).hexdigest()[:16]


class TokenSource(Protocol):
    """Credentials in order of preference."""

    def credentials(self) -> list[Credential]: ...


def token_id(token: str) -> str:
    """The budget name of a token: a SHA-256 prefix, safe to log and store."""
    return "tok-" + hashlib.sha256(token.encode()).hexdigest()[:16]


class StaticTokens:
    """Personal access tokens (or none: anonymous), in the configured order."""

    def __init__(self, tokens: list[str]) -> None:
        unique = list(dict.fromkeys(t for t in tokens if t))
        if unique:
            self._credentials = [Credential(token_id(t), f"Bearer {t}") for t in unique]
        else:
            self._credentials = [Credential(ANONYMOUS, None)]

    def credentials(self) -> list[Credential]:
        return list(self._credentials)


class AppTokens:
    """A GitHub App installation token, exchanged for a JWT and refreshed before it expires."""

    def __init__(
        self,
        api_url: str,
        app_id: int,
        private_key: str,
        installation_id: int,
        http: HttpClient,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._url = f"{api_url.rstrip('/')}/app/installations/{installation_id}/access_tokens"
        self._app_id = app_id
        self._key = private_key
        self._http = http
        self._clock = clock
        self._id = f"app-{installation_id}"
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires = 0.0

    def app_jwt(self) -> str:
        """The App's own JWT (RS256), valid for 9 minutes from a minute ago."""
        now = int(self._clock())
        claims = {"iat": now - JWT_BACKDATE_S, "exp": now + JWT_LIFETIME_S, "iss": str(self._app_id)}
        try:
            return jwt.encode(claims, self._key, algorithm="RS256")
        except (ValueError, TypeError, jwt.PyJWTError) as exc:
            raise ConfigError(f"GitHub App private key cannot sign a JWT: {type(exc).__name__}") from None

    def credentials(self) -> list[Credential]:
        with self._lock:
            if self._token is None or self._clock() >= self._expires - REFRESH_BEFORE_S:
                self._token, self._expires = self._exchange()
            return [Credential(self._id, f"Bearer {self._token}")]

    def _exchange(self) -> tuple[str, float]:
        response = self._http.request(
            "POST",
            self._url,
            headers={"Authorization": f"Bearer {self.app_jwt()}", "Accept": "application/vnd.github+json"},
        )
        where = describe_request("POST", self._url)
        if response.status_code in (401, 403, 404):
            raise GitHubAuthError(
                f"{where}: {response.status_code}: GitHub refused the App installation token exchange "
                "(check github.app_id, github.app_private_key_file and github.app_installation_id)"
            )
        if response.status_code != 201 and response.status_code != 200:
            raise GitHubBadResponse(f"{where}: unexpected status {response.status_code} for an installation token")
        try:
            payload = response.json()
            token = str(payload["token"])
            expires = datetime.fromisoformat(str(payload["expires_at"]).replace("Z", "+00:00")).timestamp()
        except (ValueError, KeyError, TypeError):
            raise GitHubBadResponse(f"{where}: the installation token answer cannot be read") from None
        return token, expires


def token_source(
    *,
    api_url: str,
    http: HttpClient,
    tokens: list[str],
    app_id: int | None,
    app_private_key_file: Path | None,
    app_installation_id: int | None,
) -> TokenSource:
    """The App when it is configured (all three settings), else the tokens, else anonymous."""
    app_parts = (app_id, app_private_key_file, app_installation_id)
    if any(part is not None for part in app_parts):
        if app_id is None or app_private_key_file is None or app_installation_id is None:
            raise ConfigError(
                "a GitHub App needs github.app_id, github.app_private_key_file and github.app_installation_id"
            )
        try:
            key = Path(app_private_key_file).read_text()
        except OSError as exc:
            raise ConfigError(f"GitHub App private key file {str(app_private_key_file)!r}: {exc.strerror}") from None
        return AppTokens(api_url, app_id, key, app_installation_id, http)
    return StaticTokens(tokens)
