"""Revert reads sized to the change (issue 12): a narrow change reads only the
directories of the culprit's files (one GraphQL query), a wide change reads each tree
whole, a truncated listing falls back to one level at a time, blobs come a hundred to a GraphQL
query (REST for what GraphQL cannot give exactly), merged text goes inside the tree
request. Each checks the tree the revert writes, then what it cost."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import replace
from typing import Any

from app.revert.commit import RevertCommit, build_revert_commit, read_culprit
from tests.harness import Stack
from tests.revert_helpers import edit_line, numbered_lines, tree_files

REPO = "octo/reads"
StackFactory = Callable[..., AbstractAsyncContextManager[Stack]]
TREES = "GET /repos/{owner}/{repo}/git/trees/{tree_sha}"
BLOBS = "GET /repos/{owner}/{repo}/git/blobs/{file_sha}"


def _story(repo: Any, packages: int, dirs: int, touched_dirs: int) -> tuple[str, dict[str, bytes]]:
    """`packages` packages of `dirs` directories of 2 files; the culprit edits a file in
    each of the first `touched_dirs` directories, a later commit edits every eighth of
    those again elsewhere (content merges). Returns (culprit, the files `git revert`
    gives)."""
    base = {f"pkg{p}/d{d}/f{f}.py": numbered_lines(f"{p}.{d}.{f}") for p in range(packages)
            for d in range(dirs) for f in range(2)}
    repo.commit(base, "Base")
    touched = [f"pkg{p}/d{d}/f0.py" for p in range(packages) for d in range(dirs)]
    touched = touched[:touched_dirs]
    culprit = repo.commit({t: edit_line(base[t], 2, "culprit") for t in touched}, "Culprit")
    later = {t: edit_line(edit_line(base[t], 2, "culprit"), 15, "later") for t in touched[::8]}
    repo.commit(later, "Later")
    want = {path: text.encode() for path, text in base.items()}
    want["README.md"] = repo.read_file("README.md", culprit) or b""
    want.update({t: edit_line(base[t], 15, "later").encode() for t in touched[::8]})
    return culprit, want


def _wide_story(repo: Any) -> tuple[str, dict[str, bytes]]:
    """A file in each of 96 directories of 24 packages: more directories than a narrow
    read asks for, so the trees are walked. 12 content merges."""
    return _story(repo, 24, 4, 96)


async def test_a_narrow_change_reads_only_its_directories_in_one_query(
    stack_factory: StackFactory,
) -> None:
    """3 files of a 40-package repository: P, C and H of their directories in one
    GraphQL query, no listing of the root (whose size grows with the repository)."""
    async with stack_factory(slack=False) as s:
        repo = s.sim.create_repo(REPO)
        culprit, want = _story(repo, 40, 2, 3)
        gh = await s.services.github_for_installation(1)
        s.sim.reset_calls()

        result = await build_revert_commit(gh, REPO, culprit, branch="main")

        assert isinstance(result, RevertCommit)
        assert result.merged_paths == ("pkg0/d0/f0.py",)
        assert tree_files(repo, result.sha) == want
        assert dict(s.sim.calls) == {
            "GET /repos/{owner}/{repo}/commits/{ref}": 1,  # the culprit, with its files
            "GET /repos/{owner}/{repo}/git/ref/{ref}": 1,
            "POST /graphql": 2,  # pkg0/, pkg0/d0/, pkg0/d1/, pkg1/d0/ of P, C, H; the blobs
            "POST /repos/{owner}/{repo}/git/trees": 1,
            "POST /repos/{owner}/{repo}/git/commits": 1,
        }
        assert s.sim.violations == []


async def test_a_file_list_that_misses_a_change_is_not_trusted(
    stack_factory: StackFactory,
) -> None:
    """The culprit's listed files are checked against the directories read: a change
    they do not name there (pkg0/d1/, next to pkg0/d0/) sends the revert back to
    walking the trees, with the same tree."""
    async with stack_factory(slack=False) as s:
        repo = s.sim.create_repo(REPO)
        culprit, want = _story(repo, 4, 2, 3)
        gh = await s.services.github_for_installation(1)
        facts = await read_culprit(gh, REPO, culprit)
        assert facts.files == ("pkg0/d0/f0.py", "pkg0/d1/f0.py", "pkg1/d0/f0.py")
        s.sim.reset_calls()

        result = await build_revert_commit(
            gh, REPO, culprit, branch="main", culprit=replace(facts, files=facts.files[::2])
        )

        assert isinstance(result, RevertCommit)
        assert tree_files(repo, result.sha) == want
        assert s.sim.calls[TREES] > 0


async def test_a_wide_change_reads_each_tree_whole_and_its_blobs_in_one_query(
    stack_factory: StackFactory,
) -> None:
    async with stack_factory(slack=False) as s:
        repo = s.sim.create_repo(REPO)
        culprit, want = _wide_story(repo)
        gh = await s.services.github_for_installation(1)
        s.sim.reset_calls()

        result = await build_revert_commit(gh, REPO, culprit, branch="main")

        assert isinstance(result, RevertCommit)
        assert len(result.merged_paths) == 12
        assert tree_files(repo, result.sha) == want
        # One level at a time this was 3 roots + 2 x 24 packages + 2 x 96 directories
        # + the head's along the merged paths (about 250 reads); whole, it is the three
        # roots by commit and tree sha, then P, C and H recursively.
        assert s.sim.calls[TREES] <= 6
        # The narrow read was not tried (too many directories): the blobs' query only.
        assert s.sim.calls["POST /graphql"] == 1  # C, H and P of the 12 merged files
        assert s.sim.calls[BLOBS] == 0
        assert sum(s.sim.blobs_read.values()) == 36
        assert s.sim.calls["POST /repos/{owner}/{repo}/git/blobs"] == 0
        assert sum(s.sim.blobs_written.values()) == 12  # inside the create-tree request
        assert sum(s.sim.calls.values()) <= 11
        assert s.sim.violations == []


async def test_a_truncated_recursive_listing_is_read_one_level_at_a_time(
    stack_factory: StackFactory,
) -> None:
    """GitHub answers part of a listing past 7 MB and says `truncated`: the same tree."""
    async with stack_factory(slack=False) as s:
        repo = s.sim.create_repo(REPO)
        culprit, want = _wide_story(repo)
        s.sim.recursive_tree_bytes = 4_000  # a few entries: every root listing is cut
        gh = await s.services.github_for_installation(1)
        s.sim.reset_calls()

        result = await build_revert_commit(gh, REPO, culprit, branch="main")

        assert isinstance(result, RevertCommit)
        assert tree_files(repo, result.sha) == want
        assert s.sim.calls[TREES] > 20  # the packages' own recursive reads, or their levels
        assert s.sim.violations == []


async def test_text_that_is_not_utf8_is_read_and_written_as_bytes(
    stack_factory: StackFactory,
) -> None:
    """GraphQL gives no text for it: REST reads it; the merged bytes are uploaded as a
    blob, not sent as `content` (which is UTF-8)."""
    async with stack_factory(slack=False) as s:
        repo = s.sim.create_repo(REPO)
        latin = "".join(f"caf\xe9 {i}\n" for i in range(20)).encode("latin-1")
        repo.commit({"menu.txt": latin, "other.txt": "x\n"}, "Base")

        def edit(data: bytes, at: int, new: bytes) -> bytes:
            lines = data.splitlines(keepends=True)
            lines[at] = new + b"\n"
            return b"".join(lines)

        culprit = repo.commit({"menu.txt": edit(latin, 2, b"th\xe9")}, "Culprit")
        repo.commit({"menu.txt": edit(edit(latin, 2, b"th\xe9"), 17, b"cr\xeape")}, "Later")
        gh = await s.services.github_for_installation(1)
        s.sim.reset_calls()

        result = await build_revert_commit(gh, REPO, culprit, branch="main")

        assert isinstance(result, RevertCommit)
        assert repo.read_file("menu.txt", result.sha) == edit(latin, 17, b"cr\xeape")
        assert s.sim.calls[BLOBS] == 3
        assert s.sim.calls["POST /repos/{owner}/{repo}/git/blobs"] == 1
        assert s.sim.violations == []
