"""Landing a revert pull request: the next thing to do, from what GitHub says about it.

Pure. The shell (app.revert.land) reads the facts (repository settings, the pull request's
merge state and merge-queue entry, in one GraphQL request) and the head's checks, asks
`next_step`, does that one thing and, when GitHub refuses for a reason that passes
(`refusal`), reads again. Nothing is remembered between evaluations: how often the branch
was brought up to date is counted from the pull request's own merge commits, so whoever
looks next (another event, another process, the reconciler) decides the same thing.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from app.core.revert_gate import Verdict
from app.core.revert_messages import Merger

# GitHub's mergeStateStatus for "strict protection and the base moved on".
BEHIND = "BEHIND"

# A merge queue builds each group on its own branch; checks, statuses, workflow runs and
# pushes there are about the group, never about the base (though a group that merges
# becomes the base's head: the base's own push says so).
MERGE_QUEUE_PREFIX = "gh-readonly-queue/"
_QUEUE_BRANCH = re.compile(
    r"^(?:refs/heads/)?gh-readonly-queue/(?P<base>.+)/pr-(?P<number>[0-9]+)-[0-9a-f]{40}$"
)


def is_merge_queue_branch(ref: str | None) -> bool:
    """A merge group's branch (`gh-readonly-queue/<base>/pr-<n>-<sha>`, or its full ref)."""
    return bool(ref) and str(ref).removeprefix("refs/heads/").startswith(MERGE_QUEUE_PREFIX)


def queued_pull_number(ref: str) -> int | None:
    """The pull request a merge group's branch was built for (the last one in the group)."""
    found = _QUEUE_BRANCH.match(ref)
    return int(found.group("number")) if found else None


class Step(StrEnum):
    GONE = "gone"  # merged or closed: nothing to do
    HOLD = "hold"  # a person holds it (draft, hold label): disarm, never merge
    HANDS_OFF = "hands-off"  # a person disabled its auto-merge: not ours to merge
    ARM = "arm"  # auto-merge was never enabled (the app stopped before it could): enable it
    CI_FAILED = "ci-failed"  # its own checks failed
    WAIT = "wait"  # checks still running, or GitHub's auto-merge / the queue is in charge
    UPDATE = "update"  # behind a strict base: bring it up to date (update-branch)
    UPDATES_SPENT = "updates-spent"  # behind again after max_branch_updates updates
    MERGE = "merge"  # merge it now with `method`
    ENQUEUE = "enqueue"  # add it to the base's merge queue (at the front with `jump`)
    NO_METHOD = "no-method"  # none of the configured merge methods is allowed here


class Hold(StrEnum):
    DRAFT = "draft"
    LABEL = "label"


@dataclass(frozen=True)
class MergeSettings:
    """What the repository allows (GET /repos or GraphQL's `*Allowed` fields)."""

    allowed: tuple[str, ...]  # "merge" | "squash" | "rebase", those switched on
    auto_merge: bool  # "Allow auto-merge"


@dataclass(frozen=True)
class PullFacts:
    number: int
    node_id: str
    state: str  # OPEN | CLOSED | MERGED
    draft: bool
    labels: tuple[str, ...]
    head_sha: str
    base_ref: str
    merge_state: str  # GitHub's mergeStateStatus: BEHIND, BLOCKED, CLEAN, DIRTY, ...
    auto_merge: bool  # GitHub's auto-merge is enabled on it
    queue_enabled: bool  # its base requires a merge queue
    queue_entry: str | None  # its merge-queue entry's id while it is queued
    updates: int  # merge commits on its head: times its branch was brought up to date
    # GitHub's auto-merge was enabled on it at some point (its timeline says so): when it is off
    # now, a person switched it off; never enabled means the app stopped before arming it.
    armed_before: bool = True


@dataclass(frozen=True)
class Plan:
    step: Step
    method: str | None = None  # MERGE: the merge method
    jump: bool = False  # ENQUEUE: ask for the front of the queue
    hold: Hold | None = None  # HOLD: why
    disarm: bool = False  # HOLD: auto-merge to disable, or a queue entry to leave
    failed: tuple[str, ...] = ()  # CI_FAILED: the checks that failed


