"""The JSON shapes of the fake GitHub's answers: users, repositories, labels, pull requests, reviews,
issue comments and ``/rate_limit``, with GitHub's field names and URLs.

``api`` is the fake's base URL (``http://127.0.0.1:PORT``): every ``url`` field points back at it, and
``html_url`` fields at github.com, as GitHub's do.
"""

from __future__ import annotations

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


def user_json(api: str, login: str) -> dict[str, Any]:
    return {
        "login": login,
        "id": stable_int(login),
        "node_id": f"U_{stable_int(login):08x}",
        "type": "Bot" if login.endswith("[bot]") else "User",
        "site_admin": False,
        "url": f"{api}/users/{quote(login)}",
        "html_url": f"{HTML_BASE}/{quote(login)}",
    }


def repo_json(api: str, repo: Repo) -> dict[str, Any]:
    owner, name = repo.full_name.split("/", 1)
    repo_api = f"{api}/repos/{repo.full_name}"
    return {
        "id": repo.id,
        "node_id": f"R_{repo.id:08x}",
        "name": name,
        "full_name": repo.full_name,
        "private": False,
        "owner": {**user_json(api, owner), "type": "Organization"},
        "html_url": f"{HTML_BASE}/{repo.full_name}",
        "description": f"Fake {name} repository",
        "fork": False,
        "url": repo_api,
        "pulls_url": f"{repo_api}/pulls{{/number}}",
        "issue_comment_url": f"{repo_api}/issues/comments{{/number}}",
        "default_branch": "main",
    }


def label_json(api: str, repo: Repo, name: str) -> dict[str, Any]:
    return {
        "id": stable_int(f"{repo.full_name}:{name}", 9),
        "node_id": f"LA_{stable_int(name):08x}",
        "url": f"{api}/repos/{repo.full_name}/labels/{quote(name)}",
        "name": name,
        "color": f"{stable_int(name, 6):06x}",
        "default": False,
        "description": None,
    }


def pull_json(api: str, repo: Repo, pr: PullRequest, *, full: bool = False) -> dict[str, Any]:
    repo_api = f"{api}/repos/{repo.full_name}"
    owner = repo.full_name.split("/", 1)[0]
    merged = pr.merged_at is not None
    payload: dict[str, Any] = {
        "url": f"{repo_api}/pulls/{pr.number}",
        "id": pr.id,
        "node_id": f"PR_{pr.id:010x}",
        "html_url": f"{HTML_BASE}/{repo.full_name}/pull/{pr.number}",
        "diff_url": f"{HTML_BASE}/{repo.full_name}/pull/{pr.number}.diff",
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
        "labels": [label_json(api, repo, name) for name in pr.labels],
        "milestone": None,
        "draft": pr.draft,
        "commits_url": f"{repo_api}/pulls/{pr.number}/commits",
        "comments_url": f"{repo_api}/issues/{pr.number}/comments",
        "statuses_url": f"{repo_api}/statuses/{pr.head_sha}",
        "head": {"label": f"{pr.user}:{pr.head_ref}", "ref": pr.head_ref, "sha": pr.head_sha},
        "base": {
            "label": f"{owner}:{pr.base_ref}",
            "ref": pr.base_ref,
            "sha": derived_sha(f"{repo.full_name}@{pr.base_ref}"),
        },
        "author_association": "CONTRIBUTOR",
        "auto_merge": None,
        "active_lock_reason": None,
    }
    if full:
        payload |= pull_details(api, repo, pr)
    return payload


def pull_details(api: str, repo: Repo, pr: PullRequest) -> dict[str, Any]:
    """Fields only the single-pull endpoint has."""
    merged = pr.merged_at is not None
    return {
        "merged": merged,
        "mergeable": None if pr.state == "closed" else True,
        "mergeable_state": "unknown" if pr.state == "closed" else "clean",
        "merged_by": user_json(api, pr.assignees[0] if pr.assignees else pr.user) if merged else None,
        "comments": sum(1 for c in repo.comments.values() if c.issue_number == pr.number),
        "review_comments": 0,
        "commits": 1,
        "additions": stable_int(pr.head_sha, 3) % 400,
        "deletions": stable_int(pr.head_sha[::-1], 3) % 200,
        "changed_files": 1 + stable_int(pr.head_sha, 2) % 12,
    }


def review_json(api: str, repo: Repo, pr: PullRequest, review: Review) -> dict[str, Any]:
    html = f"{HTML_BASE}/{repo.full_name}/pull/{pr.number}#pullrequestreview-{review.id}"
    return {
        "id": review.id,
        "node_id": f"PRR_{review.id:010x}",
        "user": user_json(api, review.user),
        "body": review.body,
        "state": review.state,
        "html_url": html,
        "pull_request_url": f"{api}/repos/{repo.full_name}/pulls/{pr.number}",
        "author_association": "MEMBER",
        "submitted_at": wire(review.submitted_at),
        "commit_id": review.commit_id,
    }


def comment_json(api: str, repo: Repo, comment: IssueComment) -> dict[str, Any]:
    repo_api = f"{api}/repos/{repo.full_name}"
    html = f"{HTML_BASE}/{repo.full_name}/pull/{comment.issue_number}#issuecomment-{comment.id}"
    return {
        "url": f"{repo_api}/issues/comments/{comment.id}",
        "html_url": html,
        "issue_url": f"{repo_api}/issues/{comment.issue_number}",
        "id": comment.id,
        "node_id": f"IC_{comment.id:010x}",
        "user": user_json(api, comment.user),
        "created_at": wire(comment.created_at),
        "updated_at": wire(comment.updated_at),
        "author_association": "NONE" if is_bot(comment.user) else "MEMBER",
        "body": comment.body,
        "performed_via_github_app": None,
    }


def rate_limit_json(budget: Budget) -> dict[str, Any]:
    core = {"limit": budget.limit, "used": budget.used, "remaining": budget.remaining, "reset": budget.reset}
    search = {"limit": 30, "used": 0, "remaining": 30, "reset": budget.reset}
    return {"resources": {"core": core, "search": search}, "rate": core}
