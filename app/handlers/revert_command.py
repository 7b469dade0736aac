"""`/revert` typed by a person: on a commit, on a merged PR, or `/revert <sha>` on an incident.

Only people with write access (write, maintain, admin) may; bots are ignored without a
word; anyone else gets one polite reply and nothing else happens. A 👀 reaction says
at once that the command was seen; the reply carries the PR link, or the conflict and
the exact commands to revert by hand. Manual reverts skip the automatic safety rails:
a person with write access has decided.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from gidgethub import BadRequest
from gidgethub.routing import Router
from gidgethub.sansio import Event

from app.core.commands import Command, explain_rejection, parse_command
from app.core.config import RepoConfig
from app.core.culprit import CulpritFacts
from app.core.revert_messages import (
    empty_text,
    reply_failed,
    reply_need_sha,
    reply_not_allowed,
    reply_not_on_branch,
    reply_opened,
    reply_pr_not_merged,
    reply_rebase_merged,
    reply_unknown_commit,
)
from app.github.comments import comment_on_issue
from app.github.history import is_ancestor
from app.github.permissions import can_write, is_bot
from app.revert.commit import RevertConflict, RevertEmpty, read_culprit
from app.revert.pr import RevertPR, open_revert_pr
from app.services import EventContext, load_config

router = Router()

Reply = Callable[[str], Awaitable[None]]


def _wants_revert(event: Event) -> Command | None:
    """The `/revert` command of a person's comment (its arg: a sha or ""), else None."""
    if is_bot(event.data["sender"]):
        return None
    command = parse_command(event.data["comment"].get("body"))
    if command is None or command.name != "revert":
        return None
    return command


def _mistyped(event: Event) -> str | None:
    """Why a person's `/revert <not a sha>` did nothing (a reply beats silence)."""
    if is_bot(event.data["sender"]):
        return None
    return explain_rejection(event.data["comment"].get("body"))


async def may_revert(ctx: EventContext, login: str) -> bool:
    return await can_write(ctx.gh, ctx.repo, login)


async def default_branch(ctx: EventContext, event: Event) -> str:
    branch = (event.data.get("repository") or {}).get("default_branch")
    if branch:
        return str(branch)
    repo = await ctx.gh.getitem(f"/repos/{ctx.repo}")
    return str(repo["default_branch"])


def _app_login(ctx: EventContext) -> str:
    slug = getattr(ctx.services.settings, "app_slug", None) or "buildsheriff"
    return f"{slug}[bot]"


@dataclass(frozen=True)
class RevertReads:
    """What a manual revert reads before it acts, read together (and, for a commit comment,
    together with the permission check: reads only, nothing is written before it is known)."""

    where: bool | None  # is the sha on the branch (None: no such commit)
    config: RepoConfig
    culprit: CulpritFacts | None  # None: read again by the revert (or no such commit)


async def _culprit_or_none(ctx: EventContext, sha: str) -> CulpritFacts | None:
    try:
        return await read_culprit(ctx.gh, ctx.repo, sha)
    except BadRequest as exc:
        if exc.status_code in (404, 422):
            return None  # the compare says what the reply needs
        raise


async def revert_reads(ctx: EventContext, sha: str, branch: str) -> RevertReads:
    """Is the sha on the branch ‖ the config ‖ the culprit commit: one round trip."""
    where, config, culprit = await asyncio.gather(
        is_ancestor(ctx.gh, ctx.repo, sha, branch),
        load_config(ctx, branch),
        _culprit_or_none(ctx, sha),
    )
    return RevertReads(where, config, culprit)


async def revert_by_hand(
    ctx: EventContext,
    *,
    sha: str,
    branch: str,
    requester: str,
    comment_url: str,
    incident_number: int | None,
    extra_why: str = "",
    reply: Reply,
    reads: RevertReads | None = None,
) -> RevertPR | RevertConflict | RevertEmpty | None:
    """Check the sha is on the branch, open the revert, reply with the outcome (the reply
    naming a new PR goes out with the PR's label, review request and auto-merge)."""
    if reads is None:
        reads = await revert_reads(ctx, sha, branch)
    if reads.where is None:
        await reply(reply_unknown_commit(sha))
        return None
    if not reads.where:
        await reply(reply_not_on_branch(sha, branch))
        return None
    why = f"@{requester} asked for it with `/revert` ({comment_url})."
    if extra_why:
        why += "\n\n" + extra_why
    announced: list[str] = []

    async def announce(url: str) -> None:
        announced.append(url)
        await reply(reply_opened(url, created=True))

    try:
        result = await open_revert_pr(
            ctx.gh,
            ctx.repo,
            sha,
            base_branch=branch,
            config=reads.config,
            incident_number=incident_number,
            why_markdown=why,
            app_login=_app_login(ctx),
            culprit=reads.culprit,
            announce=announce,
        )
    except BadRequest as exc:
        ctx.log.warning("manual revert failed", extra={"sha": sha, "status": exc.status_code})
        if not announced:
            await reply(reply_failed(f"GitHub answered {exc.status_code}: {exc}"))
        return None
    reverts = ctx.services.metrics.reverts
    if isinstance(result, RevertPR):
        if result.created:
            reverts.labels(outcome="opened", reason="command").inc()
        if result.url not in announced:
            await reply(reply_opened(result.url, created=result.created))
    elif isinstance(result, RevertConflict):
        reverts.labels(outcome="conflict", reason="command").inc()
        await reply(result.explain())
    else:
        await reply(empty_text(result.culprit_sha, branch, result.reason))
    return result


