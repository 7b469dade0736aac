"""POST /webhooks: verify, drop redeliveries, queue per repository, answer in milliseconds.

GitHub gives a delivery 10 seconds and does not retry on its own, so slow work comes
after the answer, never before it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from gidgethub import ValidationFailure
from gidgethub.routing import Router
from gidgethub.sansio import Event, validate_event

from app.core.repo_names import payload_name_problem, quoted_full_name, valid_full_name
from app.detect.evaluate import already_judged, forget_judged
from app.github.client import GitHubClient
from app.handlers.detect import ci_question
from app.logs import event_logger
from app.server.coalesce import Coalescer, Evaluation
from app.server.dedupe import MemoryDedupe
from app.server.dispatcher import Dispatcher, Job, NotAccepting, QueueFull, repo_key
from app.server.limits import BodyBudget, Limits
from app.server.redis_queue import RedisEventQueue
from app.server.redis_store import RedisUnavailable
from app.services import DeliveryDedupe, EventContext, JobFn, Services

MAX_BODY = 25 * 1024 * 1024  # GitHub caps payloads at 25 MB
RETRY_AFTER_S = 10
# The only headers gidgethub is shown: it also accepts SHA-1 `X-Hub-Signature`,
# which we do not (SHA-256 is what GitHub recommends and always sends).
_EVENT_HEADERS = ("content-type", "x-github-event", "x-github-delivery", "x-hub-signature-256")

log = logging.getLogger(__name__)
UNVERIFIED = "unverified"  # a refused request's event label: its headers are not trusted


def _error(status: int, message: str, *, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.json_response({"error": message}, status=status, headers=headers)


@dataclass(frozen=True)
class Signed:
    """A delivery whose signature holds: its (now believed) headers and its body."""

    name: str
    delivery_id: str
    content_type: str | None
    body: bytes


class WebhookReceiver:
    def __init__(
        self,
        services: Services,
        router: Router,
        dispatcher: Dispatcher,
        *,
        secret: str,
        max_body: int,
        dedupe: DeliveryDedupe | None = None,
        limits: Limits | None = None,
        durable: RedisEventQueue | None = None,
    ) -> None:
        self.services = services
        self.durable = durable
        self.router = router
        self.dispatcher = dispatcher
        self._secret = secret
        self.max_body = max_body
        self.dedupe: DeliveryDedupe = dedupe if dedupe is not None else MemoryDedupe()
        self.limits = limits or Limits()
        self.body_budget = BodyBudget(self.limits)
        self.coalescer = Coalescer()
        self._counters: dict[tuple[str, str], Any] = {}

    def _reject(
        self,
        status: int,
        message: str,
        request: web.Request,
        *,
        outcome: str,
        event: str = UNVERIFIED,
        **kw: Any,
    ) -> web.Response:
        self.dispatcher.counters["rejected"] += 1
        self.services.metrics.webhooks.labels(event=event, outcome=outcome).inc()
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
        """One delivery, a step at a time; each step answers it or hands it on."""
        signed = await self._verified(request)
        if isinstance(signed, web.Response):
            return signed
        if signed.name != "ping" and not _subscribed(self.router, signed.name):
            return self._ignore(signed.name)  # nobody listens: its signed header says enough
        settled = self._settled_by_view(request, signed)
        if settled is not None:
            return settled
        event = self._parsed(request, signed)
        if isinstance(event, web.Response):
            return event
        if event.event == "ping":
            self.dispatcher.counters["received"] += 1
            self._count(event, "pong")
            return web.json_response({"msg": "pong"}, status=200)
        if not self._may_matter(event):
            # Only when the view could not say (an odd payload the whole parse accepted).
            return self._ignore(event.event)
        self.dispatcher.counters["received"] += 1
        refused = await self._claim(request, event)
        if refused is not None:
            return refused
        return await self._take(request, event)

    async def _verified(self, request: web.Request) -> Signed | web.Response:
        """The delivery once its body is read within the limits and its signature holds;
        or the refusal. Nothing in the body or the headers is believed before."""
        if not self.dispatcher.accepting:
            return self._reject(503, "shutting down", request, outcome="shutting_down",
                                headers={"Retry-After": str(RETRY_AFTER_S)})
        too_large = {"outcome": "too_large"}
        if request.content_length is not None and request.content_length > self.max_body:
            return self._closing(self._reject(413, "payload too large", request, **too_large))
        if not request.headers.get("X-Hub-Signature-256"):
            # Unsigned: refused before a byte of its body is read.
            return self._closing(self._reject(401, "missing signature", request,
                                             outcome="bad_signature"))
        body = await self._read_body(request)
        if isinstance(body, web.Response):
            return body
        headers = {h: request.headers[h] for h in _EVENT_HEADERS if h in request.headers}
        try:
            # The signature covers the body, so the whole body is read and checked (always
            # with the secret).
            validate_event(body, signature=headers["x-hub-signature-256"], secret=self._secret)
        except ValidationFailure:
            return self._reject(401, "bad signature", request, outcome="bad_signature")
        name = headers.get("x-github-event") or ""
        delivery_id = headers.get("x-github-delivery") or ""
        if not name or not delivery_id:
            return self._reject(
                400, "missing X-GitHub-Event or X-GitHub-Delivery", request, outcome="malformed"
            )
        return Signed(name, delivery_id, headers.get("content-type"), body)

    def _settled_by_view(self, request: web.Request, signed: Signed) -> web.Response | None:
        """The answer when the payload's view settles it, else None (parse it whole).

        No handler would act on it (a check on a feature branch, a pending status...):
        answered 202 from the few fields the concerns read, nothing parsed, claimed, queued
        or run. It counts as processed, as its handlers' doing nothing would have. Its
        depth and names are not checked: nothing will read them. A redelivery is ignored
        again, so it leaves no trace in the dedupe."""
        view_of = getattr(self.router, "view", None)
        if not callable(view_of) or _mime(signed.content_type) != "application/json":
            return None
        payload_view = view_of(signed.name)
        data = payload_view.read(signed.body) if payload_view is not None else None
        if data is None:
            return None
        if _bad_repository(data):
            return self._reject(400, _BAD_REPOSITORY, request, outcome="malformed")
        if self._may_matter(Event(data, event=signed.name, delivery_id=signed.delivery_id)):
            return None
        return self._ignore(signed.name)

    def _parsed(self, request: web.Request, signed: Signed) -> Event | web.Response:
        """The whole payload as an Event, once it is JSON, not too deep, and every name in
        it that may reach an API path is what GitHub sends; or the 400."""
        parsed = parse_body(signed.content_type, signed.body)
        if isinstance(parsed, str):
            return self._reject(400, parsed, request, outcome="malformed")
        if _bad_repository(parsed):
            return self._reject(400, _BAD_REPOSITORY, request, outcome="malformed")
        # Shas, branch names and logins reach API paths too: each must be what GitHub sends.
        problem = payload_name_problem(parsed)
        if problem is not None:
            return self._reject(400, problem, request, outcome="malformed")
        return Event(parsed, event=signed.name, delivery_id=signed.delivery_id)

    def _ignore(self, name: str) -> web.Response:
        """202 "ignored": no handler would act on it; it counts as processed."""
        counters = self.dispatcher.counters
        counters["received"] += 1
        counters["ignored"] += 1
        self._count_label(name[:40], "ignored")
        return _ignored()

    async def _claim(self, request: web.Request, event: Event) -> web.Response | None:
        """None once this process holds the delivery; else the answer (a duplicate, or
        503 while the shared dedupe cannot be asked)."""
        try:
            claimed = await self.dedupe.claim(event.delivery_id)
        except RedisUnavailable:
            return self._reject(
                503, "Redis unavailable", request, outcome="busy", event=_event_label(event),
                headers={"Retry-After": str(RETRY_AFTER_S)},
            )
        if claimed:
            return None
        self.dispatcher.counters["dropped_duplicates"] += 1
        self._count(event, "duplicate")
        return web.json_response({"status": "duplicate"}, status=202)

    async def _take(self, request: web.Request, event: Event) -> web.Response:
        """A claimed delivery into the shared durable queue (several replicas) or this
        process's queue, joined to an evaluation of the same head when one waits there."""
        repo = _repo_of(event.data)
        installation_id = _installation_of(event.data)
        event_log = event_logger(event.delivery_id, event.event, event.data.get("action"), repo)
        key = repo_key(repo) if repo else f"installation:{installation_id}"
        if repo and _changes_incidents(event, self.services.settings.app_slug):
            forget_judged(self.services, repo)  # now, not when its turn comes
        if self.durable is not None:
            return await self._publish(request, key, event, repo, installation_id, event_log)
        counters = self.dispatcher.counters
        question = ci_question(event.event, event.data, self.services.settings) if repo else None
        evaluation: Evaluation | None = None
        if question is not None and question.sha:
            if question.signal == "red" and already_judged(self.services, repo, question.sha):
                await self.dedupe.finish(event.delivery_id)
                counters["judged"] += 1
                self._count(event, "judged")
                return web.json_response({"status": "already judged"}, status=202)
            if self.coalescer.merge((key, question.sha), event.delivery_id):
                counters["merged"] += 1
                self._count(event, "merged")
                event_log.debug("webhook merged into a queued evaluation")
                return web.json_response({"status": "merged"}, status=202)
            evaluation = self.coalescer.open((key, question.sha), event.delivery_id)
        try:
            self.dispatcher.submit(
                key,
                f"{event.event}.{event.data.get('action') or ''}".rstrip("."),
                self.work(event, repo, installation_id, event_log, evaluation=evaluation),
                logger=event_log,
            )
        except (QueueFull, NotAccepting) as refused:
            if evaluation is not None:
                self.coalescer.drop(evaluation)
            await self.dedupe.release(event.delivery_id)
            full = isinstance(refused, QueueFull)
            return self._reject(
                503,
                "queue full" if full else "shutting down",
                request,
                outcome="busy" if full else "shutting_down",
                event=_event_label(event),
                headers={"Retry-After": str(RETRY_AFTER_S)},
            )
        self._count(event, "queued")
        event_log.debug("webhook queued", extra={"queue_depth": self.dispatcher.depth})
        return web.json_response({"status": "queued"}, status=202)

    def _may_matter(self, event: Event) -> bool:
        """Whether a handler may act on `event`: the router's concerns are asked when it has
        them (app.handlers.Concerns), else whether any handler is registered for it."""
        may_matter = getattr(self.router, "may_matter", None)
        if callable(may_matter):
            return bool(may_matter(event, self.services.settings))
        return bool(self.router.fetch(event))

    def _count(self, event: Event, outcome: str) -> None:
        self._count_label(_event_label(event), outcome)

    def _count_label(self, label: str, outcome: str) -> None:
        key = (label, outcome)
        counter = self._counters.get(key)
        if counter is None:  # a label pair is looked up once (the set is small: signed names)
            counter = self.services.metrics.webhooks.labels(event=key[0], outcome=outcome)
            self._counters[key] = counter
        counter.inc()

    async def _publish(
        self,
        request: web.Request,
        key: str,
        event: Event,
        repo: str,
        installation_id: int | None,
        event_log: logging.LoggerAdapter[logging.Logger],
    ) -> web.Response:
        """Several replicas: the delivery goes to the shared durable queue, then 202."""
        assert self.durable is not None
        record = {"event": event.event, "delivery_id": event.delivery_id, "data": event.data,
                  "repo": repo, "installation_id": installation_id}
        try:
            await self.durable.publish(key, record)
        except (QueueFull, RedisUnavailable) as refused:
            with contextlib.suppress(RedisUnavailable):
                await self.dedupe.release(event.delivery_id)
            reason = "queue full" if isinstance(refused, QueueFull) else "Redis unavailable"
            return self._reject(
                503, reason, request, outcome="busy", event=_event_label(event),
                headers={"Retry-After": str(RETRY_AFTER_S)},
            )
        self._count(event, "queued")
        event_log.debug("webhook queued durably")
        return web.json_response({"status": "queued"}, status=202)

    def job_from_record(self, entry_id: str, record: dict[str, Any]) -> Job:
        """A durable queue's entry (from any replica) as this process's job."""
        event = Event(record["data"], event=record["event"], delivery_id=record["delivery_id"])
        repo = str(record.get("repo") or "")
        installation = record.get("installation_id")
        installation_id = installation if isinstance(installation, int) else None
        event_log = event_logger(event.delivery_id, event.event, event.data.get("action"), repo)
        key = repo_key(repo) if repo else f"installation:{installation_id}"
        return Job(
            key,
            f"{event.event}.{event.data.get('action') or ''}".rstrip("."),
            self.work(event, repo, installation_id, event_log),
            event_log,
            order=entry_id,
            delivery_id=event.delivery_id,
        )

    def work(
        self,
        event: Event,
        repo: str,
        installation_id: int | None,
        event_log: logging.LoggerAdapter[logging.Logger],
        *,
        evaluation: Evaluation | None = None,
    ) -> JobFn:
        """The delivery's job: processed once it returns; released for a redelivery and
        remembered as failed when it fails (or is cancelled at shutdown), so the recovery
        job asks GitHub for it again. With `evaluation`, so is every delivery
        merged into it (app.server.coalesce)."""

        async def run() -> None:
            deliveries = [event.delivery_id]
            if evaluation is not None:
                deliveries = self.coalescer.start(evaluation)
            if len(deliveries) == 1 and await self.dedupe.processed(event.delivery_id):
                return  # another replica finished it (its acknowledgement was lost)
            try:
                await self._dispatch(event, repo, installation_id, event_log)
            except BaseException:
                # GitHub logged the 202 as a success: only the app knows, so it remembers
                # and the recovery job asks for the delivery again.
                for delivery_id in deliveries:
                    await self.dedupe.fail(delivery_id)
                raise
            for delivery_id in deliveries:
                await self.dedupe.finish(delivery_id)

        return run

    async def _read_body(self, request: web.Request) -> bytes | web.Response:
        """The body, read within the body budget and the body timeout; or the refusal."""
        declared = request.content_length
        size = declared if declared is not None else self.max_body
        too_large = {"outcome": "too_large"}
        if not self.body_budget.try_take(size):
            return self._closing(self._reject(
                503, "busy: too many request bodies in flight", request, outcome="busy",
                headers={"Retry-After": str(RETRY_AFTER_S)},
            ))
        try:
            if request.content.is_eof():
                body = await request.read()  # all here already: nothing to time
            else:
                async with asyncio.timeout(self.limits.body_timeout):
                    body = await request.read()
        except TimeoutError:
            return self._closing(self._reject(408, "body not received in time", request,
                                             outcome="malformed"))
        except web.HTTPRequestEntityTooLarge:
            return self._closing(self._reject(413, "payload too large", request, **too_large))
        finally:
            self.body_budget.give_back(size)
        if len(body) > self.max_body:
            return self._closing(self._reject(413, "payload too large", request, **too_large))
        return body

    @staticmethod
    def _closing(response: web.Response) -> web.Response:
        # Whatever the client still sends is not read into memory: the connection ends.
        response.force_close()
        return response

    async def _dispatch(
        self,
        event: Event,
        repo: str,
        installation_id: int | None,
        event_log: logging.LoggerAdapter[logging.Logger],
    ) -> None:
        gh: GitHubClient
        if installation_id is None:
            if self.services.default_github is None:
                event_log.info("event without installation and no default client: skipped")
                return
            gh = self.services.default_github
        else:
            gh = await self.services.github_for_installation(installation_id)
        default = (event.data.get("repository") or {}).get("default_branch")
        if repo and isinstance(default, str) and default:
            self.services.default_branches[repo.lower()] = default
        ctx = EventContext(
            services=self.services,
            gh=gh,
            delivery_id=event.delivery_id,
            repo=repo,
            installation_id=installation_id or 0,
            log=event_log,
        )
        metrics = self.services.metrics
        started, outcome = metrics.timer(), "error"
        try:
            await self.router.dispatch(event, ctx)
            outcome = "ok"
        finally:
            metrics.handler_seconds.labels(event=_event_label(event), outcome=outcome).observe(
                metrics.timer() - started
            )


