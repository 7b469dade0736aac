"""Outages of the services the app calls, each seeded, each ending in what people see in
GitHub, Slack and the pager: GitHub unreachable for a while, Slack down for a whole
incident, PagerDuty down when a page is due. The app's waits are on the injectable clock
(app.retry), so these run in milliseconds of wall time.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.scenarios import break_it, comments_of, incident_issues, labels_of, new_repo
from tests.harness import Stack

pytestmark = pytest.mark.asyncio

QUIET = "auto_revert: false\n"
FOREVER = 100_000


async def land_the_revert(s: Stack, repo: Any) -> dict[str, Any]:
    """CI passes on the revert PR (GitHub auto-merges it), then on main: green again."""
    (pr,) = repo.pulls()
    repo.add_check_run(pr["head"]["sha"], "build", conclusion="success")
    await s.settle()
    merged = repo.pull(pr["number"])
    assert merged["merged"], "the revert merged"
    repo.add_check_run(repo.head(), "build", conclusion="success")
    await s.settle()
    return merged


def assert_one_clean_incident(s: Stack, repo: Any) -> dict[str, Any]:
    (issue,) = incident_issues(repo)
    assert len(repo.pulls()) == 1
    comments = comments_of(repo, issue["number"])
    assert len(comments) == len(set(comments)), "no comment said twice"
    assert s.slack is None or len(s.slack.top_level()) == 1
    return issue


# --- GitHub ---------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_github_unreachable_briefly_is_ridden_out_by_the_retries(
    stack_factory: Any, seed: int
) -> None:
    """A few seconds of 502/503/504 and cut connections: the app's own retries (back-off
    with jitter, on the clock) carry every request over; no reconcile is needed."""
    async with stack_factory() as s:
        repo = new_repo(s)
        repo.protect("main", required_checks=["build"])  # so GitHub auto-merges
        bad = break_it(repo)
        s.sim.outage(3, seed=seed)
        repo.add_check_run(bad, "build", conclusion="failure")
        await s.settle()
        assert s.sim.outage_answers, "the outage was met"
        issue = assert_one_clean_incident(s, repo)
        assert labels_of(repo.issue(issue["number"])) == ["incident", "incident:triage"]
        merged = await land_the_revert(s, repo)
        assert repo.read_file("src/fast1.py") is None  # main's tree without the culprit
        assert labels_of(repo.issue(issue["number"])) == ["incident", "incident:mitigated"]
        assert merged["title"].startswith("Revert")
        assert_one_clean_incident(s, repo)


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_github_unreachable_for_a_while_then_back_loses_nothing(
    stack_factory: Any, seed: int
) -> None:
    """Ten minutes down: the handler's retries give up (within a bounded wait, so the
    repository's worker is not held); once GitHub is back, the reconciler's next pass opens
    the incident and the revert, which lands: nothing lost, nothing twice."""
    async with stack_factory() as s:
        repo = new_repo(s)
        repo.protect("main", required_checks=["build"])
        bad = break_it(repo)
        s.sim.outage(600, seed=seed)
        started = s.clock.now()
        repo.add_check_run(bad, "build", conclusion="failure")
        await s.settle()
        assert s.clock.now() - started < 60, "the handler waited a bounded time"
        assert incident_issues(repo) == [] and repo.pulls() == []
        s.clock.advance(600)  # GitHub is back
        await s.reconcile()
        issue = assert_one_clean_incident(s, repo)
        await land_the_revert(s, repo)
        assert labels_of(repo.issue(issue["number"])) == ["incident", "incident:mitigated"]
        assert_one_clean_incident(s, repo)
        await s.reconcile()
        assert_one_clean_incident(s, repo)


async def ack_while_github_is_down(s: Stack, seed: int) -> tuple[Any, int, dict[str, Any]]:
    """An open incident; GitHub goes down and mona's `/ack` comes: the app answers 202
    (GitHub logs a success), then its handler gives up. GitHub comes back."""
    repo = new_repo(s, config=QUIET)
    bad = break_it(repo)
    repo.add_check_run(bad, "build", conclusion="failure")
    await s.settle()
    (issue,) = incident_issues(repo)
    number = issue["number"]
    s.sim.outage(600, seed=seed)
    started = s.clock.now()
    comment = repo.comment(number, "/ack", user="mona")
    await s.settle()
    assert s.sim.outage_answers, "the outage was met"
    assert s.clock.now() - started < 60, "the handler gave up within a bounded wait"
    assert labels_of(repo.issue(number)) == ["incident", "incident:triage"]
    (ack,) = [d for d in s.sim.deliveries if d["event"] == "issue_comment"
              and (d.get("payload") or {}).get("comment", {}).get("id") == comment["id"]]
    assert [a.status for a in s.sim.hook_log.of_guid(ack["delivery_id"])] == ["OK"]
    s.clock.advance(600)  # GitHub is back
    return repo, number, ack


def assert_acknowledged_once(s: Stack, repo: Any, number: int, ack: dict[str, Any]) -> None:
    after = repo.issue(number)
    assert labels_of(after) == ["incident", "incident:acknowledged"]
    assert [a["login"] for a in after["assignees"]] == ["mona"]
    comment_id = ack["payload"]["comment"]["id"]
    reactions = [r["content"] for r in repo.reactions if r["subject"].endswith(str(comment_id))]
    assert reactions == ["eyes", "rocket"]
    assert s.slack is not None
    (top,) = s.slack.top_level()
    replies = [m["text"] for m in s.slack.thread(top["ts"])]
    assert sum("🙋 mona is on it" in text for text in replies) == 1
    attempts = s.sim.hook_log.of_guid(ack["delivery_id"])
    assert [(a.redelivery, a.status) for a in attempts] == [(False, "OK"), (True, "OK")]


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_an_ack_while_github_is_down_is_asked_for_again_and_acknowledged_once(
    stack_factory: Any, seed: int
) -> None:
    """GitHub's log shows the `/ack` as delivered (the app answered 202 before its work
    failed): the app remembered the failure, and its next recovery pass asks GitHub to
    redeliver it; the incident is acknowledged once, and nothing is asked for again."""
    async with stack_factory() as s:
        repo, number, ack = await ack_while_github_is_down(s, seed)
        assert await s.recover_deliveries() == 1
        assert_acknowledged_once(s, repo, number, ack)
        assert await s.recover_deliveries() == 0
        s.clock.advance(3600)  # past the "asked already" pause: still nothing to ask
        assert await s.recover_deliveries() == 0
        assert_acknowledged_once(s, repo, number, ack)


async def test_an_ack_lost_to_an_outage_is_recovered_from_redis_by_a_new_process(
    stack_factory: Any, redis_url: str, redis_prefix: str
) -> None:
    """With Redis, the failure is remembered outside the process: the replica that failed
    the `/ack` is gone (a restart forgets everything in memory), and the recovery pass of
    the process that follows still asks for it."""
    from redis import asyncio as aioredis

    from app.server.redis_store import RedisDedupe

    client = aioredis.from_url(redis_url, decode_responses=True)
    try:
        async with stack_factory() as s:
            s.app["receiver"].dedupe = RedisDedupe(client, redis_prefix)
            repo, number, ack = await ack_while_github_is_down(s, 1)
            assert await client.exists(f"{redis_prefix}failed:{ack['delivery_id']}")
            await s.restart()
            s.app["receiver"].dedupe = RedisDedupe(client, redis_prefix)
            assert await s.recover_deliveries() == 1
            assert_acknowledged_once(s, repo, number, ack)
            assert not await client.exists(f"{redis_prefix}failed:{ack['delivery_id']}")
            assert await client.get(f"{redis_prefix}delivery:{ack['delivery_id']}") == "done"
            s.clock.advance(3600)
            assert await s.recover_deliveries() == 0
            assert_acknowledged_once(s, repo, number, ack)
    finally:
        await client.aclose()


def enabling_auto_merge(query: str) -> bool:
    return "enablePullRequestAutoMerge" in query


async def red_with_graphql_spent(s: Any, *, reset_in: float) -> tuple[Any, Any, float]:
    """`main` breaks while the GraphQL budget is found spent, `reset_in` seconds from its
    reset, as auto-merge is asked for. (repository, the spend, when the red check came)."""
    repo = new_repo(s)
    repo.protect("main", required_checks=["build"])
    spent = s.sim.spend_graphql_budget(reset_in=reset_in, when=enabling_auto_merge)
    started = s.clock.now()
    repo.add_check_run(break_it(repo), "build", conclusion="failure")
    await s.settle()
    return repo, spent, started


async def test_graphql_rate_limited_once_the_revert_still_gets_auto_merge(
    stack_factory: Any,
) -> None:
    """GitHub's GraphQL limit answers HTTP 200 with errors[].type RATE_LIMITED: the app
    waits for the reset (30 s, on the clock) and enables auto-merge then, as if nothing
    had happened; GitHub merges the revert on green."""
    async with stack_factory() as s:
        repo, spent, started = await red_with_graphql_spent(s, reset_in=30)
        assert spent.times == 0, "the RATE_LIMITED answer was met"
        assert s.clock.now() - started >= 30, "it waited for the reset"
        (pr,) = repo.pulls()
        assert pr["auto_merge"] is not None and pr["auto_merge"]["merge_method"] == "squash"
        issue = assert_one_clean_incident(s, repo)
        await land_the_revert(s, repo)  # GitHub's auto-merge merges it on green
        assert labels_of(repo.issue(issue["number"])) == ["incident", "incident:mitigated"]
        assert_one_clean_incident(s, repo)


async def test_graphql_rate_limited_for_long_the_handler_does_not_wait_and_the_revert_lands(
    stack_factory: Any,
) -> None:
    """A reset half an hour away is not waited for (the repository's worker is not held):
    auto-merge is not on, and the app's own merger lands the revert on green."""
    async with stack_factory() as s:
        repo, spent, started = await red_with_graphql_spent(s, reset_in=1800)
        assert spent.times == 0 and s.clock.now() - started < 60
        (pr,) = repo.pulls()
        assert pr["auto_merge"] is None
        issue = assert_one_clean_incident(s, repo)
        s.clock.advance(1800)
        await land_the_revert(s, repo)  # the app's merger, on green
        assert labels_of(repo.issue(issue["number"])) == ["incident", "incident:mitigated"]
        assert_one_clean_incident(s, repo)


# --- Slack ----------------------------------------------------------------------------------

# The news of the story below, in the order it happened (a fragment of each reply).
STORY = ["Revert opened", "🙋 mona is on it", "bisecting nothing", "merged", "green",
         "Resolved by mona", "Post-mortem"]


def in_order(texts: list[str], fragments: list[str]) -> bool:
    positions = []
    for fragment in fragments:
        found = [i for i, text in enumerate(texts) if fragment.lower() in text.lower()]
        if len(found) != 1:
            return False
        positions.append(found[0])
    return positions == sorted(positions)


async def test_slack_down_for_the_whole_incident_then_back_catches_up_in_order(
    stack_factory: Any,
) -> None:
    async with stack_factory() as s:
        assert s.slack is not None
        s.slack.fail("chat.postMessage", status=503, times=FOREVER)
        s.slack.fail("chat.update", status=503, times=FOREVER)
        repo = new_repo(s)
        repo.protect("main", required_checks=["build"])
        bad = break_it(repo)
        repo.add_check_run(bad, "build", conclusion="failure")
        await s.settle()
        (issue,) = incident_issues(repo)
        number = issue["number"]
        repo.comment(number, "/ack", user="mona")
        await s.settle()
        repo.comment(number, "/status bisecting nothing, the revert is on its way", user="mona")
        await s.settle()
        await land_the_revert(s, repo)
        repo.comment(number, "/resolve", user="mona")
        await s.settle()
        assert repo.issue(number)["state"] == "closed"
        assert s.slack.top_level() == []  # Slack took nothing, the incident went on
        # Slack is back; no new event comes: the reconciler's pass resumes the outbox.
        s.slack.clear_faults()
        await s.reconcile()
        (top,) = s.slack.top_level()
        assert "Resolved" in top["text"]
        texts = [m["text"] for m in s.slack.thread(top["ts"])]
        assert in_order(texts, STORY), texts
        await s.reconcile()
        assert len(s.slack.top_level()) == 1
        assert [m["text"] for m in s.slack.thread(top["ts"])] == texts  # nothing twice


# --- PagerDuty ------------------------------------------------------------------------------


async def test_pagerduty_down_a_page_command_is_answered_and_sent_once_when_back(
    stack_factory: Any,
) -> None:
    async with stack_factory(pager="pagerduty") as s:
        assert s.pagerduty is not None
        repo = new_repo(s, config=QUIET)
        repo.add_check_run(break_it(repo), "build", conclusion="failure")
        await s.settle()
        (issue,) = incident_issues(repo)
        number = issue["number"]
        s.pagerduty.fail("/v2/enqueue", status=503, times=FOREVER)
        command = repo.comment(number, "/page", user="mona")
        await s.settle()
        assert s.pagerduty.incidents == {}
        waiting = [c for c in comments_of(repo, number) if "PagerDuty is not answering" in c]
        assert len(waiting) == 1, "the person who typed /page is told, not only 👀"
        reactions = [r["content"] for r in repo.reactions
                     if r["subject"].endswith(str(command["id"]))]
        assert reactions[0] == "eyes"
        await s.reconcile()  # still down: nothing sent, nothing said again
        assert s.pagerduty.incidents == {}
        assert len([c for c in comments_of(repo, number) if "not answering" in c]) == 1
        s.pagerduty.clear_faults()  # PagerDuty is back; no new event comes
        await s.reconcile()
        (page,) = s.pagerduty.incidents.values()
        assert page["status"] == "triggered"
        assert [e["event_action"] for e in page["events"]] == ["trigger"]
        await s.reconcile()
        repo.comment(number, "/ack", user="mona")
        await s.settle()
        (page,) = s.pagerduty.incidents.values()
        assert [e["event_action"] for e in page["events"]] == ["trigger", "acknowledge"]
        assert page["status"] == "acknowledged"


async def test_pagerduty_down_when_escalation_is_due_pages_once_when_back(
    stack_factory: Any,
) -> None:
    async with stack_factory(pager="pagerduty") as s:
        assert s.pagerduty is not None
        repo = new_repo(s, config=QUIET + "escalate_after: 10m\n")
        repo.add_check_run(break_it(repo), "build", conclusion="failure")
        await s.settle()
        (issue,) = incident_issues(repo)
        s.pagerduty.fail("/v2/enqueue", status=503, times=FOREVER)
        s.clock.advance(11 * 60)
        await s.reconcile()
        await s.reconcile()
        assert s.pagerduty.incidents == {}
        s.pagerduty.clear_faults()
        await s.reconcile()
        await s.reconcile()
        (page,) = s.pagerduty.incidents.values()
        assert [e["event_action"] for e in page["events"]] == ["trigger"]
        escalated = [c for c in comments_of(repo, issue["number"]) if "paging" in c.lower()]
        assert len(escalated) == 1


@pytest.mark.parametrize("acked_meanwhile", [False, True])
async def test_pagerduty_down_and_the_process_restarted_the_page_is_sent_once_when_back(
    stack_factory: Any, acked_meanwhile: bool
) -> None:
    """The page waits in the incident's marker, not only in the process's outbox: a
    restart while PagerDuty is down loses nothing; when it is back, exactly one trigger
    (and, if someone acknowledged meanwhile, their acknowledgement after it)."""
    async with stack_factory(pager="pagerduty") as s:
        assert s.pagerduty is not None
        repo = new_repo(s, config=QUIET)
        repo.add_check_run(break_it(repo), "build", conclusion="failure")
        await s.settle()
        (issue,) = incident_issues(repo)
        number = issue["number"]
        s.pagerduty.fail("/v2/enqueue", status=503, times=FOREVER)
        repo.comment(number, "/page", user="mona")
        await s.settle()
        if acked_meanwhile:
            repo.comment(number, "/ack", user="mona")
            await s.settle()
        assert s.pagerduty.incidents == {}
        await s.restart()  # the outbox that held the page is gone with its process
        await s.reconcile()  # the start-up pass: PagerDuty still down
        await s.reconcile()
        assert s.pagerduty.incidents == {}
        waiting = [c for c in comments_of(repo, number) if "PagerDuty is not answering" in c]
        assert len(waiting) == 1, "said once, not again by the new process"
        s.pagerduty.clear_faults()  # PagerDuty is back; no new event comes
        await s.reconcile()
        (page,) = s.pagerduty.incidents.values()
        expected = ["trigger", "acknowledge"] if acked_meanwhile else ["trigger"]
        assert [e["event_action"] for e in page["events"]] == expected
        await s.reconcile()
        await s.restart()
        await s.reconcile()
        (page,) = s.pagerduty.incidents.values()
        assert [e["event_action"] for e in page["events"]] == expected, "sent once"
        if not acked_meanwhile:
            repo.comment(number, "/ack", user="mona")
            await s.settle()
            (page,) = s.pagerduty.incidents.values()
            assert [e["event_action"] for e in page["events"]] == ["trigger", "acknowledge"]
        assert page["status"] == "acknowledged"
