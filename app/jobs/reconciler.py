"""The reconciler: what missed webhooks and elapsed time would have told us.

Timers are not held in memory: escalation is due when an incident's marker says
it opened longer than `escalate_after` ago and its labels still say triage. So
after any restart, one pass over the open incidents does exactly what is due —
pages nobody twice (the marker remembers `paged`), mitigates an incident whose
branch went green while we were away, opens one for a red head nobody reported,
and finishes every incident that stopped half way (app.core.resume: a revert to
open, a revert PR to arm, bring up to date or merge, a merge to record).

Runs on start-up and every RECONCILE_INTERVAL seconds, each repository inside
its own lock (the dispatcher's per-repository queue), like a webhook.
"""

from __future__ import annotations

import logging
from typing import Any

from app.core.incident import OPEN_STATES
from app.core.repo_names import quoted_full_name, valid_full_name
from app.detect.bisect import clean_probe_refs
from app.detect.evaluate import evaluate_head
from app.incident.runner import IncidentRunner, active_repos
from app.incident.store import IncidentStore
from app.jobs.periodic import Loop, Submit, periodic, resume_outboxes
from app.services import EventContext, JobSubmitter, Lease, Services, context_for, load_config

log = logging.getLogger("app.jobs.reconciler")


async def installations(services: Services) -> list[int]:
    if services.github_app is None:
        return []
    client = services.github_app.app_client()
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
        # Whatever stopped it half way, the incident takes the steps that are due (a revert
        # to open, a revert PR to arm, update, merge or record, a page), each once.
        current = await runner.resume(incident, read_pr=True, slack=True)
        await runner.catch_up_slack(current)
    # Probe refs a stopped bisection left behind; then red heads with no incident, green
    # heads with one, and bisections waiting on CI, as a webhook would.
    await clean_probe_refs(ctx, incidents)
    await evaluate_head(ctx, branch)


async def reconcile_installation(
    services: Services, installation_id: int, submit: Submit
) -> int:
    gh = await services.github_for_installation(installation_id)
    count = 0
    async for repository in gh.getiter("/installation/repositories", iterable_key="repositories"):
        if not valid_full_name(repository.get("full_name")):
            log.warning("repository with an invalid name skipped",
                        extra={"installation_id": installation_id})
            continue
        repo = quoted_full_name(repository["full_name"])
        ctx = context_for(services, gh, repo, installation_id, job="reconcile")

        async def job(ctx: EventContext = ctx, repository: dict[str, Any] = repository) -> None:
            await reconcile_repo(ctx, repository)

        await submit(repo, "reconcile", job)
        count += 1
    return count


async def reconcile_once(services: Services, submit: Submit) -> int:
    """One pass over every installation; `submit(repo, name, fn)` runs fn in the repo's lock.

    Returns the number of repositories visited. A failure in one installation is
    logged and does not stop the others.
    """
    await resume_outboxes(services)
    visited = 0
    for installation_id in await installations(services):
        try:
            visited += await reconcile_installation(services, installation_id, submit)
        except Exception:
            log.exception("reconcile failed", extra={"installation": installation_id})
    return visited


def reconciler_task(
    services: Services, jobs: JobSubmitter, interval: float, lease: Lease | None = None
) -> Loop:
    """The background loop for `create_app(background=[...])`: a pass at start-up, then
    every `interval` seconds; with several replicas, on the one holding the lease."""
    return periodic(
        services, jobs, interval, reconcile_once, name="reconcile", wait_first=False,
        lease=lease,
    )
