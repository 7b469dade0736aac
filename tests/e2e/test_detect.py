"""Detection end to end: signed webhooks from the GitHub simulator through the real server."""

from __future__ import annotations

import asyncio
import json

import pytest

from tests.e2e.scenarios import (
    REPO,
    break_it,
    comments_of,
    deliveries_of,
    incident_issues,
    labels_of,
    new_repo,
)
from tests.harness import metric, metric_samples

pytestmark = pytest.mark.asyncio


async def test_red_head_via_check_run_opens_one_incident(stack_factory) -> None:
    async with stack_factory() as s:
        repo = new_repo(s)
        bad = break_it(repo)
        repo.add_check_run(bad, "build", conclusion="failure")
        await s.settle()
        issues = incident_issues(repo)
        assert len(issues) == 1
        issue = issues[0]
        assert labels_of(issue) == ["incident", "incident:triage"]
        assert issue["title"] == f"🔴 main is broken: build since {bad[:7]}"
        body = issue["body"]
        assert "### Culprit" in body and bad[:7] in body and "Make main faster" in body
        assert "@mona (author of" in body
        assert "<!-- buildsheriff: " in body
        async with s.session.get(s.app_url + "/metrics") as response:
            samples = metric_samples(await response.text())
        assert metric(samples, "buildsheriff_incidents_total", transition="opened") == 1
        opened = {"outcome": "opened", "reason": "automatic"}
        assert metric(samples, "buildsheriff_reverts_total", **opened) == 1


async def _single_signal(s, event: str, make) -> None:  # type: ignore[no-untyped-def]
    """Build state with deliveries off, then deliver only the one `event`."""
    s.sim.webhook_url = None
    make()
    wanted = [d for d in deliveries_of(s, event)][-1]
    s.sim.webhook_url = s.webhook_url
    status = await s.sim.send_webhook(event, wanted["payload"])
    assert status == 202
    await s.settle()


@pytest.mark.parametrize("signal", ["check_run", "check_suite", "status", "workflow_run"])
async def test_each_signal_alone_opens_the_incident(stack_factory, signal: str) -> None:
    async with stack_factory() as s:
        s.sim.webhook_url = None
        repo = new_repo(s)
        if signal == "status":
            repo.set_status(repo.head(), "ci/jenkins", "success")

        def make() -> None:
            bad = break_it(repo)
            if signal == "status":
                repo.set_status(bad, "ci/jenkins", "failure", target_url="https://jenkins/1")
            elif signal == "workflow_run":
                repo.add_workflow_run(bad, "CI", "failure")
            else:
                repo.add_check_run(bad, "build", conclusion="failure")

        await _single_signal(s, signal, make)
        issues = incident_issues(repo)
        assert len(issues) == 1, signal
        assert labels_of(issues[0]) == ["incident", "incident:triage"]
        assert repo.head()[:7] in issues[0]["body"]


async def test_second_red_commit_reuses_the_incident(stack_factory) -> None:
    async with stack_factory() as s:
        repo = new_repo(s, config="auto_revert: false\n")
        first = break_it(repo, n=1)
        repo.add_check_run(first, "build", conclusion="failure")
        await s.settle()
        second = break_it(repo, n=2, message="Another change")
        repo.add_check_run(second, "build", conclusion="failure")
        await s.settle()
        issues = incident_issues(repo)
        assert len(issues) == 1
        assert first[:7] in issues[0]["title"]


async def test_green_again_moves_to_mitigated(stack_factory) -> None:
    async with stack_factory() as s:
        repo = new_repo(s, config="auto_revert: false\n")
        bad = break_it(repo)
        repo.add_check_run(bad, "build", conclusion="failure")
        await s.settle()
        s.clock.advance(600)
        fix = repo.commit({"src/fast1.py": None}, "Fix the build", author="mona")
        repo.add_check_run(fix, "build", conclusion="success")
        await s.settle()
        (issue,) = incident_issues(repo)
        assert labels_of(issue) == ["incident", "incident:mitigated"]
        assert issue["state"] == "open"  # a human resolves
        green = [c for c in comments_of(repo, issue["number"]) if "green again" in c]
        assert len(green) == 1
        assert fix[:7] in green[0] and "10m" in green[0]


