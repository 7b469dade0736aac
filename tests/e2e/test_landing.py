"""Landing the revert where a person could: strict branches, merge methods, holds, refusals.

End to end against the strict simulator: a red `main` opens the incident and the revert PR;
what is asserted is what people see (the PR merged or not, `main`'s files, the words in the
PR, the incident issue and its Slack thread).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.scenarios import break_it, comments_of, incident_issues, new_repo
from tests.harness import Stack

pytestmark = pytest.mark.asyncio

ORIGINAL = {"src/app.py": "def main():\n    return 1\n", "README.md": "# widgets\n"}


def files_at(repo: Any, sha: str) -> dict[str, str]:
    listing = repo.git("ls-tree", "-r", "--name-only", sha).split()
    return {path: (repo.read_file(path, sha) or b"").decode() for path in listing}


async def red_main(s: Stack, repo: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """`main` broken by mona's commit: the incident and the revert PR it opened."""
    bad = break_it(repo)
    repo.add_check_run(bad, "build", conclusion="failure")
    await s.settle()
    (issue,) = incident_issues(repo)
    (pr,) = repo.pulls()
    return issue, pr


def someone_lands_a_docs_change(repo: Any, n: int) -> str:
    return repo.commit({f"docs/{n}.md": f"note {n}\n"}, f"Docs {n}", author="olive")


def head_of(repo: Any, number: int) -> str:
    return str(repo.pull(number)["head"]["sha"])


def told(s: Stack, repo: Any, issue: dict[str, Any], words: str) -> list[str]:
    """What the incident issue said containing `words` (and check the Slack thread agrees)."""
    said = [c for c in comments_of(repo, issue["number"]) if words in c]
    assert s.slack is not None
    thread = [m["text"] for m in s.slack.messages if words in m.get("text", "")]
    assert len(thread) == len(said), (said, thread)
    return said


async def test_strict_branch_merge_commits_only_and_main_moving_twice(stack_factory) -> None:
    """Proof (issue 9): the revert is brought up to date each time `main` moves, merges with
    the one method the repository allows, and `main`'s tree is restored."""
    async with stack_factory() as s:
        repo = new_repo(s, allow_squash_merge=False, allow_rebase_merge=False)
        repo.protect("main", required_checks=["build"], strict=True)
        issue, pr = await red_main(s, repo)
        number = pr["number"]
        assert pr["auto_merge"]["merge_method"] == "merge"  # squash (the default) is off

        for n in (1, 2):  # main moves while the revert's CI runs, twice
            someone_lands_a_docs_change(repo, n)
            await s.settle()
            repo.add_check_run(head_of(repo, number), "build", conclusion="success")
            await s.settle()
            assert not repo.pull(number)["merged"]  # behind: brought up to date, CI again
        repo.add_check_run(head_of(repo, number), "build", conclusion="success")
        await s.settle()

        merged = repo.pull(number)
        assert merged["merged"] and merged["merged_by"]["login"] == "buildsheriff[bot]"
        merges = repo.git("log", "--merges", "--format=%s", repo.head()).splitlines()
        assert len([m for m in merges if m.startswith("Merge branch 'main' into")]) == 2
        head = repo.store.read_commit(repo.head())
        assert len(head.parents) == 2  # a merge commit: the only method allowed
        assert files_at(repo, repo.head()) == {
            **ORIGINAL, "docs/1.md": "note 1\n", "docs/2.md": "note 2\n"}
        assert len(told(s, repo, issue, f"Revert #{number} merged")) == 1


async def test_without_auto_merge_a_lost_race_is_retried_and_the_app_merges(stack_factory) -> None:
    """GitHub's transient 405 "Base branch was modified" is retried after reading again: the
    revert, now behind, is brought up to date and merged by the app once green again."""
    async with stack_factory() as s:
        repo = new_repo(s, allow_auto_merge=False)
        repo.protect("main", required_checks=["build"], strict=True)
        issue, pr = await red_main(s, repo)
        number = pr["number"]
        repo.race_base_on_next_merge(1)
        repo.add_check_run(head_of(repo, number), "build", conclusion="success")
        await s.settle()
        assert not repo.pull(number)["merged"]
        assert len(repo.pull_commit_shas(repo.pull_or_404(number))) == 2  # updated once
        repo.add_check_run(head_of(repo, number), "build", conclusion="success")
        await s.settle()
        merged = repo.pull(number)
        assert merged["merged"] and merged["merged_by"]["login"] == "buildsheriff[bot]"
        assert "src/fast1.py" not in files_at(repo, repo.head())
        assert not [c for c in comments_of(repo, number) if "refused" in c]  # nothing to say
        assert told(s, repo, issue, "refused") == []


