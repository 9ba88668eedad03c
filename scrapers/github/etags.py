"""Conditional requests: the last 200 of each URL (ETag, Last-Modified, Link and the zlib-compressed body)
kept in ``http_etags``, so a ``304 Not Modified`` (free of rate limit) can be answered from the database.

Rows are written by the caller, in the same transaction as the data derived from the body: a URL's ETag
is never stored ahead of the data, so a crash in between gets a 200 next time, never a 304 for data that
was not written.

GitHub binds an ETag to the token that got it (a conditional request with another token's ETag is answered
200), so each row keeps ``token_key``, the fingerprint of that token. With the same token the stored ETag is
sent; with another one (an App's hourly renewal, a switch to the fallback token) the ETag GitHub computes
for the new token from the stored body (``expected_etag``), or ``If-Modified-Since`` for a response that
had only a ``Last-Modified``. That keeps "nothing changed" free across a token renewal or switch.
"""

from __future__ import annotations

import hashlib
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection, Engine

from scrapesched.db.prune import delete_before
from scrapesched.db.retry import read
from scrapesched.db.schema import http_etags
from scrapesched.db.upsert import upsert

TOUCH_AFTER = timedelta(days=1)  # a 304 refreshes ``used_at`` (for retention) at most this often


@dataclass(frozen=True)
class Cached:
    """What was stored for a URL."""

    etag: str | None
    last_modified: str | None
    link: str | None
    body: bytes
    used_at: datetime
    token_key: str | None = None  # the token the ETag belongs to (None: unknown, stored before 0006)

    def validators(self, token_key: str, accept: str, authorization: str | None) -> dict[str, str]:
        """The conditional headers to send with a token: the stored ETag if that token got it; for another
        token the ETag GitHub will compute for it (``expected_etag``), or, for a response without an ETag,
        its Last-Modified date."""
        if self.etag and self.token_key in (None, token_key):
            return {"If-None-Match": self.etag}
        if self.etag:
            return {"If-None-Match": expected_etag(self.body, accept, authorization, weak=self.etag.startswith("W/"))}
        if self.last_modified:
            return {"If-Modified-Since": self.last_modified}
        return {}


def expected_etag(body: bytes, accept: str | None, authorization: str | None, *, weak: bool) -> str:
    """The ETag GitHub gives ``body`` for a request with these headers: SHA-256 over the values of the
    ``Accept``, ``Authorization`` and ``Cookie`` headers present, each followed by ``:``, then the body.

    Not documented by GitHub: reverse-engineered and published by bored-engineer/github-conditional-http-
    transport (README, "Reverse Engineering the GitHub ETag algorithm", observed on github.com in 2025), and
    what GitHub support calls the token-specific ETag. If GitHub changes it, the conditional request is
    simply answered 200 (one request, the old behaviour), never a wrong 304.
    """
    digest = hashlib.sha256()
    for value in (accept, authorization):
        if value:
            digest.update(value.encode() + b":")
    digest.update(body)
    return f'{"W/" if weak else ""}"{digest.hexdigest()}"'


def url_hash(url: str) -> str:
    return hashlib.sha256(url.encode()).hexdigest()


def etag_row(
    url: str,
    *,
    etag: str | None,
    last_modified: str | None,
    link: str | None,
    body: bytes,
    now: datetime,
    token_key: str | None = None,
) -> dict[str, Any]:
    """The ``http_etags`` row for a response (the body is compressed here)."""
    return {
        "url_hash": url_hash(url),
        "url": url,
        "etag": etag,
        "last_modified": last_modified,
        "token_key": token_key,
        "link": link,
        "body": zlib.compress(body, 6),
        "fetched_at": now,
        "used_at": now,
    }


def needs_touch(cached: Cached, now: datetime) -> bool:
    return now - cached.used_at > TOUCH_AFTER


class EtagStore:
    """Reads stored validators; writes happen through ``save`` inside the caller's transaction."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def lookup(self, url: str) -> Cached | None:
        return self.lookup_many([url]).get(url)

    def lookup_many(self, urls: list[str]) -> dict[str, Cached]:
        """The stored validators of several URLs in one query (URLs without one are left out)."""
        by_hash = {url_hash(url): url for url in urls}
        found: dict[str, Cached] = {}
        if not by_hash:
            return found
        query = sa.select(
            http_etags.c.url_hash, http_etags.c.etag, http_etags.c.last_modified, http_etags.c.link,
            http_etags.c.body, http_etags.c.used_at, http_etags.c.token_key,
        ).where(http_etags.c.url_hash.in_(sorted(by_hash)))
        rows = read(self._engine, lambda conn: conn.execute(query).all(), what="validators")
        for row in rows:
            cached = self._cached(row)
            if cached is not None:
                found[by_hash[row.url_hash]] = cached
        return found

    @staticmethod
    def _cached(row: Any) -> Cached | None:
        if row.body is None or not (row.etag or row.last_modified):
            return None
        try:
            body = zlib.decompress(bytes(row.body))
        except zlib.error:
            return None  # a damaged row: fetch again unconditionally
        used = row.used_at if row.used_at is not None else datetime(1970, 1, 1, tzinfo=UTC)
        return Cached(row.etag, row.last_modified, row.link, body, used, row.token_key)

    @staticmethod
    def save(conn: Connection, rows: list[dict[str, Any]]) -> None:
        """Store validators (newest fetch wins), in the transaction that wrote the data they cover."""
        if rows:
            upsert(conn, http_etags, rows, newer="fetched_at")


def delete_unused_before(conn: Connection, cutoff: datetime, limit: int) -> int:
    """Delete up to ``limit`` of the stored responses not used since ``cutoff``, least recently used first
    (for the ``retention`` job). Rows deleted."""
    return delete_before(conn, http_etags.c.used_at, cutoff, limit)
