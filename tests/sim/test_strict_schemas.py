"""The simulator holds requests and answers to GitHub's OpenAPI description: request bodies and
query parameters are validated in full (refused as GitHub refuses them), and every answer is
checked against its response schema and trimmed to it."""

from __future__ import annotations

from typing import Any

import pytest

from sim.github.repo import SimRepo
from sim.github.server import GitHubSim
from sim.github.shapes import Shapes
from tests.sim.conftest import Api


def open_pull(repo: SimRepo, branch: str = "fix") -> int:
    repo.create_branch(branch, repo.head())
    repo.commit({f"{branch}.txt": "x\n"}, "Change", branch=branch)
    return repo.open_pr(branch, "Fix")


# --- answers -----------------------------------------------------------------------------------


async def test_a_field_the_schema_does_not_declare_is_a_violation_and_never_reaches_the_client(
    api: Api, sim: GitHubSim, repo: SimRepo, monkeypatch: pytest.MonkeyPatch
) -> None:
    full = Shapes.repository

    def with_extra(self: Shapes, r: SimRepo) -> dict[str, Any]:
        return {**full(self, r), "favourite_colour": "blue"}

    monkeypatch.setattr(Shapes, "repository", with_extra)
    answer = await api.get("/repos/octo/widgets")
    assert answer.status == 200
    assert "favourite_colour" not in answer.body and answer.body["full_name"] == "octo/widgets"
    assert sim.violations == [
        "answer 200 to GET /repos/octo/widgets: field 'favourite_colour' is not in GitHub's schema"
    ]


async def test_an_answer_missing_a_required_field_or_of_the_wrong_type_is_a_violation(
    api: Api, sim: GitHubSim, repo: SimRepo, monkeypatch: pytest.MonkeyPatch
) -> None:
    full = Shapes.repository

    def broken(self: Shapes, r: SimRepo) -> dict[str, Any]:
        shaped = full(self, r)
        del shaped["default_branch"]
        shaped["private"] = "no"
        return shaped

    monkeypatch.setattr(Shapes, "repository", broken)
    assert (await api.get("/repos/octo/widgets")).status == 200
    assert sorted(sim.violations) == [
        "answer 200 to GET /repos/octo/widgets: 'private' must be boolean, got string",
        "answer 200 to GET /repos/octo/widgets: missing required field 'default_branch'",
    ]


async def test_pull_request_lists_have_the_short_shape_and_the_single_get_the_full_one(
    api: Api, sim: GitHubSim, repo: SimRepo
) -> None:
    number = open_pull(repo)
    listed = (await api.get("/repos/octo/widgets/pulls")).body
    assert [p["number"] for p in listed] == [number]
    for absent in ("merged", "mergeable", "mergeable_state", "rebaseable", "commits",
                   "additions", "changed_files", "maintainer_can_modify", "merged_by"):
        assert absent not in listed[0]
    assert listed[0]["head"]["ref"] == "fix" and listed[0]["draft"] is False
    single = (await api.get(f"/repos/octo/widgets/pulls/{number}")).body
    assert (single["merged"], single["mergeable"], single["mergeable_state"]) == (
        False, True, "clean")
    for_commit = (await api.get(f"/repos/octo/widgets/commits/{repo.head('fix')}/pulls")).body
    assert [p["number"] for p in for_commit] == [number] and "merged" not in for_commit[0]
    assert sim.violations == []


async def test_a_status_code_github_does_not_document_is_a_violation(
    api: Api, sim: GitHubSim, repo: SimRepo, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sim.github import rest_repos
    from sim.github.routes import ROUTES, Reply

    original = ROUTES[("GET", "/repos/{owner}/{repo}")]
    monkeypatch.setitem(ROUTES, ("GET", "/repos/{owner}/{repo}"),
                        lambda ctx: Reply(201, rest_repos.get_repo(ctx).body))
    assert original is rest_repos.get_repo
    assert (await api.get("/repos/octo/widgets")).status == 201
    assert sim.violations == [
        "answer 201 to GET /repos/octo/widgets: GitHub does not answer "
        "GET /repos/{owner}/{repo} with 201"
    ]


# --- request bodies ------------------------------------------------------------------------------


async def test_nested_body_fields_are_validated_like_github(
    api: Api, sim: GitHubSim, repo: SimRepo
) -> None:
    sha = repo.head()
    no_summary = await api.post("/repos/octo/widgets/check-runs", {
        "name": "ci", "head_sha": sha, "output": {"title": "t"}})
    assert no_summary.status == 422
    assert no_summary.body["message"].startswith("Invalid request.")
    assert "missing required field 'output.summary'" in no_summary.body["message"]
    wrong_type = await api.post("/repos/octo/widgets/check-runs", {
        "name": "ci", "head_sha": sha, "output": {"title": 7, "summary": "s"}})
    assert wrong_type.status == 422
    assert "'output.title' must be string, got integer" in wrong_type.body["message"]
    assert repo.check_runs == []  # refused: nothing was created
    assert len(sim.violations) == 2 and all("invalid request" in v for v in sim.violations)


# --- query parameters ----------------------------------------------------------------------------


async def test_query_parameters_are_validated_and_unknown_ones_recorded(
    api: Api, sim: GitHubSim, repo: SimRepo
) -> None:
    bad_enum = await api.get("/repos/octo/widgets/pulls?state=merged")
    assert bad_enum.status == 422
    assert "query parameter 'state' is 'merged', not one of 'open', 'closed', 'all'" in (
        bad_enum.body["message"])
    bad_int = await api.get("/repos/octo/widgets/pulls?per_page=lots")
    assert bad_int.status == 422
    assert "query parameter 'per_page': 'lots' is not an integer" in bad_int.body["message"]
    assert len(sim.violations) == 2
    sim.violations.clear()

    # GitHub ignores a parameter it does not know; the caller meant it to filter, so it is a
    # violation even though the answer is the unfiltered list.
    open_pull(repo)
    unknown = await api.get("/repos/octo/widgets/pulls?author=octocat")
    assert unknown.status == 200 and len(unknown.body) == 1
    assert sim.violations == [
        "unknown query parameter GET /repos/octo/widgets/pulls: 'author' (GitHub ignores it)"
    ]
