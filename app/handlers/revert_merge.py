"""Merge a revert PR on green when GitHub's auto-merge could not be enabled; and, for every
revert PR, say once when its own CI fails.

Checks report through three events (check_suite, check_run, status); each names the
head sha and, cheaply, the branch. Only branches named `buildsheriff/revert-*` cost an
API call. The merging itself is app.revert.land. What GitHub refuses is said
ONCE (a hidden marker in our comment is how a later event knows it was said), in the PR
and in its incident.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from gidgethub.routing import Router
from gidgethub.sansio import Event

from app.core.revert_messages import (
    BLOCKED_MARKER,
    BRANCH_PREFIX,
    CI_FAILED_MARKER,
    NOT_MERGEABLE_MARKER,
    Merger,
    RevertMarker,
    blocked_text,
    ci_failed_text,
    not_mergeable_text,
    parse_revert_marker,
)
from app.github.comments import comment_on_issue_once
from app.incident.news import tell_incident
from app.revert.land import land_if_green
from app.services import EventContext, load_config

router = Router()


@router.register("check_suite", action="completed")
async def on_check_suite(event: Event, ctx: EventContext) -> None:
    suite = event.data["check_suite"]
    branches = [suite.get("head_branch"), *_pr_branches(suite.get("pull_requests"))]
    await consider(ctx, suite["head_sha"], branches)


@router.register("check_run", action="completed")
async def on_check_run(event: Event, ctx: EventContext) -> None:
    run = event.data["check_run"]
    suite = run.get("check_suite") or {}
    branches = [suite.get("head_branch"), *_pr_branches(run.get("pull_requests"))]
    await consider(ctx, run["head_sha"], branches)


@router.register("status")
async def on_status(event: Event, ctx: EventContext) -> None:
    if event.data.get("state") == "pending":
        return  # a pending status can neither complete nor fail a revert
    branches = [b.get("name") for b in event.data.get("branches") or ()]
    await consider(ctx, event.data["sha"], branches)


def _pr_branches(pulls: Any) -> list[str | None]:
    return [(p.get("head") or {}).get("ref") for p in pulls or ()]


async def consider(ctx: EventContext, sha: str, branches: list[str | None]) -> None:
    """Every open revert PR whose head is `sha`: merge it, wait, or report failed CI."""
    ours = sorted({b for b in branches if b and b.startswith(BRANCH_PREFIX)})
    for branch in ours:
        owner = ctx.repo.split("/")[0]
        head = quote(f"{owner}:{branch}", safe="")
        for pr in await ctx.gh.getitem(f"/repos/{ctx.repo}/pulls?head={head}&state=open"):
            marker = parse_revert_marker(pr.get("body"))
            if marker is None or pr["head"]["sha"] != sha:
                continue
            await _consider_pr(ctx, pr, marker)


async def _consider_pr(ctx: EventContext, pr: dict[str, Any], marker: RevertMarker) -> None:
    config = await load_config(ctx, pr["base"]["ref"])
    # Auto-merge in charge, or a human disabled it (which we respect): only judge the checks.
    may_merge = marker.merge is Merger.SHERIFF and not pr.get("auto_merge")
    landing = await land_if_green(ctx.gh, ctx.repo, pr, config, may_merge=may_merge)
    if landing.outcome == "merged":
        ctx.log.info("revert merged on green", extra={"pr": pr["number"]})
    elif landing.outcome == "ci-failed":
        text = ci_failed_text(landing.failed)
        await _say_once(ctx, pr, marker, CI_FAILED_MARKER, text, kind="revert-ci-failed")
    elif landing.outcome == "blocked":
        text = blocked_text(pr["base"]["ref"], landing.message)
        await _say_once(ctx, pr, marker, BLOCKED_MARKER, text, kind="revert-blocked")
    elif landing.outcome == "not-mergeable":
        text = not_mergeable_text(landing.message)
        await _say_once(ctx, pr, marker, NOT_MERGEABLE_MARKER, text, kind="revert-not-mergeable")


async def _say_once(
    ctx: EventContext,
    pr: dict[str, Any],
    marker: RevertMarker,
    hidden: str,
    text: str,
    *,
    kind: str,
) -> None:
    if not await comment_on_issue_once(ctx.gh, ctx.repo, int(pr["number"]), text, marker=hidden):
        return
    if marker.incident is not None:
        await tell_incident(ctx, marker.incident, f"Revert #{pr['number']}: {text}", kind=kind)
