"""The webhook server: what each request gets back, what is queued, and how handlers are run.

Webhooks are GitHub's published examples, signed here. Handlers are small recorders
registered on a gidgethub Router, so the assertions are about what reached them.
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import os
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, make_mocked_request
from gidgethub.routing import Router
from gidgethub.sansio import Event
from prometheus_client import CONTENT_TYPE_LATEST

import app as app_package
from app.clock import ManualClock
from app.github.client import GitHubClient
from app.server.app import create_app, dispatcher_of
from app.server.main import run_server, serve
from app.services import EventContext, Services
from app.settings import Settings
from tests.harness import example_payload, metric, metric_samples, sign, webhook_headers

SECRET = "test-webhook-secret-0123456789"
ClientFactory = Callable[..., Awaitable[TestClient[Any, Any]]]


class Recorder:
    """A router whose handlers record what they were given (and can be made to wait)."""

    def __init__(self) -> None:
        self.router = Router()
        self.seen: list[tuple[str, str, str, int]] = []  # event, delivery, repo, installation
        self.gate: asyncio.Event | None = None
        self.entered = asyncio.Event()
        self.router.add(self._on_check_run, "check_run")
        self.router.add(self._on_push, "push")
        self.router.add(self._on_installation, "installation")

    async def _on_check_run(self, event: Event, ctx: EventContext) -> None:
        self.entered.set()
        if self.gate is not None:
            await self.gate.wait()
        self.seen.append((event.event, ctx.delivery_id, ctx.repo, ctx.installation_id))

    async def _on_push(self, event: Event, ctx: EventContext) -> None:
        self.seen.append((event.event, ctx.delivery_id, ctx.repo, ctx.installation_id))

    async def _on_installation(self, event: Event, ctx: EventContext) -> None:
        self.seen.append((event.event, ctx.delivery_id, ctx.repo, ctx.installation_id))


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


class RecordingFactory:
    """A GitHubFactory that records which installations it was asked for."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self.session = session
        self.asked: list[int] = []

    async def __call__(self, installation_id: int) -> GitHubClient:
        self.asked.append(installation_id)
        return GitHubClient(self.session, api_url="http://127.0.0.1:9")


def make_services(session: aiohttp.ClientSession, **fields: Any) -> Services:
    return Services(
        settings=Settings(webhook_secret=SECRET),
        session=session,
        clock=ManualClock(),
        github_for_installation=RecordingFactory(session),
        **fields,
    )


def asked(application: web.Application) -> list[int]:
    """The installations whose client the app asked for."""
    factory = application["services"].github_for_installation
    assert isinstance(factory, RecordingFactory)
    return factory.asked


async def post(
    client: TestClient[Any, Any],
    event: str,
    payload: Any,
    *,
    delivery_id: str | None = None,
    headers: dict[str, str] | None = None,
    drop: tuple[str, ...] = (),
) -> aiohttp.ClientResponse:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    all_headers = webhook_headers(event, body, SECRET, delivery_id=delivery_id)
    all_headers.update(headers or {})
    for name in drop:
        all_headers.pop(name, None)
    response = await client.post("/webhooks", data=body, headers=all_headers)
    await response.read()
    return response


def check_run(repo: str = "github/hello-world") -> dict[str, Any]:
    payload = copy.deepcopy(example_payload("check_run", "rerequested"))
    payload["repository"]["full_name"] = repo
    return payload


@pytest.fixture
async def server(
    aiohttp_client: ClientFactory, session: aiohttp.ClientSession
) -> tuple[TestClient[Any, Any], Recorder, web.Application]:
    recorder = Recorder()
    application = create_app(make_services(session), recorder.router, workers=4, queue_size=100)
    client = await aiohttp_client(application)
    return client, recorder, application


CHECK_RUN_BODY = json.dumps(example_payload("check_run", "rerequested")).encode()


