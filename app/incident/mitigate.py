"""Mitigate an incident: roll back the deploy if the culprit is live, then open the revert.

The handbook's order: roll back before debugging, and revert the broken commit in a
PR that tags its author. Each step returns what happened as a value; the incident
runner announces it and records it (app.incident.runner). The revert machinery itself
is app.revert.pr, which knows nothing about incidents.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote

from gidgethub import BadRequest

from app.core.config import RepoConfig
from app.core.incident import Incident, RevertConflicted, RevertOpened
from app.core.render import sha7
from app.github.client import GitHubClient
from app.github.history import is_ancestor
from app.github.memo import MemoClient
from app.revert.commit import DEFAULT_CONCURRENCY, TreeReader, read_culprit, read_narrow
from app.revert.pr import RevertPR, open_range_revert_pr, open_revert_pr
from app.services import EventContext


async def live_deployment(gh: GitHubClient, repo: str, environment: str) -> dict[str, Any] | None:
    """The latest deployment of `environment` whose latest status is success."""
    deployments = await gh.getitem(
        f"/repos/{repo}/deployments?environment={quote(environment, safe='')}&per_page=20"
    )
    for deployment in deployments:
        statuses = await gh.getitem(
            f"/repos/{repo}/deployments/{deployment['id']}/statuses?per_page=1"
        )
        if statuses and statuses[0].get("state") == "success":
            return dict(deployment)
    return None


async def contains(gh: GitHubClient, repo: str, deployed_sha: str, culprit: str) -> bool:
    """Is `culprit` an ancestor of (or equal to) `deployed_sha`? No when GitHub cannot say."""
    try:
        return await is_ancestor(gh, repo, culprit, deployed_sha) is True
    except BadRequest:
        return False


async def roll_back_if_live(
    ctx: EventContext, config: RepoConfig, incident: Incident, culprit: str
) -> str | None:
    """When `culprit` is live in production: roll back to the last green commit (with
    `rollback: true`) and say so; None when it is not live."""
    environment = config.production_environment
    live = await live_deployment(ctx.gh, ctx.repo, environment)
    if live is None or not await contains(ctx.gh, ctx.repo, live["sha"], culprit):
        return None
    text = (
        f"🚨 `{sha7(culprit)}` is live in `{environment}` "
        f"(deployment {live['id']} of `{sha7(live['sha'])}`). Roll back the deploy first."
    )
    if config.rollback and incident.last_green:
        deployment = await ctx.gh.post(
            f"/repos/{ctx.repo}/deployments",
            data={
                "ref": incident.last_green,
                "environment": environment,
                "auto_merge": False,
                "required_contexts": [],
                "description": f"Build Sheriff rollback: {sha7(culprit)} broke {incident.branch}",
                "payload": {"buildsheriff": {"rollback_from": live["sha"]}},
            },
        )
        text += (
            f"\n\n⏪ Rolling back `{environment}` to the last green commit "
            f"`{sha7(incident.last_green)}` (deployment {deployment['id']})."
        )
    elif not config.rollback:
        text += " Set `rollback: true` to let Build Sheriff roll back for you."
    return text


def why_markdown(incident: Incident) -> str:
    checks = "\n".join(
        f"- [{c.name}]({c.url})" if c.url else f"- {c.name}" for c in incident.failing
    )
    return f"`{incident.branch}` went red at `{sha7(incident.first_red)}`. Failing:\n{checks}"


class Mitigation(Protocol):
    """The two steps of mitigating, as the incident runner calls them."""

    async def roll_back_if_live(self, incident: Incident, culprit: str) -> str | None:
        """Roll back the deploy if `culprit` is live; what to say about it, or None."""
        ...

    async def open_revert(
        self,
        incident: Incident,
        shas: tuple[str, ...],
        *,
        number: asyncio.Future[int] | None = None,
    ) -> RevertOutcome:
        """Open (or find) the revert of `shas` (one culprit, or a range oldest first).

        `number`: the incident's issue number, when the issue is being opened meanwhile
        (the revert waits for it only where it writes it)."""
        ...


class GitHubMitigation:
    """Mitigation through GitHub's deployments and app.revert.pr."""

    def __init__(self, ctx: EventContext, config: RepoConfig) -> None:
        self.ctx = ctx
        self.config = config

    async def roll_back_if_live(self, incident: Incident, culprit: str) -> str | None:
        return await roll_back_if_live(self.ctx, self.config, incident, culprit)

    async def open_revert(
        self,
        incident: Incident,
        shas: tuple[str, ...],
        *,
        number: asyncio.Future[int] | None = None,
    ) -> RevertOutcome:
        ahead = _read_ahead(self.ctx.gh, self.ctx.repo, incident, shas)
        try:
            return await open_revert(self.ctx, self.config, incident, shas, number=number)
        finally:
            for read in ahead:
                read.cancel()
            await asyncio.gather(*ahead, return_exceptions=True)


