"""Drop redeliveries by GitHub's delivery id (`X-GitHub-Delivery`).

The receiver asks `seen` before queueing a delivery and calls `mark_done` once the
queue took it. In process, the ids sit in a bounded TTL cache; a shared store (Redis)
can implement the same two calls so that several replicas drop each other's repeats.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

from cachetools import TTLCache

DELIVERY_TTL = 3600.0
DELIVERY_CACHE_SIZE = 100_000


class DeliveryDedupe(Protocol):
    async def seen(self, delivery_id: str) -> bool:
        """True when this delivery was already accepted: answer 202 and do nothing."""
        ...

    async def mark_done(self, delivery_id: str) -> None:
        """The delivery is accepted (queued): from now on a redelivery of it is dropped."""
        ...


class MemoryDedupe:
    """This process's delivery ids, forgotten after `ttl` seconds or past `maxsize`.

    A redelivery comes minutes or hours after the original (GitHub never retries on
    its own), so an hour is enough; the bound keeps a storm from growing memory."""

    def __init__(
        self,
        *,
        ttl: float = DELIVERY_TTL,
        maxsize: int = DELIVERY_CACHE_SIZE,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ids: TTLCache[str, bool] = TTLCache(maxsize=maxsize, ttl=ttl, timer=timer)

    async def seen(self, delivery_id: str) -> bool:
        return delivery_id in self.ids

    async def mark_done(self, delivery_id: str) -> None:
        self.ids[delivery_id] = True
