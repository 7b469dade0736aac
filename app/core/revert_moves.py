"""When a revert must follow renames, decided from the trees the plain revert reads anyway.

`git revert` merges base=C, ours=H, theirs=P with merge-ort, which pairs a path deleted
on one side with a similar path added on that side (a rename) and, by default, notices
directories renamed as a whole. Such a pairing only changes the outcome when the other
side did something to the paths involved; `moved_suspects` lists the paths of the
culprit where that can happen. When it finds none, the path-by-path plan
(app.core.revert_plan) is exactly merge-ort's answer and nothing more is read; when it
finds some, the shell hands merge-ort the real trees (app.revert.tree_merge).

The cases, in revert terms (a "source" is deleted on its side, a "destination" added):
- a path the culprit touched is gone at the head: H may have renamed it (a source on
  the branch's side that the culprit's side changed);
- the culprit added a path that changed since: the culprit may have renamed it (a
  source on P's side that the branch changed);
- the culprit deleted a path and the branch has something else there now: that may be
  where a file was renamed to, on either side;
- the culprit deleted a path whose directory the branch no longer has: merge-ort's
  directory rename detection may move the re-added file to where the directory went;
- the culprit created a directory, deleted paths elsewhere, and the branch added files
  to that directory: undoing a directory rename moves them back.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.core.revert_plan import FlatTree, changed_paths


@dataclass(frozen=True)
class Followed:
    """A file the culprit changed at `old` that the branch now holds at `new`."""

    old: str
    new: str


def moved_suspects(parent: FlatTree, culprit: FlatTree, head: FlatTree) -> tuple[str, ...]:
    """Paths (or directories) whose revert may depend on renames; empty in the common case.

    `parent` and `culprit` hold at least every path where they differ and the directories
    on the way; `head` at least those paths and the directories on the way to them."""
    suspects: set[str] = set()
    touched = changed_paths(parent, culprit)
    culprit_deleted = False
    for path in touched:
        p = parent.entries.get(path)
        c = culprit.entries.get(path)
        h = head.entries.get(path)
        if c is not None and h is None:
            suspects.add(path)
        elif p is None and c is not None and h != c:
            suspects.add(path)
        elif c is None and p is not None:
            culprit_deleted = True
            if h is not None and h != p:
                suspects.add(path)
            elif h is None and any(
                a in culprit.dirs and a not in head.dirs for a in ancestors(path)
            ):
                suspects.add(path)
    if culprit_deleted:
        for made in culprit.dirs - parent.dirs:
            inside = made + "/"
            if any(
                e.startswith(inside) and e not in culprit.entries for e in head.entries
            ) or any(d.startswith(inside) and d not in culprit.dirs for d in head.dirs):
                suspects.add(made)
    return tuple(sorted(suspects))


def ancestors(path: str) -> list[str]:
    """The directories above `path`, outermost first."""
    parts = path.split("/")
    return ["/".join(parts[:i]) for i in range(1, len(parts))]
