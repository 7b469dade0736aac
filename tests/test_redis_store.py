"""The shared dedupe and leases on the machine's Redis, under this test's own key prefix
(and the in-process dedupe's memory of failed work, for comparison)."""

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


async def test_a_delivery_whose_work_failed_is_remembered_by_every_replica_until_processed(
    redis_url: str, redis_prefix: str
) -> None:
    client = aioredis.from_url(redis_url, decode_responses=True)
    try:
        one, other = RedisDedupe(client, redis_prefix), RedisDedupe(client, redis_prefix)
        assert await one.claim("d-1") and await one.claim("d-2")
        await one.fail("d-1")  # answered 202, then its work failed
        await one.release("d-2")  # answered 503: GitHub logs that failure itself
        assert await other.failed(["d-1", "d-2", "d-3"]) == {"d-1"}
        assert 0 < await client.ttl(f"{redis_prefix}failed:d-1") <= 3 * 86400
        assert await other.claim("d-1")  # the redelivery is worked ...
        await other.fail("d-1")  # ... and fails again: still remembered
        assert await one.failed(["d-1"]) == {"d-1"}
        assert await other.claim("d-1")
        await other.finish("d-1")  # processed: forgotten
        assert await one.failed(["d-1"]) == set() and await one.processed("d-1")
        await one.fail("d-1")  # a late failure of a copy never un-processes it
        assert await other.failed(["d-1"]) == set() and await other.processed("d-1")
        many = [f"m-{i}" for i in range(1_200)]  # more than one MGET's worth
        for guid in many[::100]:
            await one.fail(guid)
        assert await other.failed(many) == set(many[::100])
    finally:
        await client.aclose()


async def test_in_process_a_failed_delivery_is_remembered_until_processed() -> None:
    from app.server.dedupe import MemoryDedupe

    now = [0.0]
    dedupe = MemoryDedupe(timer=lambda: now[0])
    assert await dedupe.claim("d-1") and await dedupe.claim("d-2") and await dedupe.claim("d-3")
    await dedupe.fail("d-1")
    await dedupe.release("d-2")
    await dedupe.fail("d-3")
    assert await dedupe.failed(["d-1", "d-2", "d-3", "d-4"]) == {"d-1", "d-3"}
    assert await dedupe.claim("d-1")  # the redelivery is worked
    await dedupe.finish("d-1")
    assert await dedupe.failed(["d-1", "d-3"]) == {"d-3"}
    now[0] = 3 * 86400 + 1  # past GitHub's window: GitHub would refuse it anyway
    assert await dedupe.failed(["d-3"]) == set()
    bounded = MemoryDedupe(maxsize=2)
    for guid in ("a", "b", "c"):
        await bounded.fail(guid)
    assert len(await bounded.failed(["a", "b", "c"])) == 2
