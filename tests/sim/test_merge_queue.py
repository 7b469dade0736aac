"""The merge queue is as strict as GitHub's: a ruleset's `merge_queue` rule refuses merges
around it, `enqueuePullRequest` refuses before the required checks pass and refuses `jump` to
an actor that may not bypass, groups are built on `gh-readonly-queue/...` refs where CI runs,
and a green group is what lands on the base; `dequeuePullRequest` takes the entry's id."""

from __future__ import annotations

from typing import Any

from sim.github.ci import Workflow
from sim.github.repo import SimRepo
from sim.github.server import GitHubSim
from tests.sim.conftest import Api, Receiver

BOT = "buildsheriff[bot]"
FACTS = """
query($n: Int!) {
  repository(owner: "octo", name: "widgets") {
    mergeQueue(branch: "main") { id configuration { mergeMethod } entries(first: 10) {
      nodes { position jump state pullRequest { number } } } }
    pullRequest(number: $n) {
      id isMergeQueueEnabled isInMergeQueue mergeQueueEntry { id position state jump }
    }
  }
}
"""
ENQUEUE = """
mutation($id: ID!, $jump: Boolean, $sha: GitObjectID) {
  enqueuePullRequest(input: {pullRequestId: $id, jump: $jump, expectedHeadOid: $sha}) {
    mergeQueueEntry { id position }
  }
}
"""
DEQUEUE = """
mutation($id: ID!) { dequeuePullRequest(input: {id: $id}) { mergeQueueEntry { id } } }
"""


def open_pull(repo: SimRepo, branch: str) -> int:
    repo.create_branch(branch, repo.head())
    repo.commit({f"{branch}.txt": f"{branch}\n"}, f"Change {branch}", branch=branch)
    return repo.open_pr(branch, f"Change {branch}")


def green(repo: SimRepo, number: int) -> None:
    repo.add_check_run(repo.pull(number)["head"]["sha"], "build")


def queue_repo(repo: SimRepo, *, bypass: tuple[str, ...] = (BOT,)) -> None:
    repo.commit({"README.md": "# widgets\n"}, "First")
    repo.require_merge_queue(["build"], bypass=bypass)


async def facts(api: Api, number: int) -> dict[str, Any]:
    answer = await api.graphql(FACTS, n=number)
    assert answer.status == 200 and "errors" not in answer.body, answer.body
    repository: dict[str, Any] = answer.body["data"]["repository"]
    return repository


async def enqueue(api: Api, repo: SimRepo, number: int, *, jump: bool = False) -> Any:
    pr = repo.pull(number)
    return await api.graphql(ENQUEUE, id=pr["node_id"], jump=jump, sha=pr["head"]["sha"])


def error_of(answer: Any) -> str:
    assert answer.status == 200 and answer.body["data"]["enqueuePullRequest"] is None \
        if answer.body.get("data") else answer.status == 200
    return str(answer.body["errors"][0]["message"])


async def test_rest_merge_is_refused_through_the_queue(
    api: Api, sim: GitHubSim, repo: SimRepo
) -> None:
    queue_repo(repo, bypass=())  # only an actor allowed to bypass the rule merges around it
    number = open_pull(repo, "a")
    green(repo, number)
    answer = await api.put(f"/repos/octo/widgets/pulls/{number}/merge", {"merge_method": "merge"})
    assert answer.status == 405
    assert answer.body["message"] == "Changes must be made through the merge queue"
    rules = (await api.get("/repos/octo/widgets/rules/branches/main")).body
    assert {r["type"] for r in rules} == {"required_status_checks", "merge_queue"}
    assert sim.violations == []


async def test_enqueue_is_refused_until_the_required_checks_pass(
    api: Api, sim: GitHubSim, repo: SimRepo
) -> None:
    queue_repo(repo)
    number = open_pull(repo, "a")
    refused = await enqueue(api, repo, number)
    assert "Required status check \"build\" is expected" in error_of(refused)
    assert repo.merge_queue() == []
    green(repo, number)
    taken = await enqueue(api, repo, number)
    assert taken.body["data"]["enqueuePullRequest"]["mergeQueueEntry"]["position"] == 1
    state = await facts(api, number)
    assert state["pullRequest"]["isMergeQueueEnabled"] and state["pullRequest"]["isInMergeQueue"]
    assert state["mergeQueue"]["configuration"]["mergeMethod"] == "MERGE"
    assert sim.violations == []


async def test_jump_is_refused_to_an_actor_that_may_not_bypass(
    api: Api, sim: GitHubSim, repo: SimRepo
) -> None:
    queue_repo(repo, bypass=())
    number = open_pull(repo, "a")
    green(repo, number)
    refused = await enqueue(api, repo, number, jump=True)
    assert "jump the merge queue" in error_of(refused)
    assert repo.merge_queue() == []
    assert (await enqueue(api, repo, number)).body["data"]["enqueuePullRequest"]


