"""Incremental sync of one repository's pull requests (``github_prs``) and the re-check of open ones
(``pr_states_refresh``).

``RepoSync.run`` (``github_prs``), per repository:

1. The comment feed, ``GET /repos/{r}/issues/comments?sort=updated&direction=desc&since=SINCE``, is read
   in the background and classified (LGTM, Codecov, Trillian); the first run reads it without ``since``
   (never a ``since`` of 1970: GitHub answers that with an empty list). It catches comments edited in
   place, like Codecov's one comment per pull request. SINCE lags behind FLOOR and moves only when the
   feed lists more than ``FEED_SLACK`` comments, so the URL and its validator stay the same from run to
   run (an unchanged feed is a 304); comments before FLOOR are skipped.
2. Pull requests, ``GET /repos/{r}/pulls?state=all&sort=updated&direction=desc``, page by page (``Link``),
   stopping at the first page that reaches below FLOOR (``GET /pulls`` has no ``since``). A pull request
   whose ``updated_at`` moved (or that is new) gets its reviews fetched; one whose labels differ from the
   stored ones is rewritten too. Each page is written in one transaction with its pull requests' comment
   facts, the validators of the responses it used, and the pass's cursor.
3. Comment facts of pull requests not on those pages are written last, with the feed's cursor.

FLOOR is the stream's ``high_water`` minus ``github.sync_overlap``. Both lists are read newest first, so a
change during a pass moves an item to the front: later pages see duplicates (harmless), never gaps, and the
moved item is newer than the pass's ``top``, which becomes the next ``high_water``. A crash leaves the
cursor at the last written page (state ``next``): the next run resumes there. A 304 page was fully written
by an earlier run (validators are stored with their data), so it is skipped; nothing changed means two
requests, both 304, and no write.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
import structlog
from sqlalchemy import Connection, Engine

from scrapesched.db.clock import db_now, server_time
from scrapesched.db.schema import pr_health_labels, pr_states
from scrapesched.scheduler.context import RunCancelled
from scrapesched.scheduler.threads import RunThreadPool
from scrapesched.scrapers.github.client import Fetched, GitHubSession
from scrapesched.scrapers.github.errors import GitHubBadResponse, GitHubNotFound, describe_request
from scrapesched.scrapers.github.etags import Cached
from scrapesched.scrapers.github.rows import CommentFact, classify_comment, label_names, parse_time
from scrapesched.scrapers.github.write import COMMENTS, PULLS, BundleWriter, Cursor, PrBundle, read_cursor, write_cursor

log = structlog.get_logger("scrapers.github.sync")

LOOKAHEAD_PAGES = 3  # pull request pages fetched (with their reviews) ahead of the one being written
MAX_PENDING_PAGES = 30  # while the comment feed is still being read, pages wait for it up to this many
LEFTOVER_CHUNK = 200  # pull requests per transaction for comment-only changes
REFRESH_CHUNK = 50  # pull requests per transaction in pr_states_refresh
FEED_SLACK = 50  # comments the feed may list again before its since= moves (and its URL with it)

Transact = Callable[[Callable[[Connection], Any]], Any]


@dataclass
class SyncEnv:
    """What a sync needs from its run: the repository, a GitHub session, the database and the run's
    fenced ``transaction``, cancellation ``check`` and row counter."""

    repo: str
    session: GitHubSession
    engine: Engine
    transaction: Transact
    check: Callable[[], None]
    add_rows: Callable[[int], None]
    trillian_bot: str
    codecov_bots: frozenset[str]
    overlap: timedelta
    per_page: int = 100
    workers: int = 8
    batch_size: int = 500


@dataclass
class Feed:
    """The classified comment feed of one run."""

    facts: dict[int, list[CommentFact]] = field(default_factory=dict)
    top: datetime | None = None
    etag_rows: list[dict[str, Any]] = field(default_factory=list)
    floor: datetime | None = None
    since: datetime | None = None
    listed: int = 0


@dataclass
class SyncStats:
    pages: int = 0
    pulls_written: int = 0
    reviews_fetched: int = 0
    comments: int = 0

    def as_log(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass
class _Page:
    fetched: Fetched
    bundles: list[PrBundle]
    reviews: dict[int, Future[tuple[list[Any], list[Fetched]]]]
    cursor: Cursor


def _items(page: Fetched) -> list[dict[str, Any]]:
    if not isinstance(page.data, list) or not all(isinstance(i, dict) for i in page.data):
        raise GitHubBadResponse(f"{describe_request('GET', page.url)}: expected a JSON list of objects")
    return page.data


class RepoSync:
    """``github_prs`` for one repository (see the module docstring)."""

    def __init__(self, env: SyncEnv) -> None:
        self.env = env
        self.repo = env.repo
        self.writer = BundleWriter(env.repo, env.batch_size)
        self.stats = SyncStats()
        self._written = Cursor()  # the pulls cursor as last stored
        self._abort = threading.Event()

    # ---- run ---------------------------------------------------------------------------------------

    def run(self) -> SyncStats:
        env = self.env
        pulls_cursor = read_cursor(env.engine, self.repo, PULLS)
        comments_cursor = read_cursor(env.engine, self.repo, COMMENTS)
        pool = RunThreadPool(max_workers=max(2, env.workers), thread_name_prefix=f"gh-{self.repo}")
        try:
            feed = pool.submit(self._read_feed, comments_cursor)
            self._pulls_pass(pulls_cursor, feed, pool)
            self._leftovers(feed.result(), comments_cursor)
        except BaseException:
            self._abort.set()  # the feed stops at its next page instead of reading on for nothing
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        return self.stats

    # ---- comment feed ------------------------------------------------------------------------------

    def _read_feed(self, cursor: Cursor) -> Feed:
        env = self.env
        floor = cursor.high_water - env.overlap if cursor.high_water else None
        since = cursor.since or floor
        params: dict[str, Any] = {"sort": "updated", "direction": "desc", "per_page": env.per_page}
        if since is not None and since.year > 1970:
            params["since"] = since.strftime("%Y-%m-%dT%H:%M:%SZ")
        feed = Feed(floor=floor)
        first = True
        for page in env.session.pages(f"repos/{self.repo}/issues/comments", params):
            if self._abort.is_set():
                raise RunCancelled("pull request pass failed")
            env.check()
            items = _items(page)
            if first and items:
                feed.top = parse_time(items[0].get("updated_at"))
            first = False
            feed.listed += len(items)
            if page.etag_row is not None:
                feed.etag_rows.append(page.etag_row)
            if page.not_modified:
                continue  # written with this validator by an earlier run
            for comment in items:
                updated = parse_time(comment.get("updated_at"))
                if floor is not None and updated is not None and updated < floor:
                    continue  # listed because ``since`` lags behind: written by an earlier run
                fact = classify_comment(comment, trillian_bot=env.trillian_bot, codecov_bots=env.codecov_bots)
                if fact is None or (fact.kind == "not_lgtm" and not fact.edited):
                    continue
                feed.facts.setdefault(fact.number, []).append(fact)
                self.stats.comments += 1
        feed.since = since
        return feed

    def _leftovers(self, feed: Feed, cursor: Cursor) -> None:
        """Comment facts of pull requests not written with a page, then the feed's cursor."""
        top = max((t for t in (cursor.high_water, feed.top) if t is not None), default=None)
        numbers = sorted(feed.facts)
        since = feed.since
        if since is None or feed.listed > FEED_SLACK:  # move the feed's URL on once it lists too much again
            since = top - self.env.overlap if top is not None else None
        done = Cursor(high_water=top, since=since)
        if not numbers and done == cursor and not feed.etag_rows:
            return  # nothing changed: no write at all
        chunks = [numbers[i : i + LEFTOVER_CHUNK] for i in range(0, len(numbers), LEFTOVER_CHUNK)] or [[]]
        for index, chunk in enumerate(chunks):
            bundles = [PrBundle(n, facts=feed.facts[n]) for n in chunk]
            last = index == len(chunks) - 1

            def work(conn: Connection, bundles: list[PrBundle] = bundles, last: bool = last) -> int:
                written = self.writer.write(conn, bundles, feed.etag_rows if last else None)
                if last:
                    write_cursor(conn, self.repo, COMMENTS, done, server_time(conn))
                return written

            self.env.add_rows(self.env.transaction(work))

    # ---- pull requests -----------------------------------------------------------------------------

    def _pulls_pass(self, cursor: Cursor, feed: Future[Feed], pool: ThreadPoolExecutor) -> None:
        env = self.env
        self._written = cursor
        if cursor.resuming and urlsplit(cursor.next_url or "")[:2] != urlsplit(env.session.client.api_url)[:2]:
            log.warning("github_pulls_restart", repo=self.repo, reason="API URL changed since the pass began")
            cursor = Cursor(high_water=cursor.high_water)
        if cursor.resuming:
            start: str = cursor.next_url or ""
            top, floor = cursor.top, cursor.floor
            log.info("github_pulls_resume", repo=self.repo)
        else:
            params = {"state": "all", "sort": "updated", "direction": "desc", "per_page": env.per_page}
            start = env.session.client.url(f"repos/{self.repo}/pulls", params)
            top, floor = None, (cursor.high_water - env.overlap if cursor.high_water else None)
        pending: deque[_Page] = deque()
        failure: BaseException | None = None
        try:
            for page in self._pages(start):
                env.check()
                items = _items(page)
                if top is None and items:
                    top = parse_time(items[0].get("updated_at"))
                last_updated = parse_time(items[-1].get("updated_at")) if items else None
                below = floor is not None and last_updated is not None and last_updated < floor
                stop = page.next_url is None or below
                if stop:
                    high = max((t for t in (cursor.high_water, top) if t is not None), default=None)
                    done = Cursor(high_water=high)
                else:
                    done = Cursor(high_water=cursor.high_water, top=top, floor=floor, next_url=page.next_url)
                pending.append(self._plan_page(page, items, floor, done, pool))
                self.stats.pages += 1
                # Pages are written once the feed is in (each carries its pull requests' comments); until
                # then reading pages and reviews goes on, so the connections never wait for the feed.
                while len(pending) > (LOOKAHEAD_PAGES if feed.done() else MAX_PENDING_PAGES):
                    self._commit(pending.popleft(), feed)
                if stop:
                    break
        except BaseException as exc:
            failure = exc
        # Write the pages fetched so far, in order, up to the first that cannot be completed.
        try:
            while pending:
                self._commit(pending.popleft(), feed)
        except BaseException as exc:
            if failure is None:
                failure = exc
        if failure is not None:
            raise failure

    def _pages(self, start: str) -> Iterator[Fetched]:
        url: str | None = start
        while url is not None:
            page = self.env.session.get(url)
            yield page
            url = page.next_url

    def _plan_page(
        self, page: Fetched, items: list[dict[str, Any]], floor: datetime | None, done: Cursor, pool: ThreadPoolExecutor
    ) -> _Page:
        """Which pull requests of a page to write, and their review fetches (started now)."""
        planned = _Page(page, [], {}, done)
        if page.not_modified:
            return planned  # written with this validator by an earlier run
        window = [p for p in items if floor is None or (parse_time(p.get("updated_at")) or floor) >= floor]
        stored, labels = self._stored([int(p["number"]) for p in window])
        moved: list[int] = []
        for pull in window:
            number = int(pull["number"])
            ours, theirs = parse_time(pull.get("updated_at")), stored.get(number)
            if theirs is None or (ours is not None and ours > theirs):
                moved.append(number)
            elif ours == theirs and label_names(pull) != labels.get(number, set()):
                planned.bundles.append(PrBundle(number, pull=pull))
        session = self.env.session
        known = session.prefetch([session.client.url(*self._reviews_path(n)) for n in moved])
        for pull in window:
            number = int(pull["number"])
            if number in moved:
                planned.reviews[number] = pool.submit(self._reviews, number, known)
                planned.bundles.append(PrBundle(number, pull=pull))
        return planned

    def _reviews_path(self, number: int) -> tuple[str, dict[str, Any]]:
        return f"repos/{self.repo}/pulls/{number}/reviews", {"per_page": self.env.per_page}

    def _stored(self, numbers: list[int]) -> tuple[dict[int, datetime | None], dict[int, set[str]]]:
        if not numbers:
            return {}, {}
        with self.env.engine.connect() as conn:
            states = conn.execute(
                sa.select(pr_states.c.pr_number, pr_states.c.updated_at).where(
                    pr_states.c.repo == self.repo, pr_states.c.pr_number.in_(sorted(numbers))
                )
            )
            stored = {int(r.pr_number): r.updated_at for r in states}
            labels: dict[int, set[str]] = {}
            for r in conn.execute(
                sa.select(pr_health_labels.c.pr_number, pr_health_labels.c.label_name).where(
                    pr_health_labels.c.repo == self.repo, pr_health_labels.c.pr_number.in_(sorted(numbers))
                )
            ):
                labels.setdefault(int(r.pr_number), set()).add(r.label_name)
        return stored, labels

    def _reviews(self, number: int, known: dict[str, Cached]) -> tuple[list[Any], list[Fetched]]:
        self.env.check()
        self.stats.reviews_fetched += 1
        path, params = self._reviews_path(number)
        return self.env.session.get_all(path, params, known=known)

    def _commit(self, page: _Page, feed_future: Future[Feed]) -> None:
        feed = feed_future.result()
        bundles = page.bundles
        for bundle in bundles:
            if bundle.number in page.reviews:
                reviews, fetched = page.reviews[bundle.number].result()
                bundle.reviews = reviews
                bundle.etag_rows += [f.etag_row for f in fetched if f.etag_row is not None]
            bundle.facts = feed.facts.pop(bundle.number, [])
        page_rows = [page.fetched.etag_row] if page.fetched.etag_row is not None else []
        if not bundles and not page_rows and (page.cursor.resuming or page.cursor == self._written):
            return  # nothing new on this page: a crash here would just read it again, free (304)

        def work(conn: Connection) -> int:
            written = self.writer.write(conn, bundles, page_rows)
            write_cursor(conn, self.repo, PULLS, page.cursor, server_time(conn))
            return written

        self.env.add_rows(self.env.transaction(work))
        self._written = page.cursor
        self.stats.pulls_written += len(bundles)


