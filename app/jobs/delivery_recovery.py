"""Recover webhook deliveries GitHub failed to make: ask for them again.

GitHub never redelivers on its own. At start-up and every few minutes, one replica at a
time (a lease) reads the App's delivery log (`GET /app/hook/deliveries`, App JWT, newest
first, `cursor` pages) back to GitHub's 3-day redelivery window or a page budget, and asks
GitHub to redeliver (`POST /app/hook/deliveries/{id}/attempts`, the integer id) each failed
delivery this app has not processed (app.core.deliveries decides which), at most a budget
per pass; a guid asked for is not asked again for a while, so a slow redelivery is not
requested twice. A delivery answered 202 whose work then failed (GitHub unreachable beyond
the retries, a shutdown) shows as a success in GitHub's log; the dedupe remembered it
(`DeliveryDedupe.fail`, shared on Redis), so it is asked for again too: a command or a
label change in that window is not lost. One answered 202 and then lost to a crash before
its work ran is the durable queue's (Redis) or the reconciler's to recover.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from app.core.deliveries import REDELIVER_WINDOW, DeliveryAttempt, to_redeliver
from app.jobs.periodic import Loop
from app.services import DeliveryDedupe, Lease, Services

log = logging.getLogger("app.jobs.delivery_recovery")

RECOVERY_INTERVAL = 180.0
LEASE_NAME = "delivery-recovery"
PER_PAGE = 100
MAX_ATTEMPTS_READ = 2_000  # 20 pages a pass
REDELIVERY_BUDGET = 50
# Long enough for GitHub to have made (and logged) the redelivery we asked for.
ASK_AGAIN_AFTER = 900.0


def _attempt(item: dict[str, Any]) -> DeliveryAttempt | None:
    try:
        delivered = datetime.fromisoformat(str(item["delivered_at"]).replace("Z", "+00:00"))
        return DeliveryAttempt(
            id=int(item["id"]),
            guid=str(item["guid"]),
            delivered_at=delivered.timestamp(),
            status_code=int(item.get("status_code") or 0),
            event=str(item.get("event") or ""),
        )
    except (KeyError, TypeError, ValueError):
        return None


async def recover_once(
    services: Services,
    dedupe: DeliveryDedupe,
    lease: Lease,
    *,
    budget: int = REDELIVERY_BUDGET,
    max_read: int = MAX_ATTEMPTS_READ,
) -> int:
    """One pass; the number of redeliveries asked for."""
    if services.github_app is None:
        return 0  # only a GitHub App has a delivery log (a token has no webhook)
    if not await lease.acquire(LEASE_NAME, RECOVERY_INTERVAL):
        return 0  # another replica is on it
    client = services.github_app.app_client()
    now = services.clock.now()
    attempts: list[DeliveryAttempt] = []
    async for item in client.getiter("/app/hook/deliveries", {"per_page": PER_PAGE}):
        attempt = _attempt(item) if isinstance(item, dict) else None
        if attempt is None:
            continue
        if attempt.delivered_at < now - REDELIVER_WINDOW or len(attempts) >= max_read:
            break  # newest first: everything further is older still
        attempts.append(attempt)
    failed_guids = {a.guid for a in attempts if not 200 <= a.status_code < 300}
    failed_here = await dedupe.failed({a.guid for a in attempts})
    candidates = failed_guids | failed_here
    processed = {guid for guid in candidates if await dedupe.processed(guid)}
    asked = 0
    for attempt in to_redeliver(attempts, now=now, processed=processed,
                                failed_here=failed_here, budget=budget):
        if not await dedupe.ask_once(attempt.guid, ASK_AGAIN_AFTER):
            continue
        await client.post(
            "/app/hook/deliveries/{id}/attempts", {"id": str(attempt.id)}, data=b""
        )
        asked += 1
        log.info(
            "asked GitHub to redeliver a failed delivery",
            extra={"delivery_id": attempt.guid, "event": attempt.event,
                   "attempt_id": attempt.id, "status_code": attempt.status_code,
                   "failed_here": attempt.guid in failed_here},
        )
    if asked or candidates:
        log.info(
            "delivery recovery pass",
            extra={"read": len(attempts), "failed": len(failed_guids),
                   "failed_here": len(failed_here), "redelivered": asked},
        )
    return asked


def delivery_recovery_task(
    services: Services, dedupe: DeliveryDedupe, lease: Lease, interval: float = RECOVERY_INTERVAL
) -> Loop:
    """Start-up, then every `interval` seconds; a failing pass is logged, the loop goes on."""

    async def loop() -> None:
        while True:
            try:
                await recover_once(services, dedupe, lease)
            except Exception:
                log.exception("delivery recovery pass failed")
            await services.clock.sleep(interval)

    return loop
