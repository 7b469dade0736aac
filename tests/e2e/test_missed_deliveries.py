"""Deliveries GitHub could not make are asked for again, and a delivery counts as processed
when its work is done: a failed one redelivered is processed, a successful one is not."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.e2e.scenarios import break_it, incident_issues, new_repo

DOWN = "http://127.0.0.1:9/webhooks"  # nobody listens there: "failed to connect"
WRITES = ("POST", "PATCH", "PUT", "DELETE")


def writes(s: Any) -> list[tuple[str, str, int]]:
    return [c for c in s.sim.call_log if c[0] in WRITES and not c[1].startswith("/app/")]


async def test_deliveries_missed_while_down_are_redelivered_and_open_the_incident(
    stack_factory: Callable[..., Any],
) -> None:
    async with stack_factory() as s:
        repo = new_repo(s)
        await s.settle()
        s.sim.webhook_url = DOWN  # the app is down
        missed_from = len(s.sim.deliveries)
        bad = break_it(repo)
        repo.add_check_run(bad, "build", conclusion="failure")
        await s.sim.drain()
        missed = s.sim.deliveries[missed_from:]
        assert len(missed) >= 3 and all(d["status"] is None for d in missed)
        assert incident_issues(repo) == []

        await s.restart()  # back up; the recovery pass runs at start-up
        asked = await s.recover_deliveries()

        assert asked == len(missed)
        (issue,) = incident_issues(repo)
        assert bad[:7] in issue["body"]
        for record in missed:
            attempts = s.sim.hook_log.of_guid(record["delivery_id"])
            assert [(a.redelivery, a.status) for a in attempts] == [
                (False, "failed to connect"), (True, "OK")]
        # Nothing is left to recover: a second pass asks for nothing.
        assert await s.recover_deliveries() == 0


async def test_a_failed_event_redelivered_is_processed_and_a_successful_one_only_once(
    stack_factory: Callable[..., Any],
) -> None:
    async with stack_factory() as s:
        repo = new_repo(s)
        await s.settle()
        bad = break_it(repo)
        await s.settle()
        # GitHub fails every issue creation while the red check arrives: the work fails.
        s.sim.inject("POST", "/repos/{owner}/{repo}/issues", status=500, times=1000)
        first = len(s.sim.deliveries)
        repo.add_check_run(bad, "build", conclusion="failure")
        await s.settle()
        assert incident_issues(repo) == []
        (red,) = [d for d in s.sim.deliveries[first:]
                  if d["event"] == "check_run" and d["action"] == "completed"]
        assert red["status"] == 202  # GitHub saw a success: only the app knows it failed

        s.sim.clear_injections()
        (attempt,) = s.sim.hook_log.of_guid(red["delivery_id"])
        s.sim.redeliver(attempt)  # the same delivery id, as from GitHub's UI or API
        await s.settle()
        (issue,) = incident_issues(repo)
        assert bad[:7] in issue["body"]

        before = writes(s)
        s.sim.redeliver(attempt)  # once more: it was processed, so it is dropped
        await s.settle()
        assert [a.status for a in s.sim.hook_log.of_guid(red["delivery_id"])] == ["OK"] * 3
        assert len(incident_issues(repo)) == 1
        assert writes(s) == before
