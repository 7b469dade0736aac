"""The GitHub simulator: pull requests, merging guarded like GitHub, branch protection and
rulesets, and GraphQL auto-merge with GitHub's own refusals."""

from __future__ import annotations

from sim.github.repo import SimRepo
from sim.github.server import GitHubSim
from tests.sim.conftest import Api

ENABLE = """
mutation($id: ID!, $method: PullRequestMergeMethod!) {
  enablePullRequestAutoMerge(input: {pullRequestId: $id, mergeMethod: $method}) {
    pullRequest { number autoMergeRequest { enabledAt mergeMethod enabledBy { login } } }
  }
}
"""


def branch_with_change(
    repo: SimRepo, name: str, files: dict[str, str | None], message: str = "Change"
) -> str:
    repo.create_branch(name, repo.head())
    return repo.commit(files, message, branch=name)


async def test_pull_request_creation_rules(api: Api, sim: GitHubSim, repo: SimRepo) -> None:
    head = branch_with_change(repo, "fix", {"a.txt": "a\n"})
    created = await api.post(
        "/repos/octo/widgets/pulls",
        {"title": "Fix", "head": "octo:fix", "base": "main", "body": "b"},
    )
    assert created.status == 201
    pr = created.body
    assert (pr["head"]["ref"], pr["head"]["sha"], pr["base"]["ref"]) == ("fix", head, "main")
    assert (pr["merged"], pr["mergeable"], pr["mergeable_state"]) == (False, True, "clean")
    assert pr["node_id"] and pr["user"]["login"] == "buildsheriff[bot]"
    again = await api.post(
        "/repos/octo/widgets/pulls", {"title": "Fix", "head": "fix", "base": "main"}
    )
    assert again.status == 422
    assert again.body["errors"][0]["message"] == "A pull request already exists for octo:fix."
    repo.create_branch("same", repo.head())
    empty = await api.post(
        "/repos/octo/widgets/pulls", {"title": "x", "head": "same", "base": "main"}
    )
    assert empty.status == 422 and "No commits between" in empty.body["errors"][0]["message"]

    listed = await api.get("/repos/octo/widgets/pulls?head=octo:fix&state=open")
    assert [p["number"] for p in listed.body] == [pr["number"]]
    labels = await api.post(
        f"/repos/octo/widgets/issues/{pr['number']}/labels", {"labels": ["revert"]}
    )
    assert labels.status == 200
    assert [lab["name"] for lab in repo.pull(pr["number"])["labels"]] == ["revert"]
    repo.commit({"a.txt": "b\n"}, "More", branch="fix")
    await sim.drain()
    assert [d["action"] for d in sim.deliveries if d["event"] == "pull_request"] == [
        "opened",
        "labeled",
        "synchronize",
    ]
    assert not [v for v in sim.violations if "webhook" in v]


async def test_reviewers_must_be_collaborators(api: Api, sim: GitHubSim, repo: SimRepo) -> None:
    branch_with_change(repo, "fix", {"a.txt": "a\n"})
    number = repo.open_pr("fix", "Fix", author="alice")
    repo.set_permission("bob", "write")
    stranger = await api.post(
        f"/repos/octo/widgets/pulls/{number}/requested_reviewers", {"reviewers": ["mallory"]}
    )
    assert stranger.status == 422
    assert stranger.body["message"] == (
        "Reviews may only be requested from collaborators. One or more of the users or teams you "
        "specified is not a collaborator of the octo/widgets repository."
    )
    assert (
        await api.post(
            f"/repos/octo/widgets/pulls/{number}/requested_reviewers", {"reviewers": ["alice"]}
        )
    ).status == 422
    ok = await api.post(
        f"/repos/octo/widgets/pulls/{number}/requested_reviewers", {"reviewers": ["bob"]}
    )
    assert ok.status == 201 and [u["login"] for u in ok.body["requested_reviewers"]] == ["bob"]
    await sim.drain()
    requested = [d for d in sim.deliveries if d["action"] == "review_requested"]
    assert requested[0]["payload"]["requested_reviewer"]["login"] == "bob"


