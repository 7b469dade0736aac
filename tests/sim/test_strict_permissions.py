"""GitHub's permission for each REST route and GraphQL mutation, and GraphQL's own limits:
RATE_LIMITED in GitHub's shape, connections only with `first`/`last` of at most 100."""

from __future__ import annotations

import pytest

from sim.github.permissions import REST_PERMISSIONS
from sim.github.repo import SimRepo
from sim.github.routes import ROUTES
from sim.github.server import GitHubSim
from sim.validators.graphql_schema import query_cost
from tests.sim.conftest import Api

ENABLE = """
mutation($id: ID!) {
  enablePullRequestAutoMerge(input: {pullRequestId: $id, mergeMethod: MERGE}) {
    pullRequest { number }
  }
}
"""


def open_pull(repo: SimRepo) -> int:
    repo.create_branch("fix", repo.head())
    repo.commit({"fix.txt": "x\n"}, "Fix", branch="fix")
    return repo.open_pr("fix", "Fix")


def token(sim: GitHubSim, **permissions: str) -> str:
    return sim.issue_installation_token(1, {"metadata": "read", **permissions})[0]


def test_every_simulated_repository_route_has_its_documented_permission() -> None:
    missing = sorted(f"{method} {template}" for method, template in ROUTES
                     if template.startswith("/repos/") and (method, template)
                     not in REST_PERMISSIONS)
    assert missing == []


@pytest.mark.parametrize(("permissions", "status"), [
    ({"pull_requests": "write"}, 403),
    ({"pull_requests": "write", "contents": "read"}, 403),
    ({"contents": "write"}, 200),
])
async def test_merging_needs_contents_write(
    api: Api, sim: GitHubSim, repo: SimRepo, permissions: dict[str, str], status: int
) -> None:
    number = open_pull(repo)
    answer = await api.put(f"/repos/octo/widgets/pulls/{number}/merge",
                           token=token(sim, **permissions))
    assert answer.status == status
    if status == 403:
        assert answer.body["message"] == "Resource not accessible by integration"
    assert repo.pull(number)["merged"] is (status == 200)


async def test_update_branch_needs_pull_requests_and_contents_write(
    api: Api, sim: GitHubSim, repo: SimRepo
) -> None:
    number = open_pull(repo)
    repo.commit({"main.txt": "moved\n"}, "Main moves")
    path = f"/repos/octo/widgets/pulls/{number}/update-branch"
    refused = await api.put(path, token=token(sim, pull_requests="write", contents="read"))
    assert refused.status == 403
    allowed = await api.put(path, token=token(sim, pull_requests="write", contents="write"))
    assert allowed.status == 202


async def test_graphql_mutations_are_permission_checked(
    api: Api, sim: GitHubSim, repo: SimRepo
) -> None:
    repo.protect("main", required_checks=["ci"])
    number = open_pull(repo)
    node = repo.pull(number)["node_id"]
    weak = token(sim, pull_requests="write", contents="read")
    answer = await api.post("/graphql", {"query": ENABLE, "variables": {"id": node}},
                            token=weak)
    assert answer.status == 200
    assert answer.body["data"] == {"enablePullRequestAutoMerge": None}
    assert answer.body["errors"] == [{"type": "FORBIDDEN", "path": ["enablePullRequestAutoMerge"],
                                      "message": "Resource not accessible by integration"}]
    assert repo.pull(number)["auto_merge"] is None
    strong = token(sim, pull_requests="write", contents="write")
    enabled = await api.post("/graphql", {"query": ENABLE, "variables": {"id": node}},
                             token=strong)
    assert "errors" not in enabled.body and repo.pull(number)["auto_merge"] is not None


async def test_graphql_rate_limit_answers_200_with_rate_limited(
    api: Api, sim: GitHubSim, repo: SimRepo
) -> None:
    sim.rate_limit = 2
    query = "{ viewer { login } }"
    for _ in range(2):
        assert "errors" not in (await api.graphql(query)).body
    spent = await api.graphql(query)
    assert spent.status == 200
    assert spent.body["errors"][0]["type"] == "RATE_LIMITED"
    assert spent.body["errors"][0]["message"].startswith("API rate limit exceeded")
    assert spent.headers["x-ratelimit-remaining"] == "0"
    assert spent.headers["x-ratelimit-resource"] == "graphql"


