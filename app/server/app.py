"""The aiohttp application: POST /webhooks (app.server.webhooks), GET /healthz and
GET /metrics (Prometheus text), the dispatcher's workers and the background loops.
"""

from __future__ import annotations

import asyncio
import logging
import warnings
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from aiohttp import web
from gidgethub.routing import Router

import app as app_package
from app.jobs.slack_threads import wire_slack_threads
from app.server.dedupe import DeliveryDedupe
from app.server.dispatcher import Dispatcher
from app.server.webhooks import MAX_BODY, WebhookReceiver
from app.services import Services

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


def _metrics_text(dispatcher: Dispatcher, services: Services) -> str:
    counters = dispatcher.counters
    lines: list[str] = []

    def metric(name: str, kind: str, help_text: str, value: float) -> None:
        lines.extend(
            [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}", f"{name} {value:g}"]
        )

    metric("buildsheriff_webhooks_received_total", "counter",
           "Verified webhook deliveries.", counters["received"])
    metric("buildsheriff_webhooks_rejected_total", "counter",
           "Webhook requests refused (bad signature, bad input, too large, busy).",
           counters["rejected"])
    metric("buildsheriff_webhooks_duplicate_total", "counter",
           "Redeliveries dropped by delivery id.", counters["dropped_duplicates"])
    metric("buildsheriff_webhooks_ignored_total", "counter",
           "Deliveries of events no handler subscribes to.", counters["ignored"])
    metric("buildsheriff_jobs_handled_total", "counter",
           "Queued jobs that finished.", counters["handled"])
    metric("buildsheriff_jobs_failed_total", "counter",
           "Queued jobs whose handler raised.", counters["failed"])
    metric("buildsheriff_queue_depth", "gauge", "Jobs waiting in the queue.", dispatcher.depth)
    metric("buildsheriff_jobs_running", "gauge", "Jobs running now.", dispatcher.running)
    lines += services.metrics.render()
    return "\n".join(lines) + "\n"


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
    application = web.Application(client_max_size=max_body)
    dispatcher = dispatcher or Dispatcher(workers=workers, queue_size=queue_size)
    receiver = WebhookReceiver(
        services, router, dispatcher, secret=secret, max_body=max_body, dedupe=dedupe
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
        return web.json_response(
            {"status": "ok", "version": app_package.__version__, "queue_depth": dispatcher.depth}
        )

    async def metrics(request: web.Request) -> web.Response:
        return web.Response(
            text=_metrics_text(dispatcher, services),
            content_type="text/plain",
            headers={"X-Content-Type-Options": "nosniff"},
        )

    async def on_startup(_: web.Application) -> None:
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
        drained = await dispatcher.close(drain_timeout)
        log.info("shutdown complete", extra={"drained": drained, **dispatcher.counters})

    async def on_cleanup(_: web.Application) -> None:
        await stop_background()
        if dispatcher.accepting:  # cleanup without shutdown (e.g. a failed start)
            await dispatcher.close(drain_timeout)

    # WEBHOOK_PATH: /webhooks by default; Probot apps use /api/github/webhooks.
    application.router.add_post(services.settings.webhook_path, receiver.handle)
    application.router.add_get("/healthz", healthz)
    application.router.add_get("/metrics", metrics)
    application.on_startup.append(on_startup)
    application.on_shutdown.append(on_shutdown)
    application.on_cleanup.append(on_cleanup)
    return application


async def _guarded(fn: Callable[[], Awaitable[None]]) -> None:
    """A background loop that raises is logged, not left as an unretrieved task error."""
    try:
        await fn()
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("background task failed", extra={"task": getattr(fn, "__name__", "?")})

