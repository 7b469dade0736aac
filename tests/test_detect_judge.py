"""Detection's decisions one branch at a time, through fakes of its two seams (no GitHub).

`FakeHead` answers HeadReads from plain data and records HeadWrites; its `handle` runs
the core's own `decide`, so each test asserts the incident a person would then see.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest

from app.core.bisect import Bisection
from app.core.builds import CheckResult, JudgedCommit, Verdict
from app.core.config import RepoConfig
from app.core.culprit import CulpritFacts
from app.core.incident import (
    CommitSummary,
    Decision,
    Event,
    HeadGreen,
    HeadRed,
    Incident,
    Owner,
    StartRevert,
    State,
    decide,
)
from app.core.safety import OPT_OUT_MARKER
from app.detect.facts import BranchInfo, Suspect
from app.detect.judge import judge_head

NOW = 1_800_000_000.0
OUTCOME = {"red": "failure", "green": "success", "pending": "pending"}
LOG = logging.getLogger("test.detect")


@dataclass
class FakeHead:
    """The branch, newest first: (sha, "red" | "green" | "pending")."""

    commits: list[tuple[str, str]]
    config: RepoConfig = field(default_factory=RepoConfig)
    incidents: list[Incident] = field(default_factory=list)
    messages: dict[str, str] = field(default_factory=dict)  # sha -> commit message
    ages: dict[str, float] = field(default_factory=dict)  # sha -> seconds since committed
    reverted: set[str] = field(default_factory=set)
    today: int = 0
    active: bool = False  # the process's hint
    # what was written
    decisions: list[tuple[Event, Decision]] = field(default_factory=list)
    reruns: list[str] = field(default_factory=list)
    greens: list[str] = field(default_factory=list)
    quieted: bool = False

    # ---- HeadReads
    def now(self) -> float:
        return NOW

    async def branch(self, name: str) -> BranchInfo:
        return BranchInfo(self.commits[0][0], ())

    async def checks(self, sha: str) -> list[CheckResult]:
        return [CheckResult("build", OUTCOME[dict(self.commits)[sha]])]

    async def history(self, branch: str, required: tuple[str, ...]) -> list[JudgedCommit]:
        judged = []
        for sha, verdict in self.commits:
            judged.append(JudgedCommit(sha, Verdict(verdict)))
            if verdict == "green":
                break
        return judged

    async def open_incidents(self) -> list[Incident]:
        return list(self.incidents)

    async def suspects(self, shas: tuple[str, ...]) -> list[Suspect]:
        return [
            Suspect(
                CulpritFacts(
                    sha,
                    self.messages.get(sha, f"Change {sha}"),
                    author_login="mona",
                    committed_at=NOW - self.ages.get(sha, 600),
                ),
                CommitSummary(sha, f"Change {sha}", "Mona", "mona"),
            )
            for sha in shas
        ]

    async def owners(self, branch: str, suspects: Sequence[Suspect]) -> tuple[Owner, ...]:
        return (Owner("@mona", "author"),)

    async def already_reverted(self, sha: str) -> bool:
        return sha in self.reverted

    async def reverts_today(self) -> int:
        return self.today

    async def bisection(self, branch: str, suspects: tuple[str, ...]) -> Bisection | None:
        return None

    def known_active(self) -> bool:
        return self.active

    # ---- HeadWrites
    async def handle(self, incident: Incident | None, event: Event) -> Incident | None:
        decision = decide(incident, event, self.config, NOW)
        self.decisions.append((event, decision))
        return decision.incident

    def remember(self, incident: Incident) -> None:
        pass

    async def report_config_errors(self, sha: str) -> None:
        pass

    async def rerun_first(self, head: str) -> bool:
        self.reruns.append(head)
        return True

    async def green(self, head: str) -> None:
        self.greens.append(head)

    async def advance_bisection(self, incident: Incident) -> None:
        pass

    async def resume(self, incident: Incident) -> Incident:
        return incident

    def quiet(self) -> None:
        self.quieted = True

    async def judge(self) -> FakeHead:
        await judge_head(self, self, "main", self.config, LOG)
        return self

    @property
    def last(self) -> Decision:
        return self.decisions[-1][1]


def open_incident(state: State = State.TRIAGE) -> Incident:
    return Incident(state, "main", "c2", "c2", NOW - 900, suspects=("c2",), number=7)


async def test_red_head_with_one_suspect_opens_an_incident_that_reverts_it() -> None:
    head = await FakeHead([("c2", "red"), ("c1", "green")]).judge()
    incident = head.last.incident
    assert incident is not None and incident.state is State.TRIAGE
    assert incident.culprit == "c2" and incident.last_green == "c1"
    assert StartRevert("c2") in head.last.effects


async def test_green_head_mitigates_every_open_incident_and_drops_the_hint() -> None:
    head = await FakeHead([("c3", "green")], incidents=[open_incident()], active=True).judge()
    event, decision = head.decisions[-1]
    assert event == HeadGreen("c3")
    assert decision.incident is not None and decision.incident.state is State.MITIGATED
    assert head.quieted and head.greens == ["c3"]


async def test_green_head_without_a_known_incident_reads_no_incidents() -> None:
    head = await FakeHead([("c3", "green")], incidents=[open_incident()], active=False).judge()
    assert head.decisions == [] and not head.quieted and head.greens == ["c3"]


async def test_red_on_top_of_an_active_incident_is_news_for_it_not_a_new_one() -> None:
    head = await FakeHead([("c3", "red"), ("c2", "red")], incidents=[open_incident()]).judge()
    event, decision = head.decisions[-1]
    assert isinstance(event, HeadRed) and event.sha == "c3"
    assert decision.incident is not None and decision.incident.number == 7
    assert decision.incident.head == "c3" and decision.effects == ()


async def test_pending_head_decides_nothing() -> None:
    head = await FakeHead([("c2", "pending"), ("c1", "red")]).judge()
    assert head.decisions == [] and head.greens == []


async def test_a_red_streak_shorter_than_consecutive_waits() -> None:
    config = RepoConfig(consecutive=2)
    head = await FakeHead([("c2", "red"), ("c1", "green")], config=config).judge()
    assert head.decisions == []


async def test_confirm_rerun_reruns_before_declaring() -> None:
    config = RepoConfig(confirm="rerun")
    head = await FakeHead([("c2", "red"), ("c1", "green")], config=config).judge()
    assert head.reruns == ["c2"] and head.decisions == []


# (case, changes to the fake, the rail that refuses)
REFUSALS: list[tuple[str, dict[str, object], str]] = [
    ("a revert", {"messages": {"c2": 'Revert "x"\n\nThis reverts commit ' + "a" * 9}}, "is_revert"),
    ("opted out", {"messages": {"c2": f"Risky\n\n{OPT_OUT_MARKER}"}}, "opt_out"),
    ("reverted by a human already", {"reverted": {"c2"}}, "already_reverted"),
    ("the daily limit reached", {"today": 4}, "daily_limit"),
    ("too old", {"ages": {"c2": 3 * 86400}}, "too_old"),
    ("auto_revert off", {"config": RepoConfig(auto_revert=False)}, "auto_revert_off"),
    (
        "two suspects, no bisection, no range",
        {"commits": [("c3", "red"), ("c2", "pending"), ("c1", "green")]},
        "several_suspects",
    ),
]


@pytest.mark.parametrize(
    ("changes", "rule"), [c[1:] for c in REFUSALS], ids=[c[0] for c in REFUSALS]
)
async def test_refusals_open_the_incident_and_say_why(
    changes: dict[str, object], rule: str
) -> None:
    fake = FakeHead([("c2", "red"), ("c1", "green")])
    for name, value in changes.items():
        setattr(fake, name, value)
    head = await fake.judge()
    event, decision = head.decisions[-1]
    assert isinstance(event, HeadRed) and event.refusal is not None
    assert event.refusal.rule == rule
    assert decision.incident is not None and decision.incident.refusal == event.refusal.reason
    assert not any(isinstance(e, StartRevert) for e in decision.effects)
