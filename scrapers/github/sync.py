"""Incremental, resumable sync of one repository's pull requests (``github_prs``) and the re-check of open
ones (``pr_states_refresh``).

``RepoSync.run`` (``github_prs``) walks two streams of the repository at once, each with its cursor in
``scrape_cursors`` (``scrapers.github.cursors``), each page written in one transaction with its cursor:

1. Pull requests, ``GET /repos/{r}/pulls?state=all&sort=updated&direction=desc``, page by page, stopping
   at the first page that reaches below FLOOR (the list has no ``since``). A pull request whose
   ``updated_at`` moved (or that is new) gets its reviews fetched (a few pages ahead, in worker threads);
   one whose labels differ from the stored ones is rewritten too. A page is written as soon as its reviews
   are in, so a cold sync stores pull requests from its first seconds on. If GitHub refuses a deep page
   (422), the rest of the pass walks the list oldest first (``direction=asc``) up to where it stopped; if
   that is refused too (a repository deeper than twice the limit), the band between the two walks is read
   through ``GET /repos/{r}/issues?state=all&sort=updated&direction=asc&since=S`` (never deep, like the
   comment feed), its pull requests fetched one by one (``GET /repos/{r}/pulls/{n}``).
2. The comment feed, ``GET /repos/{r}/issues/comments?sort=updated&direction=asc&since=S``, oldest first
   and never deep: each page restarts at ``since`` = the last ``updated_at`` it listed. Each page's
   comments are classified (LGTM, Codecov, Trillian) and written with the feed's cursor; a comment edited
   in place (Codecov's one comment per pull request) is listed again at its new ``updated_at``.

FLOOR is the pulls stream's ``high_water`` minus ``github.sync_overlap``; the feed starts each pass at its
stored ``since``, which moves only when a pass lists more than ``FEED_SLACK`` comments, so the first URL of
both streams stays the same from run to run: nothing changed is two requests, both 304, and no write. A
crash (SIGKILL) loses at most the pages in flight: the next run, on any replica, continues from the
cursors. When the rate-limit budget is spent the session raises ``GitHubRateLimited`` and the run ends
``deferred`` with its cursors saved. A 502/504/timeout on a list page halves its ``per_page`` for the next
attempts (``PageSize``); it grows back after successes.

Each written page logs ``github_sync_progress`` (stream, items done, GitHub's estimate of the total from
``Link: rel="last"``, requests so far, budget left, rate) and stores a one-line summary on the run's
``job_runs.progress``, which ``status`` shows for running runs.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlalchemy import Connection, Engine

from scrapesched.config.log_setup import get_logger
from scrapesched.db.clock import db_now, server_time
from scrapesched.db.retry import read
from scrapesched.db.schema import pr_health_labels, pr_states
from scrapesched.db.upsert import DEFAULT_BATCH_SIZE
from scrapesched.scheduler.context import RunCancelled
from scrapesched.scheduler.threads import RunThreadPool
from scrapesched.scrapers.github.client import Fetched, GitHubSession, query_int
from scrapesched.scrapers.github.cursors import COMMENTS, PULLS, Cursor, read_cursor, write_cursor
from scrapesched.scrapers.github.errors import (
    GitHubBadResponse,
    GitHubNotFound,
    GitHubUnavailable,
    GitHubUnprocessable,
    describe_request,
)
from scrapesched.scrapers.github.etags import Cached
from scrapesched.scrapers.github.rows import CommentFact, classify_comment, label_names, parse_time
from scrapesched.scrapers.github.write import BundleWriter, PrBundle

log = get_logger("scrapers.github.sync")

WRITE_EVERY = 10  # pull requests per transaction while a page's reviews come in
LOOKAHEAD_PAGES = 0  # pull request pages fetched (with their reviews) ahead of the one being written. None:
# a SIGKILL loses only the page in flight (a page ahead was asked again after every SIGKILL, while GitHub's
# budget, not the overlap, sets the pace of a big sync)
REFRESH_CHUNK = 50  # pull requests per transaction in pr_states_refresh
FEED_SLACK = 50  # comments a pass may list before the feed's next pass starts later (a new URL)
MAX_PER_PAGE = 100  # GitHub's largest per_page
PAGE_SIZES = (100, 50, 25, 10, 5, 1)  # per_page after each 502/504/timeout (each divides the one before)
GROW_AFTER = 5  # successful pages at one size before trying the next larger one
UNAVAILABLE_TRIES = 8  # 502/504/timeouts in a row on one page before the run fails

Transact = Callable[[Callable[[Connection], Any]], Any]


@dataclass
class SyncEnv:
    """What a sync needs from its run: the repository, a GitHub session, the database and the run's
    fenced ``transaction``, cancellation ``check``/``sleep``, row counter and progress reporting."""

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
    batch_size: int = DEFAULT_BATCH_SIZE
    sleep: Callable[[float], None] = time.sleep
    requests: Callable[[], int] = lambda: 0
    progress: Callable[[Connection, str], None] | None = None  # store the run's progress line
    on_retry: Callable[[], None] = lambda: None  # a page asked again (smaller) after a 502/504/timeout
    report: Callable[[str, int, int | None], None] = lambda stream, done, total: None  # in-memory progress
    # The run's last write: commits with the run's ``succeeded`` completion and counts its rows (None: an
    # ordinary ``transaction``).
    finish: Callable[[Callable[[Connection], int]], int] | None = None

    def last_write(self, work: Callable[[Connection], int]) -> None:
        """``work`` as the run's last write (with its completion when the run has one)."""
        if self.finish is not None:
            self.finish(work)
        else:
            self.add_rows(self.transaction(work))