async def test_feature_branch_event_costs_no_github_call(stack_factory) -> None:
    async with stack_factory() as s:
        repo = new_repo(s)
        repo.create_branch("feature", repo.head())
        await s.settle()
        sha = repo.commit({"x.txt": "x\n"}, "wip", author="mona", branch="feature")
        await s.settle()
        s.sim.reset_calls()
        repo.add_check_run(sha, "build", conclusion="failure")
        repo.set_status(sha, "ci/jenkins", "failure")
        await s.settle()
        assert sum(s.sim.calls.values()) == 0
        assert incident_issues(repo) == []


async def test_success_and_pending_cost_no_github_call(stack_factory) -> None:
    async with stack_factory() as s:
        repo = new_repo(s)
        await s.settle()
        s.sim.reset_calls()
        ok = repo.commit({"y.txt": "y\n"}, "fine", author="mona")
        repo.add_check_run(ok, "build", conclusion=None, status="in_progress")
        repo.set_status(ok, "ci/jenkins", "pending")
        repo.set_status(ok, "ci/jenkins", "success")
        repo.add_check_run(ok, "lint", conclusion="success")
        await s.settle()
        assert sum(s.sim.calls.values()) == 0


async def test_consecutive_three_opens_only_on_the_third(stack_factory) -> None:
    async with stack_factory() as s:
        repo = new_repo(s, config="confirm: {consecutive: 3}\n")
        for n in (1, 2):
            sha = break_it(repo, n=n)
            repo.add_check_run(sha, "build", conclusion="failure")
            await s.settle()
            assert incident_issues(repo) == [], n
        third = break_it(repo, n=3)
        repo.add_check_run(third, "build", conclusion="failure")
        await s.settle()
        assert len(incident_issues(repo)) == 1


async def test_flake_under_confirm_rerun_opens_nothing(stack_factory) -> None:
    async with stack_factory() as s:
        repo = new_repo(s, config="confirm: rerun\n")
        repo.rerun_outcomes["CI"] = "success"
        bad = break_it(repo)
        repo.add_workflow_run(bad, "CI", "failure")
        await s.settle()
        assert incident_issues(repo) == []
        assert s.services.metrics.registry.get_sample_value("buildsheriff_flakes_total") == 1
        runs = [r for r in repo.workflow_runs if r["head_sha"] == bad]
        assert max(r["run_attempt"] for r in runs) == 2


async def test_real_failure_under_confirm_rerun_opens_after_the_rerun(stack_factory) -> None:
    async with stack_factory() as s:
        repo = new_repo(s, config="confirm: rerun\n")
        repo.rerun_outcomes["CI"] = "failure"
        bad = break_it(repo)
        repo.add_workflow_run(bad, "CI", "failure")
        await s.settle()
        assert len(incident_issues(repo)) == 1


async def test_required_checks_decide_what_counts(stack_factory) -> None:
    async with stack_factory() as s:
        repo = new_repo(s)
        repo.protect("main", required_checks=["build"])
        sha = break_it(repo)
        repo.add_check_run(sha, "optional-lint", conclusion="failure")
        repo.add_check_run(sha, "build", conclusion="success")
        await s.settle()
        assert incident_issues(repo) == []


async def test_invalid_config_names_the_key_and_defaults_apply(stack_factory) -> None:
    async with stack_factory() as s:
        repo = new_repo(s, config="max_reverts_per_day: lots\nconfirm: sometimes\n")
        setup = repo.head()
        bad = break_it(repo)
        repo.add_check_run(bad, "build", conclusion="failure")
        await s.settle()
        assert len(incident_issues(repo)) == 1  # the flow went on with defaults
        # the failing buildsheriff/config check run names both keys, on the commit that
        # added the file and on the red head
        for sha in (setup, bad):
            (run,) = [r for r in repo.check_runs
                      if r["name"] == "buildsheriff/config" and r["head_sha"] == sha]
            assert run["conclusion"] == "failure"
            assert "`max_reverts_per_day`" in run["output"]["summary"]
            assert "`confirm`" in run["output"]["summary"]
        assert not [st for st in repo.statuses if st["context"].startswith("buildsheriff/")]


