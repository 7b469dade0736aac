"""A bounded work queue whose jobs are serialised per key (repository) and run by N workers.

Why not one asyncio.Queue and a lock per repository: four workers blocked on one
busy repository's lock would stall every other repository queued behind them.
Here a worker takes a *repository* that has work and nobody working on it, runs
its oldest job, and puts the repository back at the end of the line if more work
is waiting. So one repository's jobs run one at a time in arrival order, other
repositories run alongside, and a burst on one repository cannot starve the rest.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

JobFn = Callable[[], Awaitable[None]]


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


class Dispatcher:
    def __init__(self, *, workers: int = 4, queue_size: int = 1000) -> None:
        self.workers = max(1, workers)
        self.queue_size = max(1, queue_size)
        self.counters: Counter[str] = Counter()
        self.accepting = True
        self._pending: dict[str, deque[Job]] = {}
        self._ready: asyncio.Queue[str] = asyncio.Queue()
        self._depth = 0
        self._running = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def depth(self) -> int:
        """Jobs waiting (not counting those running now)."""
        return self._depth

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
        if bounded and self._depth >= self.queue_size:
            raise QueueFull
        done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        job = Job(key, name, fn, logger or log, dict(fields or {}), done)
        queue = self._pending.get(key)
        if queue is None:
            # No deque means nobody holds or waits for this key: make it ready.
            self._pending[key] = deque([job])
            self._ready.put_nowait(key)
        else:
            queue.append(job)
        self._depth += 1
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
                    extra={"queue_depth": self._depth, "running": self._running,
                           "timeout_s": drain_timeout},
                )
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        self._cancel_pending()
        return drained

    def _cancel_pending(self) -> None:
        for queue in self._pending.values():
            for job in queue:
                if job.done is not None and not job.done.done():
                    job.done.cancel()
        self._pending.clear()
        self._depth = 0
        self._idle.set()

    async def _worker(self) -> None:
        while True:
            key = await self._ready.get()
            queue = self._pending[key]
            job = queue.popleft()
            self._depth -= 1
            self._running += 1
            try:
                ok = await self._run(job)
            finally:
                self._running -= 1
                if queue:
                    # Back of the line: other repositories get their turn first.
                    self._ready.put_nowait(key)
                else:
                    del self._pending[key]
                if self._depth == 0 and self._running == 0:
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
