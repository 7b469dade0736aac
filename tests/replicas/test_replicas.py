"""Several `serve` processes sharing Redis (or one, without it) through the demo story:
every delivery arrives 50 times, split between the replicas, and is redelivered once
more; nothing happens twice. A replica killed with -9 leaves its pending events to the
other. The same tests run without Redis against one process."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.scenarios import break_it, incident_issues, labels_of, new_repo
from tests.serve_process import BACKENDS, ServeCluster, cluster_backend, serve_cluster

COPIES = 50


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> dict[str, Any]:
    return cluster_backend(request, REDIS_LEASE="2")


async def step(c: ServeCluster, act: Any) -> None:
    """Act, let every delivery arrive COPIES times, then ask GitHub to redeliver each."""
    first = len(c.sim.deliveries)
    act()
    await c.settle()
    for record in c.sim.deliveries[first:]:
        attempts = c.sim.hook_log.of_guid(record["delivery_id"])
        if attempts:
            c.sim.redeliver(attempts[-1])
    await c.settle()


def no_duplicates(texts: list[str]) -> list[str]:
    return [text for text, n in Counter(texts).items() if n > 1]


async def test_the_story_with_every_delivery_50_times_happens_once(
    tmp_path: Path, rsa_key: str, backend: dict[str, Any]
) -> None:
    async with serve_cluster(tmp_path, rsa_key, **backend) as c:
        assert c.slack is not None
        repo = new_repo(c)
        await c.settle()
        c.balancer.copies = COPIES
        bad = ""

        def break_main() -> None:
            nonlocal bad
            bad = break_it(repo)

        await step(c, break_main)
        await step(c, lambda: repo.add_check_run(bad, "build", conclusion="failure"))
        (issue,) = incident_issues(repo)
        number = issue["number"]
        await step(c, lambda: repo.comment(number, "I'm on it", user="mona"))
        await step(c, lambda: repo.comment(number, "/status reverting first", user="mona"))
        (pr,) = repo.pulls()
        head = repo.pull(pr["number"])["head"]["sha"]
        await step(c, lambda: repo.add_check_run(head, "build", conclusion="success"))
        assert repo.pull(pr["number"])["merged"]
        await step(c, lambda: repo.add_check_run(repo.head(), "build", conclusion="success"))
        await step(c, lambda: repo.comment(number, "/resolve", user="mona"))

        # One incident, one revert, merged; the incident resolved.
        assert [i["number"] for i in repo.issues() if "pull_request" not in i] == [number]
        assert len(repo.pulls(state="all")) == 1
        final = repo.issue(number)
        assert final["state"] == "closed" and "incident:resolved" in labels_of(final)
        # No comment, Slack thread or Slack reply twice.
        bodies = [c_["body"] for c_ in final["comments_list"]]
        assert no_duplicates(bodies) == []
        (top,) = c.slack.top_level()
        assert no_duplicates([m["text"] for m in c.slack.thread(top["ts"])]) == []
        # Every copy was answered: 202 (queued or duplicate), never an error.
        assert {status for _, _, status in c.balancer.forwarded} == {202}
        if backend["replicas"] == 2:
            assert {name for name, _, _ in c.balancer.forwarded} == {"serve-0", "serve-1"}


SLOW = "/repos/{owner}/{repo}/branches/{branch}"  # read while judging main's head


async def test_a_replica_killed_mid_incident_leaves_its_pending_events_to_the_other(
    tmp_path: Path, rsa_key: str, backend: dict[str, Any]
) -> None:
    async with serve_cluster(tmp_path, rsa_key, WORKERS="1", **backend) as c:
        repo = new_repo(c)
        await c.settle()
        doomed = c.replicas[0]
        c.balancer.only = doomed
        reads = c.sim.calls[f"GET {SLOW}"]
        c.sim.set_latency(SLOW, 5.0)
        bad = break_it(repo)
        repo.add_check_run(bad, "build", conclusion="failure")
        await c.sim.drain()  # every delivery answered 202 by the doomed replica
        await c.wait_for(lambda: c.sim.calls[f"GET {SLOW}"] > reads, what="work to start")
        await doomed.kill()  # mid-incident: one event half done, the others queued
        c.sim.set_latency(SLOW, 0)
        c.balancer.only = None
        if len(c.replicas) == 1:
            await doomed.start()  # one process: its restart must find what is due
        await c.settle(until=lambda: len(incident_issues(repo)) == 1 and len(repo.pulls()) == 1)
        (issue,) = incident_issues(repo)
        assert bad[:7] in issue["body"]
        (pr,) = repo.pulls()
        assert bad[:7] in pr["body"] or bad[:7] in pr["title"]
        if len(c.replicas) == 2:
            survivor = c.replicas[1]
            assert any(line.get("msg") == "claimed an abandoned queue entry"
                       for line in survivor.log_lines())
