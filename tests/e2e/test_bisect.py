"""Bisection end to end: a batch of commits, CI cancelled on all but the last, and Build Sheriff
asks CI (re-runs, or probe refs) which one broke `main`, through the real server and the
simulator's GitHub Actions."""

from __future__ import annotations

from typing import Any

import pytest

from sim.github.ci import ActionsCI, Workflow
from tests.e2e.scenarios import comments_of, incident_issues, labels_of, new_repo
from tests.harness import Stack

pytestmark = pytest.mark.asyncio

PROBE_REFS = "refs/heads/buildsheriff/probe/"


def land_batch(repo: Any, n: int = 8) -> list[str]:
    """`n` commits pushed one after the other; each adds src/fast<i>.py."""
    return [
        repo.commit({f"src/fast{i}.py": f"speed = {i}\n"}, f"Make main faster, part {i}",
                    author="mona")
        for i in range(1, n + 1)
    ]


async def run_ci(s: Stack, ci: ActionsCI, *, limit: int = 40) -> int:
    """Let CI finish what runs, and the app react, until nothing runs any more."""
    ticks = 0
    while ci.running():
        ci.finish_running()
        await s.settle()
        ticks += 1
        assert ticks < limit, "CI never went quiet"
    return ticks


def reruns(s: Stack) -> list[int]:
    """Run ids the app re-ran, in order."""
    return [
        int(path.split("/")[-2])
        for method, path, _status in s.sim.call_log
        if method == "POST" and path.endswith("/rerun")
    ]


def probe_pushes(s: Stack) -> int:
    return sum(
        1
        for (_id, _attempt, _sha, branch, _conclusion) in s.sim.repos["octo/widgets"].ci.finished
        if branch and branch.startswith("buildsheriff/probe/")
    )


def run_id_of(ci: ActionsCI, sha: str) -> int:
    (run,) = ci.runs_of(sha, "main")
    return run.id


def revert_tree_drops(repo: Any, path: str) -> bool:
    (pr,) = repo.pulls()
    return repo.read_file(path, pr["head"]["sha"]) is None


async def test_rerun_bisection_finds_the_third_of_eight_in_three_rounds_and_reverts_it(
    stack_factory,
) -> None:
    async with stack_factory() as s:
        repo = new_repo(s)
        ci = repo.use_ci()
        shas = land_batch(repo)
        ci.red_while("src/fast3.py")
        # cancel-in-progress: each push cancelled the run before it; only the 8th ran.
        assert [r.head_sha for r in ci.running()] == [shas[7]]
        await run_ci(s, ci)

        (issue,) = incident_issues(repo)
        assert reruns(s) == [run_id_of(ci, shas[3]), run_id_of(ci, shas[1]),
                             run_id_of(ci, shas[2])]  # one at a time, each once
        body = issue["body"]
        for n, sha, result in ((1, shas[3], "failed"), (2, shas[1], "passed"),
                               (3, shas[2], "failed")):
            assert f"- Round {n}: `{sha[:7]}` " in body and result in body
        assert "### Culprit" in body and shas[2][:7] in body.split("### Culprit")[1][:200]
        comments = comments_of(repo, issue["number"])
        assert any(c.startswith("🔎 8 commits landed") and "one at a time" in c
                   for c in comments)
        assert any(f"🎯 Culprit found: `{shas[2][:7]}` is the first suspect that fails" in c
                   and "3 rounds" in c for c in comments)
        assert not any(c.startswith("✋") for c in comments)  # no refusal
        (pr,) = repo.pulls()
        assert pr["head"]["ref"] == f"buildsheriff/revert-{shas[2]}"
        assert revert_tree_drops(repo, "src/fast3.py")
        assert repo.read_file("src/fast4.py", pr["head"]["sha"]) is not None  # only the culprit


async def test_probe_bisection_reads_only_the_probe_suites_and_deletes_the_refs(
    stack_factory,
) -> None:
    async with stack_factory() as s:
        repo = new_repo(s, config="bisect: probe\n")
        ci = repo.use_ci(Workflow(branches=("**",)))
        shas = land_batch(repo)
        ci.red_while("src/fast3.py")
        await run_ci(s, ci)

        (issue,) = incident_issues(repo)
        assert reruns(s) == []  # main's runs are left alone
        assert probe_pushes(s) == 3
        assert not [r for r in repo.git("for-each-ref", "--format=%(refname)").split()
                    if r.startswith(PROBE_REFS)]
        comments = comments_of(repo, issue["number"])
        assert any(f"🎯 Culprit found: `{shas[2][:7]}`" in c and "3 rounds" in c
                   for c in comments)
        # main's own runs on the probed commits are still cancelled: nothing was mixed.
        for sha in (shas[1], shas[2], shas[3]):
            (main_run,) = ci.runs_of(sha, "main")
            assert main_run.conclusion == "cancelled"
        (pr,) = repo.pulls()
        assert pr["head"]["ref"] == f"buildsheriff/revert-{shas[2]}"
        assert revert_tree_drops(repo, "src/fast3.py")


