"""Reverts across renames and moves, end to end against the GitHub simulator: the tree
the revert writes, what the PR says about files followed to their new paths, and what
it costs in GitHub requests (a revert where nothing moved must not pay for renames)."""

from __future__ import annotations

import os
import tempfile
from collections import Counter
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import pytest

from app.core.config import RepoConfig
from app.revert import tree_merge
from app.revert.commit import RevertCommit, RevertConflict, build_revert_commit
from app.revert.pr import RevertPR, open_revert_pr
from tests.harness import Stack
from tests.revert_helpers import edit_line, numbered_lines, tree_texts

REPO = "octo/moves"
StackFactory = Callable[..., AbstractAsyncContextManager[Stack]]


def _api_calls(calls: Counter[str]) -> dict[str, int]:
    return {k: v for k, v in sorted(calls.items()) if v}


async def test_a_revert_where_nothing_moved_costs_what_it_cost_before(
    stack_factory: StackFactory,
) -> None:
    """The common case pays nothing for rename following: no more requests than before
    renames were followed (counted on main before issue 14: 20; fewer since issue 12)."""
    async with stack_factory(slack=False) as s:
        repo = s.sim.create_repo(REPO)
        base = {
            f"pkg{d}/mod{m}.py": numbered_lines(f"p{d}m{m}") for d in range(3) for m in range(3)
        }
        base["README.md"] = numbered_lines("readme")
        repo.commit(base, "Base")
        culprit = repo.commit(
            {
                "pkg0/mod0.py": edit_line(base["pkg0/mod0.py"], 2, "culprit edit"),
                "pkg1/mod1.py": edit_line(base["pkg1/mod1.py"], 3, "culprit edit"),
                "pkg2/new.py": "NEW = 1\n",
                "pkg2/mod2.py": None,
            },
            "Culprit",
        )
        later = edit_line(edit_line(base["pkg0/mod0.py"], 2, "culprit edit"), 17, "later edit")
        repo.commit({"pkg0/mod0.py": later, "README.md": "# changed\n"}, "Later")
        gh = await s.services.github_for_installation(1)
        s.sim.reset_calls()

        result = await build_revert_commit(gh, REPO, culprit, branch="main")

        assert isinstance(result, RevertCommit)
        assert result.merged_paths == ("pkg0/mod0.py",)
        want = {**base, "README.md": "# changed\n"}
        want["pkg0/mod0.py"] = edit_line(base["pkg0/mod0.py"], 17, "later edit")
        assert tree_texts(repo, result.sha) == want
        assert _api_calls(s.sim.calls) == {
            "GET /repos/{owner}/{repo}/commits/{ref}": 1,
            "GET /repos/{owner}/{repo}/git/ref/{ref}": 1,
            # 1: P, C and H of pkg0/, pkg1/ and pkg2/ (the culprit's files' directories),
            # in one query; 2: the blobs C, H, P of pkg0/mod0.py, in another
            "POST /graphql": 2,
            "POST /repos/{owner}/{repo}/git/trees": 1,  # with the merged text inside
            "POST /repos/{owner}/{repo}/git/commits": 1,
        }
        assert s.sim.violations == []


async def _revert_pr(s: Stack, culprit: str) -> Any:
    gh = await s.services.github_for_installation(1)
    return await open_revert_pr(
        gh,
        REPO,
        culprit,
        base_branch="main",
        config=RepoConfig(),
        incident_number=None,
        why_markdown="CI failed",
        app_login="buildsheriff[bot]",
    )


@pytest.mark.parametrize("listing_limit", [100_000, 2], ids=["one listing", "truncated"])
async def test_a_package_moved_into_src_is_reverted_where_it_is_now(
    stack_factory: StackFactory, listing_limit: int
) -> None:
    """Also when GitHub truncates the recursive listing of the moved package: the app
    then reads it one directory at a time."""
    async with stack_factory(slack=False) as s:
        s.sim.recursive_tree_limit = listing_limit
        repo = s.sim.create_repo(REPO)
        base = {
            "pkg/core.py": numbered_lines("core"),
            "pkg/util.py": numbered_lines("util"),
            "README.md": "x\n",
        }
        repo.commit(base, "Base")
        culprit = repo.commit({"pkg/core.py": edit_line(base["pkg/core.py"], 4, "broken")}, "Break")
        moved = edit_line(base["pkg/core.py"], 4, "broken")
        repo.commit(
            {"pkg/core.py": None, "pkg/util.py": None,
             "src/pkg/core.py": moved, "src/pkg/util.py": base["pkg/util.py"]},
            "Move the package into src/",
        )  # fmt: skip
        s.sim.reset_calls()

        result = await _revert_pr(s, culprit)

        assert isinstance(result, RevertPR) and result.created
        assert tree_texts(repo, result.head_sha) == {
            "src/pkg/core.py": base["pkg/core.py"],
            "src/pkg/util.py": base["pkg/util.py"],
            "README.md": "x\n",
        }
        body = repo.pull(result.number)["body"]
        assert "### Files that moved" in body
        assert "- `pkg/core.py` → `src/pkg/core.py`" in body
        # An exact move: git pairs the files by blob sha and needs no file contents.
        assert not s.sim.blobs_read
        # pkg/ of P, C and H in one GraphQL query; then the roots of C, H and P; then
        # src/ whole in one listing (its pkg/ is C's pkg/, already read), or, truncated,
        # the refused listing and src/ alone.
        trees = s.sim.calls["GET /repos/{owner}/{repo}/git/trees/{tree_sha}"]
        assert trees == (4 if listing_limit > 2 else 5)
        assert s.sim.violations == []


