"""Merge a revert PR once its checks are green, when GitHub's auto-merge cannot do it.

`PUT /pulls/{n}/merge` carries the head sha as a guard: if someone pushes between our
read and the merge, GitHub answers 409 instead of merging code nobody checked.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gidgethub import BadRequest

from app.core.config import RepoConfig
from app.core.revert_gate import verdict
from app.github.checks import commit_checks
from app.github.client import GitHubClient

# 405 texts that mean branch protection or rules, as opposed to a PR that cannot merge.
_PROTECTION_WORDS = ("review", "protect", "restrict", "authorized", "required", "rule")


@dataclass(frozen=True)
class Landing:
    # "merged" | "waiting" | "ci-failed" | "blocked" | "not-mergeable" | "moved" | "gone"
    outcome: str
    failed: tuple[str, ...] = ()  # for "ci-failed": the counted checks that failed
    message: str = ""  # for "blocked" / "not-mergeable": what GitHub said


async def land_if_green(
    gh: GitHubClient, repo: str, pr: dict[str, Any], config: RepoConfig, *, may_merge: bool
) -> Landing:
    """Merge `pr` if every counted check on its head passed; else say why not.

    `may_merge` False only judges the checks (GitHub's auto-merge is in charge)."""
    decision = verdict(await commit_checks(gh, repo, pr["head"]["sha"]), config.counts)
    if decision.decision == "failed":
        return Landing("ci-failed", failed=decision.failed)
    if decision.decision != "merge" or not may_merge:
        return Landing("waiting")
    number = pr["number"]
    try:
        await gh.put(
            f"/repos/{repo}/pulls/{number}/merge",
            data={"sha": pr["head"]["sha"], "merge_method": config.merge_method},
        )
        return Landing("merged")
    except BadRequest as exc:
        status, message = int(exc.status_code), str(exc)
    if status == 409:
        return Landing("moved")  # the new head's checks will bring us back
    fresh = await gh.getitem(f"/repos/{repo}/pulls/{number}")
    if fresh.get("merged") or fresh.get("state") != "open":
        return Landing("gone")  # a concurrent event merged (or someone closed) it first
    if status == 405 and any(w in message.lower() for w in _PROTECTION_WORDS):
        return Landing("blocked", message=message)
    return Landing("not-mergeable", message=message)
