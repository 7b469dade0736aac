"""Landing a pull request is as strict as on GitHub: strict protection (BEHIND, update-branch),
the repository's allowed merge methods, drafts, auto-merge's refusals, the transient "Base
branch was modified", and every rebased commit mapped back to its pull request."""

from __future__ import annotations

from sim.github.repo import SimRepo
from sim.github.server import GitHubSim
from tests.sim.conftest import Api

ENABLE = """
mutation($id: ID!, $method: PullRequestMergeMethod!) {
  enablePullRequestAutoMerge(input: {pullRequestId: $id, mergeMethod: $method}) {
    pullRequest { number autoMergeRequest { mergeMethod } }
  }
}
"""
MERGE = """
mutation($id: ID!, $method: PullRequestMergeMethod!) {
  mergePullRequest(input: {pullRequestId: $id, mergeMethod: $method}) {
    pullRequest { merged }
  }
}
"""
STATE = """
query($n: Int!) {
  repository(owner: "octo", name: "widgets") {
    squashMergeAllowed mergeCommitAllowed rebaseMergeAllowed
    pullRequest(number: $n) { mergeable mergeStateStatus headRefOid }
  }
}
"""


def open_pull(repo: SimRepo, branch: str = "fix", files: dict[str, str | None] | None = None
              ) -> int:
    repo.create_branch(branch, repo.head())
    repo.commit(files or {f"{branch}.txt": "x\n"}, f"Change {branch}", branch=branch)
    return repo.open_pr(branch, f"Fix {branch}")


def error_of(answer: object) -> str:
    body = getattr(answer, "body")  # noqa: B009
    assert getattr(answer, "status") == 200 and body["data"] is None  # noqa: B009
    return str(body["errors"][0]["message"])


# --- strict protection -------------------------------------------------------------------------


async def test_a_pull_request_behind_a_strict_base_waits_until_brought_up_to_date(
    api: Api, sim: GitHubSim, repo: SimRepo
) -> None:
    repo.protect("main", required_checks=["ci"], strict=True)
    number = open_pull(repo)
    head = repo.head("fix")
    repo.add_check_run(head, "ci")
    assert repo.pull(number)["mergeable_state"] == "clean"
    repo.commit({"other.txt": "main moved\n"}, "Someone else lands first")

    assert repo.pull(number)["mergeable_state"] == "behind"
    state = await api.graphql(STATE, n=number)
    assert state.body["data"]["repository"]["pullRequest"]["mergeStateStatus"] == "BEHIND"
    refused = await api.put(f"/repos/octo/widgets/pulls/{number}/merge", {"sha": head})
    assert refused.status == 405
    assert refused.body["message"] == "Head branch is not up to date with the base branch"

    # Auto-merge may be enabled while behind: it waits as BEHIND, and GitHub does not update
    # the branch by itself.
    enabled = await api.graphql(ENABLE, id=repo.pull(number)["node_id"], method="SQUASH")
    assert "errors" not in enabled.body
    await sim.drain()
    assert repo.head("fix") == head and repo.pull(number)["merged"] is False

    stale = await api.put(f"/repos/octo/widgets/pulls/{number}/update-branch",
                          {"expected_head_sha": "0" * 40})
    assert stale.status == 422
    assert stale.body["message"] == "expected head sha didn’t match current head ref."
    updating = await api.put(f"/repos/octo/widgets/pulls/{number}/update-branch",
                             {"expected_head_sha": head})
    assert updating.status == 202
    assert updating.body["message"] == "Updating pull request branch."
    await sim.drain()
    updated = repo.head("fix")
    assert repo.git("log", "-1", "--format=%P", updated).split() == [head, repo.head()]
    assert repo.pull(number)["mergeable_state"] == "blocked"  # ci has not run on the new head
    synchronize = [d for d in sim.deliveries if d["action"] == "synchronize"]
    assert synchronize[-1]["payload"]["after"] == updated

    repo.add_check_run(updated, "ci")
    await sim.drain()
    pr = repo.pull(number)
    assert (pr["merged"], pr["merged_by"]["login"]) == (True, "buildsheriff[bot]")
    assert repo.read_file("other.txt") == b"main moved\n" and repo.read_file("fix.txt") == b"x\n"
    assert sim.violations == []