@pytest.mark.parametrize(
    ("case", "status"),
    [
        ("bad signature", 401),
        ("missing signature", 401),
        ("sha1 signature only", 401),
        ("missing event header", 400),
        ("missing delivery header", 400),
        ("malformed json", 400),
        ("json that is not an object", 400),
        ("wrong content type", 400),
    ],
)
async def test_bad_input_is_refused_and_nothing_is_queued(
    server: tuple[TestClient[Any, Any], Recorder, web.Application], case: str, status: int
) -> None:
    client, recorder, application = server
    body = CHECK_RUN_BODY
    headers = webhook_headers("check_run", body, SECRET)
    if case == "bad signature":
        headers["X-Hub-Signature-256"] = sign(body, "not-the-secret")
    elif case == "missing signature":
        del headers["X-Hub-Signature-256"]
    elif case == "sha1 signature only":
        del headers["X-Hub-Signature-256"]
        headers["X-Hub-Signature"] = "sha1=" + "0" * 40
    elif case == "missing event header":
        del headers["X-GitHub-Event"]
    elif case == "missing delivery header":
        del headers["X-GitHub-Delivery"]
    elif case == "malformed json":
        body = b'{"action": "rerequested", '
        headers["X-Hub-Signature-256"] = sign(body, SECRET)
    elif case == "json that is not an object":
        body = b"[1, 2, 3]"
        headers["X-Hub-Signature-256"] = sign(body, SECRET)
    elif case == "wrong content type":
        headers["Content-Type"] = "text/plain"

    response = await client.post("/webhooks", data=body, headers=headers)
    answer = await response.json()

    assert response.status == status
    assert set(answer) == {"error"} and len(answer["error"]) < 80
    assert SECRET not in json.dumps(answer)
    dispatcher = dispatcher_of(application)
    await dispatcher.idle()
    assert dispatcher.depth == 0 and dispatcher.counters["received"] == 0
    assert dispatcher.counters["rejected"] == 1
    assert recorder.seen == []


async def test_body_over_25_mb_is_refused_from_its_content_length(
    server: tuple[TestClient[Any, Any], Recorder, web.Application],
) -> None:
    client, recorder, application = server
    body = b"{" + b" " * (25 * 1024 * 1024) + b"}"
    response = await client.post(
        "/webhooks", data=body, headers=webhook_headers("check_run", body, SECRET)
    )
    assert response.status == 413
    assert await response.json() == {"error": "payload too large"}
    assert recorder.seen == [] and dispatcher_of(application).counters["received"] == 0


async def test_body_limit_is_enforced_while_reading_a_chunked_body(
    aiohttp_client: ClientFactory, session: aiohttp.ClientSession
) -> None:
    recorder = Recorder()
    application = create_app(make_services(session), recorder.router, max_body=1024)
    client = await aiohttp_client(application)
    body = json.dumps({"padding": "x" * 4096}).encode()

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: sent chunked
        for start in range(0, len(body), 512):
            yield body[start : start + 512]

    response = await client.post(
        "/webhooks", data=chunks(), headers=webhook_headers("check_run", body, SECRET)
    )
    assert response.status == 413
    assert recorder.seen == []


async def test_ping_answers_200_and_queues_nothing(
    server: tuple[TestClient[Any, Any], Recorder, web.Application],
) -> None:
    client, recorder, application = server
    response = await post(client, "ping", example_payload("ping"))
    assert response.status == 200
    await dispatcher_of(application).idle()
    assert recorder.seen == [] and asked(application) == []


async def test_event_nobody_handles_answers_202_and_does_nothing(
    server: tuple[TestClient[Any, Any], Recorder, web.Application],
) -> None:
    client, recorder, application = server
    response = await post(client, "issues", example_payload("issues", "opened"))
    assert response.status == 202
    assert await response.json() == {"status": "ignored"}
    dispatcher = dispatcher_of(application)
    await dispatcher.idle()
    assert recorder.seen == [] and asked(application) == []
    assert dispatcher.counters["handled"] == 0 and dispatcher.counters["ignored"] == 1


async def test_an_event_nobody_handles_is_answered_from_its_header_without_parsing(
    server: tuple[TestClient[Any, Any], Recorder, web.Application],
) -> None:
    """Signed, so its body is read and verified; then its header says nobody listens:
    202, even for a body that is not JSON (it is never parsed); a wrong signature is
    still a 401."""
    client, recorder, application = server
    body = b"not json at all {"
    response = await client.post("/webhooks", data=body,
                                 headers=webhook_headers("issues", body, SECRET))
    assert response.status == 202
    assert await response.json() == {"status": "ignored"}
    forged = webhook_headers("issues", body, "not-the-secret")
    response = await client.post("/webhooks", data=body, headers=forged)
    assert response.status == 401
    dispatcher = dispatcher_of(application)
    await dispatcher.idle()
    assert recorder.seen == [] and dispatcher.depth == 0
    assert dispatcher.counters["ignored"] == 1 and dispatcher.counters["rejected"] == 1


