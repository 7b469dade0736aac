"""The aiohttp application: POST /webhooks (app.server.webhooks), GET /healthz and
GET /metrics (app.metrics, Prometheus), the dispatcher's workers and the background loops.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import warnings
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from aiohttp import web
from gidgethub.routing import Router

import app as app_package
from app.jobs.slack_threads import wire_slack_threads
from app.server.dispatcher import Dispatcher, repo_key
from app.server.limits import GUARD_KEY, LIMITS_KEY, ConnectionGuard, Limits
from app.server.redis_queue import RedisEventQueue
from app.server.webhooks import MAX_BODY, WebhookReceiver
from app.services import DeliveryDedupe, Services

DEFAULT_DRAIN_TIMEOUT = 25.0

log = logging.getLogger(__name__)

DISPATCHER_KEY = "dispatcher"


def _store(application: web.Application, key: str, value: Any) -> None:
    # The brief promises app["dispatcher"] (a str key); aiohttp prefers AppKey and warns.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        application[key] = value


def dispatcher_of(application: web.Application) -> Dispatcher:
    dispatcher = application[DISPATCHER_KEY]
    assert isinstance(dispatcher, Dispatcher)
    return dispatcher


def create_app(
    services: Services,
    router: Router,
    *,
    queue_size: int = 1000,
    workers: int = 4,
    background: Sequence[Callable[[], Awaitable[None]]] = (),
    drain_timeout: float = DEFAULT_DRAIN_TIMEOUT,
    max_body: int = MAX_BODY,
    dispatcher: Dispatcher | None = None,
    dedupe: DeliveryDedupe | None = None,
    limits: Limits | None = None,
    durable: RedisEventQueue | None = None,
) -> web.Application:
    """The aiohttp app. Pass `dispatcher` when a background task needs it before the app
    exists (the reconciler submits jobs to it); otherwise one is made from queue_size/workers.
    `dedupe` remembers delivery ids (in process unless given).
    """
    secret = services.settings.webhook_secret
    if not secret:
        # Fail closed: a server without a secret would accept anyone's events.
        raise ValueError("WEBHOOK_SECRET is required to serve webhooks")

    # client_max_size enforces the limit while reading, for bodies without Content-Length.
    limits = limits or Limits()
    guard = ConnectionGuard(limits)
    application = web.Application(client_max_size=max_body, middlewares=[guard.middleware])
    application[LIMITS_KEY] = limits
    application[GUARD_KEY] = guard
    dispatcher = dispatcher or Dispatcher(workers=workers, queue_size=queue_size)
    receiver = WebhookReceiver(
        services, router, dispatcher, secret=secret, max_body=max_body, dedupe=dedupe,
        limits=limits, durable=durable,
    )
    _store(application, DISPATCHER_KEY, dispatcher)
    _store(application, "receiver", receiver)
    _store(application, "services", services)
    # The Slack outbox learns thread ids in the background; they are persisted in the
    # repository's lock, like any event.
    wire_slack_threads(services, dispatcher)
    background_tasks: list[asyncio.Task[None]] = []

    async def healthz(request: web.Request) -> web.Response:
        if not dispatcher.accepting:
            return web.json_response({"status": "shutting down"}, status=503)
        slack_pending = services.slack.pending() if services.slack is not None else 0
        shared = 0
        if durable is not None:
            # Liveness never depends on Redis: a lost Redis is /readyz's business.
            with contextlib.suppress(Exception):
                shared = await asyncio.wait_for(durable.backlog(), 1.0)
        return web.json_response(
            {
                "status": "ok",
                "version": app_package.__version__,
                "queue_depth": dispatcher.depth,
                "running": dispatcher.running,
                # Nothing queued (here or, with Redis, for any replica), running or waiting
                # to reach Slack: tests and drains poll it.
                "busy": bool(dispatcher.depth or dispatcher.running or slack_pending or shared),
            }
        )

    # Read when scraped: the queue as it is at that moment.
    services.metrics.queue_depth.set_function(lambda: dispatcher.depth)
    services.metrics.jobs_running.set_function(lambda: dispatcher.running)

    async def readyz(request: web.Request) -> web.Response:
        """Readiness: this process can take work (not draining; Redis answers)."""
        if not dispatcher.accepting:
            return web.json_response({"status": "draining"}, status=503)
        if durable is not None and not await durable.ready():
            return web.json_response({"status": "Redis unavailable"}, status=503)
        return web.json_response({"status": "ready"})

    async def metrics(request: web.Request) -> web.Response:
        # prometheus_client's own exposition and the content type it announces with it
        return web.Response(
            body=services.metrics.render(),
            headers={
                "Content-Type": services.metrics.content_type,
                "X-Content-Type-Options": "nosniff",
            },
        )

    async def on_startup(_: web.Application) -> None:
        if durable is not None:
            durable.busy_elsewhere = _slack_busy(services)
            durable.start(dispatcher, receiver.job_from_record)
        dispatcher.start()
        for index, fn in enumerate(background):
            background_tasks.append(
                asyncio.create_task(_guarded(fn), name=f"background-{index}")
            )

    async def stop_background() -> None:
        for task in background_tasks:
            task.cancel()
        await asyncio.gather(*background_tasks, return_exceptions=True)
        background_tasks.clear()

    async def on_shutdown(_: web.Application) -> None:
        # Producers first (the reconciler submits jobs), then drain what was accepted.
        dispatcher.accepting = False
        await stop_background()
        if durable is not None:
            await durable.stop()  # read no more; what is still queued waits in Redis
        drained = await dispatcher.close(drain_timeout)
        log.info("shutdown complete", extra={"drained": drained, **dispatcher.counters})

    async def on_cleanup(_: web.Application) -> None:
        await stop_background()
        if dispatcher.accepting:  # cleanup without shutdown (e.g. a failed start)
            await dispatcher.close(drain_timeout)

    # WEBHOOK_PATH: /webhooks by default; Probot apps use /api/github/webhooks.
    application.router.add_post(services.settings.webhook_path, receiver.handle)
    application.router.add_get("/healthz", healthz)
    application.router.add_get("/readyz", readyz)
    application.router.add_get("/metrics", metrics)
    application.on_startup.append(on_startup)
    application.on_shutdown.append(on_shutdown)
    application.on_cleanup.append(on_cleanup)
    return application


def _slack_busy(services: Services) -> Callable[[str], bool]:
    """Has this process Slack messages about the repository (a key) still to send?"""

    def busy(key: str) -> bool:
        slack = services.slack
        if slack is None:
            return False
        return any(slack.pending(thread) for thread in list(services.slack_threads)
                   if repo_key(thread.rpartition("#")[0]) == key)

    return busy


async def _guarded(fn: Callable[[], Awaitable[None]]) -> None:
    """A background loop that raises is logged, not left as an unretrieved task error."""
    try:
        await fn()
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("background task failed", extra={"task": getattr(fn, "__name__", "?")})

