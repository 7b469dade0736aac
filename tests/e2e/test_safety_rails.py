"""Each safety rail refuses an automatic revert, says why in the incident, and opens no PR."""

from __future__ import annotations

from typing import Any

import pytest

from app.core.render import parse_marker
from tests.e2e.scenarios import break_it, comments_of, incident_issues, new_repo

pytestmark = pytest.mark.asyncio


def revert_prs(repo: Any) -> list[dict[str, Any]]:
    return [p for p in repo.pulls() if p["head"]["ref"].startswith("buildsheriff/revert-")]


async def refused(s: Any, repo: Any, culprit: str) -> tuple[str, str]:
    """Run CI red on the head; return (refusal rule, the refusal comment)."""
    repo.add_check_run(repo.head(), "build", conclusion="failure")
    await s.settle()
    (issue,) = incident_issues(repo)
    assert revert_prs(repo) == []
    marker = parse_marker(issue["body"])
    assert marker is not None
    (moment,) = [m for m in marker["timeline"] if m["kind"] == "revert_refused"]
    (comment,) = [c for c in comments_of(repo, issue["number"]) if "Not reverting" in c]
    assert f"/revert {culprit[:7]}" in comment or "/revert <sha>" in comment
    assert "Not reverting" in issue["body"]
    return moment["detail"], comment


async def test_opt_out_marker(stack_factory) -> None:
    async with stack_factory() as s:
        repo = new_repo(s)
        bad = break_it(repo, message="Risky migration\n\nNO_AUTO_REVERT: data migration")
        rule, comment = await refused(s, repo, bad)
        assert rule == "opt_out" and "NO_AUTO_REVERT" in comment


async def test_a_revert_is_never_reverted(stack_factory) -> None:
    async with stack_factory() as s:
        repo = new_repo(s)
        first = repo.head()
        bad = repo.commit(
            {"src/app.py": None},
            f'Revert "Set up the project"\n\nThis reverts commit {first}.',
            author="mona",
        )
        rule, _ = await refused(s, repo, bad)
        assert rule == "is_revert"


async def test_a_commit_made_by_this_app_is_never_reverted(stack_factory) -> None:
    async with stack_factory() as s:
        repo = new_repo(s)
        bot = s.sim.app_bot_login
        bad = repo.commit({"gen.txt": "generated\n"}, "Regenerate files", author=bot)
        rule, _ = await refused(s, repo, bad)
        assert rule == "app_commit"


async def test_auto_revert_off(stack_factory) -> None:
    async with stack_factory() as s:
        repo = new_repo(s, config="auto_revert: false\n")
        bad = break_it(repo)
        rule, comment = await refused(s, repo, bad)
        assert rule == "auto_revert_off" and "auto_revert: false" in comment


async def test_daily_limit(stack_factory) -> None:
    async with stack_factory() as s:
        repo = new_repo(s, config="max_reverts_per_day: 0\n")
        bad = break_it(repo)
        rule, _ = await refused(s, repo, bad)
        assert rule == "daily_limit"


async def test_daily_limit_counts_todays_reverts(stack_factory) -> None:
    async with stack_factory() as s:
        repo = new_repo(s, config="max_reverts_per_day: 1\n")
        first = break_it(repo, n=1)
        repo.add_check_run(first, "build", conclusion="failure")
        await s.settle()
        assert len(revert_prs(repo)) == 1
        # the incident ends; a second break the same day finds the limit reached
        (issue,) = incident_issues(repo)
        repo.close_issue(issue["number"], user="olive")
        fix = repo.commit({"src/fast1.py": None}, "Fix", author="mona")
        repo.add_check_run(fix, "build", conclusion="success")
        await s.settle()
        s.clock.advance(3600)
        second = break_it(repo, n=2, message="Break again")
        repo.add_check_run(second, "build", conclusion="failure")
        await s.settle()
        newest = max(incident_issues(repo), key=lambda i: i["number"])
        assert any(
            "max_reverts_per_day" in c or "today" in c for c in comments_of(repo, newest["number"])
        )
        assert len(revert_prs(repo)) == 1


async def test_too_old(stack_factory) -> None:
    async with stack_factory() as s:
        repo = new_repo(s, config="max_culprit_age: 2h\n")
        bad = break_it(repo)
        s.clock.advance(3 * 3600)
        rule, comment = await refused(s, repo, bad)
        assert rule == "too_old" and "2h" in comment


async def test_already_reverted_by_a_human(stack_factory) -> None:
    async with stack_factory() as s:
        repo = new_repo(s)
        bad = break_it(repo)
        await s.settle()
        repo.create_branch("mona/revert", repo.head())
        repo.commit({"src/fast1.py": None}, "Undo", author="mona", branch="mona/revert")
        repo.open_pr("mona/revert", "Revert it", f"This reverts commit {bad}.", author="mona")
        await s.settle()
        rule, _ = await refused(s, repo, bad)
        assert rule == "already_reverted"


async def test_culprit_live_in_production_is_rolled_back_first(stack_factory) -> None:
    async with stack_factory() as s:
        repo = new_repo(s, config="rollback: true\n")
        green = repo.head()
        bad = break_it(repo)
        repo.add_deployment(bad, "production", state="success")
        await s.settle()
        repo.add_check_run(bad, "build", conclusion="failure")
        await s.settle()
        (issue,) = incident_issues(repo)
        comments = comments_of(repo, issue["number"])
        live = [c for c in comments if "is live in `production`" in c]
        assert len(live) == 1 and "Rolling back `production`" in live[0]
        rollbacks = [d for d in repo.deployments if d["sha"] == green]
        assert len(rollbacks) == 1 and rollbacks[0]["environment"] == "production"
        # roll back first, then revert
        assert comments.index(live[0]) < next(
            i for i, c in enumerate(comments) if "Revert opened" in c
        )


async def test_live_culprit_without_rollback_only_warns(stack_factory) -> None:
    async with stack_factory() as s:
        repo = new_repo(s)
        bad = break_it(repo)
        repo.add_deployment(bad, "production", state="success")
        repo.add_check_run(bad, "build", conclusion="failure")
        await s.settle()
        (issue,) = incident_issues(repo)
        (live,) = [c for c in comments_of(repo, issue["number"]) if "is live in" in c]
        assert "rollback: true" in live
        assert len(repo.deployments) == 1


async def test_revert_range_reverts_every_suspect_in_one_pr(stack_factory) -> None:
    async with stack_factory() as s:
        repo = new_repo(s, config="revert_range: true\n")
        green = repo.head()
        break_it(repo, n=1)
        two = break_it(repo, n=2, message="Second change")
        repo.add_check_run(two, "build", conclusion="failure")
        await s.settle()
        (issue,) = incident_issues(repo)
        (pr,) = revert_prs(repo)
        assert pr["head"]["ref"] == f"buildsheriff/revert-{two}-and-1-before"
        tree = repo.git("rev-parse", f"{pr['head']['sha']}^{{tree}}")
        assert tree == repo.git("rev-parse", f"{green}^{{tree}}")
        assert any("Revert opened" in c for c in comments_of(repo, issue["number"]))


async def test_revert_range_still_refuses_an_opted_out_suspect(stack_factory) -> None:
    async with stack_factory() as s:
        repo = new_repo(s, config="revert_range: true\n")
        one = break_it(repo, n=1, message="Migrate\n\nNO_AUTO_REVERT")
        break_it(repo, n=2, message="Second change")
        rule, _ = await refused(s, repo, one)
        assert rule == "opt_out"
