"""Keeping secrets out of every line we print: URL passwords and known tokens are replaced by ``***``."""

from __future__ import annotations

import re
from collections.abc import Iterable

MASK = "***"

# scheme://user:password@host  ->  scheme://user:***@host
_URL_PASSWORD = re.compile(r"(?P<head>[a-zA-Z][a-zA-Z0-9+.\-]*://[^:/@\s]*:)(?P<secret>[^@\s]+)@")
# GitHub token shapes (classic, fine-grained, app installation, OAuth) and Authorization headers.
_TOKEN_SHAPES = re.compile(
    r"\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})\b"
    r"|(?i:(?<=authorization: )(?:bearer|token) \S+)"
    r"|(?i:(?<=authorization=)(?:bearer|token) \S+)"
)
# A connection string's "password=..." pair (libpq keyword form, ODBC style).
_KV_PASSWORD = re.compile(r"(?i)\b(password|passwd|pwd)=([^\s&;]+)")


class Redactor:
    """Removes secrets from text: URL passwords, token-shaped strings and every registered secret value."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: set[str] = set()
        for secret in secrets:
            self.add(secret)

    def add(self, secret: str | None) -> None:
        """Register one more value that must never be printed (short values are ignored as too ambiguous)."""
        if secret and len(secret) >= 4:
            self._secrets.add(secret)

    def __call__(self, text: str) -> str:
        for secret in sorted(self._secrets, key=len, reverse=True):
            if secret in text:
                text = text.replace(secret, MASK)
        text = _URL_PASSWORD.sub(lambda m: m.group("head") + MASK + "@", text)
        text = _KV_PASSWORD.sub(lambda m: m.group(1) + "=" + MASK, text)
        return _TOKEN_SHAPES.sub(MASK, text)


def redact_url(url: str) -> str:
    """The URL with its password (if any) replaced by ``***``."""
    return _URL_PASSWORD.sub(lambda m: m.group("head") + MASK + "@", url)
