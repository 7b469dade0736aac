"""The incident runner's effects one at a time, through fakes of its seams (no GitHub).

`FakeIssues` is the incident issues (IncidentReads and IncidentWrites) as plain data;
`FakeMitigation` answers the rollback and the revert. Assertions are about what the
issue would then show: its state, its comments, whether it is closed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from typing import Any

import pytest

from app.clock import ManualClock
from app.core.builds import Analysis, CheckResult
from app.core.config import RepoConfig
from app.core.incident import (
    CommandGiven,
    HeadGreen,
    HeadRed,
    Incident,
    RevertConflicted,
    RevertMerged,
    RevertOpened,
    State,
    Tick,
)
from app.core.resume import echo_in, steps_in
from app.core.revert_messages import Merger
from app.incident.mitigate import RevertOutcome
from app.incident.runner import ECHO_GRACE, IncidentRunner
from app.incident.store import Echo
from app.services import EventContext, Services
from app.settings import Settings

NOW = 1_800_000_000.0
RED = HeadRed(
    "c2", "main", (CheckResult("build", "failure"),), Analysis("c2", "c2", "c1", ("c2",), 1, False)
)


@dataclass
class FakeIssues:
    repo_url: str = "https://github.com/octo/widgets"
    issues: dict[int, Incident] = field(default_factory=dict)
    comments: dict[int, list[str]] = field(default_factory=dict)
    closed: set[int] = field(default_factory=set)
    assignees: dict[int, list[str]] = field(default_factory=dict)
    refuse_assign: int | None = None

    async def open_incidents(self) -> list[Incident]:
        return [i for n, i in self.issues.items() if n not in self.closed]

    async def get(self, number: int) -> Incident | None:
        return self.issues.get(number)

    async def earlier_twin(self, incident: Incident) -> Incident | None:
        twins = [
            i
            for i in await self.open_incidents()
            if i.first_red == incident.first_red and (i.number or 0) < (incident.number or 0)
        ]
        return min(twins, key=lambda i: i.number or 0) if twins else None

    async def create(self, incident: Incident) -> Incident:
        created = replace(incident, number=max(self.issues, default=0) + 1)
        self.issues[created.number or 0] = created
        return created

    async def save(self, incident: Incident, *, labels: bool = True) -> None:
        self.issues[incident.number or 0] = incident

    steps: dict[int, list[str]] = field(default_factory=dict)  # hidden step ids, in order

    async def comment(self, number: int, text: str) -> None:
        body, _, _ = text.partition("\n\n<!-- buildsheriff-step:")
        self.comments.setdefault(number, []).append(body)
        self.steps.setdefault(number, []).extend(steps_in(text))
        at = self.clock.now() if self.clock is not None else 0.0
        self.bodies.setdefault(number, []).append((text, at))

    async def comment_steps(self, number: int) -> set[str]:
        return set(self.steps.get(number, []))

    clock: ManualClock | None = None  # when comments are posted (their created_at)
    bodies: dict[int, list[tuple[str, float]]] = field(default_factory=dict)

    async def echoes(self, number: int) -> list[Echo]:
        return [Echo(*echo, posted_at=at) for body, at in self.bodies.get(number, [])
                if (echo := echo_in(body)) is not None]

    async def assign(self, number: int, login: str) -> int | None:
        if self.refuse_assign is None:
            self.assignees.setdefault(number, []).append(login)
        return self.refuse_assign

    async def close(self, incident: Incident) -> None:
        await self.save(incident)
        self.closed.add(incident.number or 0)

    async def close_as_duplicate(self, incident: Incident, twin: Incident) -> None:
        await self.comment(incident.number or 0, f"Duplicate of #{twin.number}")
        self.closed.add(incident.number or 0)


@dataclass
class FakeMitigation:
    rollback: str | None = None
    outcome: RevertOutcome = field(default_factory=RevertOutcome)
    asked: list[tuple[str, ...]] = field(default_factory=list)
    numbers: list[int] = field(default_factory=list)

    async def roll_back_if_live(self, incident: Incident, culprit: str) -> str | None:
        return self.rollback

    async def open_revert(
        self, incident: Incident, shas: tuple[str, ...], *, number: Any = None
    ) -> RevertOutcome:
        if number is not None:  # the issue is opened meanwhile: a revert writes nothing before
            self.numbers.append(await number)  # it has its number (raises: no issue of ours)
        self.asked.append(shas)
        return self.outcome


def runner(
    issues: FakeIssues,
    mitigation: FakeMitigation | None = None,
    config: RepoConfig | None = None,
    settings: Settings | None = None,
) -> IncidentRunner:
    services = Services(
        settings=settings or Settings(),
        session=None,  # type: ignore[arg-type]  # nothing here talks HTTP
        clock=ManualClock(NOW),
        github_for_installation=None,  # type: ignore[arg-type]
    )
    log = logging.LoggerAdapter(logging.getLogger("test.incident"))
    ctx = EventContext(services, None, "d-1", "octo/widgets", 1, log)  # type: ignore[arg-type]
    return IncidentRunner(
        ctx, config or RepoConfig(), issues, mitigation or FakeMitigation()
    )


AUTO_OPENED = {"outcome": "opened", "reason": "automatic"}


def sample(the_runner: IncidentRunner, name: str, **labels: str) -> float:
    """A metric's value in this runner's process (0 until it moved)."""
    value = the_runner.ctx.services.metrics.registry.get_sample_value(name, labels)
    return value or 0.0


def opened(**changes: Any) -> Incident:
    base = Incident(State.TRIAGE, "main", "c2", "c2", NOW - 60, suspects=("c2",), number=1)
    return replace(base, **changes)


async def test_a_new_incident_reverts_its_culprit_and_records_the_pr() -> None:
    issues = FakeIssues()
    mitigation = FakeMitigation(outcome=RevertOutcome(RevertOpened(12, "u", merging=Merger.AUTO)))
    the_runner = runner(issues, mitigation)
    after = await the_runner.handle(None, RED)
    assert after is not None and after.revert_pr == 12 and issues.issues[1].revert_pr == 12
    assert mitigation.asked == [("c2",)]
    assert any("Revert opened: [#12](u)" in c for c in issues.comments[1])
    assert sample(the_runner, "buildsheriff_incidents_total", transition="opened") == 1
    assert sample(the_runner, "buildsheriff_reverts_total", **AUTO_OPENED) == 1


async def test_a_live_culprit_is_rolled_back_before_the_revert_is_announced() -> None:
    issues = FakeIssues()
    mitigation = FakeMitigation(
        rollback="🚨 live in production",
        outcome=RevertOutcome(RevertOpened(12, "u", merging=Merger.SHERIFF)),
    )
    await runner(issues, mitigation).handle(None, RED)
    said = issues.comments[1]
    rollback = next(i for i, c in enumerate(said) if "live in production" in c)
    revert = next(i for i, c in enumerate(said) if "Revert opened" in c)
    assert rollback < revert and "Build Sheriff merges it" in said[revert]


async def test_nothing_to_revert_is_said_and_no_pr_is_recorded() -> None:
    issues = FakeIssues()
    mitigation = FakeMitigation(outcome=RevertOutcome(note="ℹ️ Nothing reverted: empty."))
    the_runner = runner(issues, mitigation)
    after = await the_runner.handle(None, RED)
    assert after is not None and after.revert_pr is None
    assert "ℹ️ Nothing reverted: empty." in issues.comments[1]
    assert sample(the_runner, "buildsheriff_reverts_total", **AUTO_OPENED) == 0


async def test_a_conflicting_revert_is_announced_with_its_files() -> None:
    issues = FakeIssues()
    conflict = RevertConflicted("c2", ("src/a.py",))
    the_runner = runner(issues, FakeMitigation(outcome=RevertOutcome(conflict)))
    after = await the_runner.handle(None, RED)
    assert after is not None and after.timeline[-1].kind == "revert_conflict"
    assert any("src/a.py" in c for c in issues.comments[1])
    conflict_label = {"outcome": "conflict", "reason": "automatic"}
    assert sample(the_runner, "buildsheriff_reverts_total", **conflict_label) == 1


async def test_a_twin_opened_first_wins_and_ours_closes_as_its_duplicate() -> None:
    issues = FakeIssues(issues={1: opened()})
    mitigation = FakeMitigation()
    after = await runner(issues, mitigation).handle(None, RED)
    assert after is not None and after.number == 1
    assert issues.closed == {2} and issues.comments[2] == ["Duplicate of #1"]
    assert mitigation.asked == []  # the twin's opener reverts, not us


async def test_escalation_without_a_pager_says_nobody_was_paged() -> None:
    issues = FakeIssues(issues={1: opened(opened_at=NOW - 3600)})
    after = await runner(issues).handle(issues.issues[1], Tick())
    assert after is not None and after.paged
    assert any("nobody was paged" in c for c in issues.comments[1])


async def test_ack_stands_when_github_refuses_the_assignee() -> None:
    issues = FakeIssues(issues={1: opened()}, refuse_assign=422)
    after = await runner(issues).handle(issues.issues[1], CommandGiven("ack", "", "mona", True))
    assert after is not None and after.state is State.ACKNOWLEDGED and after.owner == "mona"
    assert issues.issues[1].state is State.ACKNOWLEDGED and issues.assignees == {}


async def test_resolve_closes_the_issue_and_posts_the_post_mortem() -> None:
    issues = FakeIssues(issues={1: opened()})
    after = await runner(issues).handle(issues.issues[1], CommandGiven("resolve", "", "mona", True))
    assert after is not None and after.state is State.RESOLVED
    assert issues.closed == {1} and any("## Post-mortem" in c for c in issues.comments[1])


async def test_a_merge_said_before_its_save_failed_is_not_said_again_further_on() -> None:
    """The comment went out, the marker write did not: the incident moved on without the
    merge in its timeline, and a later look records the merge. The issue says it once."""
    issues = FakeIssues(issues={1: opened(revert_pr=2)})
    incident = issues.issues[1]
    lost_save = runner(issues)
    saved = issues.save

    async def fail(incident: Incident, *, labels: bool = True) -> None:
        raise RuntimeError("502 after the comment")

    issues.save = fail  # type: ignore[method-assign]
    with pytest.raises(RuntimeError):
        await lost_save.handle(incident, RevertMerged(2, "m1"))
    issues.save = saved  # type: ignore[method-assign]
    later = runner(issues)
    moved = await later.handle(issues.issues[1], HeadGreen("c3"))
    assert moved is not None and not moved.first("revert_merged")
    await runner(issues).handle(issues.issues[1], RevertMerged(2, "m1"))
    merged = [c for c in issues.comments[1] if c.startswith("✅ Revert #2 merged")]
    assert len(merged) == 1, issues.comments[1]
    assert issues.issues[1].first("revert_merged")


@dataclass
class RecordingSlack:
    """The Slack outbox as a recorder: what the runner asks of it."""

    enabled: bool = True
    owed: list[list[str | None]] = field(default_factory=list)

    def thread_ts(self, key: str) -> str | None:
        return "1.0"

    def remember_thread(self, key: str, channel: str, ts: str) -> None:
        return None

    def catch_up(self, key: str, messages: Any) -> None:
        self.owed.append([m.step for m in messages])

    def __getattr__(self, name: str) -> Any:  # replies, updates...: not what is asked here
        return lambda *args, **kw: None


@pytest.mark.parametrize("replicas", [False, True])
async def test_a_process_catches_slack_up_once_leaving_young_news_to_a_replica(
    replicas: bool,
) -> None:
    """Catching up is asked of the outbox once per process and incident, with every piece
    of news the issue holds, oldest first; with replicas (REDIS_URL), not while some news is
    younger than ECHO_GRACE: its sender may still be saying it."""
    issues = FakeIssues()
    settings = Settings(redis_url="redis://127.0.0.1:6379/0") if replicas else Settings()
    the_runner = runner(issues, settings=settings)
    clock = the_runner.ctx.services.clock
    assert isinstance(clock, ManualClock)
    issues.clock = clock
    slack = RecordingSlack()
    the_runner.ctx.services.slack = slack  # type: ignore[assignment]
    opened = await the_runner.handle(None, RED)
    assert opened is not None and opened.number is not None
    for command in ("ack", "status"):
        opened = await the_runner.handle(opened, CommandGiven(command, "looking", "mona", True))
        assert opened is not None
    opened = replace(opened, slack_ts="1.0")
    said = [echo.step for echo in await issues.echoes(opened.number or 0)]
    assert len(said) == 2  # the acknowledgement and the status: news, echoed

    await the_runner.catch_up_slack(opened)
    if replicas:
        assert slack.owed == []
        clock.advance(ECHO_GRACE)
        await the_runner.catch_up_slack(opened)
    assert slack.owed == [said]
    await the_runner.catch_up_slack(opened)
    assert slack.owed == [said]