async def test_branch_updates_stop_at_max_branch_updates_and_say_so(stack_factory) -> None:
    async with stack_factory() as s:
        repo = new_repo(s, config="max_branch_updates: 1\n")
        repo.protect("main", required_checks=["build"], strict=True)
        issue, pr = await red_main(s, repo)
        number = pr["number"]
        for n in (1, 2):
            someone_lands_a_docs_change(repo, n)
            await s.settle()
            repo.add_check_run(head_of(repo, number), "build", conclusion="success")
            await s.settle()
        someone_lands_a_docs_change(repo, 3)
        await s.settle()
        assert not repo.pull(number)["merged"]
        assert len(repo.pull_commit_shas(repo.pull_or_404(number))) == 2  # one update only
        (said,) = told(s, repo, issue, "stops now")
        assert "`max_branch_updates: 1`" in said and "Update branch" in said
        assert len([c for c in comments_of(repo, number) if "stops now" in c]) == 1


async def test_protected_branch_rules_not_configured_the_app_merges_and_says_so(
    stack_factory,
) -> None:
    """Proof (issue 9): with nothing protecting `main`, GitHub refuses auto-merge with
    "Protected branch rules not configured for this branch"; the app merges by itself."""
    async with stack_factory() as s:
        repo = new_repo(s)  # auto-merge allowed, but no protection or ruleset on main
        issue, pr = await red_main(s, repo)
        number = pr["number"]
        assert pr["auto_merge"] is None
        assert "Build Sheriff merges this pull request itself" in repo.pull(number)["body"]
        (opened,) = told(s, repo, issue, "Revert opened")
        assert "Build Sheriff merges it as soon as CI passes" in opened
        repo.add_check_run(head_of(repo, number), "build", conclusion="success")
        await s.settle()
        merged = repo.pull(number)
        assert merged["merged"] and merged["merged_by"]["login"] == "buildsheriff[bot]"
        assert files_at(repo, repo.head()) == ORIGINAL


async def test_a_draft_held_revert_is_not_merged_and_the_incident_says_who(stack_factory) -> None:
    """Proof (issue 9): a revert a person turned into a draft is held: auto-merge off (GitHub
    does that), never merged, the incident names who holds it; ready for review lets it go."""
    async with stack_factory() as s:
        repo = new_repo(s)
        repo.protect("main", required_checks=["build"])
        issue, pr = await red_main(s, repo)
        number = pr["number"]
        repo.convert_to_draft(number, user="mona")
        await s.settle()
        repo.add_check_run(head_of(repo, number), "build", conclusion="success")
        await s.settle()
        held = repo.pull(number)
        assert not held["merged"] and held["auto_merge"] is None and held["draft"]
        (said,) = told(s, repo, issue, "Held by")
        assert "@mona" in said and "draft" in said

        repo.mark_ready_for_review(number, user="olive")
        await s.settle()
        assert repo.pull(number)["merged"]
        (released,) = told(s, repo, issue, "let the revert go")
        assert "@olive" in released


async def test_a_do_not_merge_label_holds_the_revert(stack_factory) -> None:
    """A label does not stop GitHub's auto-merge: the app switches it off, says who holds it,
    and switches it on again when the label goes."""
    async with stack_factory() as s:
        repo = new_repo(s)
        repo.protect("main", required_checks=["build"])
        issue, pr = await red_main(s, repo)
        number = pr["number"]
        repo.add_labels(number, "do-not-merge", user="olive")
        await s.settle()
        assert repo.pull(number)["auto_merge"] is None
        repo.add_check_run(head_of(repo, number), "build", conclusion="success")
        await s.settle()
        assert not repo.pull(number)["merged"]
        (said,) = told(s, repo, issue, "Held by")
        assert "@olive" in said and "`do-not-merge`" in said

        repo.remove_label(number, "do-not-merge", user="olive")
        await s.settle()
        assert repo.pull(number)["merged"]  # re-armed: nothing left to wait for, merged now


async def test_no_configured_merge_method_allowed_is_explained_once(stack_factory) -> None:
    async with stack_factory() as s:
        repo = new_repo(s, config="merge_method: squash\n", allow_squash_merge=False,
                        allow_auto_merge=False)
        issue, pr = await red_main(s, repo)
        number = pr["number"]
        for _ in range(2):
            repo.add_check_run(head_of(repo, number), "build", conclusion="success")
            await s.settle()
        assert not repo.pull(number)["merged"]
        (said,) = told(s, repo, issue, "cannot merge it")
        assert "`merge_method: merge`" in said and "Settings → General" in said