async def test_parallel_probes_find_the_culprit_in_one_round(stack_factory) -> None:
    async with stack_factory() as s:
        repo = new_repo(s, config="bisect: probe\nbisect_parallel: true\n")
        ci = repo.use_ci(Workflow(branches=("**",)))
        shas = land_batch(repo)
        ci.red_while("src/fast3.py")
        ci.finish_running()  # main's build of the 8th: red
        await s.settle()
        assert len(ci.running()) == 8  # every suspect probed at once, the first red included
        await run_ci(s, ci)

        (issue,) = incident_issues(repo)
        comments = comments_of(repo, issue["number"])
        rounds = [c for c in comments if c.startswith("🔎 Bisection, round")]
        assert len(rounds) == 1 and rounds[0].count("\n- `") == 8
        assert any(f"🎯 Culprit found: `{shas[2][:7]}`" in c and "1 round of CI" in c
                   for c in comments)
        assert [p["head"]["ref"] for p in repo.pulls()][:1] == [f"buildsheriff/revert-{shas[2]}"]


async def test_a_flaky_probe_stops_the_bisection_with_a_clear_message(stack_factory) -> None:
    async with stack_factory() as s:
        repo = new_repo(s, config="bisect: probe\nbisect_parallel: true\n")
        ci = repo.use_ci(Workflow(branches=("**",)))
        shas = land_batch(repo)
        ci.red_while("src/fast3.py")
        ci.script(shas[7], "failure", "success")  # red on main, green on its probe
        await run_ci(s, ci)

        (issue,) = incident_issues(repo)
        comments = comments_of(repo, issue["number"])
        assert any(
            c.startswith("⚠️ Bisection stopped:")
            and f"`{shas[7][:7]}` both passed and failed: its build is flaky" in c
            for c in comments
        ), comments
        assert any("Not reverting automatically: bisection found no single culprit" in c
                   for c in comments)
        assert repo.pulls() == []
        assert "**Inconsistent**" in repo.issue(issue["number"])["body"]
        # The head's green probe was never taken for main: the incident is still in triage.
        assert labels_of(repo.issue(issue["number"])) == ["incident", "incident:triage"]


async def test_a_restart_mid_bisection_continues_without_repeating_a_round(
    stack_factory,
) -> None:
    async with stack_factory() as s:
        repo = new_repo(s)
        ci = repo.use_ci()
        shas = land_batch(repo)
        ci.red_while("src/fast3.py")
        ci.finish_running()
        await s.settle()  # incident open, round 1 asked
        ci.finish_running()
        await s.settle()  # round 1 answered (red), round 2 asked and running
        assert reruns(s) == [run_id_of(ci, shas[3]), run_id_of(ci, shas[1])]

        await s.restart()  # nothing in memory survives; the marker does
        await s.reconcile()  # what a new process does at start-up
        assert reruns(s) == [run_id_of(ci, shas[3]), run_id_of(ci, shas[1])]
        await run_ci(s, ci)

        assert reruns(s) == [run_id_of(ci, shas[3]), run_id_of(ci, shas[1]),
                             run_id_of(ci, shas[2])]
        (issue,) = incident_issues(repo)
        body = repo.issue(issue["number"])["body"]
        assert [line.split(":")[0] for line in body.splitlines()
                if line.startswith("- Round ")] == ["- Round 1", "- Round 2", "- Round 3"]
        comments = comments_of(repo, issue["number"])
        assert sum(c.startswith("🔎 Bisection, round 1") for c in comments) == 1
        assert any(f"🎯 Culprit found: `{shas[2][:7]}`" in c for c in comments)
        assert [p["head"]["ref"] for p in repo.pulls()] == [f"buildsheriff/revert-{shas[2]}"]


async def test_the_reconciler_deletes_probe_refs_a_crash_left_behind(stack_factory) -> None:
    async with stack_factory() as s:
        repo = new_repo(s, config="bisect: probe\n")
        sha = repo.head()
        repo.create_branch(f"buildsheriff/probe/{sha}", sha)
        await s.reconcile()
        assert f"{PROBE_REFS}{sha}" not in repo.git("for-each-ref", "--format=%(refname)")
        assert incident_issues(repo) == []