async def test_update_branch_refuses_when_there_is_nothing_to_do_or_a_conflict(
    api: Api, sim: GitHubSim, repo: SimRepo
) -> None:
    number = open_pull(repo, files={"a.txt": "mine\n"})
    nothing = await api.put(f"/repos/octo/widgets/pulls/{number}/update-branch")
    assert nothing.status == 422
    assert nothing.body["message"] == "There are no new commits on the base branch."
    repo.commit({"a.txt": "theirs\n"}, "Conflicting change on main")
    conflict = await api.put(f"/repos/octo/widgets/pulls/{number}/update-branch")
    assert conflict.status == 422
    assert conflict.body["message"] == "merge conflict between base and head"
    await sim.drain()
    assert sim.violations == []


# --- allowed merge methods ---------------------------------------------------------------------


async def test_merge_methods_follow_the_repository_settings_over_rest_and_graphql(
    api: Api, sim: GitHubSim, repo: SimRepo
) -> None:
    patched = await api.patch("/repos/octo/widgets", {
        "allow_squash_merge": False, "allow_rebase_merge": False, "allow_merge_commit": True})
    assert patched.status == 200
    assert (patched.body["allow_squash_merge"], patched.body["allow_rebase_merge"],
            patched.body["allow_merge_commit"]) == (False, False, True)
    read = (await api.get("/repos/octo/widgets")).body
    assert (read["allow_squash_merge"], read["allow_merge_commit"]) == (False, True)

    repo.protect("main", required_checks=["ci"])
    number = open_pull(repo)
    node = repo.pull(number)["node_id"]
    state = (await api.graphql(STATE, n=number)).body["data"]["repository"]
    assert (state["squashMergeAllowed"], state["mergeCommitAllowed"],
            state["rebaseMergeAllowed"]) == (False, True, False)
    assert error_of(await api.graphql(ENABLE, id=node, method="SQUASH")) == (
        "Squash merges are not allowed on this repository.")
    assert error_of(await api.graphql(ENABLE, id=node, method="REBASE")) == (
        "Rebase merges are not allowed on this repository.")

    repo.add_check_run(repo.head("fix"), "ci")
    squash = await api.put(f"/repos/octo/widgets/pulls/{number}/merge",
                           {"merge_method": "squash"})
    assert squash.status == 405
    assert squash.body["message"] == "Squash merges are not allowed on this repository."
    rebase = await api.put(f"/repos/octo/widgets/pulls/{number}/merge",
                           {"merge_method": "rebase"})
    assert (rebase.status, rebase.body["message"]) == (
        405, "Rebase merges are not allowed on this repository.")
    assert error_of(await api.graphql(MERGE, id=node, method="SQUASH")) == (
        "Squash merges are not allowed on this repository.")
    assert repo.pull(number)["merged"] is False

    merged = await api.put(f"/repos/octo/widgets/pulls/{number}/merge", {"merge_method": "merge"})
    assert merged.status == 200 and merged.body["merged"] is True

    none_left = await api.patch("/repos/octo/widgets", {"allow_merge_commit": False})
    assert none_left.status == 422
    assert "allow at least one merge strategy" in none_left.body["errors"][0]["message"]
    assert repo.allow_merge_commit is True
    await sim.drain()
    assert sim.violations == []


async def test_changing_repository_settings_needs_administration_permission(
    api: Api, sim: GitHubSim, repo: SimRepo
) -> None:
    token = sim.issue_installation_token(1, {"contents": "write", "pull_requests": "write",
                                              "metadata": "read"})[0]
    refused = await api.patch("/repos/octo/widgets", {"allow_squash_merge": False}, token=token)
    assert refused.status == 403
    assert refused.body["message"] == "Resource not accessible by integration"
    assert repo.allow_squash_merge is True


