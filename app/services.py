"""What a webhook handler is given: process-wide services and the event's own context.

Handlers are gidgethub routers' callbacks: `async def handler(event, ctx: EventContext)`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from app.clock import Clock

if TYPE_CHECKING:  # imported for types only: keeps start-up free of optional pieces
    import aiohttp

    from app.core.config import RepoConfig
    from app.github.client import GitHubClient
    from app.settings import Settings


@dataclass
class Services:
    """Built once per process by the server (or the demo, or a test)."""

    settings: Settings
    session: aiohttp.ClientSession
    clock: Clock
    # async (installation_id: int) -> GitHubClient; set by app.github.auth
    github_for_installation: Any
    slack: Any = None  # app.notify.slack.SlackNotifier | None
    pager: Any = None  # app.notify.oncall.Pager | None
    extras: dict[str, Any] = field(default_factory=dict)


@dataclass
class EventContext:
    services: Services
    gh: GitHubClient
    delivery_id: str
    repo: str  # "owner/name"
    installation_id: int
    log: logging.LoggerAdapter[logging.Logger]


def context_for(
    services: Services, gh: GitHubClient, repo: str, installation_id: int, *, job: str
) -> EventContext:
    """The context of internal work (reconciler, Slack callbacks) on one repository."""
    from app.logs import event_logger

    delivery_id = f"{job}-{int(services.clock.now())}"
    return EventContext(
        services=services,
        gh=gh,
        delivery_id=delivery_id,
        repo=repo,
        installation_id=installation_id,
        log=event_logger(delivery_id, job, None, repo),
    )


async def load_config(ctx: EventContext, ref: str = "") -> RepoConfig:
    """The repository's `.github/buildsheriff.yml` at `ref` (default branch when empty),
    through the process's cached loader. Errors never stop anything: they are logged,
    kept for the `buildsheriff/config` status, and the defaults apply to the bad keys."""
    from app.core.config import RepoConfig

    loader = ctx.services.extras.get("config_loader")
    if loader is None:  # a process wired without one (some tests): defaults
        return RepoConfig()
    config, errors = await loader.load(ctx.gh, ctx.repo, ref)
    known: dict[str, list[str]] = ctx.services.extras.setdefault("config_errors", {})
    if errors:
        ctx.log.warning(
            "invalid repository config; using defaults for the bad keys",
            extra={"config_errors": [str(e) for e in errors]},
        )
        known[ctx.repo] = [str(e) for e in errors]
    else:
        known.pop(ctx.repo, None)
    return config

