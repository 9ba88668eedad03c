"""The JSON shapes of the fake GitHub's answers: users, repositories, labels, pull requests, issues,
reviews, issue comments and ``/rate_limit``, with every field GitHub's published schema for API version
2022-11-28 requires (tests/test_fake_github_schema.py validates them with githubkit's generated models),
modelled on real recorded api.github.com responses (PyGithub's tests/ReplayData).

``api`` is the fake's base URL (``http://127.0.0.1:PORT``): every ``url`` field points back at it, and
``html_url`` fields at github.com, as GitHub's do. A deleted account (login None) is ``"user": null``
where the schema allows it (lists, issues, comments, reviews) and GitHub's placeholder user ``ghost``
where it does not (one pull request's ``user``). A PENDING review has no ``submitted_at`` key at all.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any
from urllib.parse import quote

from scrapesched.testing.fake_github.model import (
    IssueComment,
    PullRequest,
    Repo,
    Review,
    derived_sha,
    is_bot,
    stable_int,
    wire,
)
from scrapesched.testing.fake_github.rate_limits import Budget

HTML_BASE = "https://github.com"
GHOST_LOGIN = "ghost"  # GitHub's placeholder for deleted accounts (https://github.com/ghost, id 10137)
AVATARS = "https://avatars.githubusercontent.com"
_NO_REACTIONS = {"total_count": 0, "+1": 0, "-1": 0, "laugh": 0, "hooray": 0, "confused": 0, "heart": 0, "rocket": 0,
                 "eyes": 0}  # fmt: skip


def user_json(api: str, login: str | None, kind: str | None = None) -> dict[str, Any] | None:
    """A ``simple-user`` (None for a deleted account); ``kind`` overrides the User/Bot type."""
    if login is None:
        return None
    return dict(_user(api, login, kind))


@lru_cache(maxsize=4096)
def _user(api: str, login: str, kind: str | None) -> tuple[tuple[str, Any], ...]:
    uid = 10137 if login == GHOST_LOGIN else stable_int(login)
    user_api = f"{api}/users/{quote(login)}"
    bot = login.endswith("[bot]")
    return tuple(
        {
            "login": login,
            "id": uid,
            "node_id": f"U_{uid:08x}",
            "avatar_url": f"{AVATARS}/{'in' if bot else 'u'}/{uid}?v=4",
            "gravatar_id": "",
            "url": user_api,
            "html_url": f"{HTML_BASE}/apps/{login.removesuffix('[bot]')}" if bot else f"{HTML_BASE}/{quote(login)}",
            "followers_url": f"{user_api}/followers",
            "following_url": f"{user_api}/following{{/other_user}}",
            "gists_url": f"{user_api}/gists{{/gist_id}}",
            "starred_url": f"{user_api}/starred{{/owner}}{{/repo}}",
            "subscriptions_url": f"{user_api}/subscriptions",
            "organizations_url": f"{user_api}/orgs",
            "repos_url": f"{user_api}/repos",
            "events_url": f"{user_api}/events{{/privacy}}",
            "received_events_url": f"{user_api}/received_events",
            "type": kind or ("Bot" if bot else "User"),
            "user_view_type": "public",
            "site_admin": False,
        }.items()
    )


def repo_json(api: str, repo: Repo, *, full: bool = False) -> dict[str, Any]:
    """A ``repository`` (as in a pull request's head/base); ``full``: a ``full-repository`` (GET the repo)."""
    payload = dict(_repository(api, repo.full_name, repo.id, wire(repo.created_at) or "", len(repo.pulls)))
    if full:
        payload |= {"network_count": 0, "subscribers_count": 0}
    return payload


@lru_cache(maxsize=256)
def _repository(api: str, full_name: str, rid: int, created: str, open_issues: int) -> tuple[tuple[str, Any], ...]:
    owner, name = full_name.split("/", 1)
    r = f"{api}/repos/{full_name}"
    return tuple(
        {
            "id": rid,
            "node_id": f"R_{rid:08x}",
            "name": name,
            "full_name": full_name,
            "private": False,
            "owner": user_json(api, owner, "Organization"),
            "html_url": f"{HTML_BASE}/{full_name}",
            "description": f"Fake {name} repository",
            "fork": False,
            "url": r,
            "forks_url": f"{r}/forks",
            "keys_url": f"{r}/keys{{/key_id}}",
            "collaborators_url": f"{r}/collaborators{{/collaborator}}",
            "teams_url": f"{r}/teams",
            "hooks_url": f"{r}/hooks",
            "issue_events_url": f"{r}/issues/events{{/number}}",
            "events_url": f"{r}/events",
            "assignees_url": f"{r}/assignees{{/user}}",
            "branches_url": f"{r}/branches{{/branch}}",
            "tags_url": f"{r}/tags",
            "blobs_url": f"{r}/git/blobs{{/sha}}",
            "git_tags_url": f"{r}/git/tags{{/sha}}",
            "git_refs_url": f"{r}/git/refs{{/sha}}",
            "trees_url": f"{r}/git/trees{{/sha}}",
            "statuses_url": f"{r}/statuses/{{sha}}",
            "languages_url": f"{r}/languages",
            "stargazers_url": f"{r}/stargazers",
            "contributors_url": f"{r}/contributors",
            "subscribers_url": f"{r}/subscribers",
            "subscription_url": f"{r}/subscription",
            "commits_url": f"{r}/commits{{/sha}}",
            "git_commits_url": f"{r}/git/commits{{/sha}}",
            "comments_url": f"{r}/comments{{/number}}",
            "issue_comment_url": f"{r}/issues/comments{{/number}}",
            "contents_url": f"{r}/contents/{{+path}}",
            "compare_url": f"{r}/compare/{{base}}...{{head}}",
            "merges_url": f"{r}/merges",
            "archive_url": f"{r}/{{archive_format}}{{/ref}}",
            "downloads_url": f"{r}/downloads",
            "issues_url": f"{r}/issues{{/number}}",
            "pulls_url": f"{r}/pulls{{/number}}",
            "milestones_url": f"{r}/milestones{{/number}}",
            "notifications_url": f"{r}/notifications{{?since,all,participating}}",
            "labels_url": f"{r}/labels{{/name}}",
            "releases_url": f"{r}/releases{{/id}}",
            "deployments_url": f"{r}/deployments",
            "created_at": created,
            "updated_at": created,
            "pushed_at": created,
            "git_url": f"git://github.com/{full_name}.git",
            "ssh_url": f"git@github.com:{full_name}.git",
            "clone_url": f"{HTML_BASE}/{full_name}.git",
            "svn_url": f"{HTML_BASE}/{full_name}",
            "homepage": None,
            "size": 0,
            "stargazers_count": 0,
            "watchers_count": 0,
            "language": "Java",
            "has_issues": True,
            "has_projects": True,
            "has_downloads": True,
            "has_wiki": True,
            "has_pages": False,
            "has_discussions": False,
            "forks_count": 0,
            "mirror_url": None,
            "archived": False,
            "disabled": False,
            "open_issues_count": open_issues,
            "license": None,
            "allow_forking": True,
            "is_template": False,
            "web_commit_signoff_required": False,
            "topics": [],
            "visibility": "public",
            "forks": 0,
            "open_issues": open_issues,
            "watchers": 0,
            "default_branch": "main",
        }.items()
    )


def label_json(api: str, repo: Repo, name: str, *, full: bool = False) -> dict[str, Any]:
    """A label as embedded in a pull request or issue; ``full``: a ``label`` (the labels endpoint), which
    the schema also gives ``archived_at``."""
    payload: dict[str, Any] = {
        "id": stable_int(f"{repo.full_name}:{name}", 9),
        "node_id": f"LA_{stable_int(name):08x}",
        "url": f"{api}/repos/{repo.full_name}/labels/{quote(name)}",
        "name": name,
        "color": f"{stable_int(name, 6):06x}",
        "default": False,
        "description": None,
    }
    if full:
        payload["archived_at"] = None
    payload["archived_by"] = None
    return payload


def _href(url: str) -> dict[str, str]:
    return {"href": url}


def pull_json(api: str, repo: Repo, pr: PullRequest, *, full: bool = False) -> dict[str, Any]:
    """A ``pull-request-simple`` (the list), or with ``full`` a ``pull-request`` (one pull request)."""
    repo_api = f"{api}/repos/{repo.full_name}"
    owner = repo.full_name.split("/", 1)[0]
    merged = pr.merged_at is not None
    pull_api = f"{repo_api}/pulls/{pr.number}"
    html = f"{HTML_BASE}/{repo.full_name}/pull/{pr.number}"
    base_repo = repo_json(api, repo)
    payload: dict[str, Any] = {
        "url": pull_api,
        "id": pr.id,
        "node_id": f"PR_{pr.id:010x}",
        "html_url": html,
        "diff_url": f"{html}.diff",
        "patch_url": f"{html}.patch",
        "issue_url": f"{repo_api}/issues/{pr.number}",
        "number": pr.number,
        "state": pr.state,
        "locked": False,
        "title": pr.title,
        "user": user_json(api, pr.user),
        "body": pr.body,
        "created_at": wire(pr.created_at),
        "updated_at": wire(pr.updated_at),
        "closed_at": wire(pr.closed_at),
        "merged_at": wire(pr.merged_at),
        "merge_commit_sha": derived_sha(f"merge:{repo.full_name}#{pr.number}") if merged else None,
        "assignee": user_json(api, pr.assignees[0]) if pr.assignees else None,
        "assignees": [user_json(api, login) for login in pr.assignees],
        "requested_reviewers": [],
        "requested_teams": [],
        "labels": [label_json(api, repo, name) for name in pr.labels],
        "milestone": None,
        "draft": pr.draft,
        "commits_url": f"{pull_api}/commits",
        "review_comments_url": f"{pull_api}/comments",
        "review_comment_url": f"{repo_api}/pulls/comments{{/number}}",
        "comments_url": f"{repo_api}/issues/{pr.number}/comments",
        "statuses_url": f"{repo_api}/statuses/{pr.head_sha}",
        "head": {
            "label": f"{pr.user or 'ghost'}:{pr.head_ref}",
            "ref": pr.head_ref,
            "sha": pr.head_sha,
            "user": user_json(api, pr.user),
            "repo": None if pr.user is None else base_repo,  # a deleted author's fork is gone
        },
        "base": {
            "label": f"{owner}:{pr.base_ref}",
            "ref": pr.base_ref,
            "sha": derived_sha(f"{repo.full_name}@{pr.base_ref}"),
            "user": user_json(api, owner, "Organization"),
            "repo": base_repo,
        },
        "_links": {
            "self": _href(pull_api),
            "html": _href(html),
            "issue": _href(f"{repo_api}/issues/{pr.number}"),
            "comments": _href(f"{repo_api}/issues/{pr.number}/comments"),
            "review_comments": _href(f"{pull_api}/comments"),
            "review_comment": _href(f"{repo_api}/pulls/comments{{/number}}"),
            "commits": _href(f"{pull_api}/commits"),
            "statuses": _href(f"{repo_api}/statuses/{pr.head_sha}"),
        },
        "author_association": "CONTRIBUTOR",
        "auto_merge": None,
        "active_lock_reason": None,
    }
    if full:
        payload |= pull_details(api, pr)
        if pr.user is None:  # the schema's pull-request.user is not nullable: GitHub shows its ghost
            payload["user"] = user_json(api, GHOST_LOGIN)
    return payload


def pull_details(api: str, pr: PullRequest) -> dict[str, Any]:
    """Fields only the single-pull endpoint has."""
    merged = pr.merged_at is not None
    return {
        "merged": merged,
        "mergeable": None if pr.state == "closed" else True,
        "rebaseable": None if pr.state == "closed" else True,
        "mergeable_state": "unknown" if pr.state == "closed" else "clean",
        "merged_by": user_json(api, pr.assignees[0] if pr.assignees else pr.user) if merged else None,
        "comments": len(pr.comments),
        "review_comments": 0,
        "maintainer_can_modify": False,
        "commits": 1,
        "additions": stable_int(pr.head_sha, 3) % 400,
        "deletions": stable_int(pr.head_sha[::-1], 3) % 200,
        "changed_files": 1 + stable_int(pr.head_sha, 2) % 12,
    }


def issue_json(api: str, repo: Repo, pr: PullRequest) -> dict[str, Any]:
    """A pull request as ``GET /repos/{o}/{r}/issues`` lists it: an ``issue`` with a ``pull_request`` key."""
    repo_api = f"{api}/repos/{repo.full_name}"
    issue_api = f"{repo_api}/issues/{pr.number}"
    html = f"{HTML_BASE}/{repo.full_name}/pull/{pr.number}"
    return {
        "url": issue_api,
        "repository_url": repo_api,
        "labels_url": f"{issue_api}/labels{{/name}}",
        "comments_url": f"{issue_api}/comments",
        "events_url": f"{issue_api}/events",
        "html_url": html,
        "id": pr.id + 500_000_000,  # an issue's id is not its pull request's id
        "node_id": f"PR_{pr.id:010x}",
        "number": pr.number,
        "title": pr.title,
        "user": user_json(api, pr.user),
        "labels": [label_json(api, repo, name) for name in pr.labels],
        "state": pr.state,
        "locked": False,
        "assignee": user_json(api, pr.assignees[0]) if pr.assignees else None,
        "assignees": [user_json(api, login) for login in pr.assignees],
        "milestone": None,
        "comments": len(pr.comments),
        "created_at": wire(pr.created_at),
        "updated_at": wire(pr.updated_at),
        "closed_at": wire(pr.closed_at),
        "author_association": "CONTRIBUTOR",
        "active_lock_reason": None,
        "draft": pr.draft,
        "pull_request": {
            "url": f"{repo_api}/pulls/{pr.number}",
            "html_url": html,
            "diff_url": f"{html}.diff",
            "patch_url": f"{html}.patch",
            "merged_at": wire(pr.merged_at),
        },
        "body": pr.body,
        "closed_by": None,
        "reactions": {"url": f"{issue_api}/reactions", **_NO_REACTIONS},
        "timeline_url": f"{issue_api}/timeline",
        "performed_via_github_app": None,
        "state_reason": "completed" if pr.merged_at else ("not_planned" if pr.state == "closed" else None),
    }


def review_json(api: str, repo: Repo, pr: PullRequest, review: Review) -> dict[str, Any]:
    html = f"{HTML_BASE}/{repo.full_name}/pull/{pr.number}#pullrequestreview-{review.id}"
    pull_api = f"{api}/repos/{repo.full_name}/pulls/{pr.number}"
    payload: dict[str, Any] = {
        "id": review.id,
        "node_id": f"PRR_{review.id:010x}",
        "user": user_json(api, review.user),
        "body": review.body,
        "state": review.state,
        "html_url": html,
        "pull_request_url": pull_api,
        "author_association": "MEMBER",
        "_links": {"html": _href(html), "pull_request": _href(pull_api)},
    }
    if review.submitted_at is not None:  # a PENDING review has no submitted_at key at all
        payload["submitted_at"] = wire(review.submitted_at)
    payload["commit_id"] = review.commit_id
    return payload


def comment_json(api: str, repo: Repo, comment: IssueComment) -> dict[str, Any]:
    repo_api = f"{api}/repos/{repo.full_name}"
    html = f"{HTML_BASE}/{repo.full_name}/pull/{comment.issue_number}#issuecomment-{comment.id}"
    comment_api = f"{repo_api}/issues/comments/{comment.id}"
    return {
        "url": comment_api,
        "html_url": html,
        "issue_url": f"{repo_api}/issues/{comment.issue_number}",
        "id": comment.id,
        "node_id": f"IC_{comment.id:010x}",
        "user": user_json(api, comment.user),
        "created_at": wire(comment.created_at),
        "updated_at": wire(comment.updated_at),
        "author_association": "NONE" if is_bot(comment.user) else "MEMBER",
        "body": comment.body,
        "reactions": {"url": f"{comment_api}/reactions", **_NO_REACTIONS},
        "performed_via_github_app": None,
    }


def rate_limit_json(budget: Budget) -> dict[str, Any]:
    core = {"limit": budget.limit, "used": budget.used, "remaining": budget.remaining, "reset": budget.reset}
    search = {"limit": 30, "used": 0, "remaining": 30, "reset": budget.reset}
    return {"resources": {"core": core, "search": search}, "rate": core}