async def test_merge_guards(api: Api, sim: GitHubSim, repo: SimRepo) -> None:
    head = branch_with_change(repo, "fix", {"a.txt": "mine\n"})
    number = repo.open_pr("fix", "Fix")
    stale = await api.put(f"/repos/octo/widgets/pulls/{number}/merge", {"sha": "0" * 40})
    assert stale.status == 409
    assert stale.body["message"] == "Head branch was modified. Review and try the merge again."

    repo.protect("main", required_checks=["ci"], required_reviews=1)
    reviews = await api.put(f"/repos/octo/widgets/pulls/{number}/merge", {"sha": head})
    assert reviews.status == 405 and reviews.body["message"] == (
        "At least 1 approving review is required by reviewers with write access."
    )
    repo.set_permission("bob", "write")
    repo.review(number, "bob")
    checks = await api.put(f"/repos/octo/widgets/pulls/{number}/merge", {"sha": head})
    assert checks.status == 405
    assert checks.body["message"] == 'Required status check "ci" is expected.'
    assert repo.pull(number)["mergeable_state"] == "blocked"

    repo.commit({"a.txt": "theirs\n"}, "Conflict on main")
    conflict = await api.put(f"/repos/octo/widgets/pulls/{number}/merge", {"sha": head})
    assert conflict.status == 405 and conflict.body["message"] == "Pull Request is not mergeable"
    assert (repo.pull(number)["mergeable"], repo.pull(number)["mergeable_state"]) == (
        False,
        "dirty",
    )
    assert repo.pull(number)["merged"] is False


async def test_merge_methods_make_real_commits(api: Api, sim: GitHubSim, repo: SimRepo) -> None:
    for method in ("merge", "squash", "rebase"):
        base = repo.head()
        repo.create_branch(method, base)
        repo.commit({f"{method}.txt": "1\n"}, f"{method} one", branch=method)
        head = repo.commit({f"{method}.txt": "2\n"}, f"{method} two", branch=method)
        number = repo.open_pr(method, f"Use {method}")
        merged = await api.put(
            f"/repos/octo/widgets/pulls/{number}/merge", {"merge_method": method, "sha": head}
        )
        assert merged.status == 200 and merged.body["merged"] is True
        new = repo.head()
        assert merged.body["sha"] == new
        assert repo.git("show", f"{new}:{method}.txt") == "2\n"
        parents = repo.git("log", "-1", "--format=%P", new).split()
        if method == "merge":
            assert parents == [base, head]
        elif method == "squash":
            assert parents == [base]
            assert repo.git("log", "-1", "--format=%s", new).strip() == f"Use {method} (#{number})"
        else:
            assert repo.git("log", "--format=%s", f"{base}..{new}").split("\n")[:2] == [
                "rebase two",
                "rebase one",
            ]
            assert repo.git("rev-parse", f"{new}~2").strip() == base
        pr = repo.pull(number)
        assert (pr["state"], pr["merged"], pr["merge_commit_sha"]) == ("closed", True, new)
    await sim.drain()
    closed = [d for d in sim.deliveries if d["action"] == "closed"]
    assert [d["payload"]["pull_request"]["merged"] for d in closed] == [True, True, True]
    pushes = [d["payload"]["after"] for d in sim.deliveries if d["event"] == "push"]
    assert pushes[-1] == repo.head()
    assert not sim.violations


async def test_protection_and_rules_endpoints(api: Api, repo: SimRepo) -> None:
    assert (await api.get("/repos/octo/widgets/branches/main/protection")).status == 404
    assert (await api.get("/repos/octo/widgets/rules/branches/main")).body == []
    repo.protect("main", required_checks=["ci", "lint"], required_reviews=2)
    protection = await api.get("/repos/octo/widgets/branches/main/protection")
    assert protection.body["required_status_checks"]["contexts"] == ["ci", "lint"]
    assert protection.body["required_pull_request_reviews"]["required_approving_review_count"] == 2
    checks = await api.get("/repos/octo/widgets/branches/main/protection/required_status_checks")
    assert [c["context"] for c in checks.body["checks"]] == ["ci", "lint"]
    branch = await api.get("/repos/octo/widgets/branches/main")
    assert branch.body["protected"] is True and branch.body["commit"]["sha"] == repo.head()
    repo.add_ruleset(["deploy-check"])
    rules = await api.get("/repos/octo/widgets/rules/branches/main")
    assert rules.body[0]["parameters"]["required_status_checks"] == [{"context": "deploy-check"}]
    assert (await api.get("/repos/octo/widgets/rules/branches/other")).body == []
    repo.unprotect("main")
    assert (await api.get("/repos/octo/widgets/branches/main/protection")).status == 404


