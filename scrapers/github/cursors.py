"""Where each GitHub stream of a repository stands: ``scrape_cursors`` (one row per repository and stream),
all its SQL in this module. A cursor is written in the transaction of the page it follows, so a crash at
any moment loses at most the page in flight and the next run, on any replica, continues from it.

Streams:

- ``pulls``: ``GET /repos/{r}/pulls?state=all&sort=updated&direction=desc``, newest first, by page number
  (GitHub's pull request list has no ``since``). ``high_water`` is the newest ``updated_at`` of the last
  completed pass; during a pass ``top``/``floor`` bound it and ``next`` is the URL of the next page (its
  ``page``/``per_page`` give the offset, so a smaller page size continues at the same item). When GitHub
  refuses a deep page (422), the rest of the pass walks ``direction=asc`` from the oldest up to ``boundary``
  (``mode`` ``asc``); if that is refused too, the band in between is walked through
  ``/issues?sort=updated&direction=asc&since=`` (``mode`` ``issues``, position ``at``/``page`` as the feed's).
- ``comments``: ``GET /repos/{r}/issues/comments?sort=updated&direction=asc&since=S``, oldest first, never
  deep: each page restarts at ``since`` = the last ``updated_at`` it listed (``page`` > 1 only while a
  whole page shares one timestamp). ``high_water`` is the newest ``updated_at`` written by a completed
  pass; ``since`` is where the next pass starts (it moves only when a pass lists many comments again, so
  an unchanged feed is the same URL, answered 304); during a pass ``at``/``page`` are the next request.

Both carry ``done`` (items listed so far in the pass) and ``total`` (GitHub's estimate from
``Link: rel="last"``), shown as progress.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection, Engine

from scrapesched.db.retry import read
from scrapesched.db.schema import scrape_cursors
from scrapesched.db.upsert import upsert
from scrapesched.scrapers.github.rows import parse_time

PULLS = "pulls"
COMMENTS = "comments"


@dataclass(frozen=True)
class Cursor:
    """A stream's position (see the module docstring for what each field means per stream)."""

    high_water: datetime | None = None
    top: datetime | None = None
    floor: datetime | None = None
    next_url: str | None = None
    since: datetime | None = None
    at: datetime | None = None
    page: int = 1
    mode: str = "desc"
    boundary: datetime | None = None
    done: int = 0
    total: int | None = None
    in_pass: bool = False

    @property
    def resuming(self) -> bool:
        return self.next_url is not None or self.in_pass


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def read_cursor(engine: Engine, repo: str, stream: str) -> Cursor:
    query = sa.select(scrape_cursors.c.high_water, scrape_cursors.c.state).where(
        scrape_cursors.c.repo == repo, scrape_cursors.c.stream == stream
    )
    row = read(engine, lambda conn: conn.execute(query).first(), what="scrape cursor")
    if row is None:
        return Cursor()
    return _cursor(row.high_water, row.state)


def all_cursors(conn: Connection) -> dict[tuple[str, str], Cursor]:
    """Every stored cursor by (repository, stream) (for the web console)."""
    t = scrape_cursors
    query = sa.select(t.c.repo, t.c.stream, t.c.high_water, t.c.state)
    return {(r.repo, r.stream): _cursor(r.high_water, r.state) for r in conn.execute(query)}


def _cursor(high_water: datetime | None, text: str | None) -> Cursor:
    state: dict[str, Any] = {}
    if text:
        try:
            loaded = json.loads(text)
            state = loaded if isinstance(loaded, dict) else {}
        except ValueError:
            state = {}  # unreadable state: start the pass again (idempotent)
    total = state.get("total")
    return Cursor(
        high_water=high_water,
        top=parse_time(state.get("top")),
        floor=parse_time(state.get("floor")),
        next_url=state.get("next") or None,
        since=parse_time(state.get("since")),
        at=parse_time(state.get("at")),
        page=int(state.get("page") or 1),
        mode=str(state.get("mode") or "desc"),
        boundary=parse_time(state.get("boundary")),
        done=int(state.get("done") or 0),
        total=int(total) if isinstance(total, int) else None,
        in_pass=bool(state.get("in_pass")),
    )


def cursor_state(cursor: Cursor) -> dict[str, Any]:
    """The JSON ``state`` of a cursor (only what is set)."""
    state: dict[str, Any] = {}
    if cursor.in_pass or cursor.next_url:
        state.update(in_pass=True, done=cursor.done)
        if cursor.total is not None:
            state["total"] = cursor.total
        for name in ("top", "floor", "at", "boundary"):
            if getattr(cursor, name) is not None:
                state[name] = _iso(getattr(cursor, name))
        if cursor.next_url:
            state["next"] = cursor.next_url
        if cursor.page != 1:
            state["page"] = cursor.page
        if cursor.mode != "desc":
            state["mode"] = cursor.mode
    if cursor.since is not None:
        state["since"] = _iso(cursor.since)
    return state


def write_cursor(conn: Connection, repo: str, stream: str, cursor: Cursor, now: datetime) -> None:
    """Store a cursor (in the transaction of the data it covers)."""
    state = cursor_state(cursor)
    row = {
        "repo": repo,
        "stream": stream,
        "high_water": cursor.high_water,
        "state": json.dumps(state) if state else None,
        "updated_at": now,
    }
    upsert(conn, scrape_cursors, [row])

