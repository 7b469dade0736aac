"""Landing the revert through a merge queue (issue 9), end to end against the simulator's
queue: a ruleset requires the queue on `main`, CI builds the queue's groups on
`gh-readonly-queue/...` branches, and only a green group lands.

What is asserted is what people see: the queue's order, the PR merged or not, `main`'s tree,
the words in the incident issue and its Slack thread.
"""

from __future__ import annotations

from typing import Any

import pytest

from sim.github.ci import Workflow
from tests.e2e.scenarios import break_it, incident_issues, labels_of, new_repo
from tests.e2e.test_landing import ORIGINAL, files_at, told
from tests.harness import Stack

pytestmark = pytest.mark.asyncio

BOT = "buildsheriff[bot]"
# The revert's own branch builds on push; every merge group builds on `merge_group`. `main`'s
# and the other pull requests' results are given by hand (check runs), so nothing else runs.
CI = Workflow(branches=("buildsheriff/**",), merge_group=True)


def queue_repo(s: Stack, *, bypass: tuple[str, ...] = (BOT,)) -> tuple[Any, Any]:
    repo = new_repo(s)
    repo.require_merge_queue(["build"], bypass=bypass)
    ci = repo.use_ci(CI)
    ci.red_while("src/fast1.py")  # whatever holds the culprit's file fails its build
    return repo, ci


def queued_features(repo: Any) -> list[int]:
    """Two pull requests, green on their own, that olive adds to the queue."""
    numbers = []
    for n in (1, 2):
        branch = f"feature/{n}"
        repo.create_branch(branch, repo.head())
        sha = repo.commit({f"feature/{n}.txt": f"{n}\n"}, f"Feature {n}", branch=branch,
                          author="olive")
        numbers.append(repo.open_pr(branch, f"Feature {n}", author="olive"))
        repo.add_check_run(sha, "build", conclusion="success")
    for number in numbers:
        repo.enqueue(number, user="olive")
    return numbers


async def red_main(s: Stack, repo: Any) -> tuple[dict[str, Any], int, str]:
    """mona breaks `main` (a direct push by someone the ruleset lets bypass it): the incident,
    the revert PR, and the culprit."""
    bad = break_it(repo)
    repo.add_check_run(bad, "build", conclusion="failure")
    await s.settle()
    (issue,) = incident_issues(repo)
    (revert,) = [p for p in repo.pulls() if p["head"]["ref"].startswith("buildsheriff/")]
    assert "merge queue" in repo.pull(revert["number"])["body"]
    return issue, int(revert["number"]), bad


async def revert_ci_passes(s: Stack, ci: Any) -> None:
    ci.finish_running(lambda run: str(run.head_branch).startswith("buildsheriff/"))
    await s.settle()


async def group_ci_finishes(s: Stack, ci: Any, repo: Any) -> str:
    group = repo.merge_group()
    assert group is not None
    sha = str(group.group_sha)
    ci.finish_running(lambda run: run.head_sha == sha)
    await s.settle()
    return sha


async def test_the_revert_jumps_the_queue_and_lands_through_it(stack_factory) -> None:
    """Proof (issue 9): a merge-queue repository → the revert is enqueued at the front (other
    pull requests already queued) and lands through the queue; `main`'s tree is restored and
    the incident is mitigated."""
    async with stack_factory() as s:
        repo, ci = queue_repo(s)
        features = queued_features(repo)
        issue, number, bad = await red_main(s, repo)
        assert repo.merge_queue() == features  # the revert waits for its own checks

        await revert_ci_passes(s, ci)
        assert repo.merge_queue() == [number, *features]  # at the front
        group = repo.merge_group()
        assert group is not None and group.number == number and group.jump

        tested = await group_ci_finishes(s, ci, repo)
        merged = repo.pull(number)
        assert merged["merged"]
        assert repo.head() == tested  # what the queue tested is what landed
        assert repo.git("rev-parse", "main^{tree}") == repo.git("rev-parse", f"{bad}~1^{{tree}}")
        assert files_at(repo, repo.head()) == ORIGINAL
        assert repo.merge_queue() == features  # the others wait their turn, on a green base
        repo.add_check_run(repo.head(), "build", conclusion="success")  # main's own build
        await s.settle()
        assert "incident:mitigated" in labels_of(repo.issue(issue["number"]))
        assert told(s, repo, issue, "front of") == []  # the jump was allowed: nothing to say
        assert s.sim.violations == []

        await group_ci_finishes(s, ci, repo)  # the first feature's group, on a repaired main
        assert repo.pull(features[0])["merged"]


