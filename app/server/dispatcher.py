"""A bounded work queue whose jobs are serialised per key (repository) and run by N workers.

Why not one asyncio.Queue and a lock per repository: four workers blocked on one
busy repository's lock would stall every other repository queued behind them.
Here a worker takes a *repository* that has work and nobody working on it, runs
its oldest job, and puts the repository back at the end of the line if more work
is waiting. So one repository's jobs run one at a time in arrival order, other
repositories run alongside, and a burst on one repository cannot starve the rest.

That order lives behind `JobQueue` (in process: `RepoQueue`); the Dispatcher only runs
workers over it, bounds it, counts, and drains it on shutdown.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from app.services import JobFn

log = logging.getLogger(__name__)


class QueueFull(Exception):
    """The bounded queue holds `queue_size` jobs already: the caller should answer 503."""


class NotAccepting(Exception):
    """The dispatcher is shutting down and takes no new work."""


@dataclass
class Job:
    key: str
    name: str
    run: JobFn
    log: logging.Logger | logging.LoggerAdapter[logging.Logger]
    fields: Mapping[str, Any] = field(default_factory=dict)
    done: asyncio.Future[bool] | None = None
    # A webhook delivery from a shared queue: its place there (ids sort in arrival order),
    # so a key's jobs run in that order whatever order they reached this process in.
    order: str | None = None
    delivery_id: str | None = None


class JobGate(Protocol):
    """Shared with other processes (Redis): may this process run `job` now?"""

    async def enter(self, job: Job) -> bool:
        """True: its key is this process's until `leave`. False: not its turn; try later."""
        ...

    async def leave(self, job: Job, ok: bool) -> None:
        """`job` ran (ok or not): acknowledge it and let the key go when nothing follows."""
        ...


DEFER_S = 0.2  # a job whose turn has not come is tried again after this long


class JobQueue(Protocol):
    """The work queue and the per-key order: a key's jobs are taken one at a time, in
    the order they were put, and a key with work waits behind the keys ahead of it."""

    @property
    def depth(self) -> int:
        """Jobs put and not yet taken."""
        ...

    def put(self, job: Job) -> None:
        """Queue `job` after every job of its key put before it. Never blocks."""
        ...

    async def take(self) -> Job:
        """The oldest job of a key nobody works on; that key is busy until `done`."""
        ...

    def done(self, job: Job) -> None:
        """`job` finished: its key's next job may be taken (behind other waiting keys)."""
        ...

    def defer(self, job: Job, delay: float) -> None:
        """`job` was taken but may not run yet: first of its key again, tried after `delay`."""
        ...

    def pending(self, key: str) -> int:
        """Jobs of `key` waiting here."""
        ...

    def clear(self) -> list[Job]:
        """Forget every job not yet taken; returns them (shutdown cancels them)."""
        ...


class RepoQueue:
    """The in-process JobQueue: a deque per busy key and a line of keys with work.

    A key is in exactly one place: idle (no deque), in the ready line, taken by a worker,
    or waiting for a deferral's timer."""

    def __init__(self) -> None:
        self._pending: dict[str, deque[Job]] = {}
        self._ready: asyncio.Queue[str] = asyncio.Queue()
        self._depth = 0
        self._generation = 0  # timers of deferrals from before a clear() are void

    @property
    def depth(self) -> int:
        return self._depth

    def put(self, job: Job) -> None:
        queue = self._pending.get(job.key)
        if queue is None:
            # No deque means nobody holds or waits for this key: make it ready.
            self._pending[job.key] = deque([job])
            self._ready.put_nowait(job.key)
        else:
            _insert(queue, job)
        self._depth += 1

    async def take(self) -> Job:
        while True:
            key = await self._ready.get()
            queue = self._pending.get(key)
            if queue:
                self._depth -= 1
                return queue.popleft()

    def done(self, job: Job) -> None:
        queue = self._pending.get(job.key)
        if queue:
            # Back of the line: other repositories get their turn first.
            self._ready.put_nowait(job.key)
        elif queue is not None:
            del self._pending[job.key]

    def defer(self, job: Job, delay: float) -> None:
        queue = self._pending.setdefault(job.key, deque())
        queue.appendleft(job)
        if job.order is not None:  # a job of the shared queue that came in later may be older
            queue.popleft()
            _insert(queue, job)
        self._depth += 1
        generation = self._generation

        def ready() -> None:
            if generation == self._generation and self._pending.get(job.key):
                self._ready.put_nowait(job.key)

        asyncio.get_running_loop().call_later(delay, ready)

    def pending(self, key: str) -> int:
        return len(self._pending.get(key) or ())

    def clear(self) -> list[Job]:
        jobs = [job for queue in self._pending.values() for job in queue]
        self._pending.clear()
        self._ready = asyncio.Queue()
        self._depth = 0
        self._generation += 1
        return jobs


def _insert(queue: deque[Job], job: Job) -> None:
    """Append, but before any queued job of the shared queue that is younger than `job`."""
    if job.order is not None:
        for index, other in enumerate(queue):
            if other.order is not None and _stream_order(other.order) > _stream_order(job.order):
                queue.insert(index, job)
                return
    queue.append(job)


