"""The fake GitHub's REST resources: which GET paths exist, what they answer, with which parameters.

Served, under ``/repos/{owner}/{name}`` or ``/repositories/{id}``, with the parameters GitHub documents
for API version 2022-11-28 (others are ignored, as GitHub does):

- the repository; ``pulls`` (``state``, ``sort`` created|updated, ``direction``: default desc for
  created, asc for updated; no ``since``); ``pulls/{n}``; ``pulls/{n}/reviews`` (oldest first, new
  reviews appended; PENDING ones only for their author); ``issues/{n}/labels``;
- ``issues`` (pull requests listed as issues: ``state`` open|closed|all, ``sort``
  created|updated|comments, ``direction`` default desc, ``since`` on updated_at);
- ``issues/comments`` (repository-wide: ``since`` on updated_at, ``sort`` created|updated,
  ``direction`` default asc; without ``sort``, ascending id) and ``issues/{n}/comments`` (``since``
  only, ascending id).

List endpoints are paginated by page number (``per_page`` up to 100, ``page``) with GitHub's ``Link``
header, whose URLs use the ``/repositories/{id}/...`` form as GitHub's do. With a page-depth limit (a page
number, or a number of items), a page past it is a 422 (GitHub's message) and ``rel="last"`` points at the
deepest page allowed. Single
resources carry ``Last-Modified``; lists do not (as in recorded api.github.com answers). Anything
else is a 404; bad parameter values are a 422.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any
from urllib.parse import urlencode

from scrapesched.testing.fake_github.dataset import Dataset
from scrapesched.testing.fake_github.model import IssueComment, PullRequest, Repo, Review
from scrapesched.testing.fake_github.protocol import HttpError, Request
from scrapesched.testing.fake_github.shapes import (
    comment_json,
    issue_json,
    label_json,
    pull_json,
    repo_json,
    review_json,
)

DEFAULT_PER_PAGE = 30
MAX_PER_PAGE = 100
PAGINATION_LIMITED = "In order to keep the API fast for everyone, pagination is limited for this resource."
PAGINATION_DOCS = "https://docs.github.com/v3/#pagination"


@dataclass(frozen=True)
class Routed:
    """A GET's answer: the JSON payload, its Link header and (single resources) its Last-Modified."""

    payload: Any
    link: str | None = None
    last_modified: datetime | None = None


@dataclass(frozen=True)
class _Listing:
    """A list endpoint's items, rendered to JSON one page at a time."""

    items: Sequence[Any]
    render: Callable[[Any], dict[str, Any]]


def route(
    data: Dataset,
    api: str,
    request: Request,
    *,
    viewer: str | None,
    page_limit: int | None = None,
    item_limit: int | None = None,
) -> Routed:
    """The answer to a GET; raises HttpError for 404/422. ``viewer``: the login of the token's user.

    ``page_limit``: pages past this number are refused; ``item_limit``: pages reaching past this many
    items are refused (``page * per_page > item_limit``: GitHub's comment feed stops at 40,000 items).
    """
    repo, rest = _resolve(data, request.path)
    found = _endpoint(api, repo, rest, request.params, viewer)
    if isinstance(found, _Listing):  # only the requested page is rendered
        limit = _deepest_page(request, page_limit, item_limit)
        chunk, link = _paginate(api, found.items, repo, rest, request.query, limit)
        return Routed([found.render(item) for item in chunk], link)
    return found


def per_page_of(request: Request) -> int:
    """The page size a list request asks for (GitHub's default 30, capped at 100)."""
    per_page = _int_param(request.params, "per_page", DEFAULT_PER_PAGE)
    return DEFAULT_PER_PAGE if per_page < 1 else min(per_page, MAX_PER_PAGE)