# --- drafts ------------------------------------------------------------------------------------


async def test_drafts_cannot_merge_and_lose_auto_merge(
    api: Api, sim: GitHubSim, repo: SimRepo
) -> None:
    repo.protect("main", required_checks=["ci"])
    number = open_pull(repo)
    issue = repo.pull_or_404(number)
    node = repo.pull(number)["node_id"]
    assert "errors" not in (await api.graphql(ENABLE, id=node, method="MERGE")).body
    repo.set_draft(issue, True, "octocat")
    assert repo.pull(number)["auto_merge"] is None
    repo.add_check_run(repo.head("fix"), "ci")
    await sim.drain()
    assert repo.pull(number)["merged"] is False

    refused = await api.put(f"/repos/octo/widgets/pulls/{number}/merge")
    assert (refused.status, refused.body["message"]) == (405, "Pull Request is still a draft")
    assert error_of(await api.graphql(MERGE, id=node, method="MERGE")) == (
        "Pull Request is still a draft")
    assert error_of(await api.graphql(ENABLE, id=node, method="MERGE")) == (
        "Pull request Pull request is in draft status")
    actions = [d["action"] for d in sim.deliveries if d["event"] == "pull_request"]
    assert actions[-2:] == ["converted_to_draft", "auto_merge_disabled"]

    repo.set_draft(issue, False, "octocat")
    assert (await api.put(f"/repos/octo/widgets/pulls/{number}/merge")).status == 200
    await sim.drain()
    assert sim.violations == []


# --- auto-merge needs something to wait for ----------------------------------------------------


async def test_auto_merge_needs_protection_or_a_ruleset_on_the_base(
    api: Api, sim: GitHubSim, repo: SimRepo
) -> None:
    number = open_pull(repo)
    node = repo.pull(number)["node_id"]
    assert error_of(await api.graphql(ENABLE, id=node, method="MERGE")) == (
        "Protected branch rules not configured for this branch")
    repo.add_ruleset(["ci"])
    enabled = await api.graphql(ENABLE, id=node, method="MERGE")
    assert "errors" not in enabled.body
    assert repo.pull(number)["auto_merge"]["merge_method"] == "merge"


# --- the transient race ------------------------------------------------------------------------


async def test_base_branch_modified_during_the_merge_is_transient(
    api: Api, sim: GitHubSim, repo: SimRepo
) -> None:
    number = open_pull(repo)
    before = repo.head()
    repo.race_base_on_next_merge()
    lost = await api.put(f"/repos/octo/widgets/pulls/{number}/merge")
    assert lost.status == 405
    assert lost.body["message"] == "Base branch was modified. Review and try the merge again."
    assert repo.head() != before and repo.pull(number)["state"] == "open"
    await sim.drain()
    pushes = [d["payload"]["after"] for d in sim.deliveries if d["event"] == "push"]
    assert pushes[-1] == repo.head()  # the concurrent commit was announced like any push
    retried = await api.put(f"/repos/octo/widgets/pulls/{number}/merge")
    assert retried.status == 200 and repo.pull(number)["merged"] is True
    await sim.drain()
    assert sim.violations == []


# --- rebase merges ---------------------------------------------------------------------------


async def test_every_rebased_commit_finds_its_pull_request(
    api: Api, sim: GitHubSim, repo: SimRepo
) -> None:
    base = repo.head()
    repo.create_branch("three", base)
    for n in (1, 2, 3):
        repo.commit({f"f{n}.txt": f"{n}\n"}, f"Commit {n}", branch="three")
    number = repo.open_pr("three", "Three commits")
    merged = await api.put(f"/repos/octo/widgets/pulls/{number}/merge",
                           {"merge_method": "rebase"})
    assert merged.status == 200
    landed = repo.git("rev-list", f"{base}..main").split()
    assert len(landed) == 3
    for sha in landed:
        found = await api.get(f"/repos/octo/widgets/commits/{sha}/pulls")
        assert [p["number"] for p in found.body] == [number], sha
    await sim.drain()
    assert sim.violations == []
