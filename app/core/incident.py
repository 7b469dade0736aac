"""The incident state machine: states, events, and `decide`.

Pure: no I/O and no clock. The shell loads the incident from its GitHub issue
(labels + hidden marker), turns a webhook into an `Event`, calls
`decide(incident, event, config, now)` and applies the returned effects in
order, then persists `Decision.incident` (labels and marker) when it changed.

```mermaid
stateDiagram-v2
    [*] --> triage: head of the default branch turns red
    triage --> acknowledged: /ack, "I'm on it", label
    triage --> mitigated: branch green again, /mitigated, label
    acknowledged --> mitigated: branch green again, /mitigated, label
    mitigated --> triage: red again, same streak or our revert
    acknowledged --> triage: label
    mitigated --> acknowledged: label
    triage --> resolved: /resolve, issue closed, label
    acknowledged --> resolved: /resolve, issue closed, label
    mitigated --> resolved: /resolve, issue closed, label
    resolved --> triage: issue reopened (no owner)
    resolved --> acknowledged: issue reopened (has an owner)
    resolved --> [*]
```
Escalation is not a state: a `Tick` pages on-call once while the incident sits
in triage longer than `escalate_after`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from app.core.bisect import Bisection, Outcome
from app.core.builds import Analysis, CheckResult
from app.core.config import RepoConfig
from app.core.revert_messages import Merger
from app.core.safety import Refusal, revert_target, unbisected_refusal


class State(StrEnum):
    TRIAGE = "triage"
    ACKNOWLEDGED = "acknowledged"
    MITIGATED = "mitigated"
    RESOLVED = "resolved"


OPEN_STATES = (State.TRIAGE, State.ACKNOWLEDGED)


@dataclass(frozen=True)
class Moment:
    """One line of the timeline: what happened, when, and who did it."""

    at: float
    kind: str  # detected | acknowledged | status | revert_opened | revert_conflict | ...
    actor: str | None = None
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"at": self.at, "kind": self.kind}
        if self.actor:
            data["actor"] = self.actor
        if self.detail:
            data["detail"] = self.detail
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Moment:
        return cls(
            at=float(data["at"]),
            kind=str(data["kind"]),
            actor=data.get("actor"),
            detail=str(data.get("detail", "")),
        )


@dataclass(frozen=True)
class Check:
    """A failing check as the incident remembers it."""

    name: str
    url: str | None = None

    @classmethod
    def of(cls, result: CheckResult) -> Check:
        return cls(result.name, result.url)


@dataclass(frozen=True)
class CommitSummary:
    """What the issue says about a suspect commit."""

    sha: str
    title: str
    author: str  # display name, always present in git
    login: str | None = None  # GitHub login when the author's email maps to an account
    url: str | None = None
    pr: int | None = None
    pr_url: str | None = None
    # the commit's author email: how Slack may know the author (users.lookupByEmail)
    email: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CommitSummary:
        return cls(**{k: data.get(k) for k in cls.__dataclass_fields__})  # type: ignore[arg-type]


@dataclass(frozen=True)
class Owner:
    """A suggested resolution owner and why they are suggested."""

    who: str  # "@login", "@org/team" or an email
    why: str  # "author of abc1234", "CODEOWNERS of src/x.py", "on call"


@dataclass(frozen=True)
class Incident:
    state: State
    branch: str
    first_red: str
    head: str
    opened_at: float
    failing: tuple[Check, ...] = ()
    suspects: tuple[str, ...] = ()
    last_green: str | None = None  # where a rollback goes
    number: int | None = None  # the issue number, once it exists
    owner: str | None = None
    revert_pr: int | None = None
    green_sha: str | None = None
    paged: bool = False
    # a page the provider has not taken yet (its reason): whoever looks next sends it, so a
    # restart while the provider is down does not lose it (app.core.resume, Step.SEND_PAGE)
    page_waiting: str | None = None
    slack_channel: str | None = None
    slack_ts: str | None = None
    commits: tuple[CommitSummary, ...] = ()
    owners: tuple[Owner, ...] = ()
    refusal: str | None = None  # why nothing was reverted automatically
    timeline: tuple[Moment, ...] = ()
    bisection: Bisection | None = None  # several suspects: CI is asked which one broke it

    @property
    def culprit(self) -> str | None:
        """The one suspect, or the one a bisection found among several."""
        if len(self.suspects) == 1:
            return self.suspects[0]
        return self.bisection.culprit if self.bisection else None

    @property
    def key(self) -> str:
        """Stable id: the dedup key for pagers and Slack outboxes."""
        return f"buildsheriff-{self.first_red[:12]}"

    def first(self, kind: str) -> Moment | None:
        return next((m for m in self.timeline if m.kind == kind), None)

    def noted(self, moment: Moment) -> Incident:
        return replace(self, timeline=(*self.timeline, moment))

    # The marker holds everything labels cannot. `state` in it is only the state
    # the app last wrote, to tell a human's new label from ours: the labels on
    # the issue are the truth.
    def marker(self) -> dict[str, Any]:
        return {
            "v": 1,
            "state": self.state.value,
            "branch": self.branch,
            "first_red": self.first_red,
            "head": self.head,
            "opened_at": self.opened_at,
            "failing": [{"name": c.name, "url": c.url} for c in self.failing],
            "suspects": list(self.suspects),
            "last_green": self.last_green,
            "owner": self.owner,
            "revert_pr": self.revert_pr,
            "green_sha": self.green_sha,
            "paged": self.paged,
            "slack_channel": self.slack_channel,
            "slack_ts": self.slack_ts,
            "commits": [c.to_json() for c in self.commits],
            "owners": [{"who": o.who, "why": o.why} for o in self.owners],
            "refusal": self.refusal,
            "timeline": [m.to_json() for m in self.timeline],
            "bisection": self.bisection.to_json() if self.bisection else None,
            **({"page_waiting": self.page_waiting} if self.page_waiting else {}),
        }

    @classmethod
    def from_marker(cls, data: dict[str, Any], *, state: State, number: int) -> Incident:
        return cls(
            state=state,
            number=number,
            branch=str(data["branch"]),
            first_red=str(data["first_red"]),
            head=str(data.get("head") or data["first_red"]),
            opened_at=float(data["opened_at"]),
            failing=tuple(Check(c["name"], c.get("url")) for c in data.get("failing", [])),
            suspects=tuple(data.get("suspects", [])),
            last_green=data.get("last_green"),
            owner=data.get("owner"),
            revert_pr=data.get("revert_pr"),
            green_sha=data.get("green_sha"),
            paged=bool(data.get("paged", False)),
            page_waiting=data.get("page_waiting") or None,
            slack_channel=data.get("slack_channel"),
            slack_ts=data.get("slack_ts"),
            commits=tuple(CommitSummary.from_json(c) for c in data.get("commits", [])),
            owners=tuple(Owner(o["who"], o["why"]) for o in data.get("owners", [])),
            refusal=data.get("refusal"),
            timeline=tuple(Moment.from_json(m) for m in data.get("timeline", [])),
            bisection=Bisection.from_json(data["bisection"]) if data.get("bisection") else None,
        )


# ---------------------------------------------------------------- events


@dataclass(frozen=True)
class HeadRed:
    """The head of the default branch is red (after any confirmation the config asks for)."""

    sha: str
    branch: str
    failing: tuple[CheckResult, ...]
    analysis: Analysis
    refusal: Refusal | None = None  # why no automatic revert: core.safety.revert_refusal
    head_is_app_revert: bool = False  # the first red commit is this app's own revert
    commits: tuple[CommitSummary, ...] = ()  # summaries of the suspects
    owners: tuple[Owner, ...] = ()
    bisection: Bisection | None = None  # several suspects: ask CI instead of refusing now


@dataclass(frozen=True)
class BisectProgress:
    """The bisection moved: rounds asked or answered, or it stopped. A culprit it found
    comes with the rails' refusal (None: revert it); a bisection that found none comes
    with the refusal for several suspects."""

    bisection: Bisection
    refusal: Refusal | None = None


@dataclass(frozen=True)
class HeadGreen:
    sha: str


@dataclass(frozen=True)
class CommandGiven:
    name: str  # ack | status | mitigated | resolve | page (revert is handled by the revert flow)
    arg: str
    actor: str
    can_write: bool


@dataclass(frozen=True)
class LabelSet:
    """A human put a state label on the issue."""

    state: State
    actor: str


@dataclass(frozen=True)
class IssueClosed:
    actor: str


@dataclass(frozen=True)
class IssueReopened:
    actor: str


@dataclass(frozen=True)
class RevertOpened:
    pr: int
    url: str
    actor: str | None = None
    merging: Merger = Merger.AUTO  # who merges it on green


@dataclass(frozen=True)
class RevertConflicted:
    sha: str
    files: tuple[str, ...]


@dataclass(frozen=True)
class RevertNotNeeded:
    """Opening the revert found nothing to revert (already reverted, empty): said once, and
    remembered, so no later look tries again."""

    text: str


@dataclass(frozen=True)
class RevertMerged:
    pr: int
    sha: str | None = None


@dataclass(frozen=True)
class Tick:
    """Time passed (reconciler): escalate if due."""


Event = (
    HeadRed
    | BisectProgress
    | HeadGreen
    | CommandGiven
    | LabelSet
    | IssueClosed
    | IssueReopened
    | RevertOpened
    | RevertConflicted
    | RevertNotNeeded
    | RevertMerged
    | Tick
)


# --------------------------------------------------------------- effects


@dataclass(frozen=True)
class OpenIssue:
    """Create the issue for `Decision.incident` (title, body and labels rendered by the shell)."""


@dataclass(frozen=True)
class Announce:
    """News: a comment on the issue and a reply in the Slack thread."""

    kind: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Reply:
    """A comment on the issue that is not news (a refusal, a receipt); not sent to Slack."""

    text: str


@dataclass(frozen=True)
class Assign:
    login: str


@dataclass(frozen=True)
class StartRevert:
    sha: str


@dataclass(frozen=True)
class StartRangeRevert:
    """Revert every suspect in one PR (config `revert_range`), oldest first."""

    shas: tuple[str, ...]


@dataclass(frozen=True)
class Page:
    reason: str


@dataclass(frozen=True)
class AckPage:
    """Acknowledge the page: someone owns the incident now."""


@dataclass(frozen=True)
class Unpage:
    pass


@dataclass(frozen=True)
class CloseIssue:
    """Close the issue, writing the incident (labels, marker) in the same request."""


@dataclass(frozen=True)
class PostMortem:
    pass


Effect = (
    OpenIssue
    | Announce
    | Reply
    | Assign
    | StartRevert
    | StartRangeRevert
    | Page
    | AckPage
    | Unpage
    | CloseIssue
    | PostMortem
)


@dataclass(frozen=True)
class Decision:
    incident: Incident | None
    effects: tuple[Effect, ...] = ()


def _done(incident: Incident | None, *effects: Effect) -> Decision:
    return Decision(incident, tuple(effects))


REOPEN_FIRST = "This incident is resolved: reopen the issue to act on it."
REFUSAL_NO_WRITE = (
    "Sorry @{actor}, only people with write access to this repository can run `/{command}`."
)


# ---------------------------------------------------------------- decide


def decide(incident: Incident | None, event: Event, config: RepoConfig, now: float) -> Decision:
    """The whole policy of an incident's life. Returns the new incident and what to do."""
    if isinstance(event, HeadRed):
        return _on_red(incident, event, config, now)
    if incident is None:
        return _done(None)  # nothing else happens to an incident that does not exist
    if isinstance(event, BisectProgress):
        return _on_bisect(incident, event, now)
    if isinstance(event, HeadGreen):
        return _on_green(incident, event, now)
    if isinstance(event, CommandGiven):
        return _on_command(incident, event, now)
    if isinstance(event, LabelSet):
        if incident.state is State.RESOLVED:
            # A closed incident changes state only by reopening the issue.
            return _done(incident, Reply(REOPEN_FIRST))
        return _move(incident, event.state, event.actor, now)
    if isinstance(event, IssueClosed):
        if incident.state is State.RESOLVED:
            return _done(incident)
        return _move(incident, State.RESOLVED, event.actor, now, issue_already_closed=True)
    if isinstance(event, IssueReopened):
        if incident.state is not State.RESOLVED:
            return _done(incident)
        target = State.ACKNOWLEDGED if incident.owner else State.TRIAGE
        return _move(incident, target, event.actor, now)
    if isinstance(event, RevertOpened):
        if incident.revert_pr == event.pr:
            return _done(incident)
        moment = Moment(now, "revert_opened", event.actor, f"#{event.pr}")
        updated = replace(incident, revert_pr=event.pr).noted(moment)
        data = {"pr": event.pr, "url": event.url, "merging": event.merging}
        return _done(updated, Announce("revert_opened", data))
    if isinstance(event, RevertConflicted):
        moment = Moment(now, "revert_conflict", None, ", ".join(event.files))
        return _done(
            incident.noted(moment),
            Announce("revert_conflict", {"sha": event.sha, "files": list(event.files)}),
        )
    if isinstance(event, RevertNotNeeded):
        if incident.first("revert_empty"):
            return _done(incident)
        moment = Moment(now, "revert_empty", None, event.text)
        return _done(incident.noted(moment), Announce("note", {"text": event.text}))
    if isinstance(event, RevertMerged):
        if incident.first("revert_merged"):
            return _done(incident)
        moment = Moment(now, "revert_merged", None, f"#{event.pr}")
        return _done(incident.noted(moment), Announce("revert_merged", {"pr": event.pr}))
    if isinstance(event, Tick):
        return _on_tick(incident, config, now)
    raise TypeError(f"unknown event {event!r}")  # pragma: no cover - Event is a closed union


