"""The incident state machine, table-driven: every (state, event) pair and the refusals."""

from __future__ import annotations

from dataclasses import replace

import pytest

from app.core.builds import Analysis, CheckResult
from app.core.config import RepoConfig
from app.core.incident import (
    AckPage,
    Announce,
    Assign,
    CloseIssue,
    CommandGiven,
    Decision,
    HeadGreen,
    HeadRed,
    Incident,
    IssueClosed,
    IssueReopened,
    LabelSet,
    OpenIssue,
    Page,
    PostMortem,
    Reply,
    RevertConflicted,
    RevertMerged,
    RevertOpened,
    StartRangeRevert,
    StartRevert,
    State,
    Tick,
    Unpage,
    decide,
    pick_incident,
)
from app.core.safety import Refusal

T0 = 1_800_000_000.0
CONFIG = RepoConfig()
FAILING = (CheckResult("build", "failure", "https://ci/build/1"),)


def red(sha: str = "bbb", suspects: tuple[str, ...] = ("aaa",), **kw: object) -> HeadRed:
    analysis = Analysis(sha, suspects[-1] if suspects else sha, "000", suspects, 1, False)
    return HeadRed(sha=sha, branch="main", failing=FAILING, analysis=analysis, **kw)  # type: ignore[arg-type]


