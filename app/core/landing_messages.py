"""What people read while a revert PR lands: holds, updates, merge methods, the merge queue.

Pure functions of their arguments. Each text that must be said once carries a hidden marker
(app.core.revert_messages has the markers), and names the exact setting that would change
the outcome.
"""

from __future__ import annotations

from collections.abc import Sequence

from app.core.config import CONFIG_PATH
from app.core.landing import Hold
from app.core.revert_messages import (
    HOLD_MARKER,
    JUMP_REFUSED_MARKER,
    NO_METHOD_MARKER,
    QUEUE_LEFT_MARKER,
    UPDATES_SPENT_MARKER,
)

_METHOD_WORDS = {"merge": "merge commits", "squash": "squash merging", "rebase": "rebase merging"}


def hold_marker(held: bool) -> str:
    return HOLD_MARKER.format(state="held" if held else "released")


def held_text(hold: Hold, who: str | None, hold_label: str, *, queued: bool) -> str:
    what = {
        Hold.DRAFT: "converted the revert to a draft",
        Hold.LABEL: f"labelled the revert `{hold_label}`",
    }[hold]
    actor = f"@{who}" if who else "Someone"
    undo = "marks it ready for review" if hold is Hold.DRAFT else f"removes `{hold_label}`"
    took = "took it out of the merge queue" if queued else "switched off its auto-merge"
    return (
        f"✋ Held by {actor}, who {what}. Build Sheriff {took} and will not merge it until "
        f"someone {undo}.\n{hold_marker(True)}"
    )


def released_text(who: str | None) -> str:
    actor = f"@{who}" if who else "Someone"
    return (
        f"▶️ {actor} let the revert go: Build Sheriff lands it again as soon as its checks "
        f"pass.\n{hold_marker(False)}"
    )


def updates_spent_text(base_branch: str, updates: int) -> str:
    return (
        f"`{base_branch}` moved on again while the revert waited to merge. Build Sheriff "
        f"brought the revert up to date {updates} time{'s' if updates != 1 else ''} "
        f"(`max_branch_updates: {updates}`) and stops now: press **Update branch** on the "
        f"pull request, or raise `max_branch_updates` in `{CONFIG_PATH}`.\n"
        f"{UPDATES_SPENT_MARKER}"
    )


def no_method_text(preferred: Sequence[str], allowed: Sequence[str]) -> str:
    wanted = ", ".join(preferred)
    if allowed:
        change = (
            f"set `merge_method: {allowed[0]}` in `{CONFIG_PATH}`, or an admin can allow "
            f"{_METHOD_WORDS[preferred[0]]} (Settings → General → Pull Requests)"
        )
        have = ", ".join(allowed)
        said = f"this repository allows only {have}, and `merge_method` lists {wanted}"
    else:
        change = "an admin must allow a merge method (Settings → General → Pull Requests)"
        said = "this repository allows no merge method"
    return (
        f"The revert's checks passed, but Build Sheriff cannot merge it: {said}. To fix it, "
        f"{change}.\n{NO_METHOD_MARKER}"
    )


def jump_refused_text(base_branch: str) -> str:
    return (
        f"GitHub would not let Build Sheriff put the revert at the front of `{base_branch}`'s "
        "merge queue (only actors allowed to bypass the queue may jump it), so it waits its "
        "turn. To let reverts jump the queue, an admin adds the Build Sheriff app to the "
        "**bypass list** of the ruleset that requires the merge queue (Settings → Rules → "
        f"Rulesets); or set `merge_queue_jump: false` in `{CONFIG_PATH}` to stop asking.\n"
        f"{JUMP_REFUSED_MARKER}"
    )


def queue_left_marker(group_sha: str) -> str:
    return QUEUE_LEFT_MARKER.format(sha=group_sha)


def queue_left_text(base_branch: str, group_sha: str) -> str:
    return (
        f"The revert left `{base_branch}`'s merge queue without merging: its merge group "
        f"(`{group_sha[:7]}`) failed its checks or was removed. Build Sheriff does not queue "
        "it again by itself: look at the group's checks, then re-queue it by hand or fix "
        f"forward.\n{queue_left_marker(group_sha)}"
    )
