"""Which commit is red or green, and which commits are suspect.

Pure: the shell fetches check runs, commit statuses and the commit list; this
module only judges them. A check "counts" when it is one of the branch's
required checks (when the branch has any), else when the repository config
does not exclude it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

# Conclusions that make a commit red. `cancelled`, `skipped` and `neutral` do
# not: a cancelled run says nothing about the code.
RED_CONCLUSIONS = frozenset({"failure", "timed_out", "startup_failure", "action_required"})
GREEN_CONCLUSIONS = frozenset({"success", "neutral", "skipped"})
RED_STATUS_STATES = frozenset({"failure", "error"})


class Verdict(StrEnum):
    RED = "red"
    GREEN = "green"
    PENDING = "pending"
    UNKNOWN = "unknown"  # nothing that counts has reported on this commit


@dataclass(frozen=True)
class CheckResult:
    """One report about a commit: a check run, a commit status or a workflow run.

    The one type for both readers of CI: detection (`is_red`, `is_green`, `judge_commit`:
    a cancelled run says nothing) and the revert's merge gate (app.core.revert_gate:
    anything but a pass is a failure)."""

    name: str
    outcome: str  # a check conclusion, or a status state; "pending" while running
    url: str | None = None
    kind: str = "check_run"  # "check_run" | "status" | "workflow_run"
    order: int = 0  # the check run's id: a later run of the same name has a higher one

    @property
    def is_red(self) -> bool:
        if self.kind == "status":
            return self.outcome in RED_STATUS_STATES
        return self.outcome in RED_CONCLUSIONS

    @property
    def is_green(self) -> bool:
        if self.kind == "status":
            return self.outcome == "success"
        return self.outcome in GREEN_CONCLUSIONS

    @property
    def is_cancelled(self) -> bool:
        return self.kind != "status" and self.outcome == "cancelled"


def check_outcome(status: str | None, conclusion: str | None) -> str:
    """A check run's or suite's outcome as one word: its conclusion once completed."""
    if status == "completed" and conclusion:
        return conclusion
    return "pending"


def from_check_run(run: Mapping[str, Any]) -> CheckResult:
    """A check run as the REST API lists it."""
    return CheckResult(
        name=str(run.get("name")),
        outcome=check_outcome(run.get("status"), run.get("conclusion")),
        url=run.get("html_url") or run.get("details_url"),
        kind="check_run",
        order=int(run.get("id") or 0),
    )


def from_status(status: Mapping[str, Any]) -> CheckResult:
    """A commit status (one context of the combined status)."""
    return CheckResult(
        name=str(status.get("context")),
        outcome=str(status.get("state")),
        url=status.get("target_url"),
        kind="status",
    )


@dataclass(frozen=True)
class CommitJudgement:
    verdict: Verdict
    failing: tuple[CheckResult, ...] = ()
    pending: tuple[str, ...] = ()


def latest_by_name(results: Iterable[CheckResult]) -> list[CheckResult]:
    """Keep the last report of each name (a re-run replaces the earlier attempt)."""
    by_name: dict[str, CheckResult] = {}
    for result in results:
        by_name[result.name] = result
    return list(by_name.values())


def judge_commit(
    results: Iterable[CheckResult],
    *,
    counts: Callable[[str], bool],
    required: Sequence[str] = (),
) -> CommitJudgement:
    """Red if any counted check failed; green if every counted check passed.

    With required checks, only they count, and a required check that has not
    reported yet keeps the commit pending (GitHub's own merge rule).
    """
    latest = latest_by_name(results)
    if required:
        wanted = set(required)
        counted = [r for r in latest if r.name in wanted]
        missing = tuple(sorted(wanted - {r.name for r in counted}))
    else:
        counted = [r for r in latest if counts(r.name)]
        missing = ()
    failing = tuple(r for r in counted if r.is_red)
    if failing:
        return CommitJudgement(Verdict.RED, failing=failing)
    pending = tuple(r.name for r in counted if not r.is_green and not r.is_cancelled) + missing
    if pending:
        return CommitJudgement(Verdict.PENDING, pending=pending)
    if not [r for r in counted if r.is_green]:
        return CommitJudgement(Verdict.UNKNOWN)
    return CommitJudgement(Verdict.GREEN)


@dataclass(frozen=True)
class JudgedCommit:
    sha: str
    verdict: Verdict


@dataclass(frozen=True)
class Analysis:
    """What the history says about a red head.

    `suspects` are the commits after the last green one up to and including the
    first red one, oldest first. `red_streak` counts red commits in a row from
    the head (pending and unknown commits in between neither break nor extend it).
    """

    head: str
    first_red: str | None
    last_green: str | None
    suspects: tuple[str, ...]
    red_streak: int
    walked_to_limit: bool

    @property
    def culprit(self) -> str | None:
        return self.suspects[0] if len(self.suspects) == 1 else None


def analyse_history(history: Sequence[JudgedCommit]) -> Analysis:
    """`history` is newest first, starting at the head, as far back as the shell walked."""
    if not history:
        raise ValueError("analyse_history needs at least the head commit")
    head = history[0].sha
    last_green_index: int | None = None
    for index, commit in enumerate(history):
        if commit.verdict is Verdict.GREEN:
            last_green_index = index
            break
    window = history if last_green_index is None else history[:last_green_index]
    red_indexes = [i for i, c in enumerate(window) if c.verdict is Verdict.RED]
    if not red_indexes:
        return Analysis(head, None, _sha_at(history, last_green_index), (), 0, False)
    first_red_index = red_indexes[-1]
    suspects = tuple(c.sha for c in reversed(window[first_red_index:]))
    streak = 0
    for commit in window:
        if commit.verdict is Verdict.RED:
            streak += 1
        elif commit.verdict is Verdict.GREEN:
            break
    return Analysis(
        head=head,
        first_red=window[first_red_index].sha,
        last_green=_sha_at(history, last_green_index),
        suspects=suspects,
        red_streak=streak,
        walked_to_limit=last_green_index is None,
    )


def _sha_at(history: Sequence[JudgedCommit], index: int | None) -> str | None:
    return None if index is None else history[index].sha
