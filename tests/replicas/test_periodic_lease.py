"""Periodic jobs on several replicas: with Redis, the reconciler and the escalation watch run
on one replica at a time (app.jobs.periodic's lease), so two replicas never page for one
incident nor reconcile a repository at once; when that replica dies, another takes over
within two intervals. Without Redis, the one process runs them as before."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.scenarios import break_it, comments_of, incident_issues, new_repo
from tests.serve_process import BACKENDS, Replica, cluster_backend, serve_cluster

CONFIG = "auto_revert: false\nescalate_after: 2s\n"


def passes(replica: Replica, job: str) -> int:
    return sum(1 for line in replica.log_lines() if line.get("msg") == f"{job} pass")


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> dict[str, Any]:
    return cluster_backend(request)


async def test_periodic_jobs_run_on_one_replica_and_page_once(
    tmp_path: Path, rsa_key: str, backend: dict[str, Any]
) -> None:
    replicas = backend["replicas"]
    async with serve_cluster(tmp_path, rsa_key, pager=True, RECONCILE_INTERVAL="1",
                             **backend) as c:
        assert c.pagerduty is not None
        repo = new_repo(c, config=CONFIG)
        await c.settle()
        repo.add_check_run(break_it(repo), "build", conclusion="failure")
        await c.settle()
        (issue,) = incident_issues(repo)
        # nobody acknowledges: every replica's loops run each second for a while
        await c.wait_for(lambda: bool(c.pagerduty.incidents), within=20, what="the page")
        await asyncio.sleep(4)
        await c.settle()
        (page,) = c.pagerduty.incidents.values()
        assert [e["event_action"] for e in page["events"]] == ["trigger"]
        escalated = [b for b in comments_of(repo, issue["number"]) if "paging" in b.lower()]
        assert len(escalated) == 1
        running = [r for r in c.replicas if passes(r, "reconcile") or passes(r, "escalation")]
        assert len(running) == 1, "one replica runs the periodic jobs"
        if replicas == 1:
            return
        (leader,) = running
        (other,) = [r for r in c.replicas if r is not leader]
        await leader.kill()
        await c.wait_for(lambda: passes(other, "reconcile") > 0, within=15,
                         what="the other replica taking the periodic jobs over")
        await c.settle()
        (page,) = c.pagerduty.incidents.values()
        assert [e["event_action"] for e in page["events"]] == ["trigger"]