@pytest.mark.parametrize(
    "config",
    [
        "bisect: false\n",  # bisection turned off
        None,  # bisection on (the default), but no suspect has an Actions run to re-run
    ],
)
async def test_several_suspects_are_listed_and_none_reverted_without_bisection(
    stack_factory, config: str | None
) -> None:
    async with stack_factory() as s:
        repo = new_repo(s, config=config)
        one = break_it(repo, n=1)
        two = break_it(repo, n=2, message="Second change")
        repo.add_check_run(two, "build", conclusion="failure")
        await s.settle()
        (issue,) = incident_issues(repo)
        assert "### Suspects (2 commits, oldest first)" in issue["body"]
        assert one[:7] in issue["body"] and two[:7] in issue["body"]
        assert repo.pulls() == []
        assert any("Not reverting automatically" in c for c in comments_of(repo, issue["number"]))


async def test_unknown_repo_name_is_not_hardcoded(stack_factory) -> None:
    async with stack_factory() as s:
        repo = new_repo(s, name="acme/rocket", default_branch="trunk")
        bad = break_it(repo)
        repo.add_check_run(bad, "build", conclusion="failure")
        await s.settle()
        (issue,) = incident_issues(repo)
        assert issue["title"].startswith("🔴 trunk is broken")
        assert REPO not in issue["body"]


async def test_a_push_to_the_config_file_takes_effect_at_once(stack_factory) -> None:
    async with stack_factory() as s:
        repo = new_repo(s, config="auto_revert: false\n")
        bad = break_it(repo, n=1)
        repo.add_check_run(bad, "build", conclusion="failure")
        await s.settle()
        assert repo.pulls() == []  # refused: auto_revert is off
        fix = repo.commit(
            {"src/fast1.py": None, ".github/buildsheriff.yml": "auto_revert: true\n"},
            "Fix, and let Build Sheriff revert",
            author="olive",
        )
        repo.add_check_run(fix, "build", conclusion="success")
        await s.settle()
        again = break_it(repo, n=2, message="Break it again")
        repo.add_check_run(again, "build", conclusion="failure")
        await s.settle()
        assert [p["title"] for p in repo.pulls()] == ['Revert "Break it again"']


async def test_a_default_branch_with_a_slash(stack_factory) -> None:
    async with stack_factory() as s:
        repo = new_repo(s, name="acme/mono", default_branch="release/2026")
        bad = break_it(repo)
        repo.add_check_run(bad, "build", conclusion="failure")
        await s.settle()
        (issue,) = incident_issues(repo)
        assert issue["title"].startswith("🔴 release/2026 is broken")
        (pr,) = repo.pulls()
        assert pr["base"]["ref"] == "release/2026"


async def test_two_processes_racing_keep_one_incident(stack_factory) -> None:
    from app.server.app import dispatcher_of
    from demo.stack import _start_app, _stop_app, webhook_headers

    async with stack_factory(slack=False) as s:
        repo = new_repo(s, config="auto_revert: false\n")
        await s.settle()
        other, other_app, other_runner, other_url = await _start_app(
            s.settings, s.session, s.clock, s.router
        )
        try:
            s.sim.webhook_url = None
            bad = break_it(repo)
            repo.add_check_run(bad, "build", conclusion="failure")
            payload = [d for d in s.sim.deliveries if d["event"] == "check_run"][-1]["payload"]
            body = json.dumps(payload).encode()
            s.sim.set_latency(
                "/repos/{owner}/{repo}/issues", 0.05
            )  # both look before either writes

            async def deliver(url: str) -> int:
                headers = webhook_headers("check_run", body, s.settings.webhook_secret or "")
                async with s.session.post(url + "/webhooks", data=body, headers=headers) as r:
                    return r.status

            assert await asyncio.gather(deliver(s.app_url), deliver(other_url)) == [202, 202]
            await asyncio.gather(s.dispatcher.idle(), dispatcher_of(other_app).idle())
            s.sim.set_latency("/repos/{owner}/{repo}/issues", 0)
            s.sim.webhook_url = s.webhook_url
            await s.settle()
        finally:
            await _stop_app(other, other_runner)
        issues = [i for i in repo.issues() if "pull_request" not in i]
        assert len(issues) == 2, "both processes opened one"
        (kept,) = incident_issues(repo)
        (dropped,) = [i for i in issues if i["number"] != kept["number"]]
        assert kept["number"] < dropped["number"] and dropped["state"] == "closed"
        assert comments_of(repo, dropped["number"]) == [
            f"Duplicate of #{kept['number']}: the same red streak, opened just before."
        ]