async def test_a_refused_jump_queues_the_revert_at_the_back_and_says_which_setting(
    stack_factory,
) -> None:
    async with stack_factory() as s:
        repo, ci = queue_repo(s, bypass=())  # nobody may bypass the queue, so nobody jumps
        features = queued_features(repo)
        issue, number, _bad = await red_main(s, repo)
        await revert_ci_passes(s, ci)
        assert repo.merge_queue() == [*features, number]  # at the back
        (said,) = told(s, repo, issue, "front of")
        assert "**bypass list**" in said and "`merge_queue_jump: false`" in said
        await revert_ci_passes(s, ci)  # nothing new happens on a second look
        assert len(told(s, repo, issue, "front of")) == 1
        assert s.sim.violations == []


async def test_a_draft_held_revert_is_taken_out_of_the_queue_and_never_lands(
    stack_factory,
) -> None:
    async with stack_factory() as s:
        repo, ci = queue_repo(s)
        issue, number, _bad = await red_main(s, repo)
        await revert_ci_passes(s, ci)
        assert repo.merge_queue() == [number]
        group = repo.merge_group()
        assert group is not None
        built = str(group.group_sha)

        repo.convert_to_draft(number, user="mona")
        await s.settle()
        assert repo.merge_queue() == [] and repo.merge_group() is None
        ci.finish_running(lambda run: run.head_sha == built)  # the old group's build ends
        await s.settle()
        held = repo.pull(number)
        assert not held["merged"] and held["draft"]
        (said,) = told(s, repo, issue, "Held by")
        assert "@mona" in said and "merge queue" in said
        assert told(s, repo, issue, "left") == []  # held, not failed: nothing else to say

        repo.mark_ready_for_review(number, user="olive")
        await s.settle()
        assert repo.merge_queue() == [number]  # let go: back in the queue
        await group_ci_finishes(s, ci, repo)
        assert repo.pull(number)["merged"]
        assert s.sim.violations == []


async def test_a_revert_whose_group_fails_leaves_the_queue_and_is_said_once(
    stack_factory,
) -> None:
    async with stack_factory() as s:
        repo, ci = queue_repo(s)
        ci.red_while("src/app.py")  # the group's build fails: it holds the project itself
        issue, number, _bad = await red_main(s, repo)
        ci.script(repo.pull(number)["head"]["sha"], "success")  # the revert's own build passes
        await revert_ci_passes(s, ci)
        assert repo.merge_queue() == [number]
        await group_ci_finishes(s, ci, repo)
        assert repo.merge_queue() == [] and not repo.pull(number)["merged"]
        (said,) = told(s, repo, issue, "left `main`'s merge queue")
        assert "re-queue it by hand" in said


async def test_a_group_whose_checks_never_answer_times_out_of_the_queue_and_is_said_once(
    stack_factory,
) -> None:
    """CI never reports on the revert's merge group (no runner came): after the rule's status
    check timeout (60 minutes) GitHub takes the revert out of the queue, and the incident
    says once that it left and must be re-queued by hand."""
    async with stack_factory() as s:
        repo, ci = queue_repo(s)
        issue, number, _bad = await red_main(s, repo)
        ci.script(repo.pull(number)["head"]["sha"], "success")
        await revert_ci_passes(s, ci)
        assert repo.merge_queue() == [number] and repo.merge_group() is not None

        s.clock.advance(59 * 60)
        await s.reconcile()  # GitHub is asked something: not yet
        await s.settle()
        assert repo.merge_queue() == [number]
        s.clock.advance(2 * 60)
        await s.reconcile()
        await s.settle()
        assert repo.merge_queue() == [] and repo.merge_group() is None
        assert not repo.pull(number)["merged"]
        (said,) = told(s, repo, issue, "left `main`'s merge queue")
        assert "re-queue it by hand" in said
        await s.reconcile()  # later looks say nothing more
        await s.settle()
        assert len(told(s, repo, issue, "left `main`'s merge queue")) == 1
        assert s.sim.violations == []


async def test_a_red_check_on_a_queue_branch_opens_no_incident_and_costs_no_call(
    stack_factory,
) -> None:
    async with stack_factory() as s:
        repo, ci = queue_repo(s)
        ci.red_while("feature/1.txt")
        features = queued_features(repo)
        await s.settle()
        group = repo.merge_group()
        assert group is not None and group.number == features[0]
        calls = len(s.sim.call_log)
        repo.set_status(str(group.group_sha), "ci/legacy", "failure")
        ci.finish_running()  # the group's build: red, on gh-readonly-queue/main/pr-...
        await s.settle()
        assert repo.merge_queue() == [features[1]]  # GitHub dequeued the red group
        assert incident_issues(repo) == []
        assert s.sim.call_log[calls:] == []