async def test_valid_event_is_acknowledged_then_handled_with_its_context(
    server: tuple[TestClient[Any, Any], Recorder, web.Application],
) -> None:
    client, recorder, application = server
    recorder.gate = asyncio.Event()  # the handler cannot finish before the answer
    response = await post(client, "check_run", check_run("Octo/Repo"), delivery_id="d-1")
    assert response.status == 202
    assert await response.json() == {"status": "queued"}
    assert recorder.seen == []
    recorder.gate.set()
    await dispatcher_of(application).idle()
    assert recorder.seen == [("check_run", "d-1", "Octo/Repo", 1)]
    assert asked(application) == [1]


async def test_redelivery_is_handled_once(
    server: tuple[TestClient[Any, Any], Recorder, web.Application],
) -> None:
    client, recorder, application = server
    first = await post(client, "check_run", check_run(), delivery_id="same-id")
    again = await post(client, "check_run", check_run(), delivery_id="same-id")
    assert (first.status, again.status) == (202, 202)
    assert await again.json() == {"status": "duplicate"}
    dispatcher = dispatcher_of(application)
    await dispatcher.idle()
    assert [d for _, d, _, _ in recorder.seen] == ["same-id"]
    assert dispatcher.counters["dropped_duplicates"] == 1


async def test_one_repository_is_serialised_while_others_run_alongside(
    aiohttp_client: ClientFactory, session: aiohttp.ClientSession
) -> None:
    active: dict[str, int] = {}
    overlaps: list[str] = []
    order: list[str] = []
    other_started = asyncio.Event()
    router = Router()

    @router.register("check_run")
    async def handler(event: Event, ctx: EventContext) -> None:
        active[ctx.repo] = active.get(ctx.repo, 0) + 1
        if active[ctx.repo] > 1:
            overlaps.append(ctx.delivery_id)
        if ctx.repo == "octo/busy":
            order.append(ctx.delivery_id)
            # Several loop turns inside the handler: room for an overlap if there were one.
            for _ in range(3):
                await asyncio.sleep(0)
            if ctx.delivery_id == "busy-0":
                # Only finishes if the other repository runs while this one is busy.
                await asyncio.wait_for(other_started.wait(), timeout=5)
        else:
            other_started.set()
        active[ctx.repo] -= 1

    application = create_app(make_services(session), router, workers=4, queue_size=200)
    client = await aiohttp_client(application)
    busy = [
        post(client, "check_run", check_run("octo/busy"), delivery_id=f"busy-{i}")
        for i in range(50)
    ]
    responses = await asyncio.gather(*busy)
    other = await post(client, "check_run", check_run("octo/other"), delivery_id="other-0")
    assert all(r.status == 202 for r in [*responses, other])
    await dispatcher_of(application).idle()

    assert overlaps == []
    assert sorted(order) == sorted(f"busy-{i}" for i in range(50))
    assert dispatcher_of(application).counters["handled"] == 51


async def test_events_of_one_repository_run_in_arrival_order(
    server: tuple[TestClient[Any, Any], Recorder, web.Application],
) -> None:
    client, recorder, application = server
    for i in range(10):
        await post(client, "check_run", check_run("octo/ordered"), delivery_id=f"o-{i}")
    await dispatcher_of(application).idle()
    assert [d for _, d, _, _ in recorder.seen] == [f"o-{i}" for i in range(10)]


async def test_handler_exception_is_logged_with_traceback_and_the_worker_lives_on(
    aiohttp_client: ClientFactory,
    session: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture,
) -> None:
    handled: list[str] = []
    router = Router()

    @router.register("check_run")
    async def handler(event: Event, ctx: EventContext) -> None:
        if ctx.delivery_id == "boom":
            raise RuntimeError("handler exploded")
        handled.append(ctx.delivery_id)

    application = create_app(make_services(session), router, workers=1)
    client = await aiohttp_client(application)
    caplog.set_level(logging.DEBUG)
    await post(client, "check_run", check_run(), delivery_id="boom")
    await post(client, "check_run", check_run(), delivery_id="after")
    dispatcher = dispatcher_of(application)
    await dispatcher.idle()

    assert handled == ["after"]
    failures = [r for r in caplog.records if r.getMessage() == "handler failed"]
    assert len(failures) == 1
    record = failures[0]
    assert record.exc_info is not None and "handler exploded" in str(record.exc_info[1])
    fields = vars(record)
    assert fields["delivery_id"] == "boom"
    assert (fields["event"], fields["action"], fields["repo"]) == (
        "check_run",
        "rerequested",
        "github/hello-world",
    )
    assert (dispatcher.counters["failed"], dispatcher.counters["handled"]) == (1, 1)