def merge_method_for(preferred: Sequence[str], allowed: Sequence[str]) -> str | None:
    """The first of the configured methods the repository allows; None when none is."""
    return next((m for m in preferred if m in allowed), None)


def held_by(pr: PullFacts, hold_label: str) -> Hold | None:
    if pr.draft:
        return Hold.DRAFT
    if hold_label.casefold() in (name.casefold() for name in pr.labels):
        return Hold.LABEL
    return None


def next_step(
    pr: PullFacts,
    settings: MergeSettings,
    checks: Verdict,
    merger: Merger,
    *,
    preferred: Sequence[str],
    hold_label: str,
    max_updates: int,
    jump: bool,
) -> Plan:
    """What to do with revert PR `pr` now. `merger` is who its body says merges it."""
    if pr.state != "OPEN":
        return Plan(Step.GONE)
    hold = held_by(pr, hold_label)
    if hold is not None:
        return Plan(Step.HOLD, hold=hold, disarm=pr.auto_merge or pr.queue_entry is not None)
    if merger is Merger.AUTO and not pr.auto_merge and not pr.queue_enabled:
        if not pr.armed_before:
            return Plan(Step.ARM)  # we stopped between opening it and arming it
        return Plan(Step.HANDS_OFF)  # a person disabled auto-merge: they have spoken
    if merger is Merger.NOBODY:
        return Plan(Step.HANDS_OFF)
    if checks.decision == "failed":
        return Plan(Step.CI_FAILED, failed=checks.failed)
    if pr.merge_state == BEHIND and pr.queue_entry is None:
        # GitHub never brings a branch up to date by itself; auto-merge would wait forever.
        return Plan(Step.UPDATES_SPENT if pr.updates >= max_updates else Step.UPDATE)
    if checks.decision != "merge":
        return Plan(Step.WAIT)
    if pr.queue_enabled:
        return Plan(Step.WAIT) if pr.queue_entry else Plan(Step.ENQUEUE, jump=jump)
    if pr.auto_merge:
        return Plan(Step.WAIT)  # GitHub merges it
    method = merge_method_for(preferred, settings.allowed)
    if method is None:
        return Plan(Step.NO_METHOD)
    return Plan(Step.MERGE, method=method)


class Refusal(StrEnum):
    """What a refused merge, update or enqueue means for the next move."""

    RETRY = "retry"  # passes or was stale: read again and decide again
    MOVED = "moved"  # the head moved under us: its own checks bring us back
    WAIT = "wait"  # GitHub still waits for something (a required check): a later event
    ADMIN = "admin"  # a setting only an admin can change: explain once
    CONFLICT = "conflict"  # cannot be merged as it is: a person must


# Checked in this order: "Base branch was modified. Review and try the merge again." names a
# review but is a race.
_RETRY_TEXTS = (
    "base branch was modified",
    "already in the merge queue",  # another event enqueued it first: read again
    "merge queue is not enabled",  # the queue was switched off since we read
    "head branch is not up to date",
    "is still a draft",
    "through the merge queue",
    "merges are not allowed",
    "expected head sha",
    "no new commits",
)
_WAIT_TEXTS = ("required status check", "is expected", "checks have not", "is in unstable status")
_ADMIN_TEXTS = (
    "review",
    "approv",
    "authorized",
    "restrict",
    "protect",
    "rule",
    "bypass",
    "permission",
    "not accessible",
    "auto merge is not allowed",
)


def refusal(status: int, message: str) -> Refusal:
    """Sort GitHub's refusal (HTTP status and message) into what to do about it."""
    text = message.lower()
    if status == 409 or "head branch was modified" in text:
        return Refusal.MOVED
    if any(t in text for t in _RETRY_TEXTS):
        return Refusal.RETRY
    if any(t in text for t in _WAIT_TEXTS):
        return Refusal.WAIT
    if status == 403 or any(t in text for t in _ADMIN_TEXTS):
        return Refusal.ADMIN
    return Refusal.CONFLICT