def _read_ahead(
    gh: GitHubClient, repo: str, incident: Incident, shas: tuple[str, ...]
) -> list[asyncio.Future[Any]]:
    """Within an evaluation (a memo of reads), what the revert of one culprit reads once it
    knows the base's head, read at once with the revert's first reads: the narrow read of
    the directories the culprit touched (app.revert.commit.read_narrow), at the red head
    (the base's head, if nothing landed since; else the revert reads its own)."""
    if not isinstance(gh, MemoClient) or len(shas) != 1:
        return []

    async def narrow() -> None:
        culprit = await read_culprit(gh, repo, shas[0])  # read already: the suspect
        reader = TreeReader(gh, repo, asyncio.Semaphore(DEFAULT_CONCURRENCY))
        await read_narrow(gh, repo, reader, culprit, incident.head)

    return [asyncio.ensure_future(narrow())]


@dataclass(frozen=True)
class RevertOutcome:
    """What opening the revert did: the event the incident records (a PR opened, or a
    conflict), or, when there was nothing to revert, a note saying so."""

    event: RevertOpened | RevertConflicted | None = None
    note: str | None = None


async def open_revert(
    ctx: EventContext,
    config: RepoConfig,
    incident: Incident,
    shas: tuple[str, ...],
    *,
    number: asyncio.Future[int] | None = None,
) -> RevertOutcome:
    """Open (or find) the revert PR of one culprit, or of a range of suspects (oldest
    first). `number`: the issue's number to come, when it is being opened meanwhile."""
    culprit = shas[0]
    issue: int | asyncio.Future[int] | None = incident.number
    if number is not None:
        issue = number
    if len(shas) > 1:
        result = await open_range_revert_pr(
            ctx.gh,
            ctx.repo,
            shas,
            base_branch=incident.branch,
            config=config,
            incident_number=await issue if isinstance(issue, asyncio.Future) else issue,
            why_markdown=why_markdown(incident),
            app_login=f"{ctx.services.settings.app_slug}[bot]",
            recorded=True,
        )
    else:
        result = await open_revert_pr(
            ctx.gh,
            ctx.repo,
            culprit,
            base_branch=incident.branch,
            config=config,
            incident_number=issue,
            why_markdown=why_markdown(incident),
            app_login=f"{ctx.services.settings.app_slug}[bot]",
            recorded=True,
        )
    return _outcome(result, culprit)


def _outcome(result: Any, culprit: str) -> RevertOutcome:
    if isinstance(result, RevertPR):
        return RevertOutcome(RevertOpened(result.number, result.url, merging=result.merger))
    paths = getattr(result, "paths", None)
    if paths:
        return RevertOutcome(RevertConflicted(culprit, tuple(paths)))
    reason = getattr(result, "reason", "nothing to revert")
    return RevertOutcome(note=f"ℹ️ Nothing reverted: {reason}.")
