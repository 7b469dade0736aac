"""People running the incident: comment commands, hand-set labels, close and reopen,
and the revert pull request's progress.

Changes the app made itself come back as webhooks too (sender: the app's bot);
they are ignored here so our own label writes never echo as new transitions.

One permission rule for every state change: write access (write, maintain or admin),
asked of GitHub at the time of the change, whether it comes as a command, a state label
or closing or reopening the issue. GitHub lets triage users label and close issues; such a
change by anyone below write is undone here and explained once per person and incident.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from gidgethub.routing import Router
from gidgethub.sansio import Event

from app.core.commands import parse_command
from app.core.config import RepoConfig
from app.core.incident import (
    CommandGiven,
    Incident,
    IssueClosed,
    IssueReopened,
    LabelSet,
    RevertMerged,
    RevertOpened,
    State,
)
from app.core.render import parse_marker
from app.core.revert_messages import BRANCH_PREFIX, parse_revert_marker
from app.github.comments import comment_on_issue_once
from app.github.permissions import can_write, is_bot
from app.incident.runner import IncidentRunner
from app.incident.store import IncidentStore, incident_from_issue, state_of_label
from app.services import EventContext, load_config

router = Router()

UNDONE_MARKER = "<!-- buildsheriff-state-change-undone: {login} -->"
UNDONE = (
    "@{login}, only people with write access to this repository can change an incident's "
    "state, so {what} was undone. Ask someone with write access, who can also use the "
    "commands (`/ack`, `/mitigated`, `/resolve`)."
)

async def _as_written(
    ctx: EventContext, number: int, config: RepoConfig
) -> tuple[Incident | None, IncidentStore]:
    """The incident in the state the app last wrote (a human's change is the event)."""
    store = IncidentStore(ctx.gh, ctx.repo, config)
    issue = await ctx.gh.getitem(f"/repos/{ctx.repo}/issues/{number}")
    incident = incident_from_issue(issue, config.labels)
    if incident is None:
        return None, store
    written = (parse_marker(issue.get("body")) or {}).get("state")
    if written:
        incident = replace(incident, state=State(written))
    return incident, store


async def _runner_for(event: Event, ctx: EventContext) -> tuple[IncidentRunner, Incident] | None:
    """Config and incident for a person's `issues`/`issue_comment` event; None when the
    issue is not an incident or the sender is a bot (our own writes come back as events)."""
    if is_bot(event.data["sender"]):
        return None
    issue = event.data["issue"]
    if issue.get("pull_request"):
        return None
    config = await load_config(ctx, event.data["repository"]["default_branch"])
    names = [label["name"] for label in issue.get("labels", [])]
    if config.labels.incident not in names:
        return None
    incident, store = await _as_written(ctx, int(issue["number"]), config)
    if incident is None:
        return None
    runner = IncidentRunner(ctx, config, store)
    runner.remember_slack(incident)
    return runner, incident


async def _react(ctx: EventContext, comment_id: int, content: str) -> None:
    await ctx.gh.post(
        f"/repos/{ctx.repo}/issues/comments/{comment_id}/reactions", data={"content": content}
    )


@router.register("issue_comment", action="created")
async def on_comment(event: Event, ctx: EventContext) -> None:
    sender = event.data["sender"]
    if is_bot(sender):
        return
    command = parse_command(event.data["comment"].get("body"))
    if command is None or command.name == "revert":  # /revert belongs to the revert flow
        return
    loaded = await _runner_for(event, ctx)
    if loaded is None:
        return
    runner, incident = loaded
    comment_id = int(event.data["comment"]["id"])
    await _react(ctx, comment_id, "eyes")  # receipt first: the human knows we heard
    allowed = await can_write(ctx.gh, ctx.repo, sender["login"])
    after = await runner.handle(
        incident, CommandGiven(command.name, command.arg, sender["login"], allowed)
    )
    if allowed and after is not None and after != incident:
        await _react(ctx, comment_id, "rocket")
    # An incident that stopped half way goes on with the next event about it (no read).
    await runner.resume(after or incident)


async def _allowed_or_undone(
    event: Event, ctx: EventContext, incident: Incident, what: str, undo: Any
) -> bool:
    """True when the sender may change the incident's state; else `undo()` and say why once."""
    login = str(event.data["sender"]["login"])
    if await can_write(ctx.gh, ctx.repo, login):
        return True
    await undo()
    assert incident.number is not None
    marker = UNDONE_MARKER.format(login=login)
    text = UNDONE.format(login=login, what=what) + "\n\n" + marker
    await comment_on_issue_once(ctx.gh, ctx.repo, incident.number, text, marker=marker)
    ctx.log.info("state change undone", extra={"issue": incident.number, "actor": login,
                                                "what": what})
    return False


async def _set_issue_state(ctx: EventContext, number: int, state: str) -> None:
    reason = "completed" if state == "closed" else "reopened"
    await ctx.gh.patch(
        f"/repos/{ctx.repo}/issues/{number}", data={"state": state, "state_reason": reason}
    )


@router.register("issues", action="labeled")
async def on_labeled(event: Event, ctx: EventContext) -> None:
    loaded = await _runner_for(event, ctx)
    if loaded is None:
        return
    runner, incident = loaded
    label = event.data["label"]["name"]
    target = state_of_label(label, runner.config.labels)
    if target is None or target is incident.state:
        return

    async def undo() -> None:
        await runner.persist(incident)  # the labels of the state the app knows

    if await _allowed_or_undone(event, ctx, incident, f"the label `{label}`", undo):
        after = await runner.handle(incident, LabelSet(target, event.data["sender"]["login"]))
        await runner.resume(after or incident)


@router.register("issues", action="unlabeled")
async def on_unlabeled(event: Event, ctx: EventContext) -> None:
    """A state label removed by hand leaves no state: write back the one we know."""
    loaded = await _runner_for(event, ctx)
    if loaded is None:
        return
    runner, incident = loaded
    if state_of_label(event.data["label"]["name"], runner.config.labels) is incident.state:
        if event.data["issue"].get("state") == "open":
            await runner.persist(incident)


@router.register("issues", action="closed")
async def on_closed(event: Event, ctx: EventContext) -> None:
    loaded = await _runner_for(event, ctx)
    if loaded is None:
        return
    runner, incident = loaded
    if incident.state is State.RESOLVED:
        return
    number = int(event.data["issue"]["number"])

    async def undo() -> None:
        await _set_issue_state(ctx, number, "open")

    if await _allowed_or_undone(event, ctx, incident, "closing the issue", undo):
        await runner.handle(incident, IssueClosed(event.data["sender"]["login"]))


@router.register("issues", action="reopened")
async def on_reopened(event: Event, ctx: EventContext) -> None:
    loaded = await _runner_for(event, ctx)
    if loaded is None:
        return
    runner, incident = loaded
    if incident.state is not State.RESOLVED:
        return
    number = int(event.data["issue"]["number"])

    async def undo() -> None:
        await _set_issue_state(ctx, number, "closed")

    if await _allowed_or_undone(event, ctx, incident, "reopening the issue", undo):
        await runner.handle(incident, IssueReopened(event.data["sender"]["login"]))


async def _revert_incident(
    event: Event, ctx: EventContext
) -> tuple[IncidentRunner, Incident, dict[str, Any]] | None:
    """The incident a revert PR's hidden marker names, if the PR is one of ours."""
    pr = event.data["pull_request"]
    if not str(pr["head"]["ref"]).startswith(BRANCH_PREFIX):
        return None
    marker = parse_revert_marker(pr.get("body"))
    if marker is None or marker.incident is None:
        return None
    config = await load_config(ctx, event.data["repository"]["default_branch"])
    incident, store = await _as_written(ctx, marker.incident, config)
    if incident is None:
        return None
    runner = IncidentRunner(ctx, config, store)
    runner.remember_slack(incident)
    return runner, incident, pr


@router.register("pull_request", action="opened")
async def on_revert_opened(event: Event, ctx: EventContext) -> None:
    """A revert opened by `/revert` joins the incident's timeline. One the incident flow
    opened is recorded by that flow (or by its resumable step after a stop): no read."""
    marker = parse_revert_marker(event.data["pull_request"].get("body"))
    if marker is not None and marker.recorded:
        return
    loaded = await _revert_incident(event, ctx)
    if loaded is not None:
        runner, incident, pr = loaded
        await runner.handle(incident, RevertOpened(int(pr["number"]), pr["html_url"]))


@router.register("pull_request", action="closed")
async def on_revert_closed(event: Event, ctx: EventContext) -> None:
    loaded = await _revert_incident(event, ctx)
    if loaded is None:
        return
    runner, incident, pr = loaded
    if pr.get("merged"):
        await runner.handle(incident, RevertMerged(int(pr["number"]), pr.get("merge_commit_sha")))