# An incident's issue changed in a way that may change its state.
_STATE_ACTIONS = frozenset({"labeled", "unlabeled", "closed", "reopened", "deleted", "transferred"})


def _changes_incidents(event: Event, app_slug: str) -> bool:
    """Someone (not this app: it knows its own changes) changed an issue's state or labels."""
    sender = (event.data.get("sender") or {}).get("login")
    return (
        event.event == "issues"
        and event.data.get("action") in _STATE_ACTIONS
        and sender != f"{app_slug}[bot]"
    )


def _event_label(event: Event) -> str:
    """GitHub's event name (signed, so a bounded set), for a metric's label."""
    return event.event[:40]


_BAD_REPOSITORY = "repository.full_name must be owner/name"


def _bad_repository(data: Mapping[str, Any]) -> bool:
    """A payload naming a repository whose full_name is not `owner/name` (it reaches every
    API path). A payload without one (an installation's events) is fine."""
    repository = data.get("repository")
    return repository is not None and not (
        isinstance(repository, dict) and valid_full_name(repository.get("full_name"))
    )


def _repo_of(data: Mapping[str, Any]) -> str:
    repository = data.get("repository")
    if isinstance(repository, dict) and valid_full_name(repository.get("full_name")):
        return quoted_full_name(str(repository["full_name"]))
    return ""