def _stream_order(entry_id: str) -> tuple[int, int]:
    millis, _, seq = entry_id.partition("-")
    return int(millis), int(seq or 0)


class Dispatcher:
    """Runs `workers` tasks over a JobQueue: the server's JobSubmitter."""

    def __init__(
        self,
        *,
        workers: int = 4,
        queue_size: int = 1000,
        queue: JobQueue | None = None,
        gate: JobGate | None = None,
    ) -> None:
        self.workers = max(1, workers)
        self.queue_size = max(1, queue_size)
        self.counters: Counter[str] = Counter()
        self.accepting = True
        self._queue: JobQueue = queue if queue is not None else RepoQueue()
        self.gate = gate
        self._running = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def depth(self) -> int:
        """Jobs waiting (not counting those running now)."""
        return self._queue.depth

    @property
    def running(self) -> int:
        return self._running

    def start(self) -> None:
        if self._tasks:
            return
        self._tasks = [
            asyncio.create_task(self._worker(), name=f"dispatcher-worker-{i}")
            for i in range(self.workers)
        ]

    def submit(
        self,
        key: str,
        name: str,
        fn: JobFn,
        *,
        logger: logging.Logger | logging.LoggerAdapter[logging.Logger] | None = None,
        fields: Mapping[str, Any] | None = None,
        bounded: bool = True,
    ) -> asyncio.Future[bool]:
        """Queue `fn` after every job already queued for `key`.

        The returned future resolves to True when the job succeeded, False when it
        raised (the error is logged here, so nobody has to await the future).
        """
        if not self.accepting:
            raise NotAccepting
        if bounded and self._queue.depth >= self.queue_size:
            raise QueueFull
        done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._queue.put(Job(key, name, fn, logger or log, dict(fields or {}), done))
        self._idle.clear()
        return done

    def submit_job(self, repo: str, name: str, fn: JobFn) -> asyncio.Future[bool]:
        """Internal work (reconciler, timers) serialised with `repo`'s webhook events.

        Not bounded by queue_size: it comes from our own code at a bounded rate, and
        refusing it would lose work that no redelivery will bring back.
        """
        return self.submit(
            repo_key(repo), name, fn, fields={"repo": repo, "job": name}, bounded=False
        )

    async def idle(self) -> None:
        """Return once nothing is queued and nothing is running."""
        await self._idle.wait()

    async def close(self, drain_timeout: float) -> bool:
        """Stop accepting, drain queued work for up to `drain_timeout` s, stop workers.

        Returns True when everything queued was handled.
        """
        self.accepting = False
        drained = True
        if self._tasks:
            try:
                await asyncio.wait_for(self.idle(), drain_timeout)
            except TimeoutError:
                drained = False
                log.warning(
                    "shutdown: queue not drained in time",
                    extra={"queue_depth": self._queue.depth, "running": self._running,
                           "timeout_s": drain_timeout},
                )
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        self._cancel_pending()
        return drained

    def _cancel_pending(self) -> None:
        for job in self._queue.clear():
            if job.done is not None and not job.done.done():
                job.done.cancel()
        self._idle.set()

    def put(self, job: Job) -> None:
        """A job already accepted elsewhere (a shared queue's entry): never refused."""
        self._queue.put(job)
        self._idle.clear()

    def pending(self, key: str) -> int:
        return self._queue.pending(key)

    async def _worker(self) -> None:
        while True:
            job = await self._queue.take()
            self._running += 1
            deferred = False
            try:
                if self.gate is not None and not await self._enter(job):
                    deferred = True
                    self._queue.defer(job, DEFER_S)
                    continue
                ok = await self._run(job)
                if self.gate is not None:
                    await self._leave(job, ok)
            finally:
                self._running -= 1
                if not deferred:
                    self._queue.done(job)
                if self._queue.depth == 0 and self._running == 0:
                    self._idle.set()
            if job.done is not None and not job.done.done():
                job.done.set_result(ok)

    async def _enter(self, job: Job) -> bool:
        assert self.gate is not None
        try:
            return await self.gate.enter(job)
        except Exception:
            job.log.warning("cannot take the repository's turn; trying again", exc_info=True)
            return False

    async def _leave(self, job: Job, ok: bool) -> None:
        assert self.gate is not None
        try:
            await self.gate.leave(job, ok)
        except Exception:
            # Unacknowledged: another process may run it again after the lease; the
            # delivery is recorded as processed, so that run ends at once.
            job.log.warning("could not acknowledge a job", exc_info=True)

    async def _run(self, job: Job) -> bool:
        try:
            await job.run()
        except asyncio.CancelledError:
            if job.done is not None and not job.done.done():
                job.done.cancel()
            raise
        except Exception:
            self.counters["failed"] += 1
            job.log.exception("handler failed", extra={**job.fields, "job": job.name})
            return False
        self.counters["handled"] += 1
        return True


def repo_key(repo: str) -> str:
    # GitHub's owner/name are case-insensitive: "Octo/Repo" and "octo/repo" are one lock.
    return repo.lower()
