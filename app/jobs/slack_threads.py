"""Persist what the Slack outbox learns, inside the repository's lock.

The outbox posts the thread's top-level message in the background; its `ts` must
reach the incident's marker so that, after a restart, replies go to the same
thread and no second top-level message is posted. A Slack failure that outlasts
the retries is noted once in the issue, so the two views never silently disagree.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from app.github.comments import comment_on_issue
from app.incident.store import IncidentStore
from app.services import EventContext, JobSubmitter, Services, context_for, load_config

log = logging.getLogger("app.jobs.slack_threads")


def parse_key(key: str) -> tuple[str, int]:
    repo, _, number = key.rpartition("#")
    return repo, int(number)


async def _context(services: Services, key: str) -> tuple[EventContext, int] | None:
    installation = services.slack_threads.get(key)
    if installation is None:
        return None
    repo, number = parse_key(key)
    gh = await services.github_for_installation(installation)
    return context_for(services, gh, repo, installation, job="slack"), number


def wire_slack_threads(services: Services, jobs: JobSubmitter) -> None:
    slack = services.slack
    if slack is None or not slack.enabled:
        return

    async def thread_started(key: str, channel: str, ts: str) -> None:
        async def job() -> None:
            found = await _context(services, key)
            if found is None:
                return
            ctx, number = found
            store = IncidentStore(ctx.gh, ctx.repo, await load_config(ctx))
            incident = await store.get(number)
            if incident is None or (incident.slack_ts == ts and incident.slack_channel == channel):
                return
            # The state is unchanged: the body alone (the marker) is written.
            await store.save(replace(incident, slack_ts=ts, slack_channel=channel), labels=False)

        jobs.submit_job(parse_key(key)[0], "slack-thread", job)

    async def gave_up(key: str, reason: str) -> None:
        async def job() -> None:
            found = await _context(services, key)
            if found is None:
                return
            ctx, number = found
            await comment_on_issue(
                ctx.gh,
                ctx.repo,
                number,
                f"⚠️ Slack could not be reached ({reason}); updates are kept and will "
                "be posted when it answers again. This issue stays the source of truth.",
            )

        jobs.submit_job(parse_key(key)[0], "slack-gave-up", job)

    slack.set_callbacks(on_thread_started=thread_started, on_gave_up=gave_up)