async def _react(ctx: EventContext, url: str) -> None:
    await ctx.gh.post(url, data={"content": "eyes"})


@router.register("commit_comment", action="created")
async def on_commit_comment(event: Event, ctx: EventContext) -> None:
    comment = event.data["comment"]
    commit = comment["commit_id"]
    login = event.data["sender"]["login"]

    async def reply(text: str) -> None:
        await ctx.gh.post(f"/repos/{ctx.repo}/commits/{commit}/comments", data={"body": text})

    wanted = _wants_revert(event)
    if wanted is None:
        mistake = _mistyped(event)
        if mistake:
            await reply(mistake)
        return

    # The permission ‖ the revert's reads: nothing is written (not even 👀) before the
    # permission is known to be write; a reader's command costs three reads more.
    sha = wanted.arg or commit
    branch = await default_branch(ctx, event)
    allowed, reads = await asyncio.gather(
        may_revert(ctx, login), revert_reads(ctx, sha, branch), return_exceptions=True
    )
    if isinstance(allowed, BaseException):
        raise allowed
    if not allowed:
        await reply(reply_not_allowed(login))
        return
    if isinstance(reads, BaseException):
        raise reads
    # 👀 goes with the revert's first requests.
    await asyncio.gather(
        _react(ctx, f"/repos/{ctx.repo}/comments/{comment['id']}/reactions"),
        revert_by_hand(
            ctx,
            sha=sha,
            branch=branch,
            requester=login,
            comment_url=comment.get("html_url") or "",
            incident_number=None,
            reply=reply,
            reads=reads,
        ),
    )


@router.register("issue_comment", action="created")
async def on_issue_comment(event: Event, ctx: EventContext) -> None:
    wanted = _wants_revert(event)
    mistake = None if wanted is not None else _mistyped(event)
    if wanted is None and mistake is None:
        return
    issue = event.data["issue"]
    comment = event.data["comment"]
    login = event.data["sender"]["login"]
    is_pr = bool(issue.get("pull_request"))
    incident = None if is_pr else await _incident_of(ctx, event)
    if not is_pr and incident is None:
        return  # a /revert on an ordinary issue is not ours to answer

    async def reply(text: str) -> None:
        await comment_on_issue(ctx.gh, ctx.repo, int(issue["number"]), text)

    if wanted is None:
        await reply(mistake or "")
        return

    if not await may_revert(ctx, login):
        await reply(reply_not_allowed(login))
        return

    async def act() -> None:
        common = {"requester": login, "comment_url": comment.get("html_url") or "", "reply": reply}
        if is_pr:
            pr = await ctx.gh.getitem(f"/repos/{ctx.repo}/pulls/{issue['number']}")
            if not pr.get("merged_at") or not pr.get("merge_commit_sha"):
                await reply(reply_pr_not_merged(int(issue["number"])))
                return
            landed = await _rebased_commits(ctx, pr)
            if landed > 1 and not wanted.arg:
                await reply(
                    reply_rebase_merged(int(issue["number"]), pr["merge_commit_sha"], landed)
                )
                return
            await revert_by_hand(
                ctx,
                sha=wanted.arg or pr["merge_commit_sha"],
                branch=pr["base"]["ref"],
                incident_number=None,
                **common,
            )
            return
        assert incident is not None
        sha = wanted.arg or incident.culprit
        if not sha:
            await reply(reply_need_sha())
            return
        await revert_by_hand(
            ctx,
            sha=sha,
            branch=incident.branch or await default_branch(ctx, event),
            incident_number=int(issue["number"]),
            extra_why=_incident_why(incident),
            **common,
        )

    # 👀 goes with the first reads of the revert.
    await asyncio.gather(
        _react(ctx, f"/repos/{ctx.repo}/issues/comments/{comment['id']}/reactions"), act()
    )


async def _rebased_commits(ctx: EventContext, pr: dict[str, Any]) -> int:
    """How many commits the merge put on the base: more than one only for a rebase merge,
    where `merge_commit_sha` is just the last of them (reverting it alone would leave the
    rest in). A rebase keeps each commit's message; a squash writes a new one."""
    if int(pr.get("commits") or 1) <= 1:
        return 1
    landed = await ctx.gh.getitem(f"/repos/{ctx.repo}/git/commits/{pr['merge_commit_sha']}")
    if len(landed.get("parents") or ()) != 1:
        return 1
    commits = await ctx.gh.getitem(f"/repos/{ctx.repo}/pulls/{pr['number']}/commits?per_page=100")
    if commits and commits[-1]["commit"]["message"] == landed.get("message"):
        return int(pr["commits"])
    return 1


async def _incident_of(ctx: EventContext, event: Event) -> Any:
    """The incident this issue holds (app.incident.store), or None."""
    from app.incident.store import incident_from_issue

    issue = event.data["issue"]
    config = await load_config(ctx, await default_branch(ctx, event))
    names = [lb["name"] if isinstance(lb, dict) else str(lb) for lb in issue.get("labels") or ()]
    if config.labels.incident not in names:
        return None
    return incident_from_issue(issue, config.labels) or _BareIncident()


class _BareIncident:
    """An issue labelled `incident` by hand, without our marker: `/revert <sha>` still works."""

    culprit: str | None = None
    branch: str | None = None
    failing: tuple[Any, ...] = ()


def _incident_why(incident: Any) -> str:
    failing = getattr(incident, "failing", ()) or ()
    lines = [f"- [{c.name}]({c.url})" if c.url else f"- {c.name}" for c in failing]
    return ("Failing:\n" + "\n".join(lines)) if lines else ""
