"""Who is asking the fake GitHub: tokens (``Authorization: Bearer <t>`` or ``token <t>``), anonymous
requests, and the GitHub App flow that trades an App's JWT for installation tokens.

The answer is the identity whose rate-limit budget a request spends (see :mod:`.rate_limits`); a request
that may not pass raises :class:`HttpError` (401, or 404 for an unknown App installation). Tokens are
kept only as sha256 digests, and the request log names them by :func:`fingerprint`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Collection, Mapping
from datetime import UTC, datetime
from typing import Any

from scrapesched.testing.fake_github.model import WIRE_TIME
from scrapesched.testing.fake_github.protocol import Exchange, HttpError
from scrapesched.testing.fake_github.rate_limits import ANONYMOUS

DEFAULT_LOGIN = "scrapesched-bot"  # whom a token belongs to unless ``token_users`` says otherwise


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def fingerprint(token: str) -> str:
    """How the request log names a token: the first 8 hex digits of its sha256."""
    return digest(token)[:8]


class Credentials:
    """The valid tokens (None: any token), anonymous access, and the GitHub App with its installation.

    With ``app_id``, ``app_public_key`` (PEM) and ``installation_id``, a JWT signed by the App's key (RS256,
    ``iss`` = app id) buys an installation token valid ``installation_token_ttl`` wall-clock seconds; all
    installation tokens share one identity (``installation-{id}``), as on GitHub. Not locked (the fake
    calls it under its lock). ``token_users`` maps a token to its user's login (default
    :data:`DEFAULT_LOGIN`; an installation token acts as ``{app}[bot]``).
    """

    def __init__(
        self,
        tokens: Collection[str] | None,
        allow_anonymous: bool,
        wall_clock: Callable[[], float],
        *,
        app_id: int | None = None,
        app_public_key: str | None = None,
        installation_id: int | None = None,
        installation_token_ttl: float = 3600.0,
        token_users: Mapping[str, str] | None = None,
    ) -> None:
        self._logins = {digest(t): login for t, login in (token_users or {}).items()}
        self._valid_tokens = None if tokens is None else {digest(t) for t in tokens}
        self.allow_anonymous = allow_anonymous
        self._wall = wall_clock
        self.app_id, self.app_public_key, self.installation_id = app_id, app_public_key, installation_id
        self.installation_token_ttl = installation_token_ttl
        self._installation_tokens: dict[str, float] = {}  # token digest -> wall-clock expiry
        self.installation_tokens_issued = 0

    def authenticate(self, ex: Exchange) -> str:
        """The budget identity of the request (sets ``ex.token``); raises the 401 to send."""
        header = ex.request.authorization
        if header is None:
            if self.allow_anonymous:
                return ANONYMOUS
            raise HttpError(401, "Requires authentication")
        scheme, _, token = header.strip().partition(" ")
        token = token.strip()
        if token:
            ex.token = fingerprint(token)
        valid = scheme.lower() in ("bearer", "token") and bool(token)
        installation = self._installation_tokens.get(digest(token))
        if valid and installation is not None:
            if self._wall() >= installation:
                raise HttpError(401, "Bad credentials")
            ex.viewer = f"app-{self.app_id}[bot]"
            return f"installation-{self.installation_id}"
        if not valid or (self._valid_tokens is not None and digest(token) not in self._valid_tokens):
            raise HttpError(401, "Bad credentials")
        ex.viewer = self._logins.get(digest(token), DEFAULT_LOGIN)
        return fingerprint(token)

    def issue_installation_token(self, ex: Exchange) -> dict[str, Any]:
        """``POST /app/installations/{id}/access_tokens``: a JWT of the App in, an installation token out."""
        expected = f"/app/installations/{self.installation_id}/access_tokens"
        if self.app_id is None or self.app_public_key is None or ex.request.path != expected:
            raise HttpError(404, "Not Found")
        scheme, _, token = (ex.request.authorization or "").strip().partition(" ")
        ex.token = fingerprint(token.strip()) if token.strip() else None
        import jwt  # only the App flow needs PyJWT; the rest of the fake is standard library

        try:
            claims = jwt.decode(
                token.strip(), self.app_public_key, algorithms=["RS256"], options={"require": ["exp", "iat", "iss"]}
            )
        except jwt.PyJWTError as exc:
            raise HttpError(401, "A JSON web token could not be decoded") from exc
        if scheme.lower() != "bearer" or str(claims.get("iss")) != str(self.app_id):
            raise HttpError(401, "A JSON web token could not be decoded")
        issued = f"ghs_{hashlib.sha256(f'{token}:{self.installation_tokens_issued}'.encode()).hexdigest()[:36]}"
        expiry = self._wall() + self.installation_token_ttl
        self._installation_tokens[digest(issued)] = expiry
        self.installation_tokens_issued += 1
        return {"token": issued, "expires_at": datetime.fromtimestamp(expiry, UTC).strftime(WIRE_TIME)}