async def test_queue_full_answers_503_with_retry_after(
    aiohttp_client: ClientFactory, session: aiohttp.ClientSession
) -> None:
    recorder = Recorder()
    recorder.gate = asyncio.Event()
    application = create_app(make_services(session), recorder.router, workers=1, queue_size=1)
    client = await aiohttp_client(application)
    dispatcher = dispatcher_of(application)

    running = await post(client, "check_run", check_run(), delivery_id="running")
    await recorder.entered.wait()  # the worker has taken it: the queue is empty again
    waiting = await post(client, "check_run", check_run(), delivery_id="waiting")
    refused = await post(client, "check_run", check_run(), delivery_id="refused")

    assert (running.status, waiting.status, refused.status) == (202, 202, 503)
    assert int(refused.headers["Retry-After"]) > 0
    assert await refused.json() == {"error": "queue full"}
    recorder.gate.set()
    await dispatcher.idle()
    assert [d for _, d, _, _ in recorder.seen] == ["running", "waiting"]
    # Refused deliveries are not remembered: GitHub's redelivery is then handled.
    again = await post(client, "check_run", check_run(), delivery_id="refused")
    assert again.status == 202


async def test_events_without_installation_use_the_default_client_or_are_skipped(
    aiohttp_client: ClientFactory, session: aiohttp.ClientSession
) -> None:
    recorder = Recorder()
    no_installation = example_payload("push")
    assert "installation" not in no_installation

    plain = create_app(make_services(session), recorder.router)
    client = await aiohttp_client(plain)
    assert (await post(client, "push", no_installation, delivery_id="p-1")).status == 202
    await dispatcher_of(plain).idle()
    assert recorder.seen == []

    default = GitHubClient(session, api_url="http://127.0.0.1:9")
    with_default = create_app(make_services(session, default_github=default), recorder.router)
    client = await aiohttp_client(with_default)
    assert (await post(client, "push", no_installation, delivery_id="p-2")).status == 202
    await dispatcher_of(with_default).idle()
    assert recorder.seen == [("push", "p-2", "Codertocat/Hello-World", 0)]


async def test_installation_event_without_repository_is_handled(
    server: tuple[TestClient[Any, Any], Recorder, web.Application],
) -> None:
    client, recorder, application = server
    response = await post(client, "installation", example_payload("installation", "created"))
    assert response.status == 202
    await dispatcher_of(application).idle()
    assert [(e, r, i) for e, _, r, i in recorder.seen] == [("installation", "", 957387)]


async def test_internal_jobs_are_serialised_with_the_repository_events(
    server: tuple[TestClient[Any, Any], Recorder, web.Application],
) -> None:
    client, recorder, application = server
    recorder.gate = asyncio.Event()
    dispatcher = dispatcher_of(application)
    await post(client, "check_run", check_run("octo/r"), delivery_id="event")
    ran: list[int] = []

    async def job() -> None:
        ran.append(len(recorder.seen))

    done = dispatcher.submit_job("Octo/R", "reconcile", job)
    for _ in range(5):
        await asyncio.sleep(0)
    assert ran == []  # waits for the event of the same repository (names are case-blind)
    recorder.gate.set()
    assert await done is True
    assert ran == [1]


