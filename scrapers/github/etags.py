"""Conditional requests: the last 200 of each URL (ETag, Last-Modified, Link and the zlib-compressed body)
kept in ``http_etags``, so a ``304 Not Modified`` (free of rate limit) can be answered from the database.

Rows are written by the caller, in the same transaction as the data derived from the body: a URL's ETag
is never stored ahead of the data, so a crash in between gets a 200 next time, never a 304 for data that
was not written.
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


def url_hash(url: str) -> str:
    return hashlib.sha256(url.encode()).hexdigest()


def etag_row(
    url: str, *, etag: str | None, last_modified: str | None, link: str | None, body: bytes, now: datetime
) -> dict[str, Any]:
    """The ``http_etags`` row for a response (the body is compressed here)."""
    return {
        "url_hash": url_hash(url),
        "url": url,
        "etag": etag,
        "last_modified": last_modified,
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
            http_etags.c.body, http_etags.c.used_at,
        ).where(http_etags.c.url_hash.in_(sorted(by_hash)))
        with self._engine.connect() as conn:
            rows = conn.execute(query).all()
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
        return Cached(row.etag, row.last_modified, row.link, body, used)

    @staticmethod
    def save(conn: Connection, rows: list[dict[str, Any]]) -> None:
        """Store validators (newest fetch wins), in the transaction that wrote the data they cover."""
        if rows:
            upsert(conn, http_etags, rows, newer="fetched_at")


def delete_unused_before(conn: Connection, cutoff: datetime, limit: int) -> int:
    """Delete up to ``limit`` of the stored responses not used since ``cutoff``, least recently used first
    (for the ``retention`` job). Rows deleted."""
    return delete_before(conn, http_etags.c.used_at, cutoff, limit)
