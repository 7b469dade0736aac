"""kill -9 of a real `serve` process at each step boundary of an incident: after the issue,
after the revert branch, after the PR, before auto-merge, after the merge. The simulator
holds the request that starts the next step until the test has killed the process (so the
boundary is exact), then a fresh process starts: its start-up reconcile (app.core.resume)
finds the step that is due from what GitHub holds, and the incident completes exactly once.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from sim.github.api_faults import Hold
from tests.e2e.scenarios import break_it, incident_issues, labels_of, new_repo
from tests.serve_process import ServeCluster, serve_cluster

pytestmark = pytest.mark.asyncio

REFS = "/repos/{owner}/{repo}/git/refs"
PULLS = "/repos/{owner}/{repo}/pulls"
LABELS = "/repos/{owner}/{repo}/issues/{issue_number}/labels"
COMMENTS = "/repos/{owner}/{repo}/issues/{issue_number}/comments"


def _revert_ref(body: Any) -> bool:
    return isinstance(body, dict) and str(body.get("ref", "")).startswith(
        "refs/heads/buildsheriff/revert-")


def _revert_label(body: Any) -> bool:
    return isinstance(body, dict) and "revert" in (body.get("labels") or [])


def _arming(body: Any) -> bool:
    return isinstance(body, dict) and "enablePullRequestAutoMerge" in str(body.get("query"))


def _merged_news(body: Any) -> bool:
    return isinstance(body, dict) and "merged" in str(body.get("body", "")).lower()


# boundary -> the request that would start the next step (held, not done, then the kill)
BOUNDARIES = {
    "after-the-issue": ("POST", REFS, _revert_ref),
    "after-the-branch": ("POST", PULLS, None),
    "after-the-pr": ("POST", LABELS, _revert_label),
    "before-auto-merge": ("POST", "/graphql", _arming),
    "after-the-merge": ("POST", COMMENTS, _merged_news),
}


async def kill_at(c: ServeCluster, held: Hold) -> None:
    """Wait for the held request, kill -9 the process that sent it, start a fresh one."""
    await c.wait_for(held.reached.is_set, what="the held request")
    replica = c.replicas[0]
    await replica.kill()
    c.sim.release_holds()
    await replica.start()


def armed(repo: Any) -> bool:
    pulls = repo.pulls()
    return len(pulls) == 1 and bool(pulls[0]["auto_merge"])


@pytest.mark.parametrize("boundary", list(BOUNDARIES))
async def test_killed_at_a_step_boundary_the_incident_completes_once(
    tmp_path: Path, rsa_key: str, boundary: str
) -> None:
    async with serve_cluster(tmp_path, rsa_key, RECONCILE_INTERVAL="3600") as c:
        assert c.slack is not None
        repo = new_repo(c)
        repo.protect("main", required_checks=["build"])
        await c.settle()
        method, template, when = BOUNDARIES[boundary]
        if boundary != "after-the-merge":
            held = c.sim.hold(method, template, when=when)
        bad = break_it(repo)
        repo.add_check_run(bad, "build", conclusion="failure")
        if boundary != "after-the-merge":
            await kill_at(c, held)
        await c.settle(until=lambda: armed(repo))
        (issue,) = incident_issues(repo)
        number = issue["number"]
        (pr,) = repo.pulls()
        head = repo.pull(pr["number"])["head"]["sha"]
        if boundary == "after-the-merge":
            held = c.sim.hold(method, template, when=when)
        repo.add_check_run(head, "build", conclusion="success")
        if boundary == "after-the-merge":
            await kill_at(c, held)
        await c.settle(until=lambda: bool(repo.pull(pr["number"])["merged"]))
        repo.add_check_run(repo.head(), "build", conclusion="success")
        await c.settle(until=lambda: "incident:mitigated" in labels_of(repo.issue(number)))

        # GitHub: one incident, mitigated; one revert branch and PR, merged
        assert [i["number"] for i in repo.issues() if "pull_request" not in i] == [number]
        (merged,) = repo.pulls()
        assert merged["merged"] is True
        assert labels_of(repo.issue(number)) == ["incident", "incident:mitigated"]
        said = [
            c_["body"] for c_ in repo.issue(number)["comments_list"]
            if c_["user"]["login"].endswith("[bot]")
        ]
        assert len(said) == len(set(said)), Counter(said).most_common(2)
        firsts = [body.splitlines()[0] for body in said]
        assert sum("merged" in f.lower() for f in firsts) == 1, firsts
        assert sum("revert" in f.lower() and "opened" in f.lower() for f in firsts) == 1, firsts
        # the culprit's author told once, on the commit
        notices = [x for x in repo.commit_comments if x["user"]["login"].endswith("[bot]")]
        assert len(notices) == 1
        # Slack: one thread, nothing said twice
        (top,) = c.slack.top_level()
        replies = [m["text"] for m in c.slack.thread(top["ts"])]
        assert len(replies) == len(set(replies)), json.dumps(Counter(replies).most_common(2))
        assert any("merged" in r.lower() for r in replies)
