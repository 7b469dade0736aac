"""The durable webhook queue shared by replicas: one Redis stream, one consumer group.

A verified delivery is added to the stream `<prefix>events` and to its repository's order
list `<prefix>order:<repo>` in one step (a script), then answered 202. Each replica reads
entries with XREADGROUP into its own per-repository dispatcher. Before an entry runs,
its replica must hold the repository's lease `<prefix>repo:<repo>` and the entry must be
first in the order list, so one repository's events are never worked by two replicas at
once nor out of order (`enter`, a JobGate). Once it ran, the entry is acknowledged and
deleted, and leaves the order list (`leave`). Internal work (reconciler, timers) takes
the lease only.

A replica renews its leases and the idle time of the entries it holds every third of
REDIS_LEASE. If it dies, its leases expire and its pending entries are claimed by another
replica with XAUTOCLAIM once idle for REDIS_LEASE; being first in their order lists, they
run first. A lease stays with a replica while it has more work for that repository (or
Slack messages about it still in its outbox), so what it learns (a Slack thread's ts)
reaches GitHub before another replica takes the next event.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable
from typing import Any

from redis import asyncio as aioredis
from redis.exceptions import RedisError, ResponseError

from app.server.dispatcher import Dispatcher, Job, QueueFull
from app.server.redis_store import RedisUnavailable

log = logging.getLogger(__name__)

GROUP = "workers"
READ_AHEAD = 200  # entries held locally at most (beyond, they wait in the stream)
READ_BLOCK_MS = 1000
STICKY_MAX = 10.0  # seconds a lease is kept for follow-up work at most

_PUBLISH = """
local id = redis.call('XADD', KEYS[1], '*', 'key', ARGV[1], 'data', ARGV[2])
redis.call('RPUSH', KEYS[2], id)
return id
"""
# KEYS: order list, lease, stream. ARGV: entry id, holder, lease ms.
# 1: the entry's turn, lease held. 0: not yet (another entry comes first, or another
# replica holds the repository); a lease of ours is let go so the first one can run.
_TURN = """
local pos = redis.call('LPOS', KEYS[1], ARGV[1])
while pos and pos > 0 do
  local head = redis.call('LINDEX', KEYS[1], 0)
  if #redis.call('XRANGE', KEYS[3], head, head) > 0 then
    if redis.call('GET', KEYS[2]) == ARGV[2] then redis.call('DEL', KEYS[2]) end
    return 0
  end
  redis.call('LPOP', KEYS[1])  -- its entry is gone (a Redis that lost data): skip it
  pos = redis.call('LPOS', KEYS[1], ARGV[1])
end
local holder = redis.call('GET', KEYS[2])
if holder and holder ~= ARGV[2] then return 0 end
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
return 1
"""
_LEASE = """
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"""
_ACK = """
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[1], ARGV[2])
redis.call('LREM', KEYS[2], 1, ARGV[2])
return 1
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

Hydrate = Callable[[str, dict[str, Any]], Job]