def _on_red(incident: Incident | None, event: HeadRed, config: RepoConfig, now: float) -> Decision:
    failing = tuple(Check.of(r) for r in event.failing)
    if incident is not None and incident.state in OPEN_STATES:
        if incident.head == event.sha:
            return _done(incident)
        # Another red commit on top of a red branch: the same incident.
        updated = replace(incident, head=event.sha, failing=failing or incident.failing)
        return _done(updated.noted(Moment(now, "still_red", None, event.sha[:7])))
    same_streak = incident is not None and event.analysis.first_red == incident.first_red
    if (
        incident is not None
        and incident.state is State.MITIGATED
        and (event.head_is_app_revert or same_streak)
    ):
        updated = replace(incident, state=State.TRIAGE, head=event.sha, failing=failing)
        updated = updated.noted(Moment(now, "red_again", None, event.sha[:7]))
        return _done(updated, Announce("red_again", {"sha": event.sha}))
    analysis = event.analysis
    first_red = analysis.first_red or event.sha
    opened = Incident(
        state=State.TRIAGE,
        branch=event.branch,
        first_red=first_red,
        head=event.sha,
        opened_at=now,
        failing=failing,
        suspects=analysis.suspects,
        last_green=analysis.last_green,
        slack_channel=config.slack_channel,
        commits=event.commits,
        owners=event.owners,
        refusal=event.refusal.reason if event.refusal else None,
    ).noted(Moment(now, "detected", None, first_red))
    effects: list[Effect] = [OpenIssue()]
    if event.bisection is not None and event.refusal is None:
        # Which suspect broke it is CI's to say; the rails judge the one it finds.
        opened = replace(opened, bisection=event.bisection)
        effects.append(Announce("bisect_started", {"bisection": event.bisection.to_json()}))
        return _done(opened, *effects)
    target = revert_target(analysis.suspects, config)
    if event.refusal is not None:
        opened = opened.noted(Moment(now, "revert_refused", None, event.refusal.rule))
        effects.append(
            Announce("revert_refused", {"rule": event.refusal.rule, "reason": event.refusal.reason})
        )
    elif len(target) == 1:
        effects.append(StartRevert(target[0]))
    elif target:
        effects.append(StartRangeRevert(target))
    return _done(opened, *effects)


