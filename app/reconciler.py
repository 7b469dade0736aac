"""The reconciler: what missed webhooks and elapsed time would have told us.

Timers are not held in memory: escalation is due when an incident's marker says
it opened longer than `escalate_after` ago and its labels still say triage. So
after any restart, one pass over the open incidents does exactly what is due —
pages nobody twice (the marker remembers `paged`), mitigates an incident whose
branch went green while we were away, opens one for a red head nobody reported,
and records a revert PR that merged without us hearing.

Runs on start-up and every RECONCILE_INTERVAL seconds, each repository inside
its own lock (the dispatcher's per-repository queue), like a webhook.
"""

from __future__ import annotations

import logging
from typing import Any

from app.context import EventContext, Services, context_for, load_config
from app.core.incident import OPEN_STATES, RevertMerged, Tick
from app.handlers.detect import evaluate_head
from app.incident_flow import IncidentRunner, active_repos
from app.incident_store import IncidentStore

log = logging.getLogger("app.reconciler")


async def installations(services: Services) -> list[int]:
    github_app = services.extras.get("github_app")
    if github_app is None:
        return []
    client = github_app.app_client()
    return [int(i["id"]) async for i in client.getiter("/app/installations")]


async def reconcile_repo(ctx: EventContext, repository: dict[str, Any]) -> None:
    branch = repository["default_branch"]
    config = await load_config(ctx, branch)
    store = IncidentStore(ctx.gh, ctx.repo, config)
    runner = IncidentRunner(ctx, config, store)
    incidents = await store.open_incidents()
    if any(i.state in OPEN_STATES for i in incidents):
        active_repos(ctx.services)[ctx.repo] = ctx.installation_id
    for incident in incidents:
        runner.sync_slack(incident)
        current = incident
        if incident.revert_pr and not incident.first("revert_merged"):
            pr = await ctx.gh.getitem(f"/repos/{ctx.repo}/pulls/{incident.revert_pr}")
            if pr.get("merged"):
                current = (
                    await runner.handle(
                        current, RevertMerged(pr["number"], pr.get("merge_commit_sha"))
                    )
                    or current
                )
        await runner.handle(current, Tick())
    # Red heads with no incident, and green heads with one, as a webhook would.
    await evaluate_head(ctx, branch)


async def reconcile_installation(services: Services, installation_id: int, submit: Any) -> int:
    gh = await services.github_for_installation(installation_id)
    count = 0
    async for repository in gh.getiter("/installation/repositories", iterable_key="repositories"):
        repo = repository["full_name"]
        ctx = context_for(services, gh, repo, installation_id, job="reconcile")

        async def job(ctx: EventContext = ctx, repository: dict[str, Any] = repository) -> None:
            await reconcile_repo(ctx, repository)

        await submit(repo, "reconcile", job)
        count += 1
    return count


async def reconcile_once(services: Services, submit: Any) -> int:
    """One pass over every installation; `submit(repo, name, fn)` runs fn in the repo's lock.

    Returns the number of repositories visited. A failure in one installation is
    logged and does not stop the others.
    """
    visited = 0
    for installation_id in await installations(services):
        try:
            visited += await reconcile_installation(services, installation_id, submit)
        except Exception:
            log.exception("reconcile failed", extra={"installation": installation_id})
    return visited


def _periodic(
    services: Services,
    dispatcher: Any,
    interval: float,
    one_pass: Any,
    *,
    name: str,
    wait_first: bool,
) -> Any:
    """A background loop running `one_pass(services, submit)` every `interval` seconds;
    a failing pass is logged and the loop goes on."""

    async def submit(repo: str, job_name: str, fn: Any) -> None:
        dispatcher.submit_job(repo, job_name, fn)

    async def loop() -> None:
        while True:
            if wait_first:
                await services.clock.sleep(interval)
            try:
                await one_pass(services, submit)
            except Exception:
                log.exception("%s pass failed", name)
            if not wait_first:
                await services.clock.sleep(interval)

    return loop


def reconciler_task(services: Services, dispatcher: Any, interval: float) -> Any:
    """The background loop for `create_app(background=[...])`: a pass at start-up, then
    every `interval` seconds."""
    return _periodic(
        services, dispatcher, interval, reconcile_once, name="reconcile", wait_first=False
    )


async def escalate_due(services: Services, submit: Any) -> int:
    """Tick every incident of the repositories known to have one; returns how many
    repositories were looked at. Cheap (one list per repository), so it runs often."""
    looked = 0
    for repo, installation_id in list(active_repos(services).items()):
        gh = await services.github_for_installation(installation_id)
        ctx = context_for(services, gh, repo, installation_id, job="escalate")

        async def job(ctx: EventContext = ctx) -> None:
            runner = IncidentRunner(ctx, await load_config(ctx))
            for incident in await runner.store.open_incidents():
                if incident.state in OPEN_STATES:
                    runner.remember_slack(incident)
                    await runner.handle(incident, Tick())

        await submit(repo, "escalate", job)
        looked += 1
    return looked


def escalation_task(services: Services, dispatcher: Any, interval: float) -> Any:
    """The background loop that pages on time: every `interval` s (a minute), not only
    at the full reconcile's pace; the reconciler still covers what it cannot know."""
    return _periodic(
        services, dispatcher, interval, escalate_due, name="escalation", wait_first=True
    )
