"""The tree entries of a revert, worked out from three flat trees and no file contents.

A revert of culprit C (first parent P) on top of branch head H is the three-way
merge base=C, ours=H, theirs=P, done path by path the way git's merge-ort does it:

- a path H still holds exactly as C left it takes P's entry (no content needed:
  P's blob sha and mode, a deletion when C added the path, a re-add when C deleted it);
- a path H already holds as P had it needs nothing;
- a path changed again after C needs a content merge, unless the blob shas alone
  settle it (merge-ort's own short-cuts); deletions, symlinks, submodules and
  mode or type clashes on such a path are conflicts by their shape alone.

The shell fetches the trees, hands us the merge outcomes for `RevertPlan.merges`,
and posts what `assemble` returns. Nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

TREE_MODE = "040000"
REGULAR_MODE = "100644"
EXECUTABLE_MODE = "100755"
SYMLINK_MODE = "120000"
GITLINK_MODE = "160000"
ALREADY_UNDONE = "the branch already undoes every change of the commit (already reverted?)"


@dataclass(frozen=True)
class Entry:
    """A leaf of a tree: a blob (file or symlink) or a gitlink (submodule)."""

    mode: str
    sha: str

    @property
    def kind(self) -> str:
        if self.mode == SYMLINK_MODE:
            return "symlink"
        if self.mode == GITLINK_MODE:
            return "submodule"
        return "file"

    @property
    def object_type(self) -> str:
        """The `type` GitHub's create-tree wants for this entry."""
        return "commit" if self.mode == GITLINK_MODE else "blob"


@dataclass(frozen=True)
class FlatTree:
    """Every leaf of a tree by its full path, and the set of directory paths."""

    entries: Mapping[str, Entry]
    dirs: frozenset[str] = frozenset()


EMPTY_TREE = FlatTree(entries={})


def flatten(items: Iterable[Mapping[str, Any]], prefix: str = "") -> FlatTree:
    """A FlatTree from the items of GitHub's `GET /git/trees/{sha}` (recursive or not)."""
    entries: dict[str, Entry] = {}
    dirs: set[str] = set()
    for item in items:
        path = prefix + str(item["path"])
        mode = str(item["mode"]).rjust(6, "0")
        if item.get("type") == "tree" or mode == TREE_MODE:
            dirs.add(path)
        else:
            entries[path] = Entry(mode=mode, sha=str(item["sha"]))
    return FlatTree(entries=entries, dirs=frozenset(dirs))


def merge_flat(parts: Iterable[FlatTree]) -> FlatTree:
    """Join the pieces of a tree read one directory at a time."""
    entries: dict[str, Entry] = {}
    dirs: set[str] = set()
    for part in parts:
        entries.update(part.entries)
        dirs.update(part.dirs)
    return FlatTree(entries=entries, dirs=frozenset(dirs))


def changed_paths(before: FlatTree, after: FlatTree) -> list[str]:
    """Leaf paths whose entry (sha or mode, or presence) differs, sorted."""
    paths = set(before.entries) | set(after.entries)
    return sorted(p for p in paths if before.entries.get(p) != after.entries.get(p))


@dataclass(frozen=True)
class TreeWrite:
    """One entry of the create-tree request: `entry` None deletes the path."""

    path: str
    entry: Entry | None

    def as_github(self) -> dict[str, Any]:
        if self.entry is None:
            # GitHub only deletes with an explicit `"sha": null`; omitting sha is an error.
            return {"path": self.path, "mode": REGULAR_MODE, "type": "blob", "sha": None}
        return {
            "path": self.path,
            "mode": self.entry.mode,
            "type": self.entry.object_type,
            "sha": self.entry.sha,
        }


@dataclass(frozen=True)
class MergeJob:
    """A path whose contents must be merged: base=C, ours=H, theirs=P."""

    path: str
    base: Entry | None  # None when the culprit deleted the file and it came back later
    ours: Entry
    theirs: Entry
    mode: str  # the mode merge-ort's mode rule gives; content alone is left to merge


@dataclass(frozen=True)
class Conflict:
    path: str
    reason: str
    # False for a conflict git reports without leaving a file unmerged (it cannot tell
    # where a directory went): `path` then names what the conflict is about.
    unmerged: bool = True


@dataclass(frozen=True)
class MergeOutcome:
    """What the shell's content merge said about one MergeJob."""

    path: str
    merged: Entry | None  # None: the contents conflict
    reason: str = "both sides changed the same lines"


@dataclass(frozen=True)
class RevertPlan:
    writes: tuple[TreeWrite, ...]
    merges: tuple[MergeJob, ...]
    conflicts: tuple[Conflict, ...]
    touched: tuple[str, ...]  # every path the culprit changed


@dataclass(frozen=True)
class RevertTree:
    """The create-tree entries of a clean revert (never empty)."""

    writes: tuple[TreeWrite, ...]

    def as_github(self) -> list[dict[str, Any]]:
        """The create-tree entries. GitHub refuses a request naming both a path and one
        below it ("tree.path conflicts with another entry"), so when a file and a
        directory swap places only the new entry is sent: it replaces the old one, and
        with it every deletion it implies."""
        sets = {w.path for w in self.writes if w.entry is not None}
        return [w.as_github() for w in self.writes if not _implied_deletion(w, sets)]

    @property
    def paths(self) -> tuple[str, ...]:
        return tuple(w.path for w in self.writes)


