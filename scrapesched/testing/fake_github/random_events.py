"""Random changes to the fake GitHub's data set, the building blocks of seeded histories
(:mod:`.history`) and of :func:`mutate_random`: a new pull request, a comment, an LGTM, a review or its
dismissal, a label added or removed, a push with Codecov's new report, a Trillian result, a merge...

Each event takes the data set, a repository, a pull request number and a ``random.Random``, makes its
change through the data set's methods, and returns what it did (None when there was nothing to do).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from functools import partial
from typing import cast

from scrapesched.testing.fake_github.comments import (
    TRILLIAN_BOT,
    render_packaging_result,
    render_trillian_quote,
)
from scrapesched.testing.fake_github.content import (
    HUMAN_COMMENTS,
    HUMANS,
    LABELS,
    LGTM_COMMENTS,
    MUTATIONS,
    REVIEW_BODIES,
    TEST_POOL,
    TITLE_SUBJECTS,
    TITLE_VERBS,
    random_trillian,
)
from scrapesched.testing.fake_github.dataset import Dataset
from scrapesched.testing.fake_github.model import PullRequest, ReviewState, is_bot, random_sha


def random_pr(data: Dataset, repo: str, number: int, draft: bool, rng: random.Random) -> None:
    """Open pull request ``number`` by a random human, with a random title, labels and assignees."""
    user = rng.choice(HUMANS)
    data.add_pr(
        repo,
        number=number,
        user=user,
        title=f"{rng.choice(TITLE_VERBS)} {rng.choice(TITLE_SUBJECTS)}",
        draft=draft,
        base_ref=rng.choice(("main", "main", "main", "4.19", "4.20")),
        head_ref=f"{user}/{rng.choice(('fix', 'feature', 'cleanup'))}-{number}",
        head_sha=random_sha(rng),
        labels=rng.sample(LABELS, rng.randint(0, 2)),
        assignees=rng.sample([h for h in HUMANS if h != user], rng.randint(0, 2)),
        body=rng.choice(HUMAN_COMMENTS),
    )


def _others(data: Dataset, repo: str, number: int) -> list[str]:
    """Humans who may review or comment: everyone but the author."""
    author = data.pull_state(repo, number).user
    return [h for h in HUMANS if h != author]


def random_comment(data: Dataset, repo: str, number: int, rng: random.Random) -> str:
    text = rng.choice(HUMAN_COMMENTS)
    if rng.random() < 0.3:
        text = text.replace("\n", "\r\n") + "\r\n"
    data.add_comment(repo, number, rng.choice(_others(data, repo, number)), text)
    return f"comment {repo}#{number}"


def random_lgtm(data: Dataset, repo: str, number: int, rng: random.Random) -> str:
    data.add_comment(repo, number, rng.choice(_others(data, repo, number)), rng.choice(LGTM_COMMENTS))
    return f"lgtm {repo}#{number}"


def random_review(data: Dataset, repo: str, number: int, rng: random.Random, touch: bool = True) -> str:
    state = rng.choices(("APPROVED", "CHANGES_REQUESTED", "COMMENTED"), weights=(5, 2, 3))[0]
    user = rng.choice(_others(data, repo, number))
    data.add_review(repo, number, user, cast(ReviewState, state), rng.choice(REVIEW_BODIES), touch=touch)
    return f"review {state} {repo}#{number}"


def random_dismissal(data: Dataset, repo: str, number: int, rng: random.Random, touch: bool = True) -> str | None:
    live = [r for r in data.pull_state(repo, number).reviews if r.state in ("APPROVED", "CHANGES_REQUESTED")]
    if not live:
        return None
    data.dismiss_review(repo, number, rng.choice(live).id, touch=touch)
    return f"dismiss {repo}#{number}"


def random_label_add(data: Dataset, repo: str, number: int, rng: random.Random, touch: bool = True) -> str | None:
    missing = [name for name in LABELS if name not in data.pull_state(repo, number).labels]
    if not missing:
        return None
    name = rng.choice(missing)
    data.add_label(repo, number, name, touch=touch)
    return f"label +{name} {repo}#{number}"


def random_label_removal(
    data: Dataset, repo: str, number: int, rng: random.Random, touch: bool = True
) -> str | None:
    labels = data.pull_state(repo, number).labels
    if not labels:
        return None
    name = rng.choice(labels)
    data.remove_label(repo, number, name, touch=touch)
    return f"label -{name} {repo}#{number}"


def random_push(data: Dataset, repo: str, number: int, rng: random.Random, report: bool = True) -> str:
    """A new head commit, and Codecov's report on it (an edit of its comment) if ``report``."""
    data.push(repo, number, random_sha(rng))
    if not report:
        return f"push {repo}#{number}"
    data.add_codecov_report(repo, number, rng=rng)
    return f"push+codecov {repo}#{number}"


