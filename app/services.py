"""What a webhook handler is given: process-wide services and the event's own context.

Handlers are gidgethub routers' callbacks: `async def handler(event, ctx: EventContext)`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from app.clock import Clock
from app.metrics import Metrics

if TYPE_CHECKING:  # imported for types only: keeps start-up free of optional pieces
    import aiohttp

    from app.core.config import RepoConfig
    from app.github.auth import GitHubApp, GitHubFactory
    from app.github.client import GitHubClient
    from app.github.config_loader import RepoConfigLoader
    from app.notify.oncall import Pager
    from app.notify.slack import SlackOutbox
    from app.settings import Settings

JobFn = Callable[[], Awaitable[None]]


class JobSubmitter(Protocol):
    """Where internal work (reconciler, timers, Slack bookkeeping) is queued: in the
    repository's order, after its webhook events. The server's Dispatcher is one."""

    def submit_job(self, repo: str, name: str, fn: JobFn) -> Awaitable[bool]: ...


class DeliveryDedupe(Protocol):
    """What this app did with each webhook delivery, by GitHub's guid (X-GitHub-Delivery).

    A delivery counts as processed when its work is done, not when it is queued: a
    failed one redelivered (by hand or by the recovery job) is worked again. In process
    by default; on Redis (REDIS_URL) so that replicas drop each other's repeats."""

    async def claim(self, delivery_id: str) -> bool:
        """True: nobody processed or is processing it, and now this caller is. False: a
        duplicate (answer 202, do nothing)."""
        ...

    async def finish(self, delivery_id: str) -> None:
        """Its work is done: a redelivery is dropped from now on."""
        ...

    async def release(self, delivery_id: str) -> None:
        """It was refused (503) before any work: a redelivery will be processed."""
        ...

    async def fail(self, delivery_id: str) -> None:
        """Its work failed after the 202: released, and remembered (until processed, or
        for GitHub's 3 days) so the recovery job asks GitHub for it again although
        GitHub's log shows a success."""
        ...

    async def failed(self, delivery_ids: Iterable[str]) -> set[str]:
        """Those of `delivery_ids` whose work failed here and were not processed since."""
        ...

    async def processed(self, delivery_id: str) -> bool:
        """Finished (not merely claimed)."""
        ...

    async def ask_once(self, delivery_id: str, ttl: float) -> bool:
        """True the first time in `ttl` seconds (asking GitHub for a redelivery)."""
        ...


class Lease(Protocol):
    """A named lease held by one process at a time (one replica runs a periodic job)."""

    async def acquire(self, name: str, ttl: float) -> bool: ...

    async def release(self, name: str) -> None: ...


@dataclass
class Services:
    """Built once per process by the server (or the demo, or a test).

    Everything the process remembers between events is a field here, by name; none
    of it is the truth (GitHub is), so a restart that loses it loses nothing."""

    settings: Settings
    session: aiohttp.ClientSession
    clock: Clock
    github_for_installation: GitHubFactory
    slack: SlackOutbox | None = None
    pager: Pager | None = None
    # App credentials: lists the installations (reconciler). None with a plain token.
    github_app: GitHubApp | None = None
    # With one token there is no installation: events without one still have a client.
    default_github: GitHubClient | None = None
    # `.github/buildsheriff.yml`, cached; None (some tests): the defaults apply.
    config_loader: RepoConfigLoader | None = None
    # (repository, sha) whose failing `buildsheriff/config` check run is already posted
    config_reported: set[tuple[str, str]] = field(default_factory=set)
    metrics: Metrics = field(default_factory=Metrics)
    # repository -> installation, for those believed to have an active incident (a hint:
    # see app.incident.runner.active_repos)
    active_repos: dict[str, int] = field(default_factory=dict)
    # repository -> the head last judged red with an open incident covering it (a hint: a
    # red event about that head again costs no call). Forgotten when an incident of the
    # repository changes state (app.incident.runner) or its issues change (an `issues` event).
    judged_heads: dict[str, str] = field(default_factory=dict)
    # repository -> its default branch, as the last event about it said (names the config's
    # cache entry of the default branch, however it is asked for)
    default_branches: dict[str, str] = field(default_factory=dict)
    # (repository, sha) whose failed jobs were re-run before declaring (confirm: rerun)
    reruns: set[tuple[str, str]] = field(default_factory=set)
    # (repository, step id) of incident news whose comment this process sent (or tried to)
    # and whose Slack echo it has not queued: a retry here that finds the comment echoes it
    echo_owed: set[tuple[str, str]] = field(default_factory=set)
    # Slack outbox key ("owner/name#issue") -> installation, to persist what Slack learns
    slack_threads: dict[str, int] = field(default_factory=dict)
    # Slack outbox keys whose thread this process has caught up with its issue's news
    # (once per process: what a stopped process left unsaid; app.incident.runner)
    slack_caught_up: set[str] = field(default_factory=set)


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
    through the process's cached loader (the organization's and `_extends` included).
    Errors never stop anything: they are logged, the `buildsheriff/config` check run shows
    them, and the defaults apply to the bad keys."""
    from app.core.config import RepoConfig

    loader = ctx.services.config_loader
    if loader is None:  # a process wired without one (some tests): defaults
        return RepoConfig()
    # The default branch by name when an event told it: one cache entry, not two.
    ref = ref or ctx.services.default_branches.get(ctx.repo.lower(), "")
    loaded = await loader.load(ctx.gh, ctx.repo, ref)
    if loaded.errors:
        ctx.log.warning(
            "invalid repository config; using defaults for the bad keys",
            extra={"config_errors": [str(e) for e in loaded.errors]},
        )
    return loaded.config

