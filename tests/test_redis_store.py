"""The shared dedupe and leases on the machine's Redis, under this test's own key prefix."""

from __future__ import annotations

from redis import asyncio as aioredis

from app.server.redis_store import RedisDedupe, RedisLease


async def test_a_delivery_is_dropped_once_processed_and_worked_again_once_released(
    redis_url: str, redis_prefix: str
) -> None:
    client = aioredis.from_url(redis_url, decode_responses=True)
    try:
        one, other = RedisDedupe(client, redis_prefix), RedisDedupe(client, redis_prefix)
        assert await one.claim("d-1")
        assert not await other.claim("d-1")  # being worked on by a replica
        await one.release("d-1")  # its work failed
        assert await other.claim("d-1")  # a redelivery is worked again
        await other.finish("d-1")
        assert not await one.claim("d-1") and await one.processed("d-1")
        assert 0 < await client.ttl(f"{redis_prefix}delivery:d-1") <= 3 * 86400
        assert await one.ask_once("d-2", 60) and not await other.ask_once("d-2", 60)
        # Another deployment (another prefix) is not affected.
        assert await RedisDedupe(client, redis_prefix + "elsewhere:").claim("d-1")
    finally:
        await client.aclose()


async def test_a_lease_is_held_by_one_replica_at_a_time(redis_url: str, redis_prefix: str
                                                       ) -> None:
    client = aioredis.from_url(redis_url, decode_responses=True)
    try:
        a, b = RedisLease(client, redis_prefix, "a"), RedisLease(client, redis_prefix, "b")
        assert await a.acquire("recovery", 30)
        assert not await b.acquire("recovery", 30)
        assert await a.acquire("recovery", 30)  # the holder keeps it
        await b.release("recovery")  # not b's to let go
        assert not await b.acquire("recovery", 30)
        await a.release("recovery")
        assert await b.acquire("recovery", 30)
    finally:
        await client.aclose()