async def test_a_jump_goes_first_and_a_green_group_lands_exactly_what_was_tested(
    api: Api, sim: GitHubSim, repo: SimRepo, receiver: Receiver
) -> None:
    sim.app_events = [*sim.app_events, "merge_group"]
    queue_repo(repo)
    ci = repo.use_ci(Workflow(branches=(), merge_group=True))
    first, second, urgent = (open_pull(repo, b) for b in ("a", "b", "c"))
    for n in (first, second, urgent):
        green(repo, n)
    repo.enqueue(first, user="octocat")
    repo.enqueue(second, user="octocat")
    await sim.drain()
    built = repo.merge_group()
    assert built is not None and built.number == first
    assert built.group_ref == f"refs/heads/gh-readonly-queue/main/pr-{first}-{repo.head()}"

    answer = await enqueue(api, repo, urgent, jump=True)
    assert answer.body["data"]["enqueuePullRequest"]["mergeQueueEntry"]["position"] == 1
    await sim.drain()
    assert repo.merge_queue() == [urgent, first, second]
    group = repo.merge_group()
    assert group is not None and group.number == urgent
    assert repo.branch_sha(f"gh-readonly-queue/main/pr-{first}-{repo.head()}") is None
    groups = [e for e in receiver.events if e.event == "merge_group"]
    assert [(e.data["action"], e.data.get("reason")) for e in groups] == [
        ("checks_requested", None), ("destroyed", "invalidated"), ("checks_requested", None)]
    assert groups[-1].data["merge_group"]["head_sha"] == group.group_sha

    before, tested = repo.head(), group.group_sha
    (run,) = [r for r in ci.running() if r.head_sha == tested]
    assert run.event == "merge_group" and run.head_branch.startswith("gh-readonly-queue/main/")
    ci.finish_running()
    await sim.drain()
    assert repo.pull(urgent)["merged"]
    assert repo.head() == tested  # a fast-forward to the tested commit
    assert repo.store.read_commit(repo.head()).parents == (before, repo.pull(urgent)["head"]["sha"])
    assert repo.merge_queue() == [first, second]  # the next group is built on the new base
    assert repo.merge_group() is not None
    destroyed = [e.data.get("reason") for e in receiver.events
                 if e.event == "merge_group" and e.data["action"] == "destroyed"]
    assert destroyed == ["invalidated", "merged"]
    queue_refs = [r for r in repo.store.refs() if "gh-readonly-queue" in r]
    assert len(queue_refs) == 1  # the merged group's ref is gone; the next one's is there
    assert sim.violations == []


async def test_a_red_group_is_dequeued_and_never_lands(
    api: Api, sim: GitHubSim, repo: SimRepo, receiver: Receiver
) -> None:
    queue_repo(repo)
    ci = repo.use_ci(Workflow(branches=(), merge_group=True))
    ci.red_while("a.txt")
    number = open_pull(repo, "a")
    green(repo, number)
    repo.enqueue(number)
    before = repo.head()
    ci.finish_running()
    await sim.drain()
    assert repo.merge_queue() == [] and repo.head() == before
    assert not repo.pull(number)["merged"] and repo.pull(number)["state"] == "open"
    dequeued = [e.data for e in receiver.events
                if e.event == "pull_request" and e.data["action"] == "dequeued"]
    assert [d["reason"] for d in dequeued] == ["CI_FAILURE"]


async def test_dequeue_takes_the_entry_id_not_the_pull_requests(
    api: Api, sim: GitHubSim, repo: SimRepo
) -> None:
    queue_repo(repo)
    number = open_pull(repo, "a")
    green(repo, number)
    repo.enqueue(number)
    state = await facts(api, number)
    by_pr = await api.graphql(DEQUEUE, id=state["pullRequest"]["id"])
    assert by_pr.body["errors"][0]["type"] == "NOT_FOUND"
    assert repo.merge_queue() == [number]
    entry = state["pullRequest"]["mergeQueueEntry"]["id"]
    taken = await api.graphql(DEQUEUE, id=entry)
    assert taken.body["data"]["dequeuePullRequest"]["mergeQueueEntry"]["id"] == entry
    assert repo.merge_queue() == [] and repo.merge_group() is None
    assert [r for r in repo.store.refs() if "gh-readonly-queue" in r] == []


async def test_a_push_to_a_queued_head_takes_it_out_of_the_queue(
    sim: GitHubSim, repo: SimRepo
) -> None:
    queue_repo(repo)
    number = open_pull(repo, "a")
    green(repo, number)
    repo.enqueue(number)
    repo.commit({"a.txt": "again\n"}, "More", branch="a")
    assert repo.merge_queue() == []


async def test_without_merge_queues_write_the_mutations_are_forbidden(
    api: Api, sim: GitHubSim, repo: SimRepo
) -> None:
    queue_repo(repo)
    number = open_pull(repo, "a")
    green(repo, number)
    sim.app_permissions = {**sim.app_permissions, "merge_queues": "read"}
    token = sim.installation_token(repo.installation_id or 1)
    pr = repo.pull(number)
    answer = await api.post("/graphql", {"query": ENQUEUE, "variables": {
        "id": pr["node_id"], "jump": False, "sha": pr["head"]["sha"]}}, token=token)
    assert answer.body["errors"][0]["type"] == "FORBIDDEN"
    assert repo.merge_queue() == []