@dataclass
class SyncStats:
    pages: int = 0
    pulls_written: int = 0
    reviews_fetched: int = 0
    comments: int = 0
    feed_pages: int = 0

    def as_log(self) -> dict[str, int]:
        return dict(self.__dict__)


class PageSize:
    """The ``per_page`` of one list: halved (down the ``PAGE_SIZES`` ladder) after a 502/504/timeout, grown
    back one step after ``GROW_AFTER`` good pages."""

    def __init__(self, wanted: int) -> None:
        self.ladder = [wanted, *(n for n in PAGE_SIZES if n < wanted)]
        self.index = 0
        self.good = 0

    @property
    def current(self) -> int:
        return self.ladder[self.index]

    def shrink(self) -> None:
        self.index = min(self.index + 1, len(self.ladder) - 1)
        self.good = 0

    def success(self, offset: int | None = None) -> None:
        """A good page; ``offset``: items before the next page (a page-numbered list grows only where the
        larger page starts exactly there)."""
        self.good += 1
        if self.index == 0 or self.good < GROW_AFTER:
            return
        larger = self.ladder[self.index - 1]
        if offset is None or offset % larger == 0:
            self.index -= 1
            self.good = 0


@dataclass
class Progress:
    """What the two streams of a run have done, as a log line per page and one line on ``job_runs``."""

    env: SyncEnv
    started: float = field(default_factory=time.monotonic)
    streams: dict[str, tuple[int, int | None, str]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def update(self, conn: Connection, stream: str, done: int, total: int | None, where: str) -> None:
        env = self.env
        with self._lock:
            self.streams[stream] = (done, total, where)
            line = "; ".join(
                f"{name} {d}" + (f"/~{t}" if t else "") + (f" ({w})" if w else "")
                for name, (d, t, w) in sorted(self.streams.items())
            )
        env.report(stream, done, total)
        requests = env.requests()
        elapsed = max(time.monotonic() - self.started, 1e-3)
        budget = self.budget_left()
        log.info("github_sync_progress", repo=env.repo, stream=stream, done=done, total=total, cursor=where,
                 requests=requests, budget_left=budget, rate=round(requests / elapsed, 1))
        if env.progress is not None:
            env.progress(conn, f"{line}; {requests} requests" + (f", budget {budget}" if budget is not None else ""))

    def budget_left(self) -> int | None:
        client = self.env.session.client
        try:
            credential = client.auth.credentials()[0]
        except Exception:  # progress must never fail a run
            return None
        seen = client.budget.current(credential.token_id)
        return None if seen is None else seen.remaining


def _items(page: Fetched) -> list[dict[str, Any]]:
    if not isinstance(page.data, list) or not all(isinstance(i, dict) for i in page.data):
        raise GitHubBadResponse(f"{describe_request('GET', page.url)}: expected a JSON list of objects")
    return page.data


def _wire(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class _Page:
    fetched: Fetched
    bundles: list[PrBundle]
    reviews: dict[int, Future[tuple[list[Any], list[Fetched]]]]
    cursor: Cursor
    done: int = 0  # pull requests listed so far in the pass (progress)
    total: int | None = None


class RepoSync:
    """``github_prs`` for one repository (see the module docstring)."""

    def __init__(self, env: SyncEnv) -> None:
        self.env = env
        self.repo = env.repo
        self.writer = BundleWriter(env.repo, env.batch_size)
        self.stats = SyncStats()
        self.progress = Progress(env)
        self._written = Cursor()  # the pulls cursor as last stored
        self._listed: dict[int, datetime | None] = {}  # pull requests this pass planned, by updated_at
        # Each stream's last page, held back: both commit in the run's last write, with its completion.
        self._closing: list[Callable[[Connection], int]] = []
        self._closing_lock = threading.Lock()
        self._abort = threading.Event()

    # ---- run ---------------------------------------------------------------------------------------

    def run(self) -> SyncStats:
        env = self.env
        pool = RunThreadPool(max_workers=max(2, env.workers), thread_name_prefix=f"gh-{self.repo}")
        try:
            feed = pool.submit(self._feed_pass)
            try:
                self._pulls_pass(pool)
            except BaseException:
                self._abort.set()  # the feed stops at its next page
                feed.exception()  # wait for it: its page in flight is written or rolled back
                raise
            feed.result()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        closing = list(self._closing)
        env.last_write(lambda conn: sum(work(conn) for work in closing))
        return self.stats

    def _hold(self, work: Callable[[Connection], int]) -> None:
        """Keep a stream's last page for the run's last write (``run``)."""
        with self._closing_lock:
            self._closing.append(work)

    def _fetch(
        self, size: PageSize, url_for: Callable[[int], str], offset: Callable[[int], int] | None = None
    ) -> Fetched:
        """One list page at the current page size; a 502/504/timeout shrinks the size and tries again."""
        env = self.env
        failures = 0
        while True:
            if self._abort.is_set():
                raise RunCancelled("the other stream of the sync failed")
            env.check()
            url = url_for(size.current)
            try:
                page = env.session.get(url, adaptive=True)
            except GitHubUnavailable as exc:
                failures += 1
                if failures >= UNAVAILABLE_TRIES:
                    what = f"answered {exc.status}" if exc.status else "timed out or dropped the connection"
                    raise GitHubUnavailable(
                        f"{describe_request('GET', url)}: GitHub {what} {failures} times in a row (per_page down "
                        f"to {size.current}), giving up", exc.status,
                    ) from None
                env.on_retry()
                before = size.current
                size.shrink()
                log.warning("github_page_shrunk", repo=self.repo, per_page_was=before, per_page=size.current,
                            error=str(exc))
                env.sleep(min(10.0, env.session.client.http.first_backoff * 2 ** (failures - 1)))
                continue
            size.success(None if offset is None else offset(len(page.data) if isinstance(page.data, list) else 0))
            return page

    # ---- comment feed ------------------------------------------------------------------------------

    def _feed_pass(self) -> None:
        env = self.env
        cursor = read_cursor(env.engine, self.repo, COMMENTS)
        size = PageSize(env.per_page)
        if cursor.in_pass:
            start, at, page, done, total = cursor.since, cursor.at, cursor.page, cursor.done, cursor.total
            log.info("github_feed_resume", repo=self.repo, since=str(at), done=done)
        else:
            start = cursor.since
            if start is None and cursor.high_water is not None:
                start = cursor.high_water - env.overlap
            at, page, done, total = start, 1, 0, None
        high = cursor.high_water
        while True:
            def url_for(per_page: int, at: datetime | None = at, page: int = page) -> str:
                params: dict[str, Any] = {"sort": "updated", "direction": "asc", "per_page": per_page}
                if at is not None and at.year > 1970:  # GitHub answers since=1970 with an empty list
                    params["since"] = _wire(at)
                if page > 1 and per_page * page <= MAX_PER_PAGE:
                    # More than a page at one timestamp: read the group again from its start in one larger
                    # page. Page offsets would shift when a comment of the group is edited meanwhile (it moves
                    # to a later timestamp) and skip its neighbour; only a group larger than GitHub's largest
                    # page is walked by page number.
                    params["per_page"] = per_page * page
                elif page > 1:
                    params["page"] = page
                return env.session.client.url(f"repos/{self.repo}/issues/comments", params)

            fetched = self._fetch(size, url_for)
            items = _items(fetched)
            per_page = query_int(fetched.url, "per_page") or size.current
            if fetched.last_page and page == 1:  # what is left from ``at`` on (a lower bound at the depth limit)
                total = max(total or 0, done + fetched.last_page * per_page)
            facts: dict[int, list[CommentFact]] = {}
            if not fetched.not_modified:  # a 304 page was written with this validator by an earlier run
                for comment in items:
                    fact = classify_comment(comment, trillian_bot=env.trillian_bot, codecov_bots=env.codecov_bots)
                    if fact is None or (fact.kind == "not_lgtm" and not fact.edited):
                        continue
                    facts.setdefault(fact.number, []).append(fact)
                    self.stats.comments += 1
            done += len(items)
            last = parse_time(items[-1].get("updated_at")) if items else None
            # The feed grows at its end: a full page answered 304 (its body unchanged) may have gained a next
            # page since its stored Link said it had none, so only a 200's Link or a short page ends the pass.
            full = len(items) >= per_page
            finished = not full or (fetched.next_url is None and not fetched.not_modified)
            if finished:
                high = max((t for t in (high, last) if t is not None), default=None)
                since = start
                if since is None or done > FEED_SLACK:  # the next pass starts later: a new first URL
                    since = high - env.overlap if high is not None else None
                after = Cursor(high_water=high, since=since)
            elif last is not None and (at is None or last > at):
                after = Cursor(high_water=high, since=start, at=last, page=1, done=done, total=total, in_pass=True)
            else:  # a whole page at one timestamp: the next page of the same since
                after = Cursor(high_water=high, since=start, at=at, page=page + 1, done=done, total=total, in_pass=True)
            # Later runs ask again only for the URLs of a pass that ends with at most FEED_SLACK comments (a
            # longer pass moves the next one's ``since``): only their validators are worth storing.
            rows = [fetched.etag_row] if fetched.etag_row is not None and done <= FEED_SLACK else []
            if facts or rows or after != cursor:
                self._write_feed(facts, rows, after, done, total, last=finished)
            cursor = after
            self.stats.feed_pages += 1
            if finished:
                return
            at, page = after.at, after.page

    def _write_feed(
        self, facts: dict[int, list[CommentFact]], rows: list[dict[str, Any]], after: Cursor, done: int,
        total: int | None, *, last: bool = False,
    ) -> None:
        bundles = [PrBundle(n, facts=f) for n, f in sorted(facts.items())]
        where = f"since {after.at.isoformat()}" if after.at else "caught up"

        def work(conn: Connection) -> int:
            written = self.writer.write(conn, bundles, rows)
            write_cursor(conn, self.repo, COMMENTS, after, server_time(conn))
            self.progress.update(conn, "comments", done, total, where)
            return written

        if last:
            self._hold(work)
        else:
            self.env.add_rows(self.env.transaction(work))

    # ---- pull requests -----------------------------------------------------------------------------

    def _issues_url(self, at: datetime | None, per_page: int, page: int) -> str:
        """The issue list (pull requests included) oldest first from ``at``: the band between the two walks."""
        params: dict[str, Any] = {"state": "all", "sort": "updated", "direction": "asc", "per_page": per_page}
        if at is not None and at.year > 1970:
            params["since"] = _wire(at)
        if page > 1 and per_page * page <= MAX_PER_PAGE:  # a whole page at one timestamp: see the feed
            params["per_page"] = per_page * page
        elif page > 1:
            params["page"] = page
        return self.env.session.client.url(f"repos/{self.repo}/issues", params)

    def _band_pulls(self, issues: list[dict[str, Any]], pool: ThreadPoolExecutor) -> list[dict[str, Any]]:
        """The pull requests among ``issues`` that moved (or whose labels differ), fetched one by one."""
        moved, relabelled = self._changed([i for i in issues if not self._planned_already(i)])
        wanted = moved + relabelled

        def one(number: int) -> dict[str, Any]:
            if self._abort.is_set():
                raise RunCancelled("the other stream of the sync failed")
            self.env.check()
            data = self.env.session.get(self.env.session.client.url(f"repos/{self.repo}/pulls/{number}", {})).data
            if not isinstance(data, dict):
                raise GitHubBadResponse(f"{describe_request('GET', f'pulls/{number}')}: expected a JSON object")
            return data

        futures = [pool.submit(one, n) for n in wanted]
        return [f.result() for f in futures]

    def _pulls_url(self, direction: str, per_page: int, page: int) -> str:
        params: dict[str, Any] = {"state": "all", "sort": "updated", "direction": direction, "per_page": per_page}
        if page > 1:
            params["page"] = page
        return self.env.session.client.url(f"repos/{self.repo}/pulls", params)

    def _pulls_pass(self, pool: ThreadPoolExecutor) -> None:
        env = self.env
        cursor = read_cursor(env.engine, self.repo, PULLS)
        self._written = cursor
        if cursor.resuming and urlsplit(cursor.next_url or "")[:2] != urlsplit(env.session.client.api_url)[:2]:
            log.warning("github_pulls_restart", repo=self.repo, reason="API URL changed since the pass began")
            cursor = Cursor(high_water=cursor.high_water)
        size = PageSize(env.per_page)
        mode, boundary, done, total = "desc", None, 0, None
        at, page = None, 1  # the issue walk's position (mode "issues")
        if cursor.resuming and cursor.next_url:
            top, floor, mode, boundary = cursor.top, cursor.floor, cursor.mode, cursor.boundary
            at, page = cursor.at, cursor.page
            offset = ((query_int(cursor.next_url, "page") or 1) - 1) * (query_int(cursor.next_url, "per_page") or 30)
            done, total = cursor.done, cursor.total
            log.info("github_pulls_resume", repo=self.repo, offset=offset, mode=mode)
        else:
            top, floor = None, (cursor.high_water - env.overlap if cursor.high_water else None)
            offset = 0
        last_seen: datetime | None = None
        asc_last: datetime | None = None  # the newest updated_at the oldest-first walk listed
        pending: deque[_Page] = deque()
        failure: BaseException | None = None
        try:
            while True:
                if mode == "issues":
                    planned, stop = self._issues_page(size, cursor, top, floor, boundary, at, page, done, total, pool)
                    done, at, page = planned.done, planned.cursor.at, planned.cursor.page
                    self._queue(pending, planned)
                    if stop:
                        break
                    continue

                def url_for(per_page: int, mode: str = mode, offset: int = offset) -> str:
                    return self._pulls_url(mode, per_page, offset // per_page + 1)

                def after_page(listed: int, offset: int = offset) -> int:
                    return offset + listed

                try:
                    fetched = self._fetch(size, url_for, after_page)
                except GitHubUnprocessable:
                    if offset == 0:
                        raise
                    log.warning("github_pulls_depth_limit", repo=self.repo, offset=offset, mode=mode)
                    if mode == "desc":  # GitHub serves this list only so deep: walk the rest oldest first
                        mode, boundary, offset = "asc", last_seen or top, 0
                    else:  # and that only so deep too: the band in between through the issue list
                        mode, at, page = "issues", asc_last, 1
                    continue
                per_page = query_int(fetched.url, "per_page") or size.current
                page_start = ((query_int(fetched.url, "page") or 1) - 1) * per_page
                raw = _items(fetched)
                items = raw[offset - page_start :]
                if fetched.last_page and offset == 0 and mode == "desc":
                    total = fetched.last_page * per_page
                if top is None and items and mode == "desc":
                    top = parse_time(items[0].get("updated_at"))
                offset = page_start + len(raw)
                done += len(items)
                # A full page without a next link may be where GitHub stops paging (its page-depth limit
                # drops the link): the next page tells, either empty (the end) or 422 (the limit).
                stop = fetched.next_url is None and len(raw) < per_page
                if mode == "desc":
                    last_seen = parse_time(items[-1].get("updated_at")) if items else last_seen
                    stop = stop or (floor is not None and last_seen is not None and last_seen < floor)
                else:
                    asc_last = parse_time(raw[-1].get("updated_at")) if raw else asc_last
                    older = [
                        p for p in items
                        if boundary is None or (parse_time(p.get("updated_at")) or boundary) <= boundary
                    ]
                    stop = stop or len(older) < len(items)
                    items = older
                if stop:
                    high = max((t for t in (cursor.high_water, top) if t is not None), default=None)
                    after = Cursor(high_water=high)
                else:
                    after = Cursor(
                        high_water=cursor.high_water, top=top, floor=floor,
                        next_url=self._pulls_url(mode, size.current, offset // size.current + 1),
                        mode=mode, boundary=boundary, done=done, total=total, in_pass=True,
                    )
                planned = self._plan_page(fetched, items, floor, after, pool)
                planned.done, planned.total = done, total
                self._queue(pending, planned)
                if stop:
                    break
        except BaseException as exc:
            failure = exc
        # Write the pages fetched so far, in order, up to the first that cannot be completed.
        try:
            while pending:
                self._commit(pending.popleft())
        except BaseException as exc:
            if failure is None:
                failure = exc
        if failure is not None:
            raise failure

    def _queue(self, pending: deque[_Page], planned: _Page) -> None:
        """Queue a planned page; write the oldest while more than LOOKAHEAD_PAGES wait."""
        pending.append(planned)
        self.stats.pages += 1
        while len(pending) > LOOKAHEAD_PAGES:
            self._commit(pending.popleft())

    def _issues_page(
        self, size: PageSize, cursor: Cursor, top: datetime | None, floor: datetime | None,
        boundary: datetime | None, at: datetime | None, page: int, done: int, total: int | None,
        pool: ThreadPoolExecutor,
    ) -> tuple[_Page, bool]:
        """One page of the issue walk (mode ``issues``) planned for writing, and whether the walk ends."""

        def url_for(per_page: int) -> str:
            return self._issues_url(at, per_page, page)

        fetched = self._fetch(size, url_for)
        per_page = query_int(fetched.url, "per_page") or size.current
        raw = _items(fetched)
        last = parse_time(raw[-1].get("updated_at")) if raw else None
        band = [
            i for i in raw
            if i.get("pull_request") is not None
            and (boundary is None or (parse_time(i.get("updated_at")) or boundary) <= boundary)
        ]
        done += len(band)
        # Oldest first, so it grows at its end: only a 200's Link or a short page ends it (as the feed).
        full = len(raw) >= per_page
        stop = (not full or (fetched.next_url is None and not fetched.not_modified)
                or (boundary is not None and last is not None and last > boundary))
        if stop:
            high = max((t for t in (cursor.high_water, top) if t is not None), default=None)
            after = Cursor(high_water=high)
        else:
            at, page = (last, 1) if last is not None and (at is None or last > at) else (at, page + 1)
            after = Cursor(
                high_water=cursor.high_water, top=top, floor=floor, next_url=self._issues_url(at, size.current, page),
                mode="issues", boundary=boundary, at=at, page=page, done=done, total=total, in_pass=True,
            )
        pulls = [] if fetched.not_modified else self._band_pulls(band, pool)
        planned = self._plan_page(fetched, pulls, floor, after, pool)
        planned.done, planned.total = done, total
        return planned, stop

    def _plan_page(
        self, page: Fetched, items: list[dict[str, Any]], floor: datetime | None, done: Cursor, pool: ThreadPoolExecutor
    ) -> _Page:
        """Which pull requests of a page to write, and their review fetches (started now)."""
        planned = _Page(page, [], {}, done)
        if page.not_modified:
            return planned  # written with this validator by an earlier run
        window = [p for p in items if floor is None or (parse_time(p.get("updated_at")) or floor) >= floor]
        self._listed.update((int(p["number"]), parse_time(p.get("updated_at"))) for p in window)
        moved, relabelled = self._changed(window)
        planned.bundles += [PrBundle(int(p["number"]), pull=p) for p in window if int(p["number"]) in relabelled]
        session = self.env.session
        known = session.prefetch([session.client.url(*self._reviews_path(n)) for n in moved])
        for pull in window:
            number = int(pull["number"])
            if number in moved:
                planned.reviews[number] = pool.submit(self._reviews, number, known)
                planned.bundles.append(PrBundle(number, pull=pull))
        return planned

    def _planned_already(self, item: dict[str, Any]) -> bool:
        """Listed by this pass at this ``updated_at`` or a later one (its page may not be written yet)."""
        number, ours = int(item["number"]), parse_time(item.get("updated_at"))
        return number in self._listed and (ours is None or (self._listed[number] or ours) >= ours)

    def _changed(self, items: list[dict[str, Any]]) -> tuple[list[int], list[int]]:
        """Of listed pull requests (or issues): those new or updated since stored, and those stored at the same
        ``updated_at`` whose labels differ (in list order)."""
        stored, labels = self._stored([int(p["number"]) for p in items])
        moved: list[int] = []
        relabelled: list[int] = []
        for item in items:
            number = int(item["number"])
            ours, theirs = parse_time(item.get("updated_at")), stored.get(number)
            if theirs is None or (ours is not None and ours > theirs):
                moved.append(number)
            elif ours == theirs and label_names(item) != labels.get(number, set()):
                relabelled.append(number)
        return moved, relabelled

    def _reviews_path(self, number: int) -> tuple[str, dict[str, Any]]:
        return f"repos/{self.repo}/pulls/{number}/reviews", {"per_page": self.env.per_page}

    def _stored(self, numbers: list[int]) -> tuple[dict[int, datetime | None], dict[int, set[str]]]:
        if not numbers:
            return {}, {}
        def stored_rows(conn: sa.Connection) -> tuple[dict[int, datetime | None], dict[int, set[str]]]:
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

        return read(self.env.engine, stored_rows, what="stored pull requests")

    def _reviews(self, number: int, known: dict[str, Cached]) -> tuple[list[Any], list[Fetched]]:
        if self._abort.is_set():
            raise RunCancelled("the other stream of the sync failed")
        self.env.check()
        self.stats.reviews_fetched += 1
        path, params = self._reviews_path(number)
        return self.env.session.get_all(path, params, known=known)

    def _commit(self, page: _Page) -> None:
        bundles = page.bundles
        by_number = {b.number: b for b in bundles}
        waiting = {future: number for number, future in page.reviews.items()}
        ready: list[PrBundle] = []
        written: set[int] = set()
        # Pull requests are written as their reviews come in (a few per transaction), so a crash loses only
        # the reviews in flight: the next run lists the page again but finds these pull requests up to date.
        failure: BaseException | None = None
        for future in as_completed(waiting):
            bundle = by_number[waiting[future]]
            try:
                reviews, fetched = future.result()
            except BaseException as exc:  # the others still finish (each checks the run first)
                failure = failure or exc
                continue
            bundle.reviews = reviews
            bundle.etag_rows += [f.etag_row for f in fetched if f.etag_row is not None]
            ready.append(bundle)
            if failure is None and len(ready) >= WRITE_EVERY and len(written) + len(ready) < len(page.reviews):
                chunk, ready = ready, []
                self.env.add_rows(self.env.transaction(partial(self.writer.write, bundles=chunk)))
                written.update(b.number for b in chunk)
                self.stats.pulls_written += len(chunk)
        if failure is not None:
            # A spent budget (or a failed review list) ends the run, but what it bought is kept: the pull
            # requests whose reviews are in are written (not the page's cursor), and the next run finds them
            # up to date. A write the run may no longer make (lease lost) is refused by its guard.
            if ready and isinstance(failure, Exception) and not isinstance(failure, RunCancelled):
                try:
                    self.env.add_rows(self.env.transaction(partial(self.writer.write, bundles=ready)))
                    self.stats.pulls_written += len(ready)
                except Exception as exc:
                    log.warning("github_partial_page_not_written", repo=self.repo, error=str(exc))
            raise failure
        bundles = [b for b in bundles if b.number not in written]
        page_rows = [page.fetched.etag_row] if page.fetched.etag_row is not None else []
        if not bundles and not page_rows and (page.cursor.resuming or page.cursor == self._written):
            return  # nothing new on this page: a crash here would just read it again, free (304)
        cursor = page.cursor
        where = f"{cursor.mode} page {query_int(cursor.next_url, 'page') or 1}" if cursor.next_url else "caught up"

        def work(conn: Connection) -> int:
            written = self.writer.write(conn, bundles, page_rows)
            write_cursor(conn, self.repo, PULLS, cursor, server_time(conn))
            self.progress.update(conn, "pulls", page.done, page.total, where)
            return written

        if cursor.resuming:
            self.env.add_rows(self.env.transaction(work))
        else:  # the pass's last page
            self._hold(work)
        self._written = cursor
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
        open_prs = (
            sa.select(pr_states.c.pr_number)
            .where(pr_states.c.repo == self.repo, pr_states.c.pr_state == "open")
            .order_by(pr_states.c.pr_number)
        )
        numbers = [int(n) for n in read(env.engine, lambda conn: conn.execute(open_prs).scalars().all())]
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
                last = start + REFRESH_CHUNK >= len(numbers)
                self._write(chunk, [b for b in fetched if b is not None], extra, last=last)
                extra = []
        if not numbers:
            self._write([], [], extra, last=True)
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

    def _write(
        self, checked: list[int], bundles: list[PrBundle], etag_rows: list[dict[str, Any]], *, last: bool = False
    ) -> None:
        def work(conn: Connection) -> int:
            written = self.writer.write(conn, bundles, etag_rows)
            if checked:
                conn.execute(
                    sa.update(pr_states)
                    .where(pr_states.c.repo == self.repo, pr_states.c.pr_number.in_(checked))
                    .values(last_checked=db_now())
                )
            return written

        if last:
            self.env.last_write(work)
        else:
            self.env.add_rows(self.env.transaction(work))
        self.stats.pulls_written += sum(1 for b in bundles if b.pull is not None)


__all__ = ["PageSize", "RefreshSync", "RepoSync", "SyncEnv", "SyncStats"]
