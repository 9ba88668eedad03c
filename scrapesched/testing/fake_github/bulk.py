"""A repository at the scale of apache/cloudstack in seconds (:func:`populate_bulk`): 10,000 pull
requests and 200,000 issue comments, mostly the bots' (Codecov's report, Trillian's "kicked" notices,
packaging and smoke-test results), with humans' requests and LGTMs, reviews and dismissals, labels,
and every fate (open, merged, closed, draft).

Unlike :mod:`.history`, which replays each event through the data set's methods, the objects are built
directly: specs come from small pools drawn once per repository, comment bodies are rendered when first
served (:class:`.model.IssueComment`), and ids are assigned in creation order after one sort, as
GitHub's ids grow with time. The same seed gives the same data; the ground truth is computed from it as
for any other data set.
"""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from scrapesched.testing.fake_github.comments import (
    CODECOV_BOT,
    TRILLIAN_BOT,
    TrillianResultSpec,
    render_packaging_kicked,
    render_packaging_result,
    render_trillian_kicked,
)
from scrapesched.testing.fake_github.content import (
    ENVIRONMENTS,
    HUMAN_COMMENTS,
    HUMANS,
    LABELS,
    LGTM_COMMENTS,
    REVIEW_BODIES,
    TITLE_SUBJECTS,
    TITLE_VERBS,
    random_codecov,
    random_rows,
)
from scrapesched.testing.fake_github.dataset import Dataset
from scrapesched.testing.fake_github.model import IssueComment, PullRequest, Review, ReviewState, random_sha

SPAN_DAYS = 3 * 365  # the pull requests' creation times spread over three years
_POOL = 64  # specs and bodies drawn once, then reused with each PR's own numbers

_Planned = tuple[datetime, int, str | None, str | None, Any, datetime]  # created, PR, user, body, spec, updated


def populate_bulk(data: Dataset, repo: str, prs: int, comments: int, seed: int) -> None:
    """Add ``prs`` pull requests carrying ``comments`` issue comments in all to ``repo`` (created if
    missing), created over three years from the fake clock; the clock ends one hour after the last event."""
    rng = random.Random(seed)
    with data.lock:
        if data.find_repo(repo) is None:
            data.add_repo(repo)
        target = data.repo_state(repo)
        start = data.stamp()
        pools = _Pools(rng, repo)
        per_pr, extra = divmod(comments, max(prs, 1))
        planned: list[_Planned] = []
        pulls: list[PullRequest] = []
        number = target.next_number + rng.randint(100, 9000)
        step = SPAN_DAYS * 86400 / max(prs, 1)
        for i in range(prs):
            created = start + timedelta(seconds=int(i * step) + rng.randint(0, int(step)))
            pr = _pull(data, rng, number, created)
            pulls.append(pr)
            count = per_pr + (1 if i < extra else 0)
            last = _plan_comments(data, rng, pools, pr, count, planned)
            last = _reviews(data, rng, pr, last)
            _fate(rng, pr, last)
            number += rng.choice((1, 1, 1, 2))
        planned.sort(key=lambda p: p[0])
        by_number = {pr.number: pr for pr in pulls}
        target.pulls.update(by_number)
        store, ids = target.comments, data.next_id
        for created, issue, user, body, spec, updated in planned:
            comment = IssueComment(ids(), issue, user, body, created, updated, spec)
            store[comment.id] = comment
            by_number[issue].comments.append(comment)
        target.next_number = number
        target.comment_rev += 1
        target.listings.clear()
        end = max((pr.updated_at for pr in pulls), default=start)
        data.advance_to(end + timedelta(hours=1))


class _Pools:
    """Specs and texts drawn once per repository, reused with each PR's numbers and shas."""

    def __init__(self, rng: random.Random, repo: str) -> None:
        dummy = PullRequest(0, 1, "", "alice-dev", datetime.min, datetime.min, random_sha(rng), "x")
        self.codecov = [random_codecov(rng, repo, dummy, None) for _ in range(_POOL)]
        self.rows = [random_rows(rng) for _ in range(_POOL)]
        self.counts = {
            id(rows): (
                len({r.name for r in rows if r.result != "Skipped"}),
                len({r.name for r in rows if r.result == "Skipped"}),
            )
            for rows in self.rows
        }
        self.packaging = [
            render_packaging_result({d: rng.random() < 0.85 for d in ("el8", "el9", "debian", "suse15")}, 4000 + i)
            for i in range(_POOL)
        ]
        self.kicked: dict[tuple[str, str, str], str] = {}
        self.package_kicked = {h: render_packaging_kicked(h) for h in HUMANS}
        self.said = HUMAN_COMMENTS

    def trillian_kicked(self, human: str, mgmt: str, environment: str) -> str:
        key = (human, mgmt, environment)
        if key not in self.kicked:
            self.kicked[key] = render_trillian_kicked(human, mgmt, environment)
        return self.kicked[key]