def incident(state: State, **kw: object) -> Incident:
    base = Incident(
        state=state,
        branch="main",
        first_red="aaa",
        head="aaa",
        opened_at=T0,
        suspects=("aaa",),
        number=7,
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def kinds(decision: Decision) -> list[str]:
    out = []
    for effect in decision.effects:
        name = type(effect).__name__
        out.append(f"{name}:{effect.kind}" if isinstance(effect, Announce) else name)
    return out


def cmd(name: str, arg: str = "", actor: str = "alice", can_write: bool = True) -> CommandGiven:
    return CommandGiven(name, arg, actor, can_write)


S = State
# (state before, event, state after, effect kinds)
TABLE = [
    # a red head
    (S.TRIAGE, red("ccc"), S.TRIAGE, []),
    (S.ACKNOWLEDGED, red("ccc"), S.ACKNOWLEDGED, []),
    (S.MITIGATED, red("ccc", head_is_app_revert=True), S.TRIAGE, ["Announce:red_again"]),
    # green again
    (S.TRIAGE, HeadGreen("ddd"), S.MITIGATED, ["Announce:green"]),
    (S.ACKNOWLEDGED, HeadGreen("ddd"), S.MITIGATED, ["Announce:green"]),
    (S.MITIGATED, HeadGreen("ddd"), S.MITIGATED, []),
    (S.RESOLVED, HeadGreen("ddd"), S.RESOLVED, []),
    # /ack
    (S.TRIAGE, cmd("ack"), S.ACKNOWLEDGED, ["Assign", "Announce:acknowledged"]),
    (S.ACKNOWLEDGED, cmd("ack", actor="bob"), S.ACKNOWLEDGED, ["Assign", "Announce:acknowledged"]),
    (S.MITIGATED, cmd("ack"), S.MITIGATED, ["Assign", "Announce:acknowledged"]),
    (S.RESOLVED, cmd("ack"), S.RESOLVED, ["Reply"]),
    # /status
    (S.TRIAGE, cmd("status", "bisecting"), S.TRIAGE, ["Announce:status"]),
    (S.ACKNOWLEDGED, cmd("status", "bisecting"), S.ACKNOWLEDGED, ["Announce:status"]),
    (S.MITIGATED, cmd("status", "bisecting"), S.MITIGATED, ["Announce:status"]),
    (S.TRIAGE, cmd("status", "  "), S.TRIAGE, ["Reply"]),
    # /mitigated
    (S.TRIAGE, cmd("mitigated"), S.MITIGATED, ["Announce:mitigated"]),
    (S.ACKNOWLEDGED, cmd("mitigated"), S.MITIGATED, ["Announce:mitigated"]),
    (S.MITIGATED, cmd("mitigated"), S.MITIGATED, []),
    # /resolve
    (S.TRIAGE, cmd("resolve"), S.RESOLVED, ["Announce:resolved", "PostMortem", "CloseIssue"]),
    (S.ACKNOWLEDGED, cmd("resolve"), S.RESOLVED, ["Announce:resolved", "PostMortem", "CloseIssue"]),
    (S.MITIGATED, cmd("resolve"), S.RESOLVED, ["Announce:resolved", "PostMortem", "CloseIssue"]),
    (S.RESOLVED, cmd("resolve"), S.RESOLVED, []),
    (S.RESOLVED, cmd("mitigated"), S.RESOLVED, ["Reply"]),
    (S.RESOLVED, cmd("page"), S.RESOLVED, ["Reply"]),
    (S.RESOLVED, cmd("status", "late note"), S.RESOLVED, ["Reply"]),
    # /page
    (S.TRIAGE, cmd("page"), S.TRIAGE, ["Page", "Announce:escalated"]),
    (S.ACKNOWLEDGED, cmd("page"), S.ACKNOWLEDGED, ["Page", "Announce:escalated"]),
    # refusals: no write access changes nothing
    (S.TRIAGE, cmd("ack", can_write=False), S.TRIAGE, ["Reply"]),
    (S.TRIAGE, cmd("resolve", can_write=False), S.TRIAGE, ["Reply"]),
    (S.ACKNOWLEDGED, cmd("page", can_write=False), S.ACKNOWLEDGED, ["Reply"]),
    (S.MITIGATED, cmd("status", "x", can_write=False), S.MITIGATED, ["Reply"]),
    # labels set by hand
    (
        S.TRIAGE,
        LabelSet(S.ACKNOWLEDGED, "carol"),
        S.ACKNOWLEDGED,
        ["Assign", "Announce:acknowledged"],
    ),
    (S.TRIAGE, LabelSet(S.MITIGATED, "carol"), S.MITIGATED, ["Announce:mitigated"]),
    (S.ACKNOWLEDGED, LabelSet(S.TRIAGE, "carol"), S.TRIAGE, ["Announce:reopened"]),
    (
        S.MITIGATED,
        LabelSet(S.RESOLVED, "carol"),
        S.RESOLVED,
        ["Announce:resolved", "PostMortem", "CloseIssue"],
    ),
    (S.TRIAGE, LabelSet(S.TRIAGE, "carol"), S.TRIAGE, []),
    (
        S.MITIGATED,
        LabelSet(S.ACKNOWLEDGED, "carol"),
        S.ACKNOWLEDGED,
        ["Assign", "Announce:acknowledged"],
    ),
    (S.RESOLVED, LabelSet(S.MITIGATED, "carol"), S.RESOLVED, ["Reply"]),
    # close and reopen by hand
    (S.TRIAGE, IssueClosed("carol"), S.RESOLVED, ["Announce:resolved", "PostMortem"]),
    (S.MITIGATED, IssueClosed("carol"), S.RESOLVED, ["Announce:resolved", "PostMortem"]),
    (S.RESOLVED, IssueClosed("carol"), S.RESOLVED, []),
    (S.RESOLVED, IssueReopened("carol"), S.TRIAGE, ["Announce:reopened"]),
    (S.TRIAGE, IssueReopened("carol"), S.TRIAGE, []),
    # the revert's progress
    (S.TRIAGE, RevertOpened(12, "https://pr/12"), S.TRIAGE, ["Announce:revert_opened"]),
    (S.TRIAGE, RevertConflicted("aaa", ("a.py",)), S.TRIAGE, ["Announce:revert_conflict"]),
    (S.TRIAGE, RevertMerged(12), S.TRIAGE, ["Announce:revert_merged"]),
    (S.MITIGATED, RevertMerged(12), S.MITIGATED, ["Announce:revert_merged"]),
    # time passing
    (S.ACKNOWLEDGED, Tick(), S.ACKNOWLEDGED, []),
    (S.MITIGATED, Tick(), S.MITIGATED, []),
]


@pytest.mark.parametrize(("before", "event", "after", "effects"), TABLE)
def test_transition(before: State, event: object, after: State, effects: list[str]) -> None:
    decision = decide(incident(before), event, CONFIG, T0 + 60)  # type: ignore[arg-type]
    assert decision.incident is not None
    assert decision.incident.state is after
    assert kinds(decision) == effects


def test_red_after_mitigation_that_is_not_our_revert_opens_a_new_incident() -> None:
    decision = decide(incident(S.MITIGATED), red("eee", ("eee",)), CONFIG, T0 + 900)
    assert decision.incident is not None
    assert decision.incident.number is None and decision.incident.first_red == "eee"
    assert kinds(decision) == ["OpenIssue", "StartRevert"]


def test_first_red_opens_an_incident_and_starts_the_revert() -> None:
    decision = decide(None, red("bbb", ("aaa",)), CONFIG, T0)
    assert decision.incident is not None
    assert decision.incident.state is S.TRIAGE
    assert decision.incident.first_red == "aaa"
    assert decision.incident.suspects == ("aaa",)
    assert decision.incident.timeline[0].kind == "detected"
    assert decision.effects == (OpenIssue(), StartRevert("aaa"))


def test_several_suspects_open_without_a_revert() -> None:
    refusal = Refusal("several_suspects", "2 commits landed")
    decision = decide(None, red("bbb", ("aaa", "bbb"), refusal=refusal), CONFIG, T0)
    assert kinds(decision) == ["OpenIssue", "Announce:revert_refused"]
    assert decision.incident is not None and decision.incident.refusal == "2 commits landed"


def test_revert_range_reverts_every_suspect_in_one_go() -> None:
    config = replace(CONFIG, revert_range=True)
    decision = decide(None, red("bbb", ("aaa", "bbb")), config, T0)
    assert decision.effects == (OpenIssue(), StartRangeRevert(("aaa", "bbb")))


def test_a_refusal_is_written_into_the_timeline() -> None:
    refusal = Refusal("opt_out", "NO_AUTO_REVERT")
    decision = decide(None, red(refusal=refusal), CONFIG, T0)
    assert decision.incident is not None
    assert [m.kind for m in decision.incident.timeline] == ["detected", "revert_refused"]


def test_events_without_an_incident_do_nothing() -> None:
    for event in (HeadGreen("x"), cmd("ack"), Tick(), RevertMerged(1)):
        assert decide(None, event, CONFIG, T0) == Decision(None)  # type: ignore[arg-type]


def test_same_red_head_twice_changes_nothing() -> None:
    before = incident(S.TRIAGE, head="bbb")
    assert decide(before, red("bbb"), CONFIG, T0 + 5) == Decision(before)


def test_a_new_red_commit_on_top_updates_the_head_only() -> None:
    decision = decide(incident(S.ACKNOWLEDGED, owner="alice"), red("ccc"), CONFIG, T0 + 5)
    assert decision.incident is not None
    assert decision.incident.head == "ccc" and decision.incident.first_red == "aaa"
    assert decision.incident.owner == "alice"


def test_ack_makes_the_commenter_owner() -> None:
    decision = decide(incident(S.TRIAGE), cmd("ack", actor="dave"), CONFIG, T0 + 90)
    assert decision.incident is not None and decision.incident.owner == "dave"
    assert Assign("dave") in decision.effects


def test_write_refusal_is_polite_and_names_the_command() -> None:
    decision = decide(incident(S.TRIAGE), cmd("resolve", actor="eve", can_write=False), CONFIG, T0)
    (reply,) = decision.effects
    assert isinstance(reply, Reply)
    assert "@eve" in reply.text and "/resolve" in reply.text and "write access" in reply.text


def test_acknowledging_a_paged_incident_acknowledges_the_page() -> None:
    decision = decide(incident(S.TRIAGE, paged=True), cmd("ack"), CONFIG, T0 + 300)
    assert AckPage() in decision.effects
    by_label = decide(incident(S.TRIAGE, paged=True), LabelSet(S.ACKNOWLEDGED, "x"), CONFIG, T0)
    assert AckPage() in by_label.effects
    assert AckPage() not in decide(incident(S.TRIAGE), cmd("ack"), CONFIG, T0).effects


def test_resolving_a_paged_incident_resolves_the_page() -> None:
    decision = decide(incident(S.ACKNOWLEDGED, paged=True), cmd("resolve"), CONFIG, T0 + 300)
    assert Unpage() in decision.effects and PostMortem() in decision.effects
    assert CloseIssue() in decision.effects


def test_escalation_is_due_only_after_escalate_after_and_only_once() -> None:
    before = incident(S.TRIAGE)
    assert decide(before, Tick(), CONFIG, T0 + CONFIG.escalate_after - 1) == Decision(before)
    due = decide(before, Tick(), CONFIG, T0 + CONFIG.escalate_after)
    assert due.incident is not None and due.incident.paged
    assert isinstance(due.effects[0], Page)
    again = decide(due.incident, Tick(), CONFIG, T0 + 10 * CONFIG.escalate_after)
    assert again.effects == ()


def test_escalate_after_comes_from_config() -> None:
    config = replace(CONFIG, escalate_after=60.0)
    assert decide(incident(S.TRIAGE), Tick(), config, T0 + 61).incident.paged  # type: ignore[union-attr]


def test_reopen_with_an_owner_goes_back_to_acknowledged() -> None:
    decision = decide(incident(S.RESOLVED, owner="alice"), IssueReopened("alice"), CONFIG, T0)
    assert decision.incident is not None and decision.incident.state is S.ACKNOWLEDGED


def test_revert_opened_twice_is_announced_once() -> None:
    first = decide(incident(S.TRIAGE), RevertOpened(12, "u"), CONFIG, T0)
    assert first.incident is not None and first.incident.revert_pr == 12
    assert decide(first.incident, RevertOpened(12, "u"), CONFIG, T0).effects == ()


def test_revert_merged_is_announced_once() -> None:
    first = decide(incident(S.TRIAGE), RevertMerged(12), CONFIG, T0)
    assert first.incident is not None
    assert decide(first.incident, RevertMerged(12), CONFIG, T0).effects == ()


def test_marker_round_trip_keeps_everything() -> None:
    decision = decide(None, red(), CONFIG, T0)
    opened = replace(decision.incident, number=3, slack_ts="1.2", owner="x")  # type: ignore[arg-type]
    back = Incident.from_marker(opened.marker(), state=opened.state, number=3)
    assert back == opened


def test_pick_incident_prefers_the_active_one() -> None:
    old = incident(S.MITIGATED, opened_at=T0)
    active = incident(S.TRIAGE, opened_at=T0 + 10, number=8)
    assert pick_incident([old, active], head_is_app_revert=False) is active
    assert pick_incident([old], head_is_app_revert=False) is None
    assert pick_incident([old], head_is_app_revert=True) is old
    assert pick_incident([old], head_is_app_revert=False, first_red="aaa") is old
    assert pick_incident([old], head_is_app_revert=False, first_red="zzz") is None


def test_mitigated_and_red_in_the_same_streak_is_red_again() -> None:
    decision = decide(incident(S.MITIGATED), red("fff", ("aaa",)), CONFIG, T0 + 60)
    assert decision.incident is not None and decision.incident.state is S.TRIAGE
    assert decision.incident.number == 7
    assert kinds(decision) == ["Announce:red_again"]


# ---------------------------------------------------------------- bisection

SUSPECTS = ("s1", "s2", "s3", "s4")


def bisecting(state: State = State.TRIAGE, **kw: object) -> Incident:
    from app.core.bisect import Mode, start

    bisection = start(SUSPECTS, Mode.PROBE)
    return incident(state, suspects=SUSPECTS, first_red="s4", bisection=bisection, **kw)


def answered(inc: Incident, sha: str, answer: str) -> object:
    from app.core.bisect import Answer, Probe, begin_round, record_answer

    assert inc.bisection is not None
    b = begin_round(inc.bisection, [Probe(sha)], T0)
    return record_answer(b, sha, Answer(answer), f"https://ci/{sha}")


def test_several_suspects_with_a_bisection_open_and_wait_for_it() -> None:
    from app.core.bisect import Mode, start

    bisection = start(SUSPECTS, Mode.PROBE)
    decision = decide(None, red("s4", SUSPECTS, bisection=bisection), CONFIG, T0)
    assert kinds(decision) == ["OpenIssue", "Announce:bisect_started"]
    assert decision.incident is not None and decision.incident.bisection == bisection
    assert decision.incident.culprit is None and decision.incident.refusal is None
    restored = Incident.from_marker(decision.incident.marker(), state=S.TRIAGE, number=7)
    assert restored.bisection == bisection


def test_revert_range_does_not_apply_while_bisecting() -> None:
    from app.core.bisect import Mode, start

    config = replace(CONFIG, revert_range=True)
    bisection = start(SUSPECTS, Mode.PROBE)
    decision = decide(None, red("s4", SUSPECTS, bisection=bisection), config, T0)
    assert not any(isinstance(e, StartRangeRevert) for e in decision.effects)


def test_a_round_answered_is_news_once() -> None:
    from app.core.incident import BisectProgress

    inc = bisecting()
    progress = BisectProgress(answered(inc, "s2", "red"))  # type: ignore[arg-type]
    decision = decide(inc, progress, CONFIG, T0 + 60)
    assert kinds(decision) == ["Announce:bisect_round"]
    assert decision.incident is not None
    assert decision.incident.timeline[-1].detail == "1: s2 red"
    again = decide(decision.incident, progress, CONFIG, T0 + 120)
    assert again.effects == () and again.incident == decision.incident


@pytest.mark.parametrize(
    ("state", "refusal", "expected"),
    [
        (S.TRIAGE, None, ["Announce:bisect_done", "StartRevert"]),
        (S.ACKNOWLEDGED, None, ["Announce:bisect_done", "StartRevert"]),
        (S.TRIAGE, Refusal("too_old", "old"), ["Announce:bisect_done", "Announce:revert_refused"]),
        (S.MITIGATED, None, ["Announce:bisect_done"]),  # green again meanwhile: no revert
    ],
)
def test_the_culprit_found_goes_through_the_rails(
    state: State, refusal: Refusal | None, expected: list[str]
) -> None:
    from app.core.bisect import Done, Outcome, finish
    from app.core.incident import BisectProgress

    inc = bisecting(state)
    assert inc.bisection is not None
    found = finish(inc.bisection, Done(Outcome.FOUND, "s2 is the first that fails", "s2"))
    decision = decide(inc, BisectProgress(found, refusal), CONFIG, T0)
    assert kinds(decision) == expected
    assert decision.incident is not None and decision.incident.culprit == "s2"
    if "StartRevert" in expected:
        assert decision.effects[-1] == StartRevert("s2")


@pytest.mark.parametrize("outcome", ["inconclusive", "inconsistent"])
def test_no_culprit_found_is_the_several_suspects_rail(outcome: str) -> None:
    from app.core.bisect import Done, Outcome, finish
    from app.core.incident import BisectProgress

    inc = bisecting()
    assert inc.bisection is not None
    stopped = finish(inc.bisection, Done(Outcome(outcome), "why", None, ("s2", "s3")))
    decision = decide(inc, BisectProgress(stopped), CONFIG, T0)
    assert kinds(decision) == ["Announce:bisect_done", "Announce:revert_refused"]
    refused = decision.effects[-1]
    assert isinstance(refused, Announce) and refused.data["rule"] == "several_suspects"
    assert "among the 2 suspects left" in refused.data["reason"]
    assert decision.incident is not None and decision.incident.culprit is None