async def test_healthz_and_metrics(
    server: tuple[TestClient[Any, Any], Recorder, web.Application],
) -> None:
    client, _, application = server
    await post(client, "check_run", check_run(), delivery_id="m-1")
    await post(client, "check_run", check_run(), delivery_id="m-1")
    await client.post("/webhooks", data=b"{}", headers={"Content-Type": "application/json"})
    await dispatcher_of(application).idle()

    health = await client.get("/healthz")
    assert health.status == 200
    assert await health.json() == {
        "status": "ok",
        "version": app_package.__version__,
        "queue_depth": 0,
        "running": 0,
        "busy": False,
    }
    metrics = await client.get("/metrics")
    # prometheus_client's own exposition, with the content type it announces for it
    assert metrics.headers["Content-Type"] == CONTENT_TYPE_LATEST
    samples = metric_samples(await metrics.text())
    webhooks = "buildsheriff_webhooks_total"
    assert metric(samples, webhooks, event="check_run", outcome="queued") == 1
    assert metric(samples, webhooks, event="check_run", outcome="duplicate") == 1
    assert metric(samples, webhooks, event="unverified", outcome="bad_signature") == 1
    handled = "buildsheriff_handler_seconds_count"
    assert metric(samples, handled, event="check_run", outcome="ok") == 1
    assert metric(samples, "buildsheriff_queue_depth") == 0
    assert metric(samples, "process_cpu_seconds_total") > 0  # process metrics are there


async def test_shutdown_drains_pending_work_then_refuses_new_webhooks(
    session: aiohttp.ClientSession,
) -> None:
    recorder = Recorder()
    application = create_app(make_services(session), recorder.router, workers=1)
    runner = web.AppRunner(application)
    await runner.setup()
    dispatcher = dispatcher_of(application)
    finished: list[str] = []

    async def slow(name: str) -> None:
        for _ in range(10):
            await asyncio.sleep(0)
        finished.append(name)

    for name in ("a", "b", "c"):
        dispatcher.submit_job("octo/r", name, lambda name=name: slow(name))  # type: ignore[misc]
    assert dispatcher.depth >= 2

    await runner.cleanup()  # what SIGTERM triggers in serve()

    assert finished == ["a", "b", "c"]
    assert not dispatcher.accepting
    # A request arriving after shutdown started is refused with 503 and Retry-After.
    request = make_mocked_request("POST", "/webhooks", headers={"Content-Length": "2"})
    response = await application["receiver"].handle(request)
    assert response.status == 503 and "Retry-After" in response.headers


async def test_shutdown_gives_up_after_the_drain_timeout(session: aiohttp.ClientSession) -> None:
    application = create_app(make_services(session), Router(), drain_timeout=0.01)
    runner = web.AppRunner(application)
    await runner.setup()
    dispatcher = dispatcher_of(application)
    never = asyncio.Event()

    async def hang() -> None:
        await never.wait()

    stuck = dispatcher.submit_job("octo/r", "stuck", hang)
    await asyncio.sleep(0)

    await runner.cleanup()

    assert stuck.cancelled()
    assert dispatcher.depth == 0 and dispatcher.running == 0


async def test_background_tasks_start_with_the_app_and_are_cancelled_at_cleanup(
    session: aiohttp.ClientSession,
) -> None:
    events: list[str] = []

    async def reconciler() -> None:
        events.append("started")
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            events.append("cancelled")
            raise

    async def broken() -> None:
        raise RuntimeError("background exploded")

    application = create_app(make_services(session), Router(), background=[reconciler, broken])
    runner = web.AppRunner(application)
    await runner.setup()
    await asyncio.sleep(0)
    assert events == ["started"]
    await runner.cleanup()
    assert events == ["started", "cancelled"]


def test_refuses_to_build_without_a_webhook_secret() -> None:
    services = Services(
        settings=Settings(),
        session=None,
        clock=ManualClock(),
        github_for_installation=None,  # type: ignore[arg-type]
    )
    with pytest.raises(ValueError, match="WEBHOOK_SECRET"):
        create_app(services, Router())


def test_serve_exits_2_with_one_line_per_bad_setting(capsys: pytest.CaptureFixture[str]) -> None:
    assert serve({"PORT": "not-a-port", "WEBHOOK_SECRET": SECRET}) == 2
    lines = capsys.readouterr().err.splitlines()
    # Every unusable setting at once, one line each: the bad PORT and the missing credentials.
    assert [line.split(":")[1].strip() for line in lines] == ["PORT", "APP_ID"]
    assert "not-a-port" not in "\n".join(lines)
    assert serve({"GITHUB_TOKEN": "t" * 40}) == 2  # no webhook secret: fail closed
    assert "WEBHOOK_SECRET" in capsys.readouterr().err