def _pull(data: Dataset, rng: random.Random, number: int, created: datetime) -> PullRequest:
    user = HUMANS[rng.randrange(len(HUMANS))]
    others = [h for h in HUMANS if h != user]
    labels = rng.sample(LABELS, rng.randint(0, 2))
    return PullRequest(
        id=data.next_id(),
        number=number,
        title=f"{rng.choice(TITLE_VERBS)} {rng.choice(TITLE_SUBJECTS)}",
        user=user,
        created_at=created,
        updated_at=created,
        head_sha=random_sha(rng),
        head_ref=f"{user}/fix-{number}",
        base_ref=rng.choice(("main", "main", "main", "4.19", "4.20")),
        draft=rng.random() < 0.15,
        body=rng.choice(HUMAN_COMMENTS),
        labels=labels,
        assignees=rng.sample(others, rng.randint(0, 2)),
    )


def _plan_comments(
    data: Dataset, rng: random.Random, pools: _Pools, pr: PullRequest, count: int, out: list[_Planned]
) -> datetime:
    """``count`` comments of one PR in the bots' rhythm; returns the time of the last event."""
    draw = rng.random  # the hot loop draws floats only: randint/choice cost ten times more
    when = pr.created_at
    human = HUMANS[int(draw() * len(HUMANS))]
    environment, mgmt = ENVIRONMENTS[0]
    n = pr.number
    edited = when
    for k in range(count):
        when += timedelta(seconds=60 + int(draw() * 7140))
        step = (k - 1) % 8
        if k == 0:  # Codecov's single comment, edited in place on every push: updated later
            spec: Any = replace(
                pools.codecov[int(draw() * _POOL)], pr_number=n, head_sha=pr.head_sha, base_ref=pr.base_ref
            )
            edited = when + timedelta(seconds=int(draw() * 86400))
            out.append((when, n, CODECOV_BOT, None, spec, edited))
        elif step == 0:
            out.append((when, n, human, "@blueorangutan package", None, when))
        elif step == 1:
            out.append((when, n, TRILLIAN_BOT, pools.package_kicked[human], None, when))
        elif step == 2:
            out.append((when, n, TRILLIAN_BOT, pools.packaging[int(draw() * _POOL)], None, when))
        elif step == 3:
            environment, mgmt = ENVIRONMENTS[int(draw() * len(ENVIRONMENTS))]
            out.append((when, n, human, f"@blueorangutan test {mgmt} {environment}", None, when))
        elif step == 4:
            out.append((when, n, TRILLIAN_BOT, pools.trillian_kicked(human, mgmt, environment), None, when))
        elif step == 5:
            out.append((when, n, TRILLIAN_BOT, None, _trillian(data, rng, pools, n, environment, mgmt), when))
        elif step == 6:
            out.append(
                (when, n, HUMANS[int(draw() * len(HUMANS))], pools.said[int(draw() * len(pools.said))], None, when)
            )
        else:
            out.append(
                (
                    when,
                    n,
                    HUMANS[int(draw() * len(HUMANS))],
                    LGTM_COMMENTS[int(draw() * len(LGTM_COMMENTS))],
                    None,
                    when,
                )
            )
    last = max(when, edited)
    pr.updated_at = max(pr.updated_at, last)
    return last


def _trillian(data: Dataset, rng: random.Random, pools: _Pools, pr: int, env: str, mgmt: str) -> TrillianResultSpec:
    draw = rng.random
    rows = pools.rows[int(draw() * _POOL)]
    failed, skipped = pools.counts[id(rows)]
    return TrillianResultSpec(
        test_id=data.next_test_id(),
        pr_number=pr,
        environment=env,
        passed=80 + int(draw() * 70),
        failed=failed,
        skipped=skipped,
        duration_seconds=20000 + int(draw() * 70000),
        rows=rows,
        logs_available=draw() > 0.12,
        zone="Advanced" if draw() < 0.5 else None,
        mgmt_server=mgmt,
        crlf=draw() < 0.3,
    )


def _reviews(data: Dataset, rng: random.Random, pr: PullRequest, when: datetime) -> datetime:
    states: tuple[ReviewState, ...] = ("APPROVED", "CHANGES_REQUESTED", "COMMENTED")
    for _ in range(rng.randint(0, 3)):
        when += timedelta(seconds=rng.randint(600, 86400))
        state = rng.choices(states, weights=(5, 2, 3))[0]
        user = rng.choice([h for h in HUMANS if h != pr.user])
        pr.reviews.append(Review(data.next_id(), user, state, when, rng.choice(REVIEW_BODIES), pr.head_sha))
    if pr.reviews and rng.random() < 0.2:
        pr.reviews[rng.randrange(len(pr.reviews))].state = "DISMISSED"
    pr.updated_at = max(pr.updated_at, when)
    return when


def _fate(rng: random.Random, pr: PullRequest, when: datetime) -> None:
    roll = rng.random()
    if pr.draft or roll < 0.4:
        return  # stays open
    when += timedelta(seconds=rng.randint(3600, 3 * 86400))
    if roll < 0.8:
        pr.merged_at = pr.closed_at = when
    else:
        pr.closed_at = when
    pr.state = "closed"
    pr.updated_at = when
