"""app.core.resume: the next step of an incident from what GitHub holds (a table)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from app.core.bisect import Bisection, Mode, Outcome
from app.core.config import RepoConfig
from app.core.incident import Incident, Moment, State
from app.core.resume import Due, PullState, Step, due, news_position, revert_due, step_id

T0 = 1_800_000_000.0
CONFIG = RepoConfig()
RANGE = RepoConfig(revert_range=True)
LATER = T0 + 60  # escalation not due yet
BASE = Incident(
    state=State.TRIAGE,
    branch="main",
    first_red="aaa",
    head="aaa",
    opened_at=T0,
    suspects=("aaa",),
    number=7,
    slack_ts="1.0",
)
TWO = replace(BASE, suspects=("aaa", "bbb"), first_red="bbb")


def at(kind: str) -> Moment:
    return Moment(T0 + 1, kind)


def bisected(outcome: Outcome | None, culprit: str | None = None) -> Bisection:
    return Bisection(Mode.RERUN, ("aaa", "bbb"), outcome=outcome, culprit=culprit)


WITH_PR = replace(BASE, revert_pr=12).noted(at("revert_opened"))
MERGED = WITH_PR.noted(at("revert_merged"))


@pytest.mark.parametrize(
    ("incident", "config", "now", "slack", "pr", "expected"),
    [
        # nothing to do: resolved, or no issue yet
        (replace(BASE, state=State.RESOLVED), CONFIG, LATER, True, None, ()),
        (replace(BASE, number=None), CONFIG, LATER, True, None, ()),
        # one culprit, allowed, no revert yet: open it, in triage or acknowledged
        (BASE, CONFIG, LATER, False, None, (Due(Step.OPEN_REVERT, shas=("aaa",)),)),
        (
            replace(BASE, state=State.ACKNOWLEDGED, owner="mona"),
            CONFIG,
            LATER,
            False,
            None,
            (Due(Step.OPEN_REVERT, shas=("aaa",)),),
        ),
        # the branch is green again (mitigated): no revert is due any more
        (replace(BASE, state=State.MITIGATED), CONFIG, LATER, False, None, ()),
        # the rails refused, the revert conflicted or had nothing to revert: settled
        (replace(BASE, refusal="too old").noted(at("revert_refused")), CONFIG, LATER, False,
         None, ()),
        (replace(BASE, refusal="too old"), CONFIG, LATER, False, None, ()),
        (BASE.noted(at("revert_conflict")), CONFIG, LATER, False, None, ()),
        (BASE.noted(at("revert_empty")), CONFIG, LATER, False, None, ()),
        # several suspects: nothing without revert_range, all of them with it
        (TWO, CONFIG, LATER, False, None, ()),
        (TWO, RANGE, LATER, False, None, (Due(Step.OPEN_REVERT, shas=("aaa", "bbb")),)),
        # a bisection: nothing while it runs or when it found none; its culprit when it did
        (replace(TWO, bisection=bisected(None)), CONFIG, LATER, False, None, ()),
        (replace(TWO, bisection=bisected(Outcome.INCONCLUSIVE)), RANGE, LATER, False, None, ()),
        (
            replace(TWO, bisection=bisected(Outcome.FOUND, "aaa")),
            CONFIG,
            LATER,
            False,
            None,
            (Due(Step.OPEN_REVERT, shas=("aaa",)),),
        ),
        # a revert PR whose merge is not recorded: read it, then record or land it
        (WITH_PR, CONFIG, LATER, False, None, (Due(Step.READ_PR, pr=12),)),
        (
            WITH_PR,
            CONFIG,
            LATER,
            False,
            PullState("merged", "mmm"),
            (Due(Step.RECORD_MERGED, pr=12, merge_sha="mmm"),),
        ),
        (WITH_PR, CONFIG, LATER, False, PullState("open"), (Due(Step.LAND, pr=12),)),
        (WITH_PR, CONFIG, LATER, False, PullState("closed"), ()),
        # mitigated by itself with the revert still open: not ours to land any more, but a
        # merge is still recorded
        (replace(WITH_PR, state=State.MITIGATED), CONFIG, LATER, False, PullState("open"), ()),
        (
            replace(WITH_PR, state=State.MITIGATED),
            CONFIG,
            LATER,
            False,
            PullState("merged", "mmm"),
            (Due(Step.RECORD_MERGED, pr=12, merge_sha="mmm"),),
        ),
        # the merge is recorded: nothing to read
        (MERGED, CONFIG, LATER, False, None, ()),
        # a revert PR opened by hand (/revert) counts as the incident's revert
        (replace(BASE, revert_pr=12), CONFIG, LATER, False, None, (Due(Step.READ_PR, pr=12),)),
        # Slack: a thread that was never posted is started, first
        (
            replace(BASE, slack_ts=None),
            CONFIG,
            LATER,
            True,
            None,
            (Due(Step.START_THREAD), Due(Step.OPEN_REVERT, shas=("aaa",))),
        ),
        (replace(MERGED, slack_ts=None), CONFIG, LATER, False, None, ()),
        # escalation: due in triage after escalate_after, once
        (
            MERGED,
            CONFIG,
            T0 + CONFIG.escalate_after,
            False,
            None,
            (Due(Step.PAGE),),
        ),
        (replace(MERGED, paged=True), CONFIG, T0 + CONFIG.escalate_after, False, None, ()),
        # a page its provider did not take: sent while the incident is open, not after
        (
            replace(MERGED, paged=True, page_waiting="paged by @mona"),
            CONFIG,
            LATER,
            False,
            None,
            (Due(Step.SEND_PAGE),),
        ),
        (
            replace(MERGED, state=State.ACKNOWLEDGED, paged=True, page_waiting="x"),
            CONFIG,
            LATER,
            False,
            None,
            (Due(Step.SEND_PAGE),),
        ),
        (
            replace(MERGED, state=State.RESOLVED, paged=True, page_waiting="x"),
            CONFIG,
            LATER,
            False,
            None,
            (),
        ),
        (
            replace(MERGED, state=State.ACKNOWLEDGED),
            CONFIG,
            T0 + CONFIG.escalate_after,
            False,
            None,
            (),
        ),
        (
            replace(BASE, slack_ts=None),
            CONFIG,
            T0 + 3600,
            True,
            None,
            (Due(Step.START_THREAD), Due(Step.PAGE), Due(Step.OPEN_REVERT, shas=("aaa",))),
        ),
    ],
)
def test_due(
    incident: Incident,
    config: RepoConfig,
    now: float,
    slack: bool,
    pr: PullState | None,
    expected: tuple[Due, ...],
) -> None:
    assert due(incident, config, now, slack=slack, pr=pr) == expected


def test_every_step_is_reachable_from_the_table() -> None:
    """The table above names every step: a new step needs a row."""
    source = open(__file__).read()
    for step in Step:
        assert f"Step.{step.name}" in source, step


def test_a_revert_is_never_due_twice_once_it_was_tried() -> None:
    for kind in ("revert_opened", "revert_conflict", "revert_refused", "revert_empty"):
        assert revert_due(BASE.noted(at(kind)), CONFIG) == ()


# --- step ids of news -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "then", "kind", "same"),
    [
        # a transition retried after unrelated moments were noted: the same comment
        (BASE, BASE.noted(at("paged")), "resolved", True),
        (BASE, BASE.noted(at("status")).noted(at("revert_merged")), "postmortem", True),
        (BASE, BASE.noted(at("paged")), "acknowledged", True),
        (BASE, BASE.noted(at("paged")), "mitigated", True),
        (BASE, BASE.noted(at("status")), "reopened", True),
        # a second round of the same state (resolved, reopened, resolved again): new news
        (BASE, BASE.noted(at("resolved")).noted(at("reopened")), "resolved", False),
        (BASE, BASE.noted(at("resolved")).noted(at("reopened")), "postmortem", False),
        (BASE.noted(at("reopened")), BASE.noted(at("reopened")).noted(at("resolved"))
         .noted(at("reopened")), "reopened", False),
        # a revert's merge, decided again further down after its marker save failed
        (BASE, BASE.noted(at("status")).noted(at("paged")), "revert_merged", True),
        # other news keeps its place in the timeline: said again from elsewhere, said again
        (BASE, BASE.noted(at("paged")), "note", False),
        (BASE, BASE, "note", True),
    ],
)
def test_news_of_a_state_is_counted_in_rounds_of_that_state(
    first: Incident, then: Incident, kind: str, same: bool
) -> None:
    data = {"actor": "mona"}
    ids = [step_id(news_position(i, kind), kind, data) for i in (first, then)]
    assert (ids[0] == ids[1]) is same


def test_a_round_position_is_never_a_timeline_position() -> None:
    positions = {news_position(BASE.noted(at("resolved")) if n else BASE, "resolved")
                 for n in (0, 1)}
    assert positions == {-1, -2} and news_position(None, "note") == 0