def _on_bisect(incident: Incident, event: BisectProgress, now: float) -> Decision:
    before, after = incident.bisection, event.bisection
    if before is None or before == after:
        return _done(incident)
    updated = replace(incident, bisection=after)
    effects: list[Effect] = []
    was_answered = {r.number for r in before.rounds if r.answered}
    for round_ in after.rounds:
        if not round_.answered or round_.number in was_answered:
            continue
        answers = ", ".join(f"{p.sha[:7]} {p.answer}" for p in round_.probes)
        updated = updated.noted(Moment(now, "bisect_round", None, f"{round_.number}: {answers}"))
        effects.append(Announce("bisect_round", {"round": round_.to_json()}))
    if before.outcome is None and after.outcome is not None:
        updated = updated.noted(Moment(now, "bisect_done", None, after.outcome.value))
        effects.append(Announce("bisect_done", {"bisection": after.to_json()}))
        refusal = event.refusal
        if after.outcome is not Outcome.FOUND or not after.culprit:
            refusal = unbisected_refusal(len(after.candidates))
        if incident.state in OPEN_STATES and incident.revert_pr is None:
            if refusal is not None:
                updated = replace(updated, refusal=refusal.reason).noted(
                    Moment(now, "revert_refused", None, refusal.rule)
                )
                effects.append(
                    Announce("revert_refused", {"rule": refusal.rule, "reason": refusal.reason})
                )
            elif after.culprit:
                effects.append(StartRevert(after.culprit))
    return _done(updated, *effects)


