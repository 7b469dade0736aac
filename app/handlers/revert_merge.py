"""Land revert PRs: on their checks, on every move of the default branch, on holds, and say
once what people must know (CI failed, an admin setting is in the way, held by whom).

What triggers an evaluation (app.revert.land does it):
- check_suite, check_run, status on a `buildsheriff/revert-*` head: merge, enqueue or update;
- push to the default branch: a revert PR behind a strict base is brought up to date;
- pull_request converted_to_draft / ready_for_review / labeled / unlabeled (the hold label):
  a person holds or lets go of the revert (the event's sender is who);
- merge_group destroyed (not merged) for a revert's group: landing is re-driven without
  queueing it again (a group that failed would fail again); a revert that left the queue is
  said once. Checks and pushes on a group's `gh-readonly-queue/...` branch are never ours.
What GitHub refuses is said ONCE (a hidden marker in our comment is how a later event knows
it was said), in the PR and in its incident.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any
from urllib.parse import quote

from gidgethub.routing import Router
from gidgethub.sansio import Event

from app.core.landing import merge_method_for, queued_pull_number
from app.core.landing_messages import (
    held_text,
    queue_left_marker,
    queue_left_text,
    released_text,
)
from app.core.revert_messages import (
    BRANCH_PREFIX,
    Merger,
    RevertMarker,
    parse_revert_marker,
)
from app.github.comments import comment_on_issue
from app.incident.landing_news import advance, say_once
from app.incident.news import tell_incident
from app.incident.runner import active_repos
from app.revert.land import Outcome
from app.revert.pr import enable_auto_merge
from app.services import EventContext, load_config
from app.settings import Settings

router = Router()

_HOLD_STATE = re.compile(r"<!-- buildsheriff-revert-hold: (held|released) -->")


@router.register("check_suite", action="completed")
@router.register("check_run", action="completed")
@router.register("status")
async def on_ci_result(event: Event, ctx: EventContext) -> None:
    if event.event == "status" and event.data.get("state") == "pending":
        return  # a pending status can neither complete nor fail a revert
    sha = event.data["sha"] if event.event == "status" else event.data[event.event]["head_sha"]
    await consider(ctx, sha, _ci_branches(event.event, event.data))


def _ci_branches(event: str, data: dict[str, Any]) -> list[str | None]:
    """The branches a CI event names: its head branch and its pull requests' heads (a check),
    or the status's branch list."""
    if event == "status":
        return [b.get("name") for b in data.get("branches") or ()]
    if event == "check_suite":
        suite = data["check_suite"]
        return [suite.get("head_branch"), *_pr_branches(suite.get("pull_requests"))]
    run = data["check_run"]
    suite = run.get("check_suite") or {}
    return [suite.get("head_branch"), *_pr_branches(run.get("pull_requests"))]


def _pr_branches(pulls: Any) -> list[str | None]:
    return [(p.get("head") or {}).get("ref") for p in pulls or ()]


def _ours(branches: list[str | None]) -> list[str]:
    return sorted({b for b in branches if isinstance(b, str) and b.startswith(BRANCH_PREFIX)})


# What `may_matter` reads of each event (a leaf is read whole; the events not named here it
# takes whole without reading): the receiver decodes only these before asking it.
READS: dict[str, tuple[str, ...]] = {
    "check_run": ("check_run.check_suite.head_branch", "check_run.pull_requests"),
    "check_suite": ("check_suite.head_branch", "check_suite.pull_requests"),
    "status": ("state", "branches"),
}


def may_matter(event: str, data: dict[str, Any], settings: Settings) -> bool:
    """Whether an event can matter to landing, from the payload alone, before it is queued
    (app.server.webhooks): a CI result (not pending) naming a revert branch; every other
    event this concern takes. False is certain (the handlers would do nothing); an odd
    payload is True, for the receiver's full checks and the handler to judge."""
    if event not in ("check_suite", "check_run", "status"):
        return True
    try:
        if event == "status" and data.get("state") == "pending":
            return False
        return bool(_ours(_ci_branches(event, data)))
    except (LookupError, TypeError, AttributeError):
        return True


async def consider(ctx: EventContext, sha: str, branches: list[str | None]) -> None:
    """Every open revert PR whose head is `sha`: merge it, enqueue it, update it, or wait."""
    ours = _ours(branches)
    for branch in ours:
        owner = ctx.repo.split("/")[0]
        head = quote(f"{owner}:{branch}", safe="")
        for pr in await ctx.gh.getitem(f"/repos/{ctx.repo}/pulls?head={head}&state=open"):
            marker = parse_revert_marker(pr.get("body"))
            if marker is None or pr["head"]["sha"] != sha:
                continue
            await advance(ctx, int(pr["number"]), pr["base"]["ref"], marker, head_sha=sha)


