"""The fake GitHub's REST resources: which GET paths exist and what they answer.

Served, under ``/repos/{owner}/{name}`` or ``/repositories/{id}``: the repository, its pull requests
(``state``, ``sort``, ``direction``), one pull request, its reviews and labels, and issue comments (of one
pull request or repository-wide; ``since``, ``sort``, ``direction``). List endpoints are paginated
(``per_page`` up to 100, ``page``) with GitHub's ``Link`` header, whose URLs use the
``/repositories/{id}/...`` form as GitHub's do. Anything else is a 404; bad parameters are a 422.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any
from urllib.parse import urlencode

from scrapesched.testing.fake_github.dataset import Dataset
from scrapesched.testing.fake_github.model import IssueComment, PullRequest, Repo
from scrapesched.testing.fake_github.protocol import HttpError, Request
from scrapesched.testing.fake_github.shapes import comment_json, label_json, pull_json, repo_json, review_json

DEFAULT_PER_PAGE = 30
MAX_PER_PAGE = 100


@dataclass(frozen=True)
class _Listing:
    """A list endpoint's items, rendered to JSON one page at a time."""

    items: Sequence[Any]
    render: Callable[[Any], dict[str, Any]]


def route(data: Dataset, api: str, request: Request) -> tuple[Any, str | None]:
    """The JSON payload and Link header for a GET; raises HttpError for 404/422."""
    repo, rest = _resolve(data, request.path)
    payload = _endpoint(api, repo, rest, request.params)
    if isinstance(payload, _Listing):  # only the requested page is rendered
        chunk, link = _paginate(api, payload.items, repo, rest, request.query)
        return [payload.render(item) for item in chunk], link
    return payload, None


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


def _endpoint(api: str, repo: Repo, rest: tuple[str, ...], params: Mapping[str, str]) -> dict[str, Any] | _Listing:
    match rest:
        case ():
            return repo_json(api, repo)
        case ("pulls",):
            return _Listing(_list_pulls(repo, params), partial(pull_json, api, repo))
        case ("pulls", number):
            return pull_json(api, repo, _find_pr(repo, number), full=True)
        case ("pulls", number, "reviews"):
            pr = _find_pr(repo, number)
            return _Listing(pr.reviews, partial(review_json, api, repo, pr))
        case ("issues", "comments"):
            return _Listing(_list_comments(repo, None, params), partial(comment_json, api, repo))
        case ("issues", number, "labels"):
            return _Listing(_find_pr(repo, number).labels, partial(label_json, api, repo))
        case ("issues", number, "comments"):
            pr = _find_pr(repo, number)
            return _Listing(_list_comments(repo, pr.number, params), partial(comment_json, api, repo))
    raise HttpError(404, "Not Found")


def _find_pr(repo: Repo, number: str) -> PullRequest:
    pr = repo.pulls.get(int(number)) if number.isdigit() else None
    if pr is None:
        raise HttpError(404, "Not Found")
    return pr


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


def _list_comments(repo: Repo, number: int | None, params: Mapping[str, str]) -> list[IssueComment]:
    """Issue comments (of one issue, or repository-wide), ``since`` and ``sort``/``direction`` applied.

    GitHub quirk reproduced: a ``since`` before 1971 (e.g. the epoch) returns an empty list. Listings
    are cached until the next comment change (each page of a long list would sort it again).
    """
    key = (repo.comment_rev, number, params.get("since"), params.get("sort"), params.get("direction"))
    cached = repo.listings.get(key)
    if cached is None:
        if len(repo.listings) > 64 or any(k[0] != repo.comment_rev for k in repo.listings):
            repo.listings.clear()
        cached = repo.listings[key] = _sorted_comments(repo, number, params)
    return cached


def _sorted_comments(repo: Repo, number: int | None, params: Mapping[str, str]) -> list[IssueComment]:
    comments = [c for c in repo.comments.values() if number in (None, c.issue_number)]
    if "since" in params:
        since = _parse_since(params["since"])
        if since.year < 1971:
            return []
        comments = [c for c in comments if c.updated_at >= since]
    sort = params.get("sort")
    if sort is None:
        return sorted(comments, key=lambda c: c.id)
    if sort not in ("created", "updated"):
        raise HttpError(422, "Validation Failed")
    direction = params.get("direction", "asc")
    if sort == "created":
        return _ordered(comments, lambda c: (c.created_at, c.id), direction)
    return _ordered(comments, lambda c: (c.updated_at, c.id), direction)


def _paginate(
    api: str, items: Sequence[Any], repo: Repo, rest: tuple[str, ...], query: list[tuple[str, str]]
) -> tuple[Sequence[Any], str | None]:
    params = dict(query)
    per_page = _int_param(params, "per_page", DEFAULT_PER_PAGE)
    per_page = DEFAULT_PER_PAGE if per_page < 1 else min(per_page, MAX_PER_PAGE)
    page = max(1, _int_param(params, "page", 1))
    last = max(1, math.ceil(len(items) / per_page))
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
