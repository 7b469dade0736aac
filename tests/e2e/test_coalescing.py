"""Events asking the same question (one repository, one head sha) share one evaluation.

A merged delivery takes no place in the queue and costs no call, and counts as processed
only when the evaluation it joined succeeds; a head already judged red with its incident
open costs no call until an incident there changes state (by hand or otherwise).
In process (no REDIS_URL): see app.server.coalesce.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from tests.e2e.scenarios import incident_issues, new_repo
from tests.harness import Stack, metric, metric_samples, webhook_headers

pytestmark = pytest.mark.asyncio

ISSUES = "POST /repos/{owner}/{repo}/issues"


async def held_failures(s: Stack, count: int) -> tuple[Any, str, list[dict[str, Any]]]:
    """A protected main whose head fails `count` times; the deliveries held back."""
    repo = new_repo(s)
    repo.protect("main", required_checks=["build"])
    culprit = repo.commit({"src/fast.py": "import nothing\n"}, "Make main faster", author="mona")
    await s.settle()
    s.sim.webhook_url = None
    first = len(s.sim.deliveries)
    for _ in range(count):
        repo.add_check_run(culprit, "build", conclusion="failure")
    held = [d for d in s.sim.deliveries[first:]
            if d["event"] == "check_run" and d["action"] == "completed"]
    s.sim.webhook_url = s.webhook_url
    return repo, culprit, held


async def post(s: Stack, delivery: dict[str, Any]) -> tuple[int, str]:
    """Post a held delivery (its own delivery id): the status and what the app answered."""
    body = json.dumps(delivery["payload"]).encode()
    headers = webhook_headers(delivery["event"], body, s.settings.webhook_secret or "",
                              delivery_id=delivery["delivery_id"])
    async with s.session.post(s.webhook_url, data=body, headers=headers) as response:
        answer = await response.json()
        return response.status, str(answer.get("status") or answer.get("error"))


async def test_a_storm_of_one_head_never_fills_the_queue_and_every_delivery_counts_once(
    stack_factory: Any,
) -> None:
    async with stack_factory(QUEUE_SIZE="5") as s:
        repo, _culprit, storm = await held_failures(s, 60)
        answers = await asyncio.gather(*(post(s, d) for d in storm))
        await s.settle()

        assert {status for status, _ in answers} == {202}  # a queue of 5 held 60 events
        said = [text for _, text in answers]
        assert said.count("queued") <= 2 and said.count("merged") >= 50
        assert len(incident_issues(repo)) == 1 and len(repo.pulls()) == 1
        # Each was processed by the evaluation it joined: redelivered, each is a duplicate.
        again = await asyncio.gather(*(post(s, d) for d in storm))
        assert again == [(202, "duplicate")] * len(storm)


async def test_merged_deliveries_are_released_when_their_evaluation_fails(
    stack_factory: Any,
) -> None:
    async with stack_factory() as s:
        repo, culprit, storm = await held_failures(s, 10)
        s.sim.inject("POST", "/repos/{owner}/{repo}/issues", status=500, times=1000)
        answers = await asyncio.gather(*(post(s, d) for d in storm))
        await s.settle()
        assert [status for status, _ in answers] == [202] * 10
        assert incident_issues(repo) == []

        s.sim.clear_injections()
        # Not processed: each redelivery is worked again (merged into one evaluation).
        again = await asyncio.gather(*(post(s, d) for d in storm))
        await s.settle()
        assert "duplicate" not in [text for _, text in again]
        (issue,) = incident_issues(repo)
        assert culprit[:7] in issue["body"]


async def test_a_head_judged_with_its_incident_open_costs_no_call_until_it_changes_state(
    stack_factory: Any,
) -> None:
    async with stack_factory() as s:
        repo, culprit, held = await held_failures(s, 1)
        await post(s, held[0])
        await s.settle()
        (issue,) = incident_issues(repo)

        s.sim.meter.start()
        repo.add_check_run(culprit, "build", conclusion="failure")  # the same head, red again
        await s.settle()
        assert s.sim.meter.stop().calls == 0

        # By hand: someone says it is mitigated while the head is still red.
        repo.add_labels(issue["number"], "incident:mitigated", user="mona")
        await s.settle()
        s.sim.meter.start()
        repo.add_check_run(culprit, "build", conclusion="failure")
        await s.settle()
        assert s.sim.meter.stop().calls > 0  # looked at again: the incident changed state
        labels = {label["name"] for label in repo.issue(issue["number"])["labels"]}
        assert "incident:triage" in labels and "incident:mitigated" not in labels


async def test_a_check_on_a_feature_branch_is_answered_without_being_queued(
    stack_factory: Any,
) -> None:
    """A signed check_run success on a feature branch can matter to no handler: answered
    202 "ignored" at once, never queued nor run, no call; it counts as processed and in
    the metrics as ignored. The same event on a revert branch, or failing on main, is queued."""
    async with stack_factory(slack=False) as s:
        repo = new_repo(s)
        await s.settle()
        s.sim.webhook_url = None
        feature = repo.commit({"feature.txt": "1\n"}, "Work in progress", branch="feature")
        repo.add_check_run(feature, "ci", conclusion="success")
        revert = repo.commit({"r.txt": "1\n"}, "Revert", branch="buildsheriff/revert-1")
        repo.add_check_run(revert, "ci", conclusion="success")
        broken = repo.commit({"src/x.py": "oops\n"}, "Break main")
        repo.add_check_run(broken, "build", conclusion="failure")
        held = [d for d in s.sim.deliveries
                if d["event"] == "check_run" and d["action"] == "completed"]
        s.sim.webhook_url = s.webhook_url
        on_feature, on_revert, on_main = held[-3:]
        assert on_feature["payload"]["check_run"]["check_suite"]["head_branch"] == "feature"
        submitted: list[str] = []  # the jobs' names, as the receiver queues them
        submit = s.dispatcher.submit

        def spy(key: str, name: str, *args: Any, **kw: Any) -> None:
            submitted.append(name)
            submit(key, name, *args, **kw)

        s.dispatcher.submit = spy  # type: ignore[method-assign]
        handled = s.dispatcher.counters["handled"]
        calls = len(s.sim.call_log)
        ignored = await webhooks_metric(s, "ignored")

        assert await post(s, on_feature) == (202, "ignored")
        assert s.dispatcher.depth == 0 and submitted == []
        await s.settle()
        assert s.dispatcher.counters["handled"] == handled and s.sim.call_log[calls:] == []
        assert await webhooks_metric(s, "ignored") == ignored + 1
        # It leaves no trace (not even in the dedupe): a redelivery is ignored again.
        assert not await s.app["receiver"].dedupe.processed(on_feature["delivery_id"])
        assert await post(s, on_feature) == (202, "ignored")
        await s.settle()
        assert s.sim.call_log[calls:] == [] and submitted == []
        assert await webhooks_metric(s, "ignored") == ignored + 2

        # What can matter still goes through the queue.
        assert await post(s, on_revert) == (202, "queued")
        assert await post(s, on_main) == (202, "queued")
        assert submitted == ["check_run.completed"] * 2
        await s.settle()
        assert len(incident_issues(repo)) == 1


async def webhooks_metric(s: Stack, outcome: str) -> float:
    async with s.session.get(s.app_url + "/metrics") as response:
        samples = metric_samples(await response.text())
    return metric(samples, "buildsheriff_webhooks_total", event="check_run", outcome=outcome)
