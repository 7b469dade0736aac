"""Say something in an incident: one call that reaches both views of it.

Every part of the app that has news about an incident outside the incident's own
flow (a revert's CI failed, a merge blocked by branch protection) calls
`tell_incident`, so the GitHub issue and the Slack thread never disagree.
"""

from __future__ import annotations

from app.github.comments import comment_on_issue
from app.services import EventContext, load_config


async def tell_incident(ctx: EventContext, issue_number: int, text: str, *, kind: str) -> None:
    """Comment `text` on the incident issue and reply with it in the incident's Slack thread."""
    from app.incident.runner import IncidentRunner

    runner = IncidentRunner(ctx, await load_config(ctx))
    incident = await runner.store.get(issue_number)
    if incident is None:  # not (or no longer) one of ours: the comment alone still helps
        await comment_on_issue(ctx.gh, ctx.repo, issue_number, text)
        return
    runner.remember_slack(incident)
    # Said once by the caller (a marker on the revert PR): no look at the issue's comments.
    await runner.announce(incident, "note", {"text": text, "kind": kind}, once=False)
