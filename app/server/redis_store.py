"""Redis for several replicas (REDIS_URL): the shared delivery dedupe and leases.

Keys: `delivery:<guid>` ("claimed" while queued or worked, "done" for 3 days once
processed), `failed:<guid>` (work failed after the 202, 3 days or until processed: any
replica's recovery pass asks GitHub for it again), `asked:<guid>`, `lease:<name>`.

Every key starts with REDIS_PREFIX, so several deployments (and the test suite) share one
server without touching each other's keys. The queue itself is app.server.redis_queue.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from redis import asyncio as aioredis
from redis.exceptions import RedisError

from app.server.dedupe import CLAIM_TTL, DELIVERY_TTL
from app.settings import redis_where

log = logging.getLogger(__name__)

# Compare-and-delete / compare-and-extend: only the holder lets a lease go or keeps it.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
# Take a lease, or keep it when this holder has it already.
_ACQUIRE = """
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end
if holder then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"""
_UNCLAIM = """
if redis.call('GET', KEYS[1]) == 'claimed' then return redis.call('DEL', KEYS[1]) end
return 0
"""
# Work failed after the 202: unclaim, and remember the guid unless it was processed.
_FAIL = """
local state = redis.call('GET', KEYS[1])
if state == 'done' then return 0 end
if state == 'claimed' then redis.call('DEL', KEYS[1]) end
redis.call('SET', KEYS[2], '1', 'EX', ARGV[1])
return 1
"""
# Done: dropped from now on, and no longer a failure to ask for.
_FINISH = """
redis.call('SET', KEYS[1], 'done', 'EX', ARGV[1])
redis.call('DEL', KEYS[2])
return 1
"""
MGET_CHUNK = 500


class RedisUnavailable(Exception):
    """Redis did not answer: the caller answers 503 (webhooks) or fails readiness."""


async def connect(url: str) -> aioredis.Redis:
    """A client that answered PING; RedisUnavailable (with host:port only) otherwise."""
    client: aioredis.Redis = aioredis.from_url(
        url, decode_responses=True, socket_connect_timeout=5, socket_timeout=10,
        health_check_interval=15,
    )
    try:
        await client.ping()
    except (RedisError, OSError) as error:
        await client.aclose()
        raise RedisUnavailable(
            f"cannot reach Redis at {redis_where(url)} ({type(error).__name__})"
        ) from None
    return client


class RedisDedupe:
    """DeliveryDedupe shared by every replica: SET NX with a TTL per delivery id."""

    def __init__(self, client: aioredis.Redis, prefix: str, *,
                 ttl: float = DELIVERY_TTL, claim_ttl: float = CLAIM_TTL) -> None:
        self.client = client
        self.prefix = prefix
        self.ttl = int(ttl)
        self.claim_ttl = int(claim_ttl)
        self._unclaim = client.register_script(_UNCLAIM)
        self._fail = client.register_script(_FAIL)
        self._finish = client.register_script(_FINISH)

    def _key(self, delivery_id: str) -> str:
        return f"{self.prefix}delivery:{delivery_id}"

    def _failed_key(self, delivery_id: str) -> str:
        return f"{self.prefix}failed:{delivery_id}"

    async def claim(self, delivery_id: str) -> bool:
        return bool(await _call(self.client.set(self._key(delivery_id), "claimed",
                                                nx=True, ex=self.claim_ttl)))

    async def finish(self, delivery_id: str) -> None:
        await _call(self._finish(keys=[self._key(delivery_id), self._failed_key(delivery_id)],
                                 args=[self.ttl]))

    async def release(self, delivery_id: str) -> None:
        await _call(self._unclaim(keys=[self._key(delivery_id)]))

    async def fail(self, delivery_id: str) -> None:
        await _call(self._fail(keys=[self._key(delivery_id), self._failed_key(delivery_id)],
                               args=[self.ttl]))

    async def failed(self, delivery_ids: Iterable[str]) -> set[str]:
        """One MGET per 500 guids (a recovery pass reads up to 2,000 attempts)."""
        ids = list(dict.fromkeys(delivery_ids))
        found: set[str] = set()
        for start in range(0, len(ids), MGET_CHUNK):
            chunk = ids[start:start + MGET_CHUNK]
            values = await _call(self.client.mget([self._failed_key(d) for d in chunk]))
            found.update(d for d, value in zip(chunk, values, strict=True) if value)
        return found

    async def processed(self, delivery_id: str) -> bool:
        return await _call(self.client.get(self._key(delivery_id))) == "done"

    async def ask_once(self, delivery_id: str, ttl: float) -> bool:
        key = f"{self.prefix}asked:{delivery_id}"
        return bool(await _call(self.client.set(key, "1", nx=True, ex=max(1, int(ttl)))))


class RedisLease:
    """Named leases (one replica runs the delivery recovery at a time)."""

    def __init__(self, client: aioredis.Redis, prefix: str, holder: str) -> None:
        self.client = client
        self.prefix = prefix
        self.holder = holder
        self._acquire = client.register_script(_ACQUIRE)
        self._release = client.register_script(_RELEASE)

    async def acquire(self, name: str, ttl: float) -> bool:
        key = f"{self.prefix}lease:{name}"
        return bool(await _call(self._acquire(keys=[key],
                                              args=[self.holder, int(ttl * 1000)])))

    async def release(self, name: str) -> None:
        await _call(self._release(keys=[f"{self.prefix}lease:{name}"], args=[self.holder]))


async def _call(awaitable: Any) -> Any:
    try:
        return await awaitable
    except (RedisError, OSError) as error:
        raise RedisUnavailable(f"Redis: {type(error).__name__}") from None