class RefreshSync:
    """``pr_states_refresh`` for one repository: every pull request still open in the database is fetched
    again with conditional requests (pull and reviews); what changed is written, newest snapshot wins."""

    def __init__(self, env: SyncEnv) -> None:
        self.env = env
        self.repo = env.repo
        self.writer = BundleWriter(env.repo, env.batch_size)
        self.stats = SyncStats()

    def run(self) -> SyncStats:
        env = self.env
        repo_page = env.session.get(f"repos/{self.repo}")  # a missing repository fails here, in one line
        with env.engine.connect() as conn:
            numbers = [
                int(n)
                for n in conn.execute(
                    sa.select(pr_states.c.pr_number)
                    .where(pr_states.c.repo == self.repo, pr_states.c.pr_state == "open")
                    .order_by(pr_states.c.pr_number)
                ).scalars()
            ]
        extra = [repo_page.etag_row] if repo_page.etag_row is not None else []
        with RunThreadPool(max_workers=max(1, env.workers), thread_name_prefix=f"ghr-{self.repo}") as pool:
            for start in range(0, len(numbers), REFRESH_CHUNK):
                env.check()
                chunk = numbers[start : start + REFRESH_CHUNK]
                client = env.session.client
                known = env.session.prefetch(
                    [client.url(f"repos/{self.repo}/pulls/{n}") for n in chunk]
                    + [client.url(f"repos/{self.repo}/pulls/{n}/reviews", {"per_page": env.per_page}) for n in chunk]
                )
                fetched = list(pool.map(lambda n, known=known: self._fetch(n, known), chunk))
                self._write(chunk, [b for b in fetched if b is not None], extra)
                extra = []
        if extra:
            self._write([], [], extra)
        return self.stats

    def _fetch(self, number: int, known: dict[str, Cached]) -> PrBundle | None:
        """The pull request's bundle, or None when both answers were 304 (or it is gone)."""
        self.env.check()
        try:
            pull = self.env.session.get(f"repos/{self.repo}/pulls/{number}", known=known)
            reviews, pages = self.env.session.get_all(
                f"repos/{self.repo}/pulls/{number}/reviews", {"per_page": self.env.per_page}, known=known
            )
        except GitHubNotFound:
            log.warning("github_pull_missing", repo=self.repo, pr_number=number)
            return None
        self.stats.reviews_fetched += 1
        rows = [f.etag_row for f in (pull, *pages) if f.etag_row is not None]
        if pull.not_modified and all(p.not_modified for p in pages):
            return PrBundle(number, etag_rows=rows) if rows else None  # unchanged (validators touched)
        if not isinstance(pull.data, dict) or "number" not in pull.data:
            raise GitHubBadResponse(f"{describe_request('GET', pull.url)}: expected a pull request object")
        return PrBundle(number, pull=pull.data, reviews=reviews, etag_rows=rows)

    def _write(self, checked: list[int], bundles: list[PrBundle], etag_rows: list[dict[str, Any]]) -> None:
        def work(conn: Connection) -> int:
            written = self.writer.write(conn, bundles, etag_rows)
            if checked:
                conn.execute(
                    sa.update(pr_states)
                    .where(pr_states.c.repo == self.repo, pr_states.c.pr_number.in_(checked))
                    .values(last_checked=db_now())
                )
            return written

        self.env.add_rows(self.env.transaction(work))
        self.stats.pulls_written += sum(1 for b in bundles if b.pull is not None)


__all__ = ["Feed", "RefreshSync", "RepoSync", "SyncEnv", "SyncStats"]
