"""app.core.landing: a revert PR's next step, and what GitHub's refusals mean (tables)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from app.core.landing import (
    Hold,
    MergeSettings,
    Plan,
    PullFacts,
    Refusal,
    Step,
    merge_method_for,
    next_step,
    refusal,
)
from app.core.revert_gate import Verdict
from app.core.revert_messages import Merger

OPEN = PullFacts(
    number=7,
    node_id="PR_7",
    state="OPEN",
    draft=False,
    labels=("revert",),
    head_sha="a" * 40,
    base_ref="main",
    merge_state="CLEAN",
    auto_merge=False,
    queue_enabled=False,
    queue_entry=None,
    updates=0,
)
ALL = MergeSettings(allowed=("merge", "squash", "rebase"), auto_merge=True)
GREEN, PENDING, RED = Verdict("merge"), Verdict("wait", pending=("build",)), Verdict(
    "failed", failed=("build",)
)


def step(
    pr: PullFacts = OPEN,
    checks: Verdict = GREEN,
    merger: Merger = Merger.SHERIFF,
    settings: MergeSettings = ALL,
    *,
    preferred: tuple[str, ...] = ("squash", "merge", "rebase"),
    max_updates: int = 10,
    jump: bool = True,
) -> Plan:
    return next_step(
        pr,
        settings,
        checks,
        merger,
        preferred=preferred,
        hold_label="do-not-merge",
        max_updates=max_updates,
        jump=jump,
    )


@pytest.mark.parametrize(
    ("pr", "checks", "merger", "expected"),
    [
        # gone
        (replace(OPEN, state="MERGED"), GREEN, Merger.SHERIFF, Plan(Step.GONE)),
        (replace(OPEN, state="CLOSED"), RED, Merger.AUTO, Plan(Step.GONE)),
        # held by a person, whatever the checks say; disarmed when armed
        (replace(OPEN, draft=True), GREEN, Merger.SHERIFF, Plan(Step.HOLD, hold=Hold.DRAFT)),
        (
            replace(OPEN, labels=("revert", "Do-Not-Merge"), auto_merge=True),
            GREEN,
            Merger.AUTO,
            Plan(Step.HOLD, hold=Hold.LABEL, disarm=True),
        ),
        (
            replace(OPEN, draft=True, queue_enabled=True, queue_entry="MQE_1"),
            PENDING,
            Merger.QUEUE,
            Plan(Step.HOLD, hold=Hold.DRAFT, disarm=True),
        ),
        # a person switched GitHub's auto-merge off: hands off, even when behind
        (replace(OPEN, merge_state="BEHIND"), GREEN, Merger.AUTO, Plan(Step.HANDS_OFF)),
        (OPEN, GREEN, Merger.NOBODY, Plan(Step.HANDS_OFF)),
        # auto-merge never enabled (the app stopped before arming it): arm it, even when behind
        (replace(OPEN, armed_before=False), PENDING, Merger.AUTO, Plan(Step.ARM)),
        (replace(OPEN, armed_before=False, merge_state="BEHIND"), GREEN, Merger.AUTO,
         Plan(Step.ARM)),
        (replace(OPEN, armed_before=False, draft=True), GREEN, Merger.AUTO,
         Plan(Step.HOLD, hold=Hold.DRAFT)),
        # failed CI before anything else
        (
            replace(OPEN, merge_state="BEHIND"),
            RED,
            Merger.SHERIFF,
            Plan(Step.CI_FAILED, failed=("build",)),
        ),
        # behind a strict base: update, auto-merge or not, checks green or not
        (replace(OPEN, merge_state="BEHIND"), GREEN, Merger.SHERIFF, Plan(Step.UPDATE)),
        (
            replace(OPEN, merge_state="BEHIND", auto_merge=True),
            PENDING,
            Merger.AUTO,
            Plan(Step.UPDATE),
        ),
        (replace(OPEN, merge_state="BEHIND", updates=9), GREEN, Merger.SHERIFF, Plan(Step.UPDATE)),
        (
            replace(OPEN, merge_state="BEHIND", updates=10),
            GREEN,
            Merger.SHERIFF,
            Plan(Step.UPDATES_SPENT),
        ),
        # waiting for checks, or for GitHub's auto-merge
        (OPEN, PENDING, Merger.SHERIFF, Plan(Step.WAIT)),
        (replace(OPEN, auto_merge=True), GREEN, Merger.AUTO, Plan(Step.WAIT)),
        # merge queue: enqueue on green at the front, once
        (
            replace(OPEN, queue_enabled=True),
            GREEN,
            Merger.QUEUE,
            Plan(Step.ENQUEUE, jump=True),
        ),
        (replace(OPEN, queue_enabled=True), PENDING, Merger.QUEUE, Plan(Step.WAIT)),
        (
            replace(OPEN, queue_enabled=True, queue_entry="MQE_1", merge_state="BEHIND"),
            GREEN,
            Merger.QUEUE,
            Plan(Step.WAIT),
        ),
        # a queue added after the PR opened with auto-merge on: queue it ourselves, at the front
        (
            replace(OPEN, queue_enabled=True, auto_merge=True),
            GREEN,
            Merger.AUTO,
            Plan(Step.ENQUEUE, jump=True),
        ),
        # the queue went away: merge it ourselves
        (OPEN, GREEN, Merger.QUEUE, Plan(Step.MERGE, method="squash")),
        # merging ourselves with the first allowed method
        (OPEN, GREEN, Merger.SHERIFF, Plan(Step.MERGE, method="squash")),
    ],
)
def test_next_step(pr: PullFacts, checks: Verdict, merger: Merger, expected: Plan) -> None:
    assert step(pr, checks, merger) == expected


def test_the_first_configured_method_the_repository_allows_is_used() -> None:
    merges_only = MergeSettings(allowed=("merge",), auto_merge=False)
    assert step(settings=merges_only) == Plan(Step.MERGE, method="merge")
    assert step(settings=merges_only, preferred=("rebase", "squash")) == Plan(Step.NO_METHOD)
    assert step(settings=MergeSettings((), False)) == Plan(Step.NO_METHOD)
    assert merge_method_for(("rebase", "merge"), ("merge", "rebase")) == "rebase"
    assert merge_method_for((), ("merge",)) is None


def test_jump_only_when_configured() -> None:
    queued = replace(OPEN, queue_enabled=True)
    assert step(queued, merger=Merger.QUEUE, jump=False) == Plan(Step.ENQUEUE, jump=False)


def test_no_update_allowance_stops_at_once() -> None:
    behind = replace(OPEN, merge_state="BEHIND")
    assert step(behind, max_updates=0) == Plan(Step.UPDATES_SPENT)


@pytest.mark.parametrize(
    ("status", "message", "expected"),
    [
        (405, "Base branch was modified. Review and try the merge again.", Refusal.RETRY),
        (405, "Head branch is not up to date with the base branch", Refusal.RETRY),
        (405, "Pull Request is still a draft", Refusal.RETRY),
        (405, "Changes must be made through the merge queue", Refusal.RETRY),
        (405, "Squash merges are not allowed on this repository.", Refusal.RETRY),
        (422, "expected head sha didn’t match current head ref.", Refusal.RETRY),
        (422, "There are no new commits on the base branch.", Refusal.RETRY),
        (409, "Head branch was modified. Review and try the merge again.", Refusal.MOVED),
        (405, 'Required status check "build" is expected.', Refusal.WAIT),
        (405, "At least 1 approving review is required by reviewers with write access.",
         Refusal.ADMIN),
        (405, "Repository rule violations found", Refusal.ADMIN),
        (405, "You're not authorized to push to this branch.", Refusal.ADMIN),
        (403, "Resource not accessible by integration", Refusal.ADMIN),
        (405, "Pull Request is not mergeable", Refusal.CONFLICT),
        (422, "merge conflict between base and head", Refusal.CONFLICT),
    ],
)
def test_refusals_sort_into_what_to_do(status: int, message: str, expected: Refusal) -> None:
    assert refusal(status, message) is expected
