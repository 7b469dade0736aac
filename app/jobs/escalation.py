"""The escalation watch: pages on time (every minute), not at the full reconcile's pace.

It looks only at repositories this process knows to have an active incident; the
reconciler still covers what it cannot know (after a restart it refills that list).
"""

from __future__ import annotations

import logging

from app.core.incident import OPEN_STATES, Tick
from app.incident.runner import IncidentRunner, active_repos
from app.jobs.periodic import Loop, Submit, periodic, resume_outboxes
from app.services import EventContext, JobSubmitter, Lease, Services, context_for, load_config

log = logging.getLogger(__name__)


async def escalate_due(services: Services, submit: Submit) -> int:
    """Tick every incident of the repositories known to have one; returns how many
    repositories were looked at. Cheap (one list per repository), so it runs often."""
    await resume_outboxes(services)
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


def escalation_task(
    services: Services, jobs: JobSubmitter, interval: float, lease: Lease | None = None
) -> Loop:
    """The background loop that pages on time: every `interval` s (a minute), not only
    at the full reconcile's pace; the reconciler still covers what it cannot know. With
    several replicas, on the one holding the lease (the reconciler's: it knows the
    active repositories), so two replicas never page for one incident."""
    return periodic(
        services, jobs, interval, escalate_due, name="escalation", wait_first=True,
        lease=lease,
    )
