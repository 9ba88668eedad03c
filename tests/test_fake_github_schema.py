"""The fake GitHub's answers validate against GitHub's published schema for API version 2022-11-28.

githubkit's generated pydantic models (a test-only dependency) are the schema: every item of a sample of
every endpoint's answers, over real HTTP, must validate in strict mode and carry no key the schema does
not know. The sample holds what real GitHub produces: merged, closed and draft pull requests, dismissed
and PENDING reviews, deleted accounts (``"user": null``), bot comments, labels, errors.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pydantic import BaseModel, TypeAdapter, ValidationError

from scrapesched.testing.fake_github import FakeGitHub

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    schema = pytest.importorskip("githubkit_schemas.v2022_11_28.models")

TOKEN = "ghp_schemaToken"
REVIEWER = "ghp_reviewerToken"
REPO = "apache/cloudstack"


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeGitHub]:
    fake = FakeGitHub.seeded(
        repos=[REPO], prs_per_repo=40, seed=11, tokens=[TOKEN, REVIEWER], token_users={REVIEWER: "carol-qa"}
    )
    numbers = sorted(fake.truth(REPO).pr_states)
    fake.add_review(REPO, numbers[0], "carol-qa", "PENDING", "not yet")
    fake.delete_user("dmitri-k")
    with fake:
        yield fake


def _keys(value: Any, prefix: str = "") -> set[str]:
    """Every key path of a JSON value (list items collapsed to ``[]``)."""
    if isinstance(value, dict):
        paths = set()
        for key, item in value.items():
            paths |= {f"{prefix}.{key}"} | _keys(item, f"{prefix}.{key}")
        return paths
    if isinstance(value, list):
        return set().union(*(_keys(item, f"{prefix}[]") for item in value)) if value else set()
    return set()


def _validate(model: type[BaseModel], response: httpx.Response, *, many: bool) -> int:
    """Validate strictly; fail on any error or on a key the schema does not define. Returns items seen."""
    assert response.status_code < 300 or model is schema.BasicError, response.text
    adapter: TypeAdapter[Any] = TypeAdapter(list[model] if many else model)  # type: ignore[valid-type]
    try:
        parsed = adapter.validate_json(response.content, strict=True)
    except ValidationError as err:
        pytest.fail(f"{response.request.url.path}: {model.__name__}: {err}")
    raw = response.json()
    dumped = adapter.dump_python(parsed, mode="json", by_alias=True, exclude_unset=True)
    unknown = _keys(raw) - _keys(dumped)
    assert not unknown, f"{response.request.url.path}: keys not in {model.__name__}: {sorted(unknown)}"
    return len(raw) if many else 1


def _pages(client: httpx.Client, path: str, params: dict[str, Any]) -> Iterator[httpx.Response]:
    response = client.get(path, params={**params, "per_page": 100})
    yield response
    while "next" in response.links:
        response = client.get(response.links["next"]["url"])
        yield response


def test_every_endpoint_validates_against_githubs_schema(fake: FakeGitHub) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}", "Accept": "application/vnd.github+json"}
    base = f"/repos/{REPO}"
    seen: dict[str, int] = {}
    with httpx.Client(base_url=fake.url, headers=headers, timeout=10) as client:
        seen["repo"] = _validate(schema.FullRepository, client.get(base), many=False)
        seen["rate_limit"] = _validate(schema.RateLimitOverview, client.get("/rate_limit"), many=False)
        lists = {
            "pulls": (f"{base}/pulls", {"state": "all"}, schema.PullRequestSimple),
            "issues": (f"{base}/issues", {"state": "all"}, schema.Issue),
            "feed": (f"{base}/issues/comments", {"sort": "updated", "direction": "asc"}, schema.IssueComment),
        }
        for name, (path, params, model) in lists.items():
            seen[name] = sum(_validate(model, page, many=True) for page in _pages(client, path, params))
        numbers = sorted(fake.truth(REPO).pr_states)
        for number in numbers:
            seen["pull"] = seen.get("pull", 0) + _validate(
                schema.PullRequest, client.get(f"{base}/pulls/{number}"), many=False
            )
            for path, model in (
                (f"{base}/pulls/{number}/reviews", schema.PullRequestReview),
                (f"{base}/issues/{number}/comments", schema.IssueComment),
                (f"{base}/issues/{number}/labels", schema.Label),
            ):
                kind = "issue " + path.rsplit("/", 1)[1]
                seen[kind] = seen.get(kind, 0) + _validate(model, client.get(path), many=True)
        pending = client.get(f"{base}/pulls/{numbers[0]}/reviews", headers={"Authorization": f"token {REVIEWER}"})
        assert any(r["state"] == "PENDING" for r in pending.json())
        _validate(schema.PullRequestReview, pending, many=True)
        for error in (
            client.get(f"{base}/pulls/999999"),
            client.get(f"{base}/pulls", params={"state": "bogus"}),
            client.get(base, headers={"Authorization": "Bearer ghp_bad"}),
        ):
            _validate(schema.BasicError, error, many=False)
    assert all(count > 0 for count in seen.values()), seen
    assert seen["feed"] == seen["issue comments"] == len(fake.repo_state(REPO).comments)


def test_sample_holds_what_real_github_produces(fake: FakeGitHub) -> None:
    """The schema test above is only as good as its sample: null users, merged PRs, dismissals, bots."""
    with httpx.Client(base_url=fake.url, headers={"Authorization": f"token {TOKEN}"}) as client:
        pulls = client.get(f"/repos/{REPO}/pulls", params={"state": "all", "per_page": 100}).json()
        comments = client.get(f"/repos/{REPO}/issues/comments", params={"per_page": 100}).json()
    assert any(p["user"] is None for p in pulls) or any(c["user"] is None for c in comments)
    assert any(p["merged_at"] for p in pulls) and any(p["draft"] for p in pulls) and any(p["labels"] for p in pulls)
    assert any(c["user"] and c["user"]["type"] == "Bot" for c in comments)
    states = {r.state for pr in fake.repo_state(REPO).pulls.values() for r in pr.reviews}
    assert {"DISMISSED", "PENDING", "APPROVED"} <= states