MAX_JSON_DEPTH = 64  # GitHub's payloads nest about 10 deep
_NOT_JSON = "body must be JSON (application/json)"
_TOO_DEEP = "JSON nested too deeply"


def _subscribed(router: Router, event: str) -> bool:
    """Whether any handler is registered for `event` (with or without a data detail)."""
    routes = (getattr(router, "_shallow_routes", None), getattr(router, "_deep_routes", None))
    if not all(isinstance(r, dict) for r in routes):
        return True  # another gidgethub: parse everything, as before
    return any(event in r for r in routes if isinstance(r, dict))


_IGNORED = json.dumps({"status": "ignored"}).encode()


def _ignored() -> web.Response:
    return web.Response(body=_IGNORED, status=202, content_type="application/json")


def _mime(content_type: str | None) -> str:
    return (content_type or "").partition(";")[0].strip().lower()


def parse_body(content_type: str | None, body: bytes) -> dict[str, Any] | str:
    """A verified body as a JSON object, or why it is refused (a 400). JSON, or a
    form-encoded `payload` field, as gidgethub accepts them.

    The standard library's parser: only events that may matter come here (the others are
    answered from their payload view, app.github.payload_view), and their work is GitHub
    calls, not parsing."""
    mime = _mime(content_type)
    try:
        if mime == "application/json":
            data = json.loads(body)
        elif mime == "application/x-www-form-urlencoded":
            data = json.loads(urllib.parse.parse_qs(body.decode())["payload"][0])
        else:
            return _NOT_JSON
    except RecursionError:
        return _TOO_DEEP
    except (ValueError, LookupError):
        return _NOT_JSON
    if not isinstance(data, dict):
        return "body must be a JSON object"
    return _TOO_DEEP if _too_deep(data) else data


def _too_deep(data: Any, limit: int = MAX_JSON_DEPTH) -> bool:
    """Deeper than `limit` (the object itself is depth 1), walked a level at a time without
    recursion (so the walk itself cannot blow up). Only lists and dicts are kept for the next
    level (what json.loads builds): about three times faster than a stack of (value, depth)."""
    level: list[Any] = [data]
    depth = 1
    while level:
        if depth > limit:
            return True
        deeper: list[Any] = []
        for container in level:
            values = container.values() if container.__class__ is dict else container
            deeper += [v for v in values if v.__class__ is dict or v.__class__ is list]
        level = deeper
        depth += 1
    return False


def _installation_of(data: Mapping[str, Any]) -> int | None:
    installation = data.get("installation")
    if isinstance(installation, dict) and isinstance(installation.get("id"), int):
        return int(installation["id"])
    return None
