"""A background loop that runs one pass every `interval` seconds on the injectable clock.

With several replicas (REDIS_URL), the periodic jobs take a lease first (`PERIODIC_LEASE`,
one for the reconciler and the escalation watch, so the replica that reconciles is the one
that knows the active repositories): one replica runs them, keeps the lease by renewing it
each pass, and another takes over at most `2 x interval` after it dies. Without Redis the
lease is always ours (app.server.dedupe.LocalLease): unchanged.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from app.notify.oncall import PagerOutbox
from app.services import JobFn, JobSubmitter, Lease, Services

log = logging.getLogger(__name__)

# submit(repo, job name, fn): run fn inside the repository's order
Submit = Callable[[str, str, JobFn], Awaitable[None]]
OnePass = Callable[[Services, Submit], Awaitable[int]]
Loop = Callable[[], Awaitable[None]]
PERIODIC_LEASE = "periodic"


def periodic(
    services: Services,
    jobs: JobSubmitter,
    interval: float,
    one_pass: OnePass,
    *,
    name: str,
    wait_first: bool,
    lease: Lease | None = None,
) -> Loop:
    """A background loop running `one_pass(services, submit)` every `interval` seconds;
    a failing pass is logged and the loop goes on. With `lease`, a pass runs only on the
    replica holding PERIODIC_LEASE (taken or renewed for `2 x interval`)."""

    async def submit(repo: str, job_name: str, fn: JobFn) -> None:
        jobs.submit_job(repo, job_name, fn)

    async def loop() -> None:
        while True:
            if wait_first:
                await services.clock.sleep(interval)
            try:
                if lease is None or await lease.acquire(PERIODIC_LEASE, 2 * interval):
                    visited = await one_pass(services, submit)
                    log.info("%s pass", name, extra={"job": name, "visited": visited})
                else:
                    log.debug("%s pass left to the replica holding the lease", name,
                              extra={"job": name})
            except Exception:
                log.exception("%s pass failed", name)
            if not wait_first:
                await services.clock.sleep(interval)

    return loop


async def resume_outboxes(services: Services) -> None:
    """Slack's and the pager's outboxes catch up on every pass (the reconciler's and the
    escalation watch's), so what waited for them to come back is sent even when no new
    event comes; each is sent once, in order."""
    if services.slack is not None and services.slack.enabled:
        services.slack.resume()
    if isinstance(services.pager, PagerOutbox) and services.pager.pending():
        try:
            await services.pager.resume()
        except Exception:
            log.exception("pager resume failed")