@dataclass(frozen=True)
class RevertConflicts:
    conflicts: tuple[Conflict, ...]

    @property
    def paths(self) -> tuple[str, ...]:
        return tuple(sorted({c.path for c in self.conflicts}))


@dataclass(frozen=True)
class NothingToRevert:
    """The culprit changed nothing, or the branch already undoes all of it."""

    reason: str
    touched: tuple[str, ...] = field(default=())


def merge_mode(base: str | None, ours: str, theirs: str) -> str | None:
    """merge-ort's mode rule: take the side that changed; None when both changed differently."""
    if ours == theirs or ours == base:
        return theirs
    if theirs == base:
        return ours
    return None


def plan_revert(parent: FlatTree, culprit: FlatTree, head: FlatTree) -> RevertPlan:
    """Decide every path the culprit touched: settled now, to be merged, or a conflict."""
    writes: list[TreeWrite] = []
    merges: list[MergeJob] = []
    conflicts: list[Conflict] = []
    touched = changed_paths(parent, culprit)
    for path in touched:
        p = parent.entries.get(path)
        c = culprit.entries.get(path)
        h = head.entries.get(path)
        if h == c:
            writes.append(TreeWrite(path, p))
        elif h == p:
            continue  # the branch already holds the pre-culprit version
        elif h is None:
            where = "a directory" if path in head.dirs else "nothing"
            conflicts.append(
                Conflict(path, f"changed by the culprit, but the branch now has {where} here "
                         "(deleted or renamed since)")
            )
        elif p is None:
            conflicts.append(Conflict(path, "added by the culprit and changed since"))
        else:
            _plan_content_merge(path, c, h, p, writes, merges, conflicts)
    conflicts.extend(_file_directory_clashes(writes, head))
    return RevertPlan(tuple(writes), tuple(merges), tuple(conflicts), tuple(touched))


def _plan_content_merge(
    path: str,
    base: Entry | None,
    ours: Entry,
    theirs: Entry,
    writes: list[TreeWrite],
    merges: list[MergeJob],
    conflicts: list[Conflict],
) -> None:
    kinds = {e.kind for e in (base, ours, theirs) if e is not None}
    if kinds != {"file"}:
        shown = "/".join(sorted(kinds))
        conflicts.append(Conflict(path, f"{shown} changed on both sides"))
        return
    mode = merge_mode(base.mode if base else None, ours.mode, theirs.mode)
    if mode is None:
        conflicts.append(Conflict(path, "file mode changed on both sides"))
        return
    base_sha = base.sha if base else None
    if theirs.sha == base_sha or theirs.sha == ours.sha:
        sha = ours.sha
    elif ours.sha == base_sha:
        sha = theirs.sha
    else:
        merges.append(MergeJob(path, base, ours, theirs, mode))
        return
    if Entry(mode, sha) != ours:
        writes.append(TreeWrite(path, Entry(mode, sha)))


def _file_directory_clashes(writes: list[TreeWrite], head: FlatTree) -> list[Conflict]:
    """Re-adding a file where the branch now has a directory, or under a path now a file.

    Named as git names them: the file git moves out of the directory's way."""
    deleted = {w.path for w in writes if w.entry is None}
    clashes: dict[str, Conflict] = {}
    for w in writes:
        if w.entry is None or w.path in head.entries:
            continue
        if w.path in head.dirs and any(
            p.startswith(w.path + "/") and p not in deleted for p in head.entries
        ):
            clashes[w.path] = Conflict(w.path, "a directory now stands where the file was")
        for ancestor in _ancestors(w.path):
            if ancestor in head.entries and ancestor not in deleted:
                reason = f"now a file, where the revert would bring back {w.path}"
                clashes.setdefault(ancestor, Conflict(ancestor, reason))
                break
    return list(clashes.values())


def _implied_deletion(write: TreeWrite, sets: set[str]) -> bool:
    if write.entry is not None:
        return False
    if any(a in sets for a in _ancestors(write.path)):
        return True  # a file now stands where this path's directory was
    prefix = write.path + "/"
    return any(p.startswith(prefix) for p in sets)  # a directory replaces this file


def _ancestors(path: str) -> list[str]:
    parts = path.split("/")
    return ["/".join(parts[:i]) for i in range(1, len(parts))]


def assemble(
    plan: RevertPlan, outcomes: Mapping[str, MergeOutcome], head: FlatTree
) -> RevertTree | RevertConflicts | NothingToRevert:
    """The revert's tree entries, once every MergeJob has its outcome."""
    conflicts = list(plan.conflicts)
    writes = list(plan.writes)
    for job in plan.merges:
        outcome = outcomes.get(job.path)
        if outcome is None:
            raise ValueError(f"no merge outcome for {job.path!r}")
        if outcome.merged is None:
            conflicts.append(Conflict(job.path, outcome.reason))
        elif outcome.merged != head.entries.get(job.path):
            writes.append(TreeWrite(job.path, outcome.merged))
    if conflicts:
        return RevertConflicts(tuple(sorted(conflicts, key=lambda c: c.path)))
    effective = tuple(
        sorted(
            (w for w in writes if w.entry != head.entries.get(w.path)),
            key=lambda w: w.path,
        )
    )
    if not effective:
        if not plan.touched:
            return NothingToRevert("the commit changes no files", plan.touched)
        return NothingToRevert(ALREADY_UNDONE, plan.touched)
    return RevertTree(effective)
