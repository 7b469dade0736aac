"""When a revert must follow renames (pure table), and what the PR body says about it."""

from __future__ import annotations

import pytest

from app.core.culprit import CulpritFacts
from app.core.revert_messages import revert_pr_body
from app.core.revert_moves import Followed, moved_suspects
from app.core.revert_plan import Entry
from tests.test_revert_core import A, B, C, tree

# (name, parent, culprit, head, suspects)
Trees = dict[str, Entry]
CASES: list[tuple[str, Trees, Trees, Trees, tuple[str, ...]]] = [
    ("nothing changed since", {"f": A, "g": A}, {"f": B, "g": A}, {"f": B, "g": A}, ()),
    ("changed again since: a content merge", {"f": A}, {"f": B}, {"f": C}, ()),
    ("already undone", {"f": A}, {"f": B}, {"f": A}, ()),
    ("touched path gone at the head", {"f": A}, {"f": B}, {}, ("f",)),
    ("touched path is a directory now", {"f": A}, {"f": B}, {"f/x": C}, ("f",)),
    ("added by the culprit, changed since", {}, {"n": A}, {"n": B}, ("n",)),
    ("added by the culprit, untouched since", {}, {"n": A}, {"n": A}, ()),
    ("added by the culprit, gone since", {}, {"n": A}, {}, ("n",)),
    ("deleted by the culprit, something else there now", {"f": A}, {}, {"f": B}, ("f",)),
    ("deleted by the culprit, re-added the same", {"f": A}, {}, {"f": A}, ()),
    (
        "deleted by the culprit, its directory gone at the head",
        {"d/f": A, "d/g": B},
        {"d/g": B},
        {"e/g": B},
        ("d/f",),
    ),
    (
        "deleted by the culprit, its directory still there",
        {"d/f": A, "d/g": B},
        {"d/g": B},
        {"d/g": C},
        (),
    ),
    (
        "deleted by the culprit, the directory was its own",
        {"d/f": A, "k": B},
        {"k": B},
        {"k": C},
        (),
    ),
    (
        "culprit moved files into a new directory that gained files since",
        {"d/x": A, "d/y": B},
        {"e/x": A, "e/y": B},
        {"e/x": A, "e/y": B, "e/z": C},
        ("e",),
    ),
    (
        "culprit made a directory without deleting anything",
        {"k": A},
        {"k": A, "e/x": B},
        {"k": A, "e/x": B, "e/z": C},
        (),
    ),
]


@pytest.mark.parametrize(
    ("name", "parent", "culprit", "head", "want"), CASES, ids=[c[0] for c in CASES]
)
def test_moved_suspects(
    name: str, parent: Trees, culprit: Trees, head: Trees, want: tuple[str, ...]
) -> None:
    assert moved_suspects(tree(parent), tree(culprit), tree(head)) == want


def test_the_pr_body_names_the_files_followed_to_their_new_paths() -> None:
    facts = CulpritFacts("a" * 40, "Break", author_login="alice", html_url="https://x/c")
    plain = revert_pr_body(facts, culprit_pr=None, why_markdown="red", incident_number=None)
    assert "moved" not in plain
    body = revert_pr_body(
        facts,
        culprit_pr=None,
        why_markdown="red",
        incident_number=None,
        followed=(Followed("pkg/a.py", "src/pkg/a.py"),),
    )
    assert "### Files that moved" in body
    assert "- `pkg/a.py` → `src/pkg/a.py`" in body