def _on_green(incident: Incident, event: HeadGreen, now: float) -> Decision:
    if incident.state not in OPEN_STATES:
        return _done(incident)
    red_for = now - incident.opened_at
    updated = replace(incident, state=State.MITIGATED, green_sha=event.sha)
    updated = updated.noted(Moment(now, "mitigated", None, f"green at {event.sha[:7]}"))
    return _done(updated, Announce("green", {"sha": event.sha, "red_for": red_for}))


def _on_command(incident: Incident, event: CommandGiven, now: float) -> Decision:
    if not event.can_write:
        return _done(
            incident, Reply(REFUSAL_NO_WRITE.format(actor=event.actor, command=event.name))
        )
    if incident.state is State.RESOLVED:
        if event.name == "resolve":
            return _done(incident)
        return _done(incident, Reply(REOPEN_FIRST))
    if event.name == "ack":
        if incident.owner == event.actor and incident.state is not State.TRIAGE:
            return _done(incident)
        updated = replace(incident, owner=event.actor)
        if updated.state is State.TRIAGE:
            updated = replace(updated, state=State.ACKNOWLEDGED)
        updated = updated.noted(Moment(now, "acknowledged", event.actor))
        effects: list[Effect] = [
            Assign(event.actor),
            Announce("acknowledged", {"actor": event.actor}),
        ]
        if incident.paged:
            effects.append(AckPage())  # someone answered: the pager stops escalating
        return _done(updated, *effects)
    if event.name == "status":
        if not event.arg.strip():
            return _done(incident, Reply("Usage: `/status <what is happening now>`."))
        updated = incident.noted(Moment(now, "status", event.actor, event.arg.strip()))
        return _done(updated, Announce("status", {"actor": event.actor, "text": event.arg.strip()}))
    if event.name == "mitigated":
        return _move(incident, State.MITIGATED, event.actor, now)
    if event.name == "resolve":
        return _move(incident, State.RESOLVED, event.actor, now)
    if event.name == "page":
        updated = replace(incident, paged=True).noted(Moment(now, "escalated", event.actor))
        return _done(
            updated,
            Page(f"paged by @{event.actor}"),
            Announce("escalated", {"actor": event.actor}),
        )
    return _done(incident)


