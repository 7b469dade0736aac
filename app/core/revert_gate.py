"""May a revert PR be merged now? A pure verdict over the checks on its head commit.

Used when GitHub's auto-merge is unavailable and Build Sheriff merges on green itself.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

SUCCESS, PENDING, FAILURE = "success", "pending", "failure"
# GitHub counts neutral and skipped runs as passing for required checks; so do we.
_PASSING_CONCLUSIONS = frozenset({"success", "neutral", "skipped"})


@dataclass(frozen=True)
class CheckResult:
    name: str
    state: str  # SUCCESS | PENDING | FAILURE
    url: str | None = None
    order: int = 0  # later runs of the same name win (check run id)


def from_check_run(run: Mapping[str, Any]) -> CheckResult:
    if run.get("status") != "completed":
        state = PENDING
    elif run.get("conclusion") in _PASSING_CONCLUSIONS:
        state = SUCCESS
    else:
        state = FAILURE
    return CheckResult(str(run.get("name")), state, run.get("html_url"), int(run.get("id") or 0))


def from_status(status: Mapping[str, Any]) -> CheckResult:
    raw = status.get("state")
    state = SUCCESS if raw == "success" else PENDING if raw == "pending" else FAILURE
    return CheckResult(str(status.get("context")), state, status.get("target_url"))


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
    failed = tuple(sorted(n for n, r in latest.items() if r.state == FAILURE))
    pending = tuple(sorted(n for n, r in latest.items() if r.state == PENDING))
    if failed:
        return Verdict("failed", failed, pending)
    if pending or not latest:
        return Verdict("wait", (), pending)
    return Verdict("merge")
