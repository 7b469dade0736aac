"""The pure core of a revert: which paths are settled by shas alone, which need a content
merge, which are conflicts by their shape, and the tree entries once merges are known."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from app.core.builds import CheckResult, from_check_run, from_status
from app.core.config import RepoConfig
from app.core.culprit import subject_of
from app.core.revert_gate import verdict
from app.core.revert_messages import (
    parse_revert_marker,
    revert_commit_message,
    revert_marker,
)
from app.core.revert_plan import (
    EXECUTABLE_MODE,
    GITLINK_MODE,
    REGULAR_MODE,
    SYMLINK_MODE,
    Entry,
    FlatTree,
    MergeOutcome,
    NothingToRevert,
    RevertConflicts,
    RevertTree,
    TreeWrite,
    assemble,
    changed_paths,
    flatten,
    merge_mode,
    plan_revert,
)


def blob(name: str, mode: str = REGULAR_MODE) -> Entry:
    return Entry(mode, (name * 40)[:40])


def tree(entries: dict[str, Entry], dirs: tuple[str, ...] = ()) -> FlatTree:
    derived = {"/".join(p.split("/")[:i]) for p in entries for i in range(1, p.count("/") + 1)}
    return FlatTree(entries=entries, dirs=frozenset(derived | set(dirs)))


@dataclass
class Case:
    name: str
    parent: dict[str, Entry]
    culprit: dict[str, Entry]
    head: dict[str, Entry]
    writes: dict[str, Entry | None] = field(default_factory=dict)  # settled without content
    merges: tuple[str, ...] = ()
    conflicts: tuple[str, ...] = ()


A, B, C, D = blob("a"), blob("b"), blob("c"), blob("d")
X = blob("e", EXECUTABLE_MODE)

CASES = [
    Case("add: the revert deletes", {}, {"f": A}, {"f": A}, writes={"f": None}),
    Case("delete: the revert re-adds", {"f": A}, {}, {}, writes={"f": A}),
    Case("modify: back to the parent's blob", {"f": A}, {"f": B}, {"f": B}, writes={"f": A}),
    Case(
        "mode change only",
        {"f": A},
        {"f": Entry(EXECUTABLE_MODE, A.sha)},
        {"f": Entry(EXECUTABLE_MODE, A.sha)},
        writes={"f": A},
    ),
    Case(
        "symlink retargeted",
        {"l": blob("a", SYMLINK_MODE)},
        {"l": blob("b", SYMLINK_MODE)},
        {"l": blob("b", SYMLINK_MODE)},
        writes={"l": blob("a", SYMLINK_MODE)},
    ),
    Case(
        "file became a symlink, untouched since",
        {"l": A},
        {"l": blob("b", SYMLINK_MODE)},
        {"l": blob("b", SYMLINK_MODE)},
        writes={"l": A},
    ),
    Case(
        "binary file untouched since: no content needed",
        {"img.png": A},
        {"img.png": B},
        {"img.png": B},
        writes={"img.png": A},
    ),
    Case("changed again later: needs a merge", {"f": A}, {"f": B}, {"f": C}, merges=("f",)),
    Case("already reverted by hand", {"f": A}, {"f": B}, {"f": A}),
    Case("added, deleted later: nothing left", {}, {"f": A}, {}),
    Case("modified, deleted later", {"f": A}, {"f": B}, {}, conflicts=("f",)),
    Case("added, changed later", {}, {"f": A}, {"f": B}, conflicts=("f",)),
    Case("deleted, re-added later: two-way merge", {"f": A}, {}, {"f": B}, merges=("f",)),
    Case(
        "mode changed by culprit, content changed later: keep content, old mode",
        {"f": A},
        {"f": Entry(EXECUTABLE_MODE, A.sha)},
        {"f": Entry(EXECUTABLE_MODE, C.sha)},
        writes={"f": C},
    ),
    Case(
        "content changed by culprit, mode changed later: parent content, new mode",
        {"f": A},
        {"f": B},
        {"f": Entry(EXECUTABLE_MODE, B.sha)},
        writes={"f": Entry(EXECUTABLE_MODE, A.sha)},
    ),
    Case(
        "symlink changed again later",
        {"l": blob("a", SYMLINK_MODE)},
        {"l": blob("b", SYMLINK_MODE)},
        {"l": blob("c", SYMLINK_MODE)},
        conflicts=("l",),
    ),
    Case(
        "submodule bumped again later",
        {"sub": blob("a", GITLINK_MODE)},
        {"sub": blob("b", GITLINK_MODE)},
        {"sub": blob("c", GITLINK_MODE)},
        conflicts=("sub",),
    ),
    Case(
        "submodule bump untouched since",
        {"sub": blob("a", GITLINK_MODE)},
        {"sub": blob("b", GITLINK_MODE)},
        {"sub": blob("b", GITLINK_MODE)},
        writes={"sub": blob("a", GITLINK_MODE)},
    ),
    Case(
        "file turned symlink later",
        {"f": A},
        {"f": B},
        {"f": blob("c", SYMLINK_MODE)},
        conflicts=("f",),
    ),
    Case(
        "re-added with another mode: modes clash",
        {"f": A},
        {},
        {"f": Entry(EXECUTABLE_MODE, B.sha)},
        conflicts=("f",),
    ),
    Case(
        "nested dirs, mixed",
        {"src/a/x.py": A, "src/a/y.py": B, "docs/z.md": C},
        {"src/a/x.py": B, "src/b/new.py": C, "docs/z.md": C},
        {"src/a/x.py": B, "src/b/new.py": C, "docs/z.md": D},
        writes={"src/a/x.py": A, "src/a/y.py": B, "src/b/new.py": None},
    ),
    Case(
        "deleted file whose place is now a directory",
        {"f": A},
        {},
        {"f/inner": B},
        writes={"f": A},
        conflicts=("f",),
    ),
    Case(
        "deleted file under a path that is now a file",
        {"d/f": A},
        {},
        {"d": B},
        writes={"d/f": A},
        conflicts=("d",),  # as git names it: the file it moves out of the way
    ),
    Case(
        "culprit turned a file into a directory: revert swaps back",
        {"d": A},
        {"d/x": B},
        {"d/x": B},
        writes={"d": A, "d/x": None},
    ),
    Case("empty commit", {"f": A}, {"f": A}, {"f": B}),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_plan(case: Case) -> None:
    plan = plan_revert(tree(case.parent), tree(case.culprit), tree(case.head))
    # A file/directory clash is found after the writes are known, so both are listed.
    assert {w.path: w.entry for w in plan.writes} == case.writes
    assert tuple(j.path for j in plan.merges) == case.merges
    assert tuple(c.path for c in plan.conflicts) == case.conflicts
    assert all(c.reason for c in plan.conflicts)


def test_merge_commit_is_reverted_against_its_first_parent() -> None:
    # A merge brought in feature.py (from its second parent); mainline 1 sees it as added.
    first_parent = tree({"main.py": A})
    merge = tree({"main.py": A, "feature.py": B})
    plan = plan_revert(first_parent, merge, merge)
    result = assemble(plan, {}, merge)
    assert isinstance(result, RevertTree)
    deletion = {"path": "feature.py", "mode": "100644", "type": "blob", "sha": None}
    assert result.as_github() == [deletion]
    subject = "Merge pull request #7 from x/y"
    text = revert_commit_message(subject, "f" * 40, mainline_parent="a" * 40)
    assert text == (
        'Revert "Merge pull request #7 from x/y"\n\n'
        f"This reverts commit {'f' * 40}, reversing\nchanges made to {'a' * 40}.\n"
    )


def test_merge_outcomes_are_assembled_and_a_conflict_sinks_the_whole_revert() -> None:
    parent = tree({"f": A, "g": A})
    culprit = tree({"f": B, "g": B})
    head = tree({"f": C, "g": C})
    plan = plan_revert(parent, culprit, head)
    merged = Entry(REGULAR_MODE, "9" * 40)
    clean = assemble(plan, {"f": MergeOutcome("f", merged), "g": MergeOutcome("g", merged)}, head)
    assert isinstance(clean, RevertTree)
    assert [w.as_github()["sha"] for w in clean.writes] == [merged.sha, merged.sha]

    half = assemble(plan, {"f": MergeOutcome("f", merged), "g": MergeOutcome("g", None)}, head)
    assert isinstance(half, RevertConflicts)
    assert half.paths == ("g",)


def test_a_merge_that_changes_nothing_leaves_an_empty_revert() -> None:
    parent, culprit, head = tree({"f": A}), tree({"f": B}), tree({"f": C})
    plan = plan_revert(parent, culprit, head)
    result = assemble(plan, {"f": MergeOutcome("f", C)}, head)
    assert isinstance(result, NothingToRevert)
    assert "already" in result.reason


def test_empty_commit_says_so() -> None:
    same = tree({"f": A})
    result = assemble(plan_revert(same, same, same), {}, same)
    assert result == NothingToRevert("the commit changes no files", ())


def test_file_directory_swaps_send_only_the_replacing_entry() -> None:
    # The culprit turned file `d` into directory `d/`; the revert puts the file back.
    moved = tree({"d/x": B})
    back = assemble(plan_revert(tree({"d": A}), moved, moved), {}, moved)
    assert isinstance(back, RevertTree) and back.paths == ("d", "d/x")
    assert [e["path"] for e in back.as_github()] == ["d"]
    # And the other way round.
    head = tree({"d": A})
    undo = assemble(plan_revert(tree({"d/x": B}), head, head), {}, head)
    assert isinstance(undo, RevertTree)
    assert [(e["path"], e["sha"]) for e in undo.as_github()] == [("d/x", B.sha)]


def test_deletions_serialise_sha_null_and_gitlinks_as_commits() -> None:
    assert TreeWrite("x", None).as_github()["sha"] is None
    assert TreeWrite("s", blob("a", GITLINK_MODE)).as_github()["type"] == "commit"


def test_flatten_reads_githubs_recursive_listing() -> None:
    flat = flatten(
        [
            {"path": "src", "mode": "040000", "type": "tree", "sha": "1" * 40},
            {"path": "src/a.py", "mode": "100644", "type": "blob", "sha": "2" * 40},
            {"path": "vendor/lib", "mode": "160000", "type": "commit", "sha": "3" * 40},
        ]
    )
    assert flat.dirs == {"src"}
    assert flat.entries["vendor/lib"].kind == "submodule"
    assert changed_paths(flat, FlatTree({})) == ["src/a.py", "vendor/lib"]


@pytest.mark.parametrize(
    ("base", "ours", "theirs", "want"),
    [
        ("100644", "100644", "100755", "100755"),
        ("100644", "100755", "100644", "100755"),
        ("100644", "100755", "100755", "100755"),
        (None, "100644", "100755", None),
        (None, "100755", "100755", "100755"),
    ],
)
def test_mode_rule(base: str | None, ours: str, theirs: str, want: str | None) -> None:
    assert merge_mode(base, ours, theirs) == want


def test_commit_message_is_gits_plus_the_incident_line() -> None:
    sha = "0123456789abcdef0123456789abcdef01234567"
    assert revert_commit_message("Add cache", sha, incident_url="https://x/issues/9") == (
        f'Revert "Add cache"\n\nThis reverts commit {sha}.\n\nIncident: https://x/issues/9\n'
    )
    assert subject_of("\n\nFix it\n\nbody") == "Fix it"


def test_marker_round_trips() -> None:
    parsed = parse_revert_marker("text\n" + revert_marker("a" * 40, 12, "sheriff"))
    assert parsed is not None
    assert (parsed.culprit, parsed.incident, parsed.merge) == ("a" * 40, 12, "sheriff")
    assert parse_revert_marker("no marker") is None
    assert not parsed.recorded and "recorded" not in revert_marker("a" * 40, 12)
    recorded = parse_revert_marker(revert_marker("b" * 40, 3, recorded=True))
    assert recorded is not None and recorded.recorded


def _run(name: str, conclusion: str | None, run_id: int = 1) -> CheckResult:
    status = "completed" if conclusion else "in_progress"
    return from_check_run({"name": name, "status": status, "conclusion": conclusion, "id": run_id})


@pytest.mark.parametrize(
    ("results", "decision"),
    [
        ([], "wait"),  # no check at all: never merge blind
        ([_run("ci", "success"), _run("lint", "neutral")], "merge"),
        ([_run("ci", "success"), _run("lint", None)], "wait"),
        ([_run("ci", "failure"), _run("lint", None)], "failed"),
        ([_run("ci", "failure", 1), _run("ci", "success", 2)], "merge"),  # a re-run passed
        ([_run("ci", "success"), _run("flaky-docs", "failure")], "merge"),  # not counted
        ([from_status({"context": "ci/legacy", "state": "error"})], "failed"),
        ([from_status({"context": "ci/legacy", "state": "success"})], "merge"),
    ],
)
def test_merge_gate(results: list[CheckResult], decision: str) -> None:
    config = RepoConfig(ignore_checks=("flaky-*",))
    assert verdict(results, config.counts).decision == decision
