"""Config errors where people edit the file: the `buildsheriff/config` check run, the
organization's defaults and `_extends`, end to end through the simulators."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.scenarios import break_it, incident_issues, new_repo
from tests.harness import Stack

pytestmark = pytest.mark.asyncio

CHECK = "buildsheriff/config"
CONFIG_PATH = ".github/buildsheriff.yml"
BROKEN = """\
confirm: maybe
max_reverts_per_day: lots
labels:
  triage: ""
  colour: red
merge_methd: squash
"""


def config_runs(repo: Any, sha: str) -> list[dict[str, Any]]:
    return [r for r in repo.check_runs if r["name"] == CHECK and r["head_sha"] == sha]


def latest_run(repo: Any, sha: str) -> dict[str, Any]:
    runs = config_runs(repo, sha)
    assert runs, f"no {CHECK} check run on {sha[:7]}"
    return max(runs, key=lambda r: r["id"])


async def test_a_pull_request_that_breaks_the_config_gets_a_failing_check_listing_every_error(
    stack_factory: Any,
) -> None:
    async with stack_factory(slack=False) as s:
        repo = new_repo(s, config="auto_revert: true\n")
        # no push event: the pull request alone asks for the check
        head = repo.commit({CONFIG_PATH: BROKEN}, "Tune the sheriff", author="mona",
                           branch="tune", push=False)
        number = repo.open_pr("tune", "Tune the sheriff", author="mona")
        await s.settle()
        run = latest_run(repo, head)
        assert run["status"] == "completed" and run["conclusion"] == "failure"
        assert [p["number"] for p in run["pull_requests"]] == [number]
        output = run["output"]
        assert output["title"] == "5 problems in .github/buildsheriff.yml"
        summary = output["summary"]
        for line, key, allowed in (
            (1, "confirm", "none, rerun or {consecutive: N}"),
            (2, "max_reverts_per_day", "a whole number >= 0"),
            (4, "labels.triage", "a label name of 1 to 50 characters"),
            (5, "labels.colour", "known keys: `labels.incident`"),
            (6, "merge_methd", "did you mean `merge_method`?"),
        ):
            row = next(r for r in summary.splitlines() if f"| `{key}` |" in r)
            assert row.startswith(f"| {line} |"), row
            assert allowed in row, row
        notes = repo.check_run_annotations(run["id"])
        assert sorted((a["start_line"], a["title"]) for a in notes) == [
            (1, "confirm"), (2, "max_reverts_per_day"), (4, "labels.triage"),
            (5, "labels.colour"), (6, "merge_methd"),
        ]
        assert all(a["path"] == CONFIG_PATH and a["annotation_level"] == "failure"
                   for a in notes)
        # the app's own check is not a red build: main is untouched and no incident opens
        assert incident_issues(repo) == []


async def test_a_fixed_config_turns_the_check_green_and_our_check_never_counts_as_red(
    stack_factory: Any,
) -> None:
    async with stack_factory(slack=False) as s:
        repo = new_repo(s)
        bad = repo.commit({CONFIG_PATH: "max_walk: 0\n"}, "Walk less", author="mona")
        await s.settle()
        assert latest_run(repo, bad)["conclusion"] == "failure"
        repo.add_check_run(bad, "build", conclusion="success")
        await s.settle()
        assert incident_issues(repo) == []  # red config check on main's head: not an incident
        good = repo.commit({CONFIG_PATH: "max_walk: 10\n"}, "Walk 10", author="mona")
        await s.settle()
        run = latest_run(repo, good)
        assert run["conclusion"] == "success"
        assert run["output"]["title"] == ".github/buildsheriff.yml is valid"
        untouched = repo.commit({"src/x.py": "x = 1\n"}, "Unrelated", author="mona")
        await s.settle()
        assert config_runs(repo, untouched) == []


async def test_more_than_fifty_errors_are_all_listed_and_annotated_fifty_a_request(
    stack_factory: Any,
) -> None:
    async with stack_factory(slack=False) as s:
        repo = new_repo(s)
        text = "".join(f"unknown_{n}: 1\n" for n in range(60))
        sha = repo.commit({CONFIG_PATH: text}, "So many keys", author="mona")
        await s.settle()
        run = latest_run(repo, sha)
        assert run["output"]["title"] == "60 problems in .github/buildsheriff.yml"
        assert run["output"]["summary"].count("| `unknown_") == 60
        lines = sorted(a["start_line"] for a in repo.check_run_annotations(run["id"]))
        assert lines == list(range(1, 61))


def _org_repo(s: Stack, config: str, *, installed: bool = True) -> Any:
    dot_github = s.sim.create_repo("octo/.github", installation_id=1 if installed else None)
    dot_github.commit({CONFIG_PATH: config}, "Org defaults", author="olive")
    return dot_github


async def test_the_organizations_config_applies_where_a_repository_has_none(
    stack_factory: Any,
) -> None:
    async with stack_factory(slack=False) as s:
        _org_repo(s, "auto_revert: false\n")
        await s.settle()
        repo = new_repo(s)  # no config of its own
        repo.add_check_run(break_it(repo), "build", conclusion="failure")
        await s.settle()
        (issue,) = incident_issues(repo)
        assert repo.pulls() == []  # the org said: no automatic reverts
        assert "auto_revert" in repo.issue(issue["number"])["body"]


async def test_a_push_to_the_org_config_drops_every_cached_config_of_the_org(
    stack_factory: Any,
) -> None:
    async with stack_factory(slack=False) as s:
        org = _org_repo(s, "auto_revert: false\n")
        await s.settle()
        repo = new_repo(s)
        first = break_it(repo, n=1)
        repo.add_check_run(first, "build", conclusion="failure")
        await s.settle()
        assert repo.pulls() == []
        (issue,) = incident_issues(repo)
        repo.comment(issue["number"], "/resolve", user="olive")
        fix = repo.commit({"src/fast1.py": None}, "Fix", author="olive")
        repo.add_check_run(fix, "build", conclusion="success")
        await s.settle()
        org.commit({CONFIG_PATH: "auto_revert: true\n"}, "Revert automatically", author="olive")
        await s.settle()
        assert latest_run(org, org.head())["conclusion"] == "success"
        second = break_it(repo, n=2)
        repo.add_check_run(second, "build", conclusion="failure")
        await s.settle()
        assert len(repo.pulls()) == 1  # the new org config applied at once, not after 5 min


async def test_the_org_config_does_not_apply_where_the_app_is_not_installed(
    stack_factory: Any,
) -> None:
    async with stack_factory(slack=False) as s:
        _org_repo(s, "auto_revert: false\n", installed=False)
        repo = new_repo(s)
        repo.add_check_run(break_it(repo), "build", conclusion="failure")
        await s.settle()
        assert len(repo.pulls()) == 1  # defaults: the App cannot read octo/.github


async def test_an_extends_chain_applies_nearest_first(stack_factory: Any) -> None:
    async with stack_factory(slack=False) as s:
        _org_repo(s, "auto_revert: false\nmax_walk: 7\n")
        base = s.sim.create_repo("octo/sheriff-base")
        base.commit({CONFIG_PATH: "_extends: .github\nauto_revert: true\nconfirm: rerun\n"},
                    "Base", author="olive")
        repo = new_repo(s, config="_extends: sheriff-base\nconfirm: none\n")
        await s.settle()
        run = latest_run(repo, repo.head())
        assert run["conclusion"] == "success"
        assert "`octo/widgets` ← `octo/sheriff-base` ← `octo/.github`" in run["output"]["summary"]
        repo.add_check_run(break_it(repo), "build", conclusion="failure")
        await s.settle()
        # confirm: none (own) beats rerun (base); auto_revert: true (base) beats the org's
        assert len(incident_issues(repo)) == 1 and len(repo.pulls()) == 1


async def test_an_extends_loop_is_reported_with_its_path(stack_factory: Any) -> None:
    async with stack_factory(slack=False) as s:
        other = s.sim.create_repo("octo/other")
        other.commit({CONFIG_PATH: "_extends: octo/widgets\nmax_walk: 9\n"}, "Loop",
                     author="olive")
        repo = new_repo(s, config="# the team's settings\n_extends: other\n")
        await s.settle()
        run = latest_run(repo, repo.head())
        assert run["conclusion"] == "failure"
        row = next(r for r in run["output"]["summary"].splitlines() if "`_extends`" in r)
        assert "loop" in row and "octo/widgets → octo/other → octo/widgets" in row
        assert row.startswith("| octo/other:1 |")


async def test_an_extends_of_a_missing_repository_is_an_error_on_its_line(
    stack_factory: Any,
) -> None:
    async with stack_factory(slack=False) as s:
        repo = new_repo(s, config="max_walk: 5\n_extends: nowhere\n")
        await s.settle()
        run = latest_run(repo, repo.head())
        assert run["conclusion"] == "failure"
        row = next(r for r in run["output"]["summary"].splitlines() if "`_extends`" in r)
        assert row.startswith("| 2 |") and "octo/nowhere" in row