def _deepest_page(request: Request, page_limit: int | None, item_limit: int | None) -> int | None:
    """The deepest page number allowed at this request's page size (None: no limit)."""
    limits = [page_limit] if page_limit is not None else []
    if item_limit is not None:
        limits.append(max(1, item_limit // per_page_of(request)))
    return min(limits, default=None)


def repo_named(data: Dataset, path: str) -> str | None:
    """The repository a path names (for the request log), whatever the answer was."""
    try:
        return _resolve(data, path)[0].full_name
    except HttpError:
        return None


def _resolve(data: Dataset, path: str) -> tuple[Repo, tuple[str, ...]]:
    parts = tuple(p for p in path.split("/") if p)
    if len(parts) >= 3 and parts[0] == "repos":
        repo = data.find_repo(f"{parts[1]}/{parts[2]}")
        rest = parts[3:]
    elif len(parts) >= 2 and parts[0] == "repositories":
        repo = data.find_repo_by_id(parts[1])
        rest = parts[2:]
    else:
        repo = None
    if repo is None:
        raise HttpError(404, "Not Found")
    return repo, rest


def _endpoint(
    api: str, repo: Repo, rest: tuple[str, ...], params: Mapping[str, str], viewer: str | None
) -> Routed | _Listing:
    match rest:
        case ():
            return Routed(repo_json(api, repo, full=True), last_modified=repo.created_at)
        case ("pulls",):
            return _Listing(_list_pulls(repo, params), partial(pull_json, api, repo))
        case ("pulls", number):
            pr = _find_pr(repo, number)
            return Routed(pull_json(api, repo, pr, full=True), last_modified=pr.updated_at)
        case ("pulls", number, "reviews"):
            pr = _find_pr(repo, number)
            return _Listing(_visible_reviews(pr.reviews, viewer), partial(review_json, api, repo, pr))
        case ("issues",):
            return _Listing(_list_issues(repo, params), partial(issue_json, api, repo))
        case ("issues", "comments"):
            return _Listing(_repo_comments(repo, params), partial(comment_json, api, repo))
        case ("issues", number, "labels"):
            return _Listing(_find_pr(repo, number).labels, partial(label_json, api, repo, full=True))
        case ("issues", number, "comments"):
            return _Listing(_issue_comments(_find_pr(repo, number), params), partial(comment_json, api, repo))
    raise HttpError(404, "Not Found")


def _find_pr(repo: Repo, number: str) -> PullRequest:
    pr = repo.pulls.get(int(number)) if number.isdigit() else None
    if pr is None:
        raise HttpError(404, "Not Found")
    return pr


def _visible_reviews(reviews: list[Review], viewer: str | None) -> list[Review]:
    """A PENDING review is seen by its author only (GitHub's docs: pending reviews are not visible)."""
    if all(r.state != "PENDING" for r in reviews):
        return reviews
    return [r for r in reviews if r.state != "PENDING" or (viewer is not None and r.user == viewer)]


def _list_pulls(repo: Repo, params: Mapping[str, str]) -> list[PullRequest]:
    state = params.get("state", "open")
    sort = params.get("sort", "created")
    if state not in ("open", "closed", "all") or sort not in ("created", "updated"):
        raise HttpError(422, "Validation Failed")
    direction = params.get("direction", "desc" if sort == "created" else "asc")
    pulls = [pr for pr in repo.pulls.values() if state in ("all", pr.state)]
    if sort == "created":
        return _ordered(pulls, lambda pr: (pr.created_at, pr.number), direction)
    return _ordered(pulls, lambda pr: (pr.updated_at, pr.number), direction)


def _list_issues(repo: Repo, params: Mapping[str, str]) -> list[PullRequest]:
    state = params.get("state", "open")
    sort = params.get("sort", "created")
    if state not in ("open", "closed", "all") or sort not in ("created", "updated", "comments"):
        raise HttpError(422, "Validation Failed")
    pulls = [pr for pr in repo.pulls.values() if state in ("all", pr.state)]
    if "since" in params:
        since = _parse_since(params["since"])
        pulls = [] if since.year < 1971 else [pr for pr in pulls if pr.updated_at >= since]
    direction = params.get("direction", "desc")
    keys: dict[str, Callable[[PullRequest], Any]] = {
        "created": lambda pr: (pr.created_at, pr.number),
        "updated": lambda pr: (pr.updated_at, pr.number),
        "comments": lambda pr: (len(pr.comments), pr.number),
    }
    return _ordered(pulls, keys[sort], direction)


def _issue_comments(pr: PullRequest, params: Mapping[str, str]) -> list[IssueComment]:
    """One issue's comments, ascending id; ``since`` only (GitHub has no sort here)."""
    if "since" not in params:
        return pr.comments
    since = _parse_since(params["since"])
    return [] if since.year < 1971 else [c for c in pr.comments if c.updated_at >= since]


def _repo_comments(repo: Repo, params: Mapping[str, str]) -> list[IssueComment]:
    """The repository-wide comment feed, ``since`` and ``sort``/``direction`` applied.

    GitHub quirk reproduced: a ``since`` before 1971 (e.g. the epoch) returns an empty list. Sorted
    listings are cached until the next comment change (each page of a long list would sort it again).
    """
    sort = params.get("sort")
    if sort is not None and sort not in ("created", "updated"):
        raise HttpError(422, "Validation Failed")
    direction = params.get("direction", "asc")
    if direction not in ("asc", "desc"):
        raise HttpError(422, "Validation Failed")
    since = _parse_since(params["since"]) if "since" in params else None
    if since is not None and since.year < 1971:
        return []
    key = (repo.comment_rev, sort, direction if sort else "asc", None if since is None else since.isoformat())
    cached = repo.listings.get(key)
    if cached is None:
        stale = [k for k in repo.listings if k[0] != repo.comment_rev]
        if len(repo.listings) - len(stale) > 16:  # many ``since`` values: drop those, keep the sorted feeds
            stale += [k for k in repo.listings if k[0] == repo.comment_rev and k[1] != "all"]
        for k in stale:
            del repo.listings[k]
        cached = repo.listings[key] = _filtered(repo, sort, direction if sort else "asc", since)
    return cached


def _filtered(repo: Repo, sort: str | None, direction: str, since: datetime | None) -> list[IssueComment]:
    ordered = _sorted_feed(repo, sort)
    if since is None:
        return ordered if direction == "asc" else ordered[::-1]
    if sort == "updated":  # sorted by updated_at: the rows at or after ``since`` are one slice
        start = bisect.bisect_left(ordered, since, key=lambda c: c.updated_at)
        kept = ordered[start:]
    else:
        kept = [c for c in ordered if c.updated_at >= since]
    return kept if direction == "asc" else kept[::-1]


def _sorted_feed(repo: Repo, sort: str | None) -> list[IssueComment]:
    """All comments in ascending order of ``sort`` (None: id), cached until the next comment change."""
    key = (repo.comment_rev, "all", sort)
    cached = repo.listings.get(key)
    if cached is None:
        comments = list(repo.comments.values())
        if sort == "created":
            cached = sorted(comments, key=lambda c: (c.created_at, c.id))
        elif sort == "updated":
            cached = sorted(comments, key=lambda c: (c.updated_at, c.id))
        else:
            cached = sorted(comments, key=lambda c: c.id)
        repo.listings[key] = cached
    return cached


def _paginate(
    api: str,
    items: Sequence[Any],
    repo: Repo,
    rest: tuple[str, ...],
    query: list[tuple[str, str]],
    page_limit: int | None,
) -> tuple[Sequence[Any], str | None]:
    params = dict(query)
    per_page = _int_param(params, "per_page", DEFAULT_PER_PAGE)
    per_page = DEFAULT_PER_PAGE if per_page < 1 else min(per_page, MAX_PER_PAGE)
    page = max(1, _int_param(params, "page", 1))
    if page_limit is not None and page > page_limit:
        raise HttpError(422, PAGINATION_LIMITED, documentation_url=PAGINATION_DOCS)
    last = max(1, math.ceil(len(items) / per_page))
    if page_limit is not None:
        last = min(last, page_limit)
    kept = [(k, v) for k, v in query if k != "page"]
    base = f"{api}/repositories/{repo.id}/{'/'.join(rest)}"

    def link(target: int, rel: str) -> str:
        return f'<{base}?{urlencode([*kept, ("page", str(target))])}>; rel="{rel}"'

    links = []
    if page > 1:
        links.append(link(min(page - 1, last), "prev"))
    if page < last:
        links += [link(page + 1, "next"), link(last, "last")]
    if page > 1:
        links.append(link(1, "first"))
    chunk = items[(page - 1) * per_page : page * per_page]
    return chunk, ", ".join(links) or None


def _int_param(params: Mapping[str, str], name: str, default: int) -> int:
    try:
        return int(params[name])
    except (KeyError, ValueError):
        return default


def _parse_since(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise HttpError(422, "Validation Failed") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _ordered(items: list[Any], key: Callable[[Any], Any], direction: str) -> list[Any]:
    if direction not in ("asc", "desc"):
        raise HttpError(422, "Validation Failed")
    return sorted(items, key=key, reverse=direction == "desc")