async def test_sigterm_stops_the_server_after_draining_its_queue() -> None:
    handled: list[str] = []
    router = Router()

    @router.register("check_run")
    async def handler(event: Event, ctx: EventContext) -> None:
        for _ in range(20):
            await asyncio.sleep(0)
        handled.append(ctx.delivery_id)

    settings = Settings.from_env(
        {"HOST": "127.0.0.1", "PORT": "0", "WEBHOOK_SECRET": SECRET, "GITHUB_TOKEN": "t" * 40}
    )
    started: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    server = asyncio.create_task(
        run_server(settings, started=started, router=router, reconcile=False)
    )
    url = await started
    assert signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL  # else the kill ends pytest
    body = json.dumps(check_run()).encode()
    async with aiohttp.ClientSession() as session:
        headers = webhook_headers("check_run", body, SECRET, delivery_id="last")
        async with session.post(url + "/webhooks", data=body, headers=headers) as response:
            assert response.status == 202

    os.kill(os.getpid(), signal.SIGTERM)
    await asyncio.wait_for(server, timeout=10)

    assert handled == ["last"]
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # handlers removed again


# --- end to end: the sim signs and delivers, handlers call the sim back --------------------


async def test_e2e_sim_webhook_is_handled_with_a_working_installation_client(
    stack_factory: Callable[..., Any],
) -> None:
    seen: list[str] = []
    router = Router()

    @router.register("check_run")
    async def handler(event: Event, ctx: EventContext) -> None:
        repo = await ctx.gh.getitem(f"/repos/{ctx.repo}")
        seen.append(repo["full_name"])

    async with stack_factory(router=router, slack=False) as s:
        repo = s.sim.create_repo("octo/widgets")
        payload = s.sim.build_payload("check_run", "rerequested", repo)
        assert await s.sim.send_webhook("check_run", payload) == 202
        assert await s.sim.send_webhook("check_run", payload) == 202
        await s.settle()

        assert seen == ["octo/widgets", "octo/widgets"]
        assert len(s.sim.issued_tokens) == 1  # the second event reused the cached token
        assert s.sim.violations == []


async def test_e2e_bad_input_makes_no_api_call(stack_factory: Callable[..., Any]) -> None:
    recorder = Recorder()
    async with stack_factory(router=recorder.router, slack=False) as s:
        secret = s.settings.webhook_secret or ""
        body = json.dumps(check_run()).encode()
        good = webhook_headers("check_run", body, secret)
        cases: list[tuple[dict[str, str], bytes, int]] = [
            ({**good, "X-Hub-Signature-256": sign(body, "wrong")}, body, 401),
            ({k: v for k, v in good.items() if k != "X-Hub-Signature-256"}, body, 401),
            ({k: v for k, v in good.items() if k != "X-GitHub-Event"}, body, 400),
            ({k: v for k, v in good.items() if k != "X-GitHub-Delivery"}, body, 400),
            ({**good, "X-Hub-Signature-256": sign(b"{", secret)}, b"{", 400),
            (webhook_headers("ping", body, secret), body, 200),
            (webhook_headers("issues", body, secret), body, 202),
        ]
        for headers, data, status in cases:
            async with s.session.post(s.webhook_url, data=data, headers=headers) as response:
                assert response.status == status, headers
            await s.settle()
            assert s.sim.call_log == [] and recorder.seen == []
        assert s.dispatcher.counters["handled"] == 0


async def test_build_services_wires_what_the_settings_name(
    session: aiohttp.ClientSession, rsa_key: str
) -> None:
    from app.github.auth import GitHubApp
    from app.server.wiring import build_services

    app_mode = build_services(
        Settings.from_env(
            {
                "APP_ID": "12",
                "PRIVATE_KEY": rsa_key,
                "SLACK_BOT_TOKEN": "xoxb-" + "1" * 20,
                "PAGERDUTY_ROUTING_KEY": "r" * 32,
            }
        ),
        session,
        clock=ManualClock(),
    )
    assert isinstance(app_mode.github_app, GitHubApp)
    assert app_mode.default_github is None
    assert app_mode.slack is not None and app_mode.slack.enabled
    assert app_mode.pager is not None and app_mode.pager.name == "pagerduty"
    assert app_mode.config_loader is not None

    token_mode = build_services(
        Settings.from_env({"GITHUB_TOKEN": "t" * 40}), session, clock=ManualClock()
    )
    gh = await token_mode.github_for_installation(5)
    assert token_mode.default_github is not None
    assert token_mode.default_github.oauth_token == gh.oauth_token == "t" * 40
    assert token_mode.slack is None and token_mode.pager is None