async def test_auto_merge_refusals_and_merge_on_green(
    api: Api, sim: GitHubSim, repo: SimRepo
) -> None:
    head = branch_with_change(repo, "revert-abc", {"a.txt": "reverted\n"}, "Revert abc")
    number = repo.open_pr("revert-abc", "Revert abc")
    node = repo.pull(number)["node_id"]

    repo.allow_auto_merge = False
    refused = await api.graphql(ENABLE, id=node, method="SQUASH")
    assert refused.body["data"] is None
    assert refused.body["errors"][0]["message"] == "Auto merge is not allowed for this repository"
    repo.allow_auto_merge = True
    unprotected = await api.graphql(ENABLE, id=node, method="SQUASH")
    assert unprotected.body["errors"][0]["message"] == (
        "Protected branch rules not configured for this branch")
    repo.protect("main")
    clean = await api.graphql(ENABLE, id=node, method="SQUASH")
    assert clean.body["errors"][0]["message"] == "Pull request Pull request is in clean status"

    repo.protect("main", required_checks=["ci"])
    repo.add_check_run(head, "ci", conclusion="failure")
    unstable = await api.graphql(ENABLE, id=node, method="SQUASH")
    assert unstable.body["errors"][0]["message"] == (
        "Pull request Pull request is in unstable status"
    )

    newer = repo.commit({"a.txt": "reverted again\n"}, "Retry", branch="revert-abc")
    enabled = await api.graphql(ENABLE, id=node, method="SQUASH")
    assert "errors" not in enabled.body
    auto = enabled.body["data"]["enablePullRequestAutoMerge"]["pullRequest"]["autoMergeRequest"]
    assert (auto["mergeMethod"], auto["enabledBy"]["login"]) == ("SQUASH", "buildsheriff[bot]")
    assert repo.pull(number)["auto_merge"]["merge_method"] == "squash"
    looked_up = await api.graphql(
        'query($n: Int!) { repository(owner: "octo", name: "widgets") {'
        " pullRequest(number: $n) { id autoMergeRequest { enabledAt } } } }",
        n=number,
    )
    assert looked_up.body["data"]["repository"]["pullRequest"]["id"] == node

    base = repo.head()
    repo.add_check_run(newer, "ci", conclusion="success")
    await sim.drain()
    pr = repo.pull(number)
    assert (pr["merged"], pr["state"], pr["merged_by"]["login"]) == (
        True,
        "closed",
        "buildsheriff[bot]",
    )
    assert repo.head() == pr["merge_commit_sha"] != base
    assert repo.git("log", "-1", "--format=%P", repo.head()).split() == [base]
    assert (
        repo.git("rev-parse", "main^{tree}").strip()
        == repo.git("rev-parse", f"{newer}^{{tree}}").strip()
    )
    actions = [d["action"] for d in sim.deliveries if d["event"] == "pull_request"]
    assert actions[-2:] == ["auto_merge_enabled", "closed"]
    assert not sim.violations


async def test_graphql_rejected_documents_are_recorded(
    api: Api, sim: GitHubSim, repo: SimRepo
) -> None:
    invalid = await api.graphql('query { repository(owner: "octo") { nope } }')
    assert invalid.status == 200 and invalid.body["errors"]
    assert any(v.startswith("graphql:") for v in sim.violations)
    sim.violations.clear()
    unsupported = await api.graphql("query { viewer { login } licenses { key } }")
    assert unsupported.body["data"] is None
    assert sim.violations == ["graphql: not simulated: query licenses"]
    assert sim.calls["POST /graphql"] == 2