async def test_revert_range_waits_for_bisection_and_reverts_only_the_culprit(
    stack_factory,
) -> None:
    async with stack_factory() as s:
        repo = new_repo(s, config="revert_range: true\n")
        ci = repo.use_ci()
        shas = land_batch(repo, 3)
        ci.red_while("src/fast2.py")
        await run_ci(s, ci)
        (pr,) = repo.pulls()
        assert pr["head"]["ref"] == f"buildsheriff/revert-{shas[1]}"
        assert revert_tree_drops(repo, "src/fast2.py")
        assert repo.read_file("src/fast1.py", pr["head"]["sha"]) is not None
        assert repo.read_file("src/fast3.py", pr["head"]["sha"]) is not None


async def test_out_of_rounds_the_several_suspects_rail_applies(stack_factory) -> None:
    async with stack_factory() as s:
        repo = new_repo(s, config="bisect_max_rounds: 1\n")
        ci = repo.use_ci()
        shas = land_batch(repo)
        ci.red_while("src/fast3.py")
        await run_ci(s, ci)
        (issue,) = incident_issues(repo)
        comments = comments_of(repo, issue["number"])
        stopped = next(c for c in comments if c.startswith("🤷 Bisection stopped"))
        assert "the budget of 1 rounds (`bisect_max_rounds`) is spent; 4 suspects left" in stopped
        assert all(f"`{sha[:7]}`" in stopped for sha in shas[:4])
        assert any("Not reverting automatically: bisection found no single culprit among the 4"
                   in c for c in comments)
        assert repo.pulls() == [] and len(reruns(s)) == 1


async def test_the_culprit_age_counts_at_detection_not_after_the_rounds(stack_factory) -> None:
    async with stack_factory() as s:
        repo = new_repo(s, config="max_culprit_age: 1h\n")
        ci = repo.use_ci()
        shas = land_batch(repo)
        ci.red_while("src/fast3.py")
        s.clock.advance(50 * 60)  # detected 50 minutes after the commits
        ci.finish_running()
        await s.settle()
        while ci.running():
            s.clock.advance(10 * 60)  # each round of CI takes ten minutes
            ci.finish_running()
            await s.settle()
        (pr,) = repo.pulls()  # found 80 minutes after the commit, and still reverted
        assert pr["head"]["ref"] == f"buildsheriff/revert-{shas[2]}"


async def test_a_stop_between_writing_a_round_and_asking_ci_asks_once_later(
    stack_factory,
) -> None:
    async with stack_factory() as s:
        repo = new_repo(s)
        ci = repo.use_ci()
        shas = land_batch(repo)
        ci.red_while("src/fast3.py")
        s.sim.inject("POST", "/repos/{owner}/{repo}/actions/runs/{run_id}/rerun", status=502)
        s.sim.webhook_url = None  # the build's webhooks wait: one look, then a stop
        ci.finish_running()
        red = [d for d in s.sim.deliveries if d["event"] == "workflow_run"
               and d["payload"]["workflow_run"]["conclusion"] == "failure"]
        await s.post_webhook("workflow_run", red[-1]["payload"])
        await s.settle()  # round 1 written down; asking CI failed (a POST is not retried)
        (issue,) = incident_issues(repo)
        assert f"- Round 1: `{shas[3][:7]}` ⏳ waiting for CI" in issue["body"]
        assert ci.running() == []

        s.sim.webhook_url = s.webhook_url
        await s.reconcile()  # whoever looks next asks round 1's question, once
        assert [r.head_sha for r in ci.running()] == [shas[3]]
        await run_ci(s, ci)
        asked = [
            (int(path.split("/")[-2]), status)
            for method, path, status in s.sim.call_log
            if method == "POST" and path.endswith("/rerun")
        ]
        assert asked == [(run_id_of(ci, shas[3]), 502), (run_id_of(ci, shas[3]), 201),
                         (run_id_of(ci, shas[1]), 201), (run_id_of(ci, shas[2]), 201)]
        assert [p["head"]["ref"] for p in repo.pulls()] == [f"buildsheriff/revert-{shas[2]}"]


async def test_the_incident_escalates_on_its_usual_timer_while_bisecting(stack_factory) -> None:
    async with stack_factory(pager="pagerduty") as s:
        repo = new_repo(s, config="escalate_after: 15m\n")
        ci = repo.use_ci()
        land_batch(repo)
        ci.red_while("src/fast3.py")
        ci.finish_running()
        await s.settle()  # round 1 asked; CI is slow today
        s.clock.advance(16 * 60)
        await s.reconcile()
        assert s.pagerduty is not None and len(s.pagerduty.incidents) == 1  # paged
        (issue,) = incident_issues(repo)
        assert "Round 1:" in repo.issue(issue["number"])["body"] and repo.pulls() == []
        await run_ci(s, ci)  # and the bisection goes on to the culprit
        assert len(repo.pulls()) == 1