def _move(
    incident: Incident,
    target: State,
    actor: str,
    now: float,
    *,
    issue_already_closed: bool = False,
) -> Decision:
    """Move to `target` with the effects that state brings; to the current state: a no-op."""
    if incident.state is target:
        return _done(incident)
    updated = replace(incident, state=target)
    effects: list[Effect] = []
    if target is State.ACKNOWLEDGED:
        if incident.state is State.RESOLVED:
            updated = updated.noted(Moment(now, "reopened", actor))
            effects.append(Announce("reopened", {"actor": actor, "state": target.value}))
        else:
            updated = replace(updated, owner=updated.owner or actor)
            updated = updated.noted(Moment(now, "acknowledged", actor))
            if not incident.owner:
                effects.append(Assign(actor))
            effects.append(Announce("acknowledged", {"actor": updated.owner}))
            if incident.paged:
                effects.append(AckPage())
    elif target is State.MITIGATED:
        updated = updated.noted(Moment(now, "mitigated", actor, "by hand"))
        effects.append(Announce("mitigated", {"actor": actor}))
    elif target is State.RESOLVED:
        updated = updated.noted(Moment(now, "resolved", actor))
        effects.append(Announce("resolved", {"actor": actor}))
        if incident.paged:
            effects.append(Unpage())
        effects.append(PostMortem())
        if not issue_already_closed:
            # Last, with the labels and marker in the same write: an issue closed half way
            # (the post-mortem not yet posted) would be out of everybody's sight.
            effects.append(CloseIssue())
    elif target is State.TRIAGE:
        updated = updated.noted(
            Moment(now, "reopened" if incident.state is State.RESOLVED else "triage", actor)
        )
        effects.append(Announce("reopened", {"actor": actor, "state": target.value}))
    return _done(updated, *effects)


def _on_tick(incident: Incident, config: RepoConfig, now: float) -> Decision:
    if incident.state is not State.TRIAGE or incident.paged:
        return _done(incident)
    if now - incident.opened_at < config.escalate_after:
        return _done(incident)
    updated = replace(incident, paged=True).noted(
        Moment(now, "escalated", None, "no acknowledgement")
    )
    return _done(
        updated,
        Page("nobody acknowledged the incident"),
        Announce("escalated", {"after": config.escalate_after}),
    )


def pick_incident(
    open_incidents: Sequence[Incident], *, head_is_app_revert: bool, first_red: str | None = None
) -> Incident | None:
    """The open incident a red head belongs to.

    The active one; else a mitigated one of the same red streak (the branch never went
    green in between), or one the app's own revert broke again.
    """
    active = [i for i in open_incidents if i.state in OPEN_STATES]
    if active:
        return max(active, key=lambda i: i.opened_at)
    same_streak = [i for i in open_incidents if first_red and i.first_red == first_red]
    if same_streak:  # the branch never went green in between: the same red streak
        return max(same_streak, key=lambda i: i.opened_at)
    if head_is_app_revert:
        mitigated = [i for i in open_incidents if i.state is State.MITIGATED]
        if mitigated:
            return max(mitigated, key=lambda i: i.opened_at)
    return None
