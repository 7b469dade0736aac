"""Judge the head of the default branch and say what it means for the incidents.

The flow alone: what it reads is behind `HeadReads`, what it does behind `HeadWrites`
(app.detect.evaluate implements both over GitHub, the incident runner and the process's
memory), so a unit test drives any branch of it with a fake in a few lines. Every verdict
is the core's: app.core.builds (red or green, the suspects), app.core.safety (revert or
not), app.core.incident (what happens to the incident).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Protocol

from app.core.bisect import Bisection
from app.core.builds import Analysis, CheckResult, JudgedCommit, Verdict, analyse_history
from app.core.builds import judge_commit as judge_checks
from app.core.config import RepoConfig
from app.core.incident import (
    OPEN_STATES,
    Event,
    HeadGreen,
    HeadRed,
    Incident,
    Owner,
    pick_incident,
)
from app.core.safety import RevertFacts, commits_to_vet, revert_refusal
from app.detect.facts import BranchInfo, Suspect

Log = logging.Logger | logging.LoggerAdapter[logging.Logger]


class HeadReads(Protocol):
    """What judging a head reads: GitHub's view of the branch, and this process's hints."""

    def now(self) -> float: ...

    async def branch(self, name: str) -> BranchInfo: ...

    async def checks(self, sha: str) -> list[CheckResult]:
        """Every report on `sha` that could count (not our own statuses)."""
        ...

    async def history(self, branch: str, required: tuple[str, ...]) -> list[JudgedCommit]:
        """Commits from the head back to the last green one (bounded), newest first."""
        ...

    async def open_incidents(self) -> list[Incident]: ...

    async def suspects(self, shas: tuple[str, ...]) -> list[Suspect]:
        """The suspects read in full (a bounded number of them), in the order asked."""
        ...

    async def owners(self, branch: str, suspects: Sequence[Suspect]) -> tuple[Owner, ...]:
        """Who could resolve it: authors, code owners, the on-call engineer."""
        ...

    async def already_reverted(self, sha: str) -> bool:
        """A human reverted `sha` already (a later commit on the branch, or a PR)."""
        ...

    async def reverts_today(self) -> int: ...

    async def bisection(self, branch: str, suspects: tuple[str, ...]) -> Bisection | None:
        """How CI would be asked which suspect broke it; None when it cannot (or may not)."""
        ...

    def known_active(self) -> bool:
        """This process believes the repository has an active incident (a hint, not truth:
        a green result elsewhere then costs no read)."""
        ...


class HeadWrites(Protocol):
    """What judging a head does: hands events to the incident runner, and its own chores."""

    async def handle(self, incident: Incident | None, event: Event) -> Incident | None:
        """The incident runner: decide, apply the effects, persist; the incident after."""
        ...

    def remember(self, incident: Incident) -> None:
        """An incident was read: keep its Slack thread in mind (after a restart)."""
        ...

    async def report_config_errors(self, sha: str) -> None: ...

    async def rerun_first(self, head: str) -> bool:
        """`confirm: rerun`: re-run the failed jobs once; True when one started."""
        ...

    async def green(self, head: str) -> None:
        """The head is green: a pending re-run passed (a flake), the flaky report."""
        ...

    async def advance_bisection(self, incident: Incident) -> None: ...

    async def resume(self, incident: Incident) -> Incident:
        """The steps the incident has due from what it holds (app.core.resume), no read."""
        ...

    def quiet(self) -> None:
        """No active incident in this repository any more (the hint of `known_active`)."""
        ...


async def judge_head(
    reads: HeadReads, writes: HeadWrites, branch: str, config: RepoConfig, log: Log
) -> None:
    """Judge the head of `branch` and move the incidents accordingly."""
    info = await reads.branch(branch)
    judgement = judge_checks(
        await reads.checks(info.head), counts=config.counts, required=info.required
    )
    log.info(
        "default branch head judged",
        extra={"sha": info.head, "verdict": judgement.verdict.value, "branch": branch},
    )
    if judgement.verdict is Verdict.GREEN:
        await _on_green(reads, writes, info.head)
        return
    if judgement.verdict is not Verdict.RED:
        return
    await writes.report_config_errors(info.head)
    open_incidents = await reads.open_incidents()
    for incident in open_incidents:
        writes.remember(incident)
    active = [i for i in open_incidents if i.state in OPEN_STATES]
    if active:
        current = max(active, key=lambda i: i.opened_at)
        news = HeadRed(info.head, branch, judgement.failing, _trivial(info.head))
        current = await writes.handle(current, news) or current
        # An incident that stopped half way (a fault, a crash) goes on with this event.
        current = await writes.resume(current)
        await writes.advance_bisection(current)
        return
    analysis = analyse_history(await reads.history(branch, info.required))
    if analysis.red_streak < config.consecutive:
        log.info(
            "red, but not yet confirmed",
            extra={"red_streak": analysis.red_streak, "needed": config.consecutive},
        )
        return
    if config.confirm == "rerun" and await writes.rerun_first(info.head):
        return
    await _on_red(
        reads, writes, open_incidents, branch, info.head, judgement.failing, analysis, config
    )


def _trivial(head: str) -> Analysis:
    """An active incident needs no history walk: the head alone is the news."""
    return Analysis(head, head, None, (), 1, False)


async def _on_green(reads: HeadReads, writes: HeadWrites, head: str) -> None:
    await writes.green(head)
    if not reads.known_active():
        return
    for incident in await reads.open_incidents():
        writes.remember(incident)
        if incident.state in OPEN_STATES:
            await writes.handle(incident, HeadGreen(head))  # every active one is mitigated
    writes.quiet()


async def _on_red(
    reads: HeadReads,
    writes: HeadWrites,
    open_incidents: list[Incident],
    branch: str,
    head: str,
    failing: tuple[CheckResult, ...],
    analysis: Analysis,
    config: RepoConfig,
) -> None:
    """A confirmed red streak and no active incident: open one (or wake a mitigated one)."""
    suspects = await reads.suspects(analysis.suspects)
    first_red = next((s for s in suspects if s.facts.sha == analysis.first_red), None)
    head_is_app_revert = bool(first_red and first_red.facts.is_app_commit)
    incident = pick_incident(
        open_incidents, head_is_app_revert=head_is_app_revert, first_red=analysis.first_red
    )
    refusal = bisection = facts = None

    async def no_bisection() -> None:
        return None

    async def no_facts() -> None:
        return None

    # Independent reads at once: who could fix it; whether CI can be asked which suspect broke
    # it (several suspects: then `revert_range` and the several-suspects rail apply only when
    # it cannot be, or is turned off); what the rails need to know.
    owners, bisection, facts = await asyncio.gather(
        reads.owners(branch, suspects),
        reads.bisection(branch, analysis.suspects) if incident is None else no_bisection(),
        revert_facts(reads, analysis.suspects, suspects, config)
        if incident is None
        else no_facts(),
    )
    if bisection is None and facts is not None:
        refusal = revert_refusal(facts, config, reads.now())
    event = HeadRed(
        sha=head,
        branch=branch,
        failing=failing,
        analysis=analysis,
        refusal=refusal,
        head_is_app_revert=head_is_app_revert,
        commits=tuple(s.summary for s in suspects),
        owners=owners,
        bisection=bisection,
    )
    opened = await writes.handle(incident, event)
    if opened is not None:
        await writes.advance_bisection(opened)


async def revert_facts(
    reads: HeadReads, shas: tuple[str, ...], suspects: Sequence[Suspect], config: RepoConfig
) -> RevertFacts:
    """What the rails (app.core.safety) need to know about a new incident's suspects."""
    commits = tuple(s.facts for s in suspects)
    vet = commits_to_vet(shas, len(commits), config)
    answers = await asyncio.gather(reads.reverts_today(), *map(reads.already_reverted, vet))
    reverted = frozenset(sha for sha, yes in zip(vet, answers[1:], strict=True) if yes)
    return RevertFacts(
        suspects=shas, commits=commits, reverted=reverted, reverts_today=int(answers[0])
    )
