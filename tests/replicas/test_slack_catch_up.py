"""kill -9 while Slack is down: the incident's news reached its GitHub issue, and its Slack
echo waited in the dead process's outbox. The next process's start-up reconcile reads the
thread (each reply names its step in its metadata) and says there, once, what the issue says
and the thread does not (app.incident.runner.catch_up_slack)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.scenarios import break_it, incident_issues, new_repo
from tests.serve_process import ServeCluster, serve_cluster

pytestmark = pytest.mark.asyncio


def _replies(c: ServeCluster) -> list[dict[str, Any]]:
    assert c.slack is not None
    (top,) = c.slack.top_level()
    return c.slack.thread(top["ts"])


def _merged_said(repo: Any, number: int) -> bool:
    return any("merged" in x["body"].splitlines()[0].lower()
               for x in repo.issue(number)["comments_list"]
               if x["user"]["login"].endswith("[bot]"))


async def test_news_a_killed_process_never_said_in_slack_is_said_once_by_the_next(
    tmp_path: Path, rsa_key: str
) -> None:
    async with serve_cluster(tmp_path, rsa_key, RECONCILE_INTERVAL="3600") as c:
        assert c.slack is not None
        repo = new_repo(c)
        repo.protect("main", required_checks=["build"])
        await c.settle()
        repo.add_check_run(break_it(repo), "build", conclusion="failure")
        await c.settle(until=lambda: bool(repo.pulls() and repo.pulls()[0]["auto_merge"]))
        (issue,) = incident_issues(repo)
        number = issue["number"]
        before = len(_replies(c))
        assert before and all(r["metadata"]["event_type"] == "buildsheriff_step"
                              for r in _replies(c))

        c.slack.fail("chat.postMessage", status=503, times=100_000)  # Slack is down
        (pr,) = repo.pulls()
        repo.add_check_run(repo.pull(pr["number"])["head"]["sha"], "build",
                           conclusion="success")
        await c.wait_for(lambda: _merged_said(repo, number), what="the merge said on GitHub")
        assert len(_replies(c)) == before  # said on GitHub, not in Slack

        replica = c.replicas[0]
        await replica.kill()  # its outbox, with the echo, dies with it
        c.slack.clear_faults()
        await replica.start()
        await c.wait_for(lambda: any("merged" in r["text"].lower() for r in _replies(c)),
                         what="the merge said in Slack")
        await c.settle()

        replies = _replies(c)
        steps = [r["metadata"]["event_payload"]["step"] for r in replies]
        assert len(steps) == len(set(steps)), Counter(steps).most_common(2)
        assert sum("merged" in r["text"].lower() for r in replies) == 1
        # A process that starts later finds nothing owed: the thread stays as it is.
        await replica.kill()
        await replica.start()
        await c.settle()
        assert [r["ts"] for r in _replies(c)] == [r["ts"] for r in replies]
