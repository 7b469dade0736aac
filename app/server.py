"""The webhook server: verify, acknowledge in milliseconds, queue, handle per repository.

POST /webhooks answers before any call to GitHub, Slack or a pager: GitHub gives
a delivery 10 seconds and does not retry on its own, so slow work after the
answer, never before it. GET /healthz and GET /metrics (Prometheus text) report
the queue.
"""

from __future__ import annotations

import asyncio
import logging
import warnings
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from aiohttp import web
from cachetools import TTLCache
from gidgethub import BadRequest, ValidationFailure
from gidgethub.routing import Router
from gidgethub.sansio import Event

import app as app_package
from app import metrics as app_metrics
from app.context import EventContext, Services
from app.dispatcher import Dispatcher, NotAccepting, QueueFull, repo_key
from app.logs import event_logger
from app.slack_threads import wire_slack_threads

MAX_BODY = 25 * 1024 * 1024  # GitHub caps payloads at 25 MB
DELIVERY_TTL = 3600.0
DELIVERY_CACHE_SIZE = 100_000
RETRY_AFTER_S = 10
DEFAULT_DRAIN_TIMEOUT = 25.0
# The only headers gidgethub is shown: it also accepts SHA-1 `X-Hub-Signature`,
# which we do not (SHA-256 is what GitHub recommends and always sends).
_EVENT_HEADERS = ("content-type", "x-github-event", "x-github-delivery", "x-hub-signature-256")

log = logging.getLogger(__name__)

DISPATCHER_KEY = "dispatcher"


def _error(status: int, message: str, *, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.json_response({"error": message}, status=status, headers=headers)


def _store(application: web.Application, key: str, value: Any) -> None:
    # The brief promises app["dispatcher"] (a str key); aiohttp prefers AppKey and warns.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        application[key] = value


def dispatcher_of(application: web.Application) -> Dispatcher:
    dispatcher = application[DISPATCHER_KEY]
    assert isinstance(dispatcher, Dispatcher)
    return dispatcher


class WebhookReceiver:
    def __init__(
        self,
        services: Services,
        router: Router,
        dispatcher: Dispatcher,
        *,
        secret: str,
        max_body: int,
    ) -> None:
        self.services = services
        self.router = router
        self.dispatcher = dispatcher
        self._secret = secret
        self.max_body = max_body
        self.deliveries: TTLCache[str, bool] = TTLCache(
            maxsize=DELIVERY_CACHE_SIZE, ttl=DELIVERY_TTL
        )

    def _reject(self, status: int, message: str, request: web.Request, **kw: Any) -> web.Response:
        self.dispatcher.counters["rejected"] += 1
        log.warning(
            "webhook rejected",
            extra={
                "status": status,
                "reason": message,
                # Header values here are GitHub's ids and names, never secrets; the
                # signature header is deliberately not logged.
                "delivery_id": request.headers.get("X-GitHub-Delivery"),
                "event": request.headers.get("X-GitHub-Event"),
            },
        )
        return _error(status, message, **kw)

    async def handle(self, request: web.Request) -> web.Response:
        if not self.dispatcher.accepting:
            return self._reject(
                503, "shutting down", request, headers={"Retry-After": str(RETRY_AFTER_S)}
            )
        if request.content_length is not None and request.content_length > self.max_body:
            return self._reject(413, "payload too large", request)
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return self._reject(413, "payload too large", request)
        if len(body) > self.max_body:
            return self._reject(413, "payload too large", request)

        if not request.headers.get("X-Hub-Signature-256"):
            return self._reject(401, "missing signature", request)
        headers = {h: request.headers[h] for h in _EVENT_HEADERS if h in request.headers}
        try:
            # Always with the secret: without one gidgethub would skip verification.
            event = Event.from_http(headers, body, secret=self._secret)
        except ValidationFailure:
            return self._reject(401, "bad signature", request)
        except KeyError:
            return self._reject(400, "missing X-GitHub-Event or X-GitHub-Delivery", request)
        except (BadRequest, ValueError, LookupError):
            return self._reject(400, "body must be JSON (application/json)", request)
        if not isinstance(event.data, dict):
            return self._reject(400, "body must be a JSON object", request)
        if not event.event or not event.delivery_id:
            return self._reject(400, "missing X-GitHub-Event or X-GitHub-Delivery", request)

        counters = self.dispatcher.counters
        counters["received"] += 1
        if event.event == "ping":
            return web.json_response({"msg": "pong"}, status=200)
        if event.delivery_id in self.deliveries:
            counters["dropped_duplicates"] += 1
            return web.json_response({"status": "duplicate"}, status=202)
        if not self.router.fetch(event):
            counters["ignored"] += 1
            return web.json_response({"status": "ignored"}, status=202)

        repo = _repo_of(event.data)
        installation_id = _installation_of(event.data)
        event_log = event_logger(event.delivery_id, event.event, event.data.get("action"), repo)
        key = repo_key(repo) if repo else f"installation:{installation_id}"
        try:
            self.dispatcher.submit(
                key,
                f"{event.event}.{event.data.get('action') or ''}".rstrip("."),
                lambda: self._dispatch(event, repo, installation_id, event_log),
                logger=event_log,
            )
        except QueueFull:
            return self._reject(
                503, "queue full", request, headers={"Retry-After": str(RETRY_AFTER_S)}
            )
        except NotAccepting:
            return self._reject(
                503, "shutting down", request, headers={"Retry-After": str(RETRY_AFTER_S)}
            )
        self.deliveries[event.delivery_id] = True
        event_log.debug("webhook queued", extra={"queue_depth": self.dispatcher.depth})
        return web.json_response({"status": "queued"}, status=202)

    async def _dispatch(
        self,
        event: Event,
        repo: str,
        installation_id: int | None,
        event_log: logging.LoggerAdapter[logging.Logger],
    ) -> None:
        if installation_id is None:
            gh = self.services.extras.get("default_github")
            if gh is None:
                event_log.info("event without installation and no default client: skipped")
                return
        else:
            gh = await self.services.github_for_installation(installation_id)
        ctx = EventContext(
            services=self.services,
            gh=gh,
            delivery_id=event.delivery_id,
            repo=repo,
            installation_id=installation_id or 0,
            log=event_log,
        )
        await self.router.dispatch(event, ctx)


def _repo_of(data: Mapping[str, Any]) -> str:
    repository = data.get("repository")
    if isinstance(repository, dict) and isinstance(repository.get("full_name"), str):
        return str(repository["full_name"])
    return ""


def _installation_of(data: Mapping[str, Any]) -> int | None:
    installation = data.get("installation")
    if isinstance(installation, dict) and isinstance(installation.get("id"), int):
        return int(installation["id"])
    return None


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
    lines += app_metrics.render(services.extras)
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
) -> web.Application:
    """The aiohttp app. Pass `dispatcher` when a background task needs it before the app
    exists (the reconciler submits jobs to it); otherwise one is made from queue_size/workers.
    """
    secret = services.settings.webhook_secret
    if not secret:
        # Fail closed: a server without a secret would accept anyone's events.
        raise ValueError("WEBHOOK_SECRET is required to serve webhooks")

    # client_max_size enforces the limit while reading, for bodies without Content-Length.
    application = web.Application(client_max_size=max_body)
    dispatcher = dispatcher or Dispatcher(workers=workers, queue_size=queue_size)
    receiver = WebhookReceiver(services, router, dispatcher, secret=secret, max_body=max_body)
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

    application.router.add_post("/webhooks", receiver.handle)
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

