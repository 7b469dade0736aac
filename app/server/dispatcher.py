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

    def clear(self) -> list[Job]:
        """Forget every job not yet taken; returns them (shutdown cancels them)."""
        ...


class RepoQueue:
    """The in-process JobQueue: a deque per busy key and a line of keys with work."""

    def __init__(self) -> None:
        self._pending: dict[str, deque[Job]] = {}
        self._ready: asyncio.Queue[str] = asyncio.Queue()
        self._depth = 0

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
            queue.append(job)
        self._depth += 1

    async def take(self) -> Job:
        key = await self._ready.get()
        self._depth -= 1
        return self._pending[key].popleft()

    def done(self, job: Job) -> None:
        queue = self._pending.get(job.key)
        if queue:
            # Back of the line: other repositories get their turn first.
            self._ready.put_nowait(job.key)
        elif queue is not None:
            del self._pending[job.key]

    def clear(self) -> list[Job]:
        jobs = [job for queue in self._pending.values() for job in queue]
        self._pending.clear()
        self._ready = asyncio.Queue()
        self._depth = 0
        return jobs


class Dispatcher:
    """Runs `workers` tasks over a JobQueue: the server's JobSubmitter."""

    def __init__(
        self, *, workers: int = 4, queue_size: int = 1000, queue: JobQueue | None = None
    ) -> None:
        self.workers = max(1, workers)
        self.queue_size = max(1, queue_size)
        self.counters: Counter[str] = Counter()
        self.accepting = True
        self._queue: JobQueue = queue if queue is not None else RepoQueue()
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

    async def _worker(self) -> None:
        while True:
            job = await self._queue.take()
            self._running += 1
            try:
                ok = await self._run(job)
            finally:
                self._running -= 1
                self._queue.done(job)
                if self._queue.depth == 0 and self._running == 0:
                    self._idle.set()
            if job.done is not None and not job.done.done():
                job.done.set_result(ok)

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
