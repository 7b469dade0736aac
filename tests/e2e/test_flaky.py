"""Flaky checks end to end: with `confirm: rerun`, a check that fails and then passes on its
re-run opens no incident and is counted in the repository's one flaky report."""

from __future__ import annotations

from typing import Any

import pytest

from sim.github.ci import Workflow
from tests.e2e.scenarios import break_it, incident_issues, new_repo
from tests.e2e.test_bisect import run_ci

pytestmark = pytest.mark.asyncio


def flaky_reports(repo: Any) -> list[dict[str, Any]]:
    return [
        i for i in repo.issues()
        if "buildsheriff:flaky" in [label["name"] for label in i["labels"]]
    ]


def row(report: dict[str, Any], check: str) -> str:
    return next(line for line in report["body"].splitlines() if line.startswith(f"| `{check}` |"))


async def test_a_flaky_check_opens_no_incident_and_is_counted_in_the_report(
    stack_factory,
) -> None:
    async with stack_factory() as s:
        repo = new_repo(s, config="confirm: rerun\n")
        ci = repo.use_ci(Workflow(jobs=("build", "lint")))
        first = break_it(repo, n=1)
        ci.script(first, "failure", "success")  # red, then green on the re-run
        await run_ci(s, ci)

        assert incident_issues(repo) == []
        (report,) = flaky_reports(repo)
        assert report["title"] == "🌀 Flaky checks" and report["state"] == "open"
        assert row(report, "build").startswith("| `build` | 1 |")
        assert row(report, "lint").startswith("| `lint` | 1 |")
        assert "over the last 14 days" in report["body"]

        second = break_it(repo, n=2, message="Another change")
        ci.script(second, "failure", "success")
        await run_ci(s, ci)
        await s.reconcile()  # a later look at the same green head logs nothing twice

        (report,) = flaky_reports(repo)  # the same issue, updated in place
        assert row(report, "build").startswith("| `build` | 2 |")
        assert f"on `{second[:7]}`" in row(report, "build")
        assert incident_issues(repo) == []
        # never pinned (pinIssue is GraphQL only: the simulator records any attempt); other
        # GraphQL queries (the config's first look) are reads
        assert not any("pinIssue" in v for v in s.sim.violations)


async def test_the_report_counts_only_the_window(stack_factory) -> None:
    async with stack_factory() as s:
        repo = new_repo(s, config="confirm: rerun\nflaky_window_days: 7\n")
        ci = repo.use_ci()
        old = break_it(repo, n=1)
        ci.script(old, "failure", "success")
        await run_ci(s, ci)
        s.clock.advance(8 * 86400)
        new = break_it(repo, n=2)
        ci.script(new, "failure", "success")
        await run_ci(s, ci)
        (report,) = flaky_reports(repo)
        assert row(report, "build").startswith("| `build` | 1 |")
        assert "over the last 7 days" in report["body"]


async def test_a_real_failure_is_not_flaky(stack_factory) -> None:
    async with stack_factory() as s:
        repo = new_repo(s, config="confirm: rerun\n")
        ci = repo.use_ci()
        ci.red_while("src/fast1.py")
        break_it(repo, n=1)
        await run_ci(s, ci)
        assert len(incident_issues(repo)) == 1  # failed again on the re-run: an incident
        assert flaky_reports(repo) == []
