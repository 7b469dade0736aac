"""A revert PR's landing step, and what people must hear about it, said once.

Taken on the revert's events (app.handlers.revert_merge) and, when those were lost, by the
incident's resumable LAND step (app.incident.runner): either way a refusal GitHub gives
(CI failed, a setting in the way, no merge method) is said once on the PR and in its
incident, the PR's hidden marker being how a later look knows it was said.
"""

from __future__ import annotations

from app.core.landing_messages import jump_refused_text, no_method_text, updates_spent_text
from app.core.revert_messages import (
    BLOCKED_MARKER,
    CI_FAILED_MARKER,
    JUMP_REFUSED_MARKER,
    NO_METHOD_MARKER,
    NOT_MERGEABLE_MARKER,
    UPDATES_SPENT_MARKER,
    RevertMarker,
    blocked_text,
    ci_failed_text,
    not_mergeable_text,
)
from app.github.comments import comment_on_issue_once
from app.incident.news import tell_incident
from app.revert.land import Landing, Outcome, land
from app.services import EventContext, load_config


async def advance(
    ctx: EventContext,
    number: int,
    base_ref: str,
    marker: RevertMarker,
    *,
    head_sha: str | None = None,
    may_enqueue: bool = True,
) -> Landing:
    """One landing step for revert PR `number`, and what people must hear about it."""
    config = await load_config(ctx, base_ref)
    landing = await land(
        ctx.gh, ctx.repo, number, config, marker.merge, head_sha=head_sha, may_enqueue=may_enqueue
    )
    ctx.log.info("revert landing", extra={"pr": number, "outcome": landing.outcome})
    settings = landing.settings
    if landing.outcome == Outcome.CI_FAILED:
        text = ci_failed_text(landing.failed)
        await say_once(ctx, number, marker, CI_FAILED_MARKER, text, kind="revert-ci-failed")
    elif landing.outcome == Outcome.BLOCKED:
        allowed = settings.auto_merge if settings else True
        text = blocked_text(base_ref, landing.message, auto_merge_allowed=allowed)
        await say_once(ctx, number, marker, BLOCKED_MARKER, text, kind="revert-blocked")
    elif landing.outcome == Outcome.NOT_MERGEABLE:
        text = not_mergeable_text(landing.message)
        kind = "revert-not-mergeable"
        await say_once(ctx, number, marker, NOT_MERGEABLE_MARKER, text, kind=kind)
    elif landing.outcome == Outcome.UPDATES_SPENT:
        text = updates_spent_text(base_ref, config.max_branch_updates)
        await say_once(ctx, number, marker, UPDATES_SPENT_MARKER, text, kind="revert-behind")
    elif landing.outcome == Outcome.NO_METHOD:
        text = no_method_text(config.merge_method, settings.allowed if settings else ())
        await say_once(ctx, number, marker, NO_METHOD_MARKER, text, kind="revert-blocked")
    elif landing.outcome == Outcome.ENQUEUED and landing.jump_refused:
        text = jump_refused_text(base_ref)
        await say_once(ctx, number, marker, JUMP_REFUSED_MARKER, text, kind="revert-queued")
    # HELD is said by on_hold_change: who holds it is known only from the event that did.
    return landing


async def say_once(
    ctx: EventContext,
    number: int,
    marker: RevertMarker,
    hidden: str,
    text: str,
    *,
    kind: str,
) -> None:
    """`text` on revert PR `number` unless its `hidden` marker is there, then in its incident."""
    if not await comment_on_issue_once(ctx.gh, ctx.repo, number, text, marker=hidden):
        return
    if marker.incident is not None:
        await tell_incident(ctx, marker.incident, f"Revert #{number}: {text}", kind=kind)
