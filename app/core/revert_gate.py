"""May a revert PR be merged now? A pure verdict over the checks on its head commit.

Used when GitHub's auto-merge is unavailable and Build Sheriff merges on green itself.
Stricter than detection (app.core.builds): here a cancelled run is a failure, since
GitHub's required checks treat it so, and of two runs of one name the later (higher
id) wins whatever order they were listed in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from app.core.builds import CheckResult

SUCCESS, PENDING, FAILURE = "success", "pending", "failure"
# GitHub counts neutral and skipped runs as passing for required checks; so do we.
_PASSING_CONCLUSIONS = frozenset({"success", "neutral", "skipped"})


def gate_state(result: CheckResult) -> str:
    """SUCCESS, PENDING or FAILURE: anything completed that did not pass is a failure."""
    if result.outcome == "pending":
        return PENDING
    if result.kind == "status":
        return SUCCESS if result.outcome == "success" else FAILURE
    return SUCCESS if result.outcome in _PASSING_CONCLUSIONS else FAILURE


@dataclass(frozen=True)
class Verdict:
    decision: str  # "merge" | "wait" | "failed"
    failed: tuple[str, ...] = ()
    pending: tuple[str, ...] = ()


def verdict(results: Iterable[CheckResult], counts: Callable[[str], bool]) -> Verdict:
    """Merge only when every counted check succeeded and there is at least one."""
    latest: dict[str, CheckResult] = {}
    for result in results:
        if not counts(result.name):
            continue
        known = latest.get(result.name)
        if known is None or result.order >= known.order:
            latest[result.name] = result
    states = {name: gate_state(r) for name, r in latest.items()}
    failed = tuple(sorted(n for n, state in states.items() if state == FAILURE))
    pending = tuple(sorted(n for n, state in states.items() if state == PENDING))
    if failed:
        return Verdict("failed", failed, pending)
    if pending or not latest:
        return Verdict("wait", (), pending)
    return Verdict("merge")
