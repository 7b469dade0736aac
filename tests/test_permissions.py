"""Least privilege: app.yml asks for exactly what the code uses.

Each permission app.yml asks for is needed: take it away (or lower it to read) and a story
that uses it meets GitHub's 403 in the simulator, whose permission table is GitHub's.
Every event it subscribes to has a handler, and the README's table explains each one.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import pytest
import yaml

from app.handlers import router
from tests.e2e.scenarios import break_it, incident_issues, new_repo
from tests.harness import Stack

ROOT = Path(__file__).resolve().parents[1]
MANIFEST = yaml.safe_load((ROOT / "app.yml").read_text())
README = (ROOT / "README.md").read_text()
StackFactory = Callable[..., AbstractAsyncContextManager[Stack]]


def _red_main(s: Stack, config: str = "") -> Any:
    repo = new_repo(s, config=config or None)
    bad = break_it(repo)
    repo.add_check_run(bad, "build", conclusion="failure")
    return repo


def _rerun(s: Stack) -> Any:
    repo = new_repo(s, config="confirm: rerun\n")
    repo.rerun_outcomes["CI"] = "failure"
    repo.add_workflow_run(break_it(repo), "CI", "failure")
    return repo


def _bad_config(s: Stack) -> Any:
    return _red_main(s, "max_reverts_per_day: lots\n")


def _rollback(s: Stack) -> Any:
    repo = new_repo(s, config="rollback: true\n")
    bad = break_it(repo)
    repo.add_deployment(bad, "production", state="success")
    repo.add_check_run(bad, "build", conclusion="failure")
    return repo


async def _queued_revert(s: Stack) -> Any:
    """A merge queue on main: the revert, green, is added to the queue."""
    repo = _red_main(s)
    repo.require_merge_queue(["build"], bypass=[f"{s.sim.app_slug}[bot]"])
    await s.settle()
    (pr,) = repo.pulls()
    repo.add_check_run(pr["head"]["sha"], "build", conclusion="success")
    return repo


# (permission, the level it is lowered to (None: taken away), the story that needs it,
#  the request GitHub then refuses)
CASES: list[tuple[str, str | None, Callable[[Stack], Any], str]] = [
    ("actions", "read", _rerun, "POST /repos/octo/widgets/actions/runs/"),
    ("checks", "read", _bad_config, "POST /repos/octo/widgets/check-runs"),
    ("statuses", None, _red_main, "GET /repos/octo/widgets/commits/"),
    ("contents", "read", _red_main, "POST /repos/octo/widgets/git/"),
    ("pull_requests", "read", _red_main, "POST /repos/octo/widgets/pulls"),
    # Labels open with issues OR pull_requests write (GitHub's table); the incident issue
    # itself needs issues: write.
    ("issues", "read", _red_main, "POST /repos/octo/widgets/issues"),
    ("deployments", "read", _rollback, "POST /repos/octo/widgets/deployments"),
    # GraphQL answers a mutation outside the token's permissions with a FORBIDDEN error.
    ("merge_queues", "read", _queued_revert, "GRAPHQL enqueuePullRequest"),
]


def test_every_permission_asked_for_is_exercised_below() -> None:
    asked = set(MANIFEST["default_permissions"]) - {"metadata"}  # metadata: always granted
    assert {case[0] for case in CASES} == asked


@pytest.mark.sim_violations_expected
@pytest.mark.parametrize(("permission", "lowered", "story", "refused"), CASES,
                         ids=[c[0] for c in CASES])
async def test_without_a_permission_github_refuses_what_needs_it(
    stack_factory: StackFactory, permission: str, lowered: str | None,
    story: Callable[[Stack], Any], refused: str,
) -> None:
    async with stack_factory(slack=False) as s:
        granted = dict(MANIFEST["default_permissions"])
        if lowered is None:
            del granted[permission]
        else:
            granted[permission] = lowered
        s.sim.app_permissions = granted
        told = story(s)
        if inspect.isawaitable(told):
            await told
        await s.settle()
        forbidden = [f"{m} {p}" for m, p, status in s.sim.call_log if status == 403]
        forbidden += [f"GRAPHQL {field}" for field in s.sim.graphql_forbidden]
        assert any(call.startswith(refused) for call in forbidden), forbidden


async def test_with_app_yml_as_it_is_nothing_is_refused(stack_factory: StackFactory) -> None:
    for story in {case[2] for case in CASES}:
        async with stack_factory(slack=False) as s:
            repo = story(s)
            if inspect.isawaitable(repo):
                repo = await repo
            await s.settle()
            assert [c for c in s.sim.call_log if c[2] == 403] == [], story.__name__
            assert s.sim.graphql_forbidden == [], story.__name__
            assert incident_issues(repo), story.__name__


def test_every_event_subscribed_has_a_handler_and_every_handled_event_is_subscribed() -> None:
    handled = set(router._shallow_routes) | set(router._deep_routes)
    assert set(MANIFEST["default_events"]) == handled


def test_the_readme_explains_every_permission_and_event() -> None:
    section = README.split("### Permissions and events", 1)[1].split("\n#", 1)[0]
    rows = dict(re.findall(r"^\| `([a-z_]+)(?:: (?:read|write))?` \| (.+?) \|$", section, re.M))
    permissions = {f"{k}" for k in MANIFEST["default_permissions"]}
    assert permissions | set(MANIFEST["default_events"]) == set(rows)
    for name, level in MANIFEST["default_permissions"].items():
        assert f"| `{name}: {level}` |" in section, name