async def test_graphql_connections_need_first_or_last_of_at_most_100(
    api: Api, sim: GitHubSim, repo: SimRepo
) -> None:
    open_pull(repo)
    unbounded = await api.graphql(
        '{ repository(owner: "octo", name: "widgets") { pullRequests { totalCount } } }')
    assert unbounded.status == 200 and "data" not in unbounded.body
    assert unbounded.body["errors"] == [{
        "type": "MISSING_PAGINATION_BOUNDARIES",
        "message": "You must provide a `first` or `last` value to properly paginate the "
                   "`pullRequests` connection."}]
    excessive = await api.graphql(
        'query($n: Int) { repository(owner: "octo", name: "widgets") {'
        " pullRequests(first: $n) { totalCount } } }", n=101)
    assert excessive.body["errors"][0]["type"] == "EXCESSIVE_PAGINATION"
    assert "Requesting 101 records on the `pullRequests` connection" in (
        excessive.body["errors"][0]["message"])
    assert len(sim.violations) == 2
    sim.violations.clear()
    bounded = await api.graphql(
        '{ repository(owner: "octo", name: "widgets") { pullRequests(first: 100) {'
        " totalCount nodes { number } } } }")
    assert bounded.body["data"]["repository"]["pullRequests"]["totalCount"] == 1
    assert sim.violations == []


def test_a_documents_nodes_and_points_are_counted_as_github_documents() -> None:
    """GitHub's own example (its rate-limit docs): 100 repositories, 50 issues each, 60
    labels each: 305,100 nodes; 1 + 100 + 5,000 requests, a cost of 51 points."""
    query = (
        "query { viewer { login repositories(first: 100) { edges { node { id"
        " issues(first: 50) { edges { node { id labels(first: 60) {"
        " edges { node { id name } } } } } } } } } } }"
    )
    assert query_cost(query) == (305_100, 51)
    assert query_cost("{ viewer { login } }") == (0, 1)


async def test_a_document_asking_for_too_many_nodes_is_refused_and_points_are_spent(
    api: Api, sim: GitHubSim, repo: SimRepo
) -> None:
    """Over 500,000 possible nodes, GitHub refuses the document before running it; a query
    costing more than a point spends its whole cost from the hourly budget."""
    too_many = await api.graphql(
        '{ repository(owner: "octo", name: "widgets") { pullRequests(first: 100) { nodes {'
        " commits(first: 100) { nodes { commit { parents(first: 100) { totalCount } } } }"
        " } } } }")
    assert too_many.status == 200 and "data" not in too_many.body
    (error,) = too_many.body["errors"]
    assert error["type"] == "MAX_NODE_LIMIT_EXCEEDED"
    assert "1,010,100 possible nodes" in error["message"]
    assert len(sim.violations) == 1
    sim.violations.clear()
    cheap = await api.graphql('{ repository(owner: "octo", name: "widgets") { id } }')
    before = int(cheap.headers["x-ratelimit-remaining"])
    costly = ('{ repository(owner: "octo", name: "widgets") { pullRequests(first: 100) {'
              " nodes { labels(first: 100) { totalCount } } } } }")  # 101 requests: 1 point
    await api.graphql(costly)
    dear = ('{ repository(owner: "octo", name: "widgets") { pullRequests(first: 100) { nodes {'
            " labels(first: 100) { totalCount } commits(first: 100) { totalCount }"
            " comments(first: 100) { totalCount } } } } }")  # 301 requests: 3 points
    await api.graphql(dear)
    after = await api.graphql('{ repository(owner: "octo", name: "widgets") { id } }')
    assert before - int(after.headers["x-ratelimit-remaining"]) == 1 + 3 + 1
    assert sim.violations == []
