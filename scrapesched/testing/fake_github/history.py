"""Seeded, realistic pull request histories for the fake GitHub (:func:`populate`).

Each pull request gets a fate (open, merged, closed, draft) and a timeline of random events (Codecov
reports, comments, Trillian runs with the bot's notices, pushes, reviews and dismissals, LGTMs, labels)
spread over about 90 days; the events of all pull requests are then applied in time order with the fake
clock set to each event's time. The same seed gives the same data.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial

from scrapesched.testing.fake_github.comments import TRILLIAN_BOT, render_packaging_kicked, render_trillian_kicked
from scrapesched.testing.fake_github.content import ENVIRONMENTS, HUMANS
from scrapesched.testing.fake_github.dataset import Dataset
from scrapesched.testing.fake_github.random_events import (
    random_comment,
    random_dismissal,
    random_label_add,
    random_label_removal,
    random_lgtm,
    random_packaging_result,
    random_pr,
    random_push,
    random_quote,
    random_review,
    random_trillian_result,
)

_Event = tuple[datetime, Callable[[], object]]


@dataclass
class _Timeline:
    """Events of one PR's planned history, each some seconds after the previous one."""

    cursor: datetime
    rng: random.Random
    events: list[_Event] = field(default_factory=list)

    def at(self, low: int, high: int, action: Callable[[], object]) -> None:
        self.cursor += timedelta(seconds=self.rng.randint(low, high))
        self.events.append((self.cursor, action))


def populate(data: Dataset, repos: Sequence[str], prs_per_repo: int, seed: int) -> None:
    """Add ``prs_per_repo`` PRs with realistic histories to each repo (created if missing).

    Histories span about 90 days from ``now``; their events are applied in time order with the fake
    clock set to each event's time, and the clock ends one hour after the last event.
    """
    rng = random.Random(seed)
    with data.lock:
        start = data.stamp()
        events: list[_Event] = []
        for name in repos:
            if data.find_repo(name) is None:
                data.add_repo(name)
            events += _plan_repo(data, name, prs_per_repo, start, rng)
        events.sort(key=lambda event: event[0])
        for when, action in events:
            data.advance_to(when)
            action()
        data.advance(3600)


def _plan_repo(data: Dataset, repo: str, count: int, start: datetime, rng: random.Random) -> list[_Event]:
    r = data.repo_state(repo)
    number = r.next_number + (rng.randint(100, 9000) if not r.pulls else 0)
    events: list[_Event] = []
    created = sorted(start + timedelta(seconds=rng.randint(0, 90 * 86400)) for _ in range(count))
    for when in created:
        events += _plan_pr(data, repo, number, when, rng)
        number += rng.choice((1, 1, 1, 2, 3))  # issues share the number sequence
    return events


def _plan_pr(data: Dataset, repo: str, number: int, created: datetime, rng: random.Random) -> list[_Event]:
    fate = rng.choices(("open", "merged", "closed", "draft"), weights=(35, 35, 15, 15))[0]
    plan = _Timeline(created, rng)
    plan.at(0, 0, partial(random_pr, data, repo, number, fate == "draft", rng))
    has_codecov = rng.random() < 0.75
    if has_codecov:
        plan.at(600, 2400, partial(data.add_codecov_report, repo, number, rng=rng))
    for _ in range(rng.randint(0, 3)):
        plan.at(300, 86400, partial(random_comment, data, repo, number, rng))
    if rng.random() < 0.6:
        _plan_trillian(data, plan, repo, number)
    for _ in range(rng.randint(0, 2)):
        plan.at(3600, 2 * 86400, partial(random_push, data, repo, number, rng, has_codecov))
    _plan_reviews(data, plan, repo, number)
    _plan_labels(data, plan, repo, number)
    _plan_fate(data, plan, repo, number, fate)
    return plan.events


def _plan_trillian(data: Dataset, plan: _Timeline, repo: str, number: int) -> None:
    rng = plan.rng
    human = rng.choice(HUMANS)
    say = partial(data.add_comment, repo, number)
    plan.at(3600, 86400, partial(say, human, "@blueorangutan package"))
    plan.at(30, 120, partial(say, TRILLIAN_BOT, render_packaging_kicked(human, crlf=rng.random() < 0.3)))
    plan.at(3000, 7200, partial(random_packaging_result, data, repo, number, rng))
    for _ in range(rng.randint(1, 3)):
        environment, mgmt = rng.choice(ENVIRONMENTS)
        plan.at(600, 7200, partial(say, human, f"@blueorangutan test {mgmt} {environment}"))
        plan.at(30, 120, partial(say, TRILLIAN_BOT, render_trillian_kicked(human, mgmt, environment)))
        duration = rng.randint(20000, 90000)
        result = partial(random_trillian_result, data, repo, number, rng, (environment, mgmt), duration)
        plan.at(duration, duration, result)
    if rng.random() < 0.25:
        plan.at(600, 86400, partial(random_quote, data, repo, number, rng))


def _plan_reviews(data: Dataset, plan: _Timeline, repo: str, number: int) -> None:
    rng = plan.rng
    for _ in range(rng.randint(0, 3)):
        plan.at(600, 86400, partial(random_review, data, repo, number, rng))
    if rng.random() < 0.3:
        plan.at(600, 86400, partial(random_dismissal, data, repo, number, rng))
    for _ in range(rng.randint(0, 2)):
        plan.at(600, 86400, partial(random_lgtm, data, repo, number, rng))


def _plan_labels(data: Dataset, plan: _Timeline, repo: str, number: int) -> None:
    rng = plan.rng
    if rng.random() < 0.4:
        plan.at(600, 86400, partial(random_label_add, data, repo, number, rng))
    if rng.random() < 0.3:
        plan.at(600, 86400, partial(random_label_removal, data, repo, number, rng))


def _plan_fate(data: Dataset, plan: _Timeline, repo: str, number: int, fate: str) -> None:
    rng = plan.rng
    if fate == "draft" and rng.random() < 0.3:
        plan.at(3600, 86400, partial(data.set_draft, repo, number, False))
    elif fate == "merged":
        plan.at(3600, 3 * 86400, partial(data.merge, repo, number))
    elif fate == "closed":
        plan.at(3600, 10 * 86400, partial(data.close, repo, number))
        if rng.random() < 0.2:
            plan.at(3600, 86400, partial(data.reopen, repo, number))
            plan.at(3600, 86400, partial(data.close, repo, number))