class RedisEventQueue:
    def __init__(
        self,
        client: aioredis.Redis,
        prefix: str,
        *,
        holder: str,
        lease: float,
        backlog_limit: int,
    ) -> None:
        self.client = client
        self.prefix = prefix
        self.stream = f"{prefix}events"
        self.holder = holder
        self.lease = lease
        self.backlog_limit = backlog_limit
        self.healthy = True
        self.dispatcher: Dispatcher | None = None
        self.hydrate: Hydrate | None = None
        # Is there work of ours on this repository outside the dispatcher (Slack outbox)?
        self.busy_elsewhere: Callable[[str], bool] = lambda key: False
        self._held: dict[str, float] = {}  # repository keys whose lease we hold -> since
        self._working: set[str] = set()  # keys with a job of ours running now
        self._entries: set[str] = set()  # entries read or claimed by us, not acknowledged
        self._task: asyncio.Task[None] | None = None
        self._publish = client.register_script(_PUBLISH)
        self._turn = client.register_script(_TURN)
        self._take_lease = client.register_script(_LEASE)
        self._ack = client.register_script(_ACK)
        self._release = client.register_script(_RELEASE)

    def _order(self, key: str) -> str:
        return f"{self.prefix}order:{key}"

    def _lease(self, key: str) -> str:
        return f"{self.prefix}repo:{key}"

    @property
    def lease_ms(self) -> int:
        return int(self.lease * 1000)

    # --- producing -----------------------------------------------------------------------

    async def publish(self, key: str, record: dict[str, Any]) -> str:
        """Queue a verified delivery durably; QueueFull past the backlog limit."""
        try:
            if await self.client.xlen(self.stream) >= self.backlog_limit:
                raise QueueFull
            entry_id = await self._publish(
                keys=[self.stream, self._order(key)], args=[key, json.dumps(record)]
            )
        except (RedisError, OSError) as error:
            self._unhealthy(error)
            raise RedisUnavailable("Redis: cannot queue") from None
        self.healthy = True
        return str(entry_id)

    # --- JobGate ---------------------------------------------------------------------------

    async def enter(self, job: Job) -> bool:
        try:
            if job.order is None:
                ours = await self._take_lease(keys=[self._lease(job.key)],
                                              args=[self.holder, self.lease_ms])
            else:
                ours = await self._turn(
                    keys=[self._order(job.key), self._lease(job.key), self.stream],
                    args=[job.order, self.holder, self.lease_ms],
                )
        except (RedisError, OSError) as error:
            self._unhealthy(error)
            return False
        if ours:
            self._held.setdefault(job.key, time.monotonic())
            self._working.add(job.key)
        else:
            self._held.pop(job.key, None)
        return bool(ours)

    async def leave(self, job: Job, ok: bool) -> None:
        self._working.discard(job.key)
        if job.order is not None:
            await self._ack(keys=[self.stream, self._order(job.key)], args=[GROUP, job.order])
            self._entries.discard(job.order)
        if not self._keep(job.key):
            await self._let_go(job.key)

    def _keep(self, key: str) -> bool:
        since = self._held.get(key)
        if since is None or time.monotonic() - since > STICKY_MAX:
            return False
        dispatcher = self.dispatcher
        return bool((dispatcher is not None and dispatcher.pending(key))
                    or self.busy_elsewhere(key))

    async def _let_go(self, key: str) -> None:
        self._held.pop(key, None)
        await self._release(keys=[self._lease(key)], args=[self.holder])

    # --- consuming -------------------------------------------------------------------------

    def start(self, dispatcher: Dispatcher, hydrate: Hydrate) -> None:
        self.dispatcher = dispatcher
        self.hydrate = hydrate
        dispatcher.gate = self
        self._task = asyncio.create_task(self._run(), name="redis-consumer")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for key in list(self._held):
            with contextlib.suppress(RedisError, OSError):
                await self._let_go(key)

    async def ensure_group(self) -> None:
        try:
            # From the start of the stream: entries queued before the group existed count.
            await self.client.xgroup_create(self.stream, GROUP, id="0", mkstream=True)
        except ResponseError as error:
            if "BUSYGROUP" not in str(error):
                raise

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        renew_at = claim_at = 0.0
        while True:
            try:
                await self._read()
                now = loop.time()
                if now >= renew_at:
                    await self._renew()
                    renew_at = now + self.lease / 3
                if now >= claim_at:
                    await self._claim_abandoned()
                    claim_at = now + self.lease / 2
                self.healthy = True
            except asyncio.CancelledError:
                raise
            except ResponseError as error:
                if "NOGROUP" in str(error):  # Redis restarted without its data
                    with contextlib.suppress(RedisError, OSError):
                        await self.ensure_group()
                    continue
                self._unhealthy(error)
                await asyncio.sleep(1.0)
            except (RedisError, OSError) as error:
                self._unhealthy(error)
                await asyncio.sleep(1.0)

    async def _read(self) -> None:
        assert self.dispatcher is not None
        if (self.dispatcher.depth >= READ_AHEAD or not self.dispatcher.accepting):
            await asyncio.sleep(0.1)
            return
        answer: Any = await self.client.xreadgroup(
            GROUP, self.holder, {self.stream: ">"}, count=50, block=READ_BLOCK_MS
        )
        for _stream, entries in answer or []:
            for entry_id, fields in entries:
                self._accept(entry_id, fields)

    def _accept(self, entry_id: str, fields: dict[str, Any] | None) -> None:
        assert self.dispatcher is not None and self.hydrate is not None
        if not fields or entry_id in self._entries:
            return
        try:
            record = json.loads(fields["data"])
            job = self.hydrate(entry_id, record)
        except (KeyError, ValueError, TypeError):
            log.warning("unreadable queue entry dropped", extra={"entry": entry_id})
            return
        self._entries.add(entry_id)
        self.dispatcher.put(job)

    async def _renew(self) -> None:
        """Keep what we hold: the entries' idle time and the repositories' leases."""
        entries: list[Any] = list(self._entries)
        for start in range(0, len(entries), 100):
            await self.client.xclaim(self.stream, GROUP, self.holder, 0,
                                     entries[start:start + 100], justid=True)
        for key in list(self._held):
            if key in self._working or self._keep(key):
                await self._take_lease(keys=[self._lease(key)],
                                       args=[self.holder, self.lease_ms])
            else:
                await self._let_go(key)

    async def _claim_abandoned(self) -> None:
        """Entries another replica read and never acknowledged within the lease: ours."""
        start = "0-0"
        while True:
            answer: Any = await self.client.xautoclaim(
                self.stream, GROUP, self.holder, self.lease_ms, start_id=start, count=100
            )
            start, claimed = answer[0], answer[1]
            for entry_id, fields in claimed:
                if entry_id not in self._entries:
                    log.info("claimed an abandoned queue entry", extra={"entry": entry_id})
                self._accept(entry_id, fields)
            if start in ("0-0", b"0-0"):
                return

    def _unhealthy(self, error: BaseException) -> None:
        if self.healthy:
            log.warning("Redis unavailable", extra={"error": type(error).__name__})
        self.healthy = False

    async def ready(self) -> bool:
        try:
            await asyncio.wait_for(self.client.ping(), 2.0)
        except (RedisError, OSError, TimeoutError) as error:
            self._unhealthy(error)
            return False
        self.healthy = True
        return True

    async def backlog(self) -> int:
        """Entries in the stream not yet acknowledged by anyone."""
        return int(await self.client.xlen(self.stream))