def random_trillian_result(
    data: Dataset,
    repo: str,
    number: int,
    rng: random.Random,
    environment: tuple[str, str] | None = None,
    duration: int | None = None,
) -> str:
    """A result by the bot; ``environment`` is (name, mgmt server OS), random when None."""
    spec = random_trillian(rng, number, data.next_test_id(), environment, duration)
    data.add_comment(repo, number, TRILLIAN_BOT, spec)
    return f"trillian {spec.environment} {repo}#{number}"


def random_packaging_result(data: Dataset, repo: str, number: int, rng: random.Random) -> str:
    results = {dist: rng.random() < 0.85 for dist in ("el8", "el9", "debian", "suse15")}
    body = render_packaging_result(results, rng.randint(4000, 16000), crlf=rng.random() < 0.3)
    data.add_comment(repo, number, TRILLIAN_BOT, body)
    return f"packaging {repo}#{number}"


def random_quote(data: Dataset, repo: str, number: int, rng: random.Random) -> str:
    spec = random_trillian(rng, number, rng.randint(10000, 20000))
    files = rng.sample([f for _, f in TEST_POOL], 4)
    body = render_trillian_quote(spec, files, crlf=rng.random() < 0.3)
    data.add_comment(repo, number, rng.choice(HUMANS), body)
    return f"human quotes trillian {repo}#{number}"


def _random_edit(data: Dataset, repo: str, number: int, rng: random.Random) -> str | None:
    comments = data.pull_state(repo, number).comments
    human = [c for c in comments if c.spec is None and c.user is not None and not is_bot(c.user)]
    if not human:
        return None
    comment = rng.choice(human)
    data.edit_comment(repo, comment.id, comment.body + "\n\nEdit: rebased on the latest main.")
    return f"edit comment {comment.id} {repo}#{number}"


def _random_assign(data: Dataset, repo: str, number: int, rng: random.Random) -> str:
    data.set_assignees(repo, number, rng.sample(HUMANS, rng.randint(0, 2)))
    return f"assign {repo}#{number}"


def mutate_random(data: Dataset, n: int, rng: random.Random, *, untouched: float = 0.0) -> list[str]:
    """Make ``n`` mixed changes (advancing the clock 1-900 s before each); returns what was done.

    ``untouched``: probability that a label/review change does not move the PR's updated_at.
    """
    done: list[str] = []
    with data.lock:
        if not data.repos:
            raise ValueError("no repository to mutate")
        while len(done) < n:
            data.advance(rng.randint(1, 900))
            outcome = _mutate_once(data, rng.choice(data.repos), rng, rng.random() >= untouched)
            if outcome is not None:
                done.append(outcome)
    return done


def _mutate_once(data: Dataset, repo: str, rng: random.Random, touch: bool) -> str | None:
    r = data.repo_state(repo)
    action = rng.choice(MUTATIONS)
    if action == "new_pr" or not r.pulls:
        number = r.next_number + rng.choice((0, 0, 1))
        random_pr(data, repo, number, rng.random() < 0.15, rng)
        return f"new pr {repo}#{number}"
    pr = r.pulls[rng.choice(sorted(r.pulls))]
    return _mutation(data, action, repo, pr, rng, touch)


def _mutation(data: Dataset, action: str, repo: str, pr: PullRequest, rng: random.Random, touch: bool) -> str | None:
    n = pr.number
    simple: dict[str, Callable[[], str | None]] = {
        "comment": partial(random_comment, data, repo, n, rng),
        "lgtm": partial(random_lgtm, data, repo, n, rng),
        "edit_comment": partial(_random_edit, data, repo, n, rng),
        "add_label": partial(random_label_add, data, repo, n, rng, touch),
        "remove_label": partial(random_label_removal, data, repo, n, rng, touch),
        "review": partial(random_review, data, repo, n, rng, touch),
        "dismiss": partial(random_dismissal, data, repo, n, rng, touch),
        "codecov": partial(random_push, data, repo, n, rng),
        "trillian": partial(random_trillian_result, data, repo, n, rng),
        "assign": partial(_random_assign, data, repo, n, rng),
    }
    if action in simple:
        return simple[action]()
    return _state_change(data, action, repo, pr)


def _state_change(data: Dataset, action: str, repo: str, pr: PullRequest) -> str | None:
    is_open, merged = pr.state == "open", pr.merged_at is not None
    if action == "merge" and is_open and not pr.draft:
        data.merge(repo, pr.number)
    elif action == "close" and is_open:
        data.close(repo, pr.number)
    elif action == "reopen" and not is_open and not merged:
        data.reopen(repo, pr.number)
    elif action == "ready" and is_open and pr.draft:
        data.set_draft(repo, pr.number, False)
    else:
        return None
    return f"{action} {repo}#{pr.number}"