async def test_a_file_renamed_with_edits_keeps_the_later_edits(
    stack_factory: StackFactory,
) -> None:
    async with stack_factory(slack=False) as s:
        repo = s.sim.create_repo(REPO)
        original = numbered_lines("calc", 30)
        repo.commit({"calc.py": original, "README.md": "o\n"}, "Base")
        culprit = repo.commit({"calc.py": edit_line(original, 2, "broken")}, "Break")
        repo.commit(
            {
                "calc.py": None,
                "lib/maths.py": edit_line(edit_line(original, 2, "broken"), 25, "later"),
            },
            "Rename calc.py to lib/maths.py and tweak it",
        )
        gh = await s.services.github_for_installation(1)
        s.sim.reset_calls()

        result = await build_revert_commit(gh, REPO, culprit, branch="main")

        assert isinstance(result, RevertCommit)
        assert tree_texts(repo, result.sha) == {
            "lib/maths.py": edit_line(original, 25, "later"),
            "README.md": "o\n",
        }
        assert [(f.old, f.new) for f in result.followed] == [("calc.py", "lib/maths.py")]
        # Similarity scoring needs calc.py at the culprit and lib/maths.py at the head;
        # the content merge adds calc.py before the culprit. Nothing else.
        assert sum(s.sim.blobs_read.values()) == 3
        assert sum(s.sim.blobs_written.values()) == 1
        assert s.sim.violations == []


async def test_a_rename_by_the_culprit_is_undone_with_the_later_edits(
    stack_factory: StackFactory,
) -> None:
    async with stack_factory(slack=False) as s:
        repo = s.sim.create_repo(REPO)
        original = numbered_lines("conf", 30)
        repo.commit({"config.py": original, "README.md": "r\n"}, "Base")
        culprit = repo.commit(
            {"config.py": None, "settings.py": edit_line(original, 1, "renamed and broken")},
            "Rename config.py to settings.py",
        )
        repo.commit(
            {"settings.py": edit_line(edit_line(original, 1, "renamed and broken"), 28, "later")},
            "Tweak settings",
        )
        gh = await s.services.github_for_installation(1)

        result = await build_revert_commit(gh, REPO, culprit, branch="main")

        assert isinstance(result, RevertCommit)
        assert tree_texts(repo, result.sha) == {
            "config.py": edit_line(original, 28, "later"),
            "README.md": "r\n",
        }
        assert s.sim.violations == []


async def test_conflicts_are_listed_at_the_paths_git_lists(
    stack_factory: StackFactory,
) -> None:
    """A file the culprit re-added (by reverting its deletion) into a directory that was
    moved since: git puts it at the new place and calls it a conflict; so does the app,
    at that path. A file the culprit changed that was deleted since: modify/delete."""
    async with stack_factory(slack=False) as s:
        repo = s.sim.create_repo(REPO)
        base = {f"src/m{i}.py": numbered_lines(f"m{i}") for i in range(4)}
        base["notes.txt"] = numbered_lines("notes")
        repo.commit(base, "Base")
        culprit = repo.commit(
            {"src/m0.py": None, "notes.txt": edit_line(base["notes.txt"], 3, "culprit")}, "Culprit"
        )
        moves: dict[str, str | None] = {f"src/m{i}.py": None for i in range(1, 4)}
        moves.update({f"lib/src/m{i}.py": base[f"src/m{i}.py"] for i in range(1, 4)})
        moves["notes.txt"] = None
        repo.commit(moves, "Move src/ into lib/, drop the notes")
        gh = await s.services.github_for_installation(1)

        result = await build_revert_commit(gh, REPO, culprit, branch="main")

        assert isinstance(result, RevertConflict)
        assert result.paths == ("lib/src/m0.py", "notes.txt")
        text = result.explain()
        assert "`lib/src/m0.py`: " in text and "renamed" in text
        assert "`notes.txt`: notes.txt deleted in HEAD and modified in" in text
        assert repo.pulls() == []
        assert s.sim.violations == []


def test_git_runs_the_remote_helper_only_from_a_private_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The helper git executes lives in a directory only this user can write; a shared
    one that anybody could have prepared is never used."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(tree_merge, "_helper_dir", None)
    shared = tmp_path / f"buildsheriff-git-{os.getuid()}"
    shared.mkdir()
    shared.chmod(0o777)

    used = Path(tree_merge._helper_path())

    assert used != shared and not (shared / "git-remote-buildsheriff").exists()
    assert used.stat().st_mode & 0o077 == 0
    assert os.access(used / "git-remote-buildsheriff", os.X_OK)

    shared.rmdir()
    monkeypatch.setattr(tree_merge, "_helper_dir", None)
    assert Path(tree_merge._helper_path()) == shared  # made private, and reused
    assert shared.stat().st_mode & 0o077 == 0
