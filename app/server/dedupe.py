"""Drop redeliveries by GitHub's delivery id (`X-GitHub-Delivery`), in this process.

The receiver `claim`s a delivery before queueing it (or `release`s it when it answers
503); the job `finish`es it when its work is done or `fail`s it when the work failed after
the 202, so only a processed delivery is dropped as a duplicate. A failed one is also
remembered (3 days, bounded), because GitHub's log shows its 202 as a success: the
recovery job (app.jobs.delivery_recovery) asks for it again. The shared version for
several replicas is app.server.redis_store.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from cachetools import TTLCache

# GitHub redelivers (by hand, or through the deliveries API) up to 3 days later.
DELIVERY_TTL = 3 * 86400.0
DELIVERY_CACHE_SIZE = 100_000
# A claim outlives any job; past it a stuck claim stops blocking redeliveries.
CLAIM_TTL = 3600.0


class MemoryDedupe:
    """This process's delivery ids: processed ones for `ttl` seconds (at most `maxsize`),
    claimed ones while their job is queued or running."""

    def __init__(
        self,
        *,
        ttl: float = DELIVERY_TTL,
        maxsize: int = DELIVERY_CACHE_SIZE,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ids: TTLCache[str, bool] = TTLCache(maxsize=maxsize, ttl=ttl, timer=timer)
        self.claims: TTLCache[str, bool] = TTLCache(maxsize=maxsize, ttl=CLAIM_TTL, timer=timer)
        self._asked: TTLCache[str, float] = TTLCache(maxsize=maxsize, ttl=ttl, timer=timer)
        # Work failed after the 202 and not processed since: recovery asks for these.
        self.failures: TTLCache[str, bool] = TTLCache(maxsize=maxsize, ttl=ttl, timer=timer)
        self._timer = timer

    async def claim(self, delivery_id: str) -> bool:
        # No await between the test and the set: one event loop makes it atomic.
        if delivery_id in self.ids or delivery_id in self.claims:
            return False
        self.claims[delivery_id] = True
        return True

    async def finish(self, delivery_id: str) -> None:
        self.ids[delivery_id] = True
        if self.claims:  # (the emptiness test is cheaper than a cache's pop)
            self.claims.pop(delivery_id, None)
        if self.failures:
            self.failures.pop(delivery_id, None)

    async def release(self, delivery_id: str) -> None:
        self.claims.pop(delivery_id, None)

    async def fail(self, delivery_id: str) -> None:
        self.claims.pop(delivery_id, None)
        if delivery_id not in self.ids:
            self.failures[delivery_id] = True

    async def failed(self, delivery_ids: Iterable[str]) -> set[str]:
        return {d for d in delivery_ids if d in self.failures and d not in self.ids}

    async def processed(self, delivery_id: str) -> bool:
        return delivery_id in self.ids

    async def ask_once(self, delivery_id: str, ttl: float) -> bool:
        now = self._timer()
        asked = self._asked.get(delivery_id)
        if asked is not None and now - asked < ttl:
            return False
        self._asked[delivery_id] = now
        return True


class LocalLease:
    """One process: every lease is ours."""

    async def acquire(self, name: str, ttl: float) -> bool:
        return True

    async def release(self, name: str) -> None:
        return None