@router.register("push")
async def on_push(event: Event, ctx: EventContext) -> None:
    """The default branch moved: revert PRs on it may have fallen behind a strict base."""
    ref = str(event.data.get("ref") or "")
    default = (event.data.get("repository") or {}).get("default_branch")
    if event.data.get("deleted") or not default or ref != f"refs/heads/{default}":
        return  # merge-queue refs, probes, revert branches, tags: not the base moving
    if ctx.repo not in active_repos(ctx.services):
        return  # no incident, so no revert waiting: a quiet push costs no call (a revert's
        # own checks bring it up to date too, each time they finish)
    url = f"/repos/{ctx.repo}/pulls?state=open&base={quote(default, safe='')}&per_page=100"
    for pr in await ctx.gh.getitem(url):
        if not str(pr["head"]["ref"]).startswith(BRANCH_PREFIX):
            continue
        marker = parse_revert_marker(pr.get("body"))
        if marker is not None:
            await advance(ctx, int(pr["number"]), default, marker, may_enqueue=False)


# ------------------------------------------------------------------ holds


@router.register("pull_request", action="converted_to_draft")
@router.register("pull_request", action="ready_for_review")
@router.register("pull_request", action="labeled")
@router.register("pull_request", action="unlabeled")
async def on_hold_change(event: Event, ctx: EventContext) -> None:
    """A person held a revert (draft, hold label) or let it go: disarm or re-arm it, and
    say who, once per change (the last hold notice on the PR says where things stand)."""
    pr = event.data["pull_request"]
    if not str(pr["head"]["ref"]).startswith(BRANCH_PREFIX) or pr.get("state") != "open":
        return
    marker = parse_revert_marker(pr.get("body"))
    if marker is None:
        return
    config = await load_config(ctx, pr["base"]["ref"])
    label = (event.data.get("label") or {}).get("name")
    if label is not None and label.casefold() != config.labels.hold.casefold():
        return
    who = (event.data.get("sender") or {}).get("login")
    releasing = event.data.get("action") in ("ready_for_review", "unlabeled")
    number, base = int(pr["number"]), str(pr["base"]["ref"])
    landing = await advance(ctx, number, base, marker)
    facts, settings = landing.facts, landing.settings
    if landing.outcome == Outcome.HELD and landing.hold is not None and facts is not None:
        queued = facts.queue_entry is not None or marker.merge is Merger.QUEUE
        text = held_text(landing.hold, who, config.labels.hold, queued=queued)
        await _say_hold(ctx, number, marker, held=True, text=text)
        return
    if not releasing or facts is None or settings is None or landing.outcome == Outcome.GONE:
        return
    if marker.merge is Merger.AUTO and not facts.auto_merge and not facts.queue_enabled:
        # GitHub switched auto-merge off with the draft (or we did, for the label): on again;
        # when GitHub says there is nothing left to wait for, merge it here and now.
        method = merge_method_for(config.merge_method, settings.allowed) or "merge"
        merger = await enable_auto_merge(ctx.gh, facts.node_id, method)
        await advance(ctx, number, base, replace(marker, merge=merger))
    await _say_hold(ctx, number, marker, held=False, text=released_text(who))


async def _hold_state(ctx: EventContext, number: int) -> str | None:
    state = None
    async for comment in ctx.gh.getiter(f"/repos/{ctx.repo}/issues/{number}/comments"):
        found = _HOLD_STATE.findall(comment.get("body") or "")
        if found:
            state = found[-1]
    return state


async def _said_held(ctx: EventContext, number: int) -> bool:
    return await _hold_state(ctx, number) == "held"


async def _say_hold(
    ctx: EventContext, number: int, marker: RevertMarker, *, held: bool, text: str
) -> None:
    """Say held (or released) unless the last hold notice already says so; a release is
    news only after a hold was said."""
    state = await _hold_state(ctx, number)
    if state == ("held" if held else "released") or (not held and state is None):
        return
    await comment_on_issue(ctx.gh, ctx.repo, number, text)
    if marker.incident is not None:
        kind = "revert-held" if held else "revert-released"
        await tell_incident(ctx, marker.incident, f"Revert #{number}: {text}", kind=kind)


# ------------------------------------------------------------------ the merge queue


@router.register("merge_group", action="destroyed")
async def on_group_destroyed(event: Event, ctx: EventContext) -> None:
    """A revert's merge group went away without merging (`dequeued`: its checks failed or
    someone took it out; `invalidated`: GitHub builds it again): take the next step, never
    re-enqueue, and say once that the revert left the queue. `merged` is the pull request's
    own `closed` event's news; `checks_requested` is for CI."""
    group = event.data.get("merge_group") or {}
    reason = event.data.get("reason")
    number = queued_pull_number(str(group.get("head_ref") or ""))
    if reason == "merged" or number is None:
        return
    if ctx.repo not in active_repos(ctx.services):
        return  # no incident, so no revert in the queue: a stranger's group costs no call
    pr = await ctx.gh.getitem(f"/repos/{ctx.repo}/pulls/{number}")
    marker = parse_revert_marker(pr.get("body"))
    head = str((pr.get("head") or {}).get("ref") or "")
    if marker is None or not head.startswith(BRANCH_PREFIX) or pr.get("state") != "open":
        return
    base = str(pr["base"]["ref"])
    landing = await advance(ctx, number, base, marker, may_enqueue=False)
    left = landing.facts is not None and landing.facts.queue_entry is None
    if reason == "dequeued" and left and landing.outcome == Outcome.WAITING:
        sha = str(group.get("head_sha") or "")
        text = queue_left_text(base, sha)
        await say_once(ctx, number, marker, queue_left_marker(sha), text, kind="revert-queue")
