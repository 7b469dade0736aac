"""The whole system in one process: the real server wired to the GitHub, Slack and pager
simulators. The demo runs on it, and so do the end-to-end tests (tests/harness.py).
It is the one place that imports both `app` and `sim`: it exists to wire the two.

    async with stack(tmp_path) as s:
        repo = s.sim.create_repo(...)
        s.sim.send_webhook("push", s.sim.build_payload("push", None, repo, ...))
        await s.settle()
        assert ...  # what GitHub / Slack / the pager now hold

Settings are real `Settings.from_env` values pointing at the sims; keyword overrides
use the environment names (`stack(tmp_path, WORKERS="1", SLACK_CHANNEL="#ops")`).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import importlib
import json
import secrets
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from gidgethub.routing import Router

from app.clock import ManualClock
from app.server.app import create_app, dispatcher_of
from app.server.dispatcher import Dispatcher
from app.server.limits import Limits, runner_for, start_site
from app.server.wiring import build_services
from app.services import Services
from app.settings import Settings
from sim.github.server import GitHubSim
from sim.pager import JsmOpsSim, OpsgenieSim, PagerDutySim
from sim.slack import SlackSim

APP_ID = "4242"
SETTLE_MAX_ROUNDS = 200


@functools.cache
def generate_app_key() -> str:
    """A 2048-bit RSA key (PEM), made once per process: generating one takes a while."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()


def public_key_of(private_pem: str) -> str:
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_private_key(private_pem.encode(), password=None)
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def sign(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def webhook_headers(
    event: str, body: bytes, secret: str, *, delivery_id: str | None = None
) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery_id or secrets.token_hex(16),
        "X-Hub-Signature-256": sign(body, secret),
        "User-Agent": "GitHub-Hookshot/test",
    }


def manifest_permissions() -> dict[str, str]:
    """`default_permissions` of the App manifest (app.yml) at the project's root."""
    import yaml

    manifest = Path(__file__).resolve().parents[1] / "app.yml"
    data = yaml.safe_load(manifest.read_text())
    return {str(k): str(v) for k, v in data["default_permissions"].items()}


def manifest_events() -> list[str]:
    """`default_events` of the App manifest: GitHub delivers only these (and installations)."""
    import yaml

    manifest = Path(__file__).resolve().parents[1] / "app.yml"
    return [str(e) for e in yaml.safe_load(manifest.read_text())["default_events"]]


def _default_router() -> Router:
    handlers = importlib.import_module("app.handlers")
    router = getattr(handlers, "router", None)
    return router if isinstance(router, Router) else Router()


@dataclass
class Stack:
    sim: GitHubSim
    slack: SlackSim | None
    pagerduty: PagerDutySim | None
    opsgenie: OpsgenieSim | None
    app_url: str
    services: Services
    dispatcher: Dispatcher
    clock: ManualClock
    settings: Settings
    app: web.Application
    session: aiohttp.ClientSession
    runner: web.AppRunner
    router: Router
    exits: AsyncExitStack
    extras: dict[str, Any] = field(default_factory=dict)
    jsm: JsmOpsSim | None = None

    async def restart(self) -> None:
        """Stop the app and start a new one on the same simulators: a process restart.

        Nothing in memory survives (services, caches, Slack outbox, dispatcher); what
        the app wrote to GitHub does.
        """
        await _stop_app(self.services, self.runner)
        services, application, runner, app_url = await _start_app(
            self.settings, self.session, self.clock, self.router, self.extras.get("limits")
        )
        self.exits.push_async_callback(_stop_app, services, runner)
        self.services, self.app, self.runner, self.app_url = services, application, runner, app_url
        self.dispatcher = dispatcher_of(application)
        self.sim.webhook_url = app_url + "/webhooks"

    async def reconcile(self) -> int:
        """One reconciler pass, each repository in its lock, then settle."""
        from app.jobs.reconciler import reconcile_once

        async def submit(repo: str, name: str, fn: Any) -> None:
            self.dispatcher.submit_job(repo, name, fn)

        visited = await reconcile_once(self.services, submit)
        await self.settle()
        return visited

    async def recover_deliveries(self) -> int:
        """One pass of the delivery recovery job (as at start-up), then settle."""
        from app.jobs.delivery_recovery import recover_once
        from app.server.dedupe import LocalLease

        asked = await recover_once(self.services, self.app["receiver"].dedupe, LocalLease())
        await self.settle()
        return asked

    @property
    def webhook_url(self) -> str:
        return self.app_url + "/webhooks"

    def _progress(self) -> tuple[Any, ...]:
        counters = self.dispatcher.counters
        slack = self.services.slack
        return (
            sum(counters.values()),
            self.dispatcher.depth,
            _size(getattr(self.sim, "call_log", None)),
            _size(getattr(self.sim, "deliveries", None)),
            _size(getattr(self.slack, "messages", None)),
            slack.pending() if slack is not None else 0,
            sum(self.pagerduty.calls.values()) if self.pagerduty else 0,
            sum(self.opsgenie.calls.values()) if self.opsgenie else 0,
            sum(self.jsm.calls.values()) if self.jsm else 0,
        )

    async def settle(self) -> None:
        """Deliver, handle and flush until a whole round changes nothing."""
        before = None
        for _ in range(SETTLE_MAX_ROUNDS):
            await self.sim.drain()
            await self.dispatcher.idle()
            if self.services.slack is not None:
                await self.services.slack.flush()
            now = self._progress()
            if now == before:
                return
            before = now
        raise AssertionError(f"the stack did not settle in {SETTLE_MAX_ROUNDS} rounds")

    async def post_webhook(
        self, event: str, payload: Mapping[str, Any], *, delivery_id: str | None = None
    ) -> aiohttp.ClientResponse:
        """Sign and POST one webhook straight to the app (bypassing the sim's queue)."""
        body = json.dumps(payload).encode()
        secret = self.settings.webhook_secret or ""
        headers = webhook_headers(event, body, secret, delivery_id=delivery_id)
        async with self.session.post(self.webhook_url, data=body, headers=headers) as response:
            await response.read()
            return response


def _size(value: Any) -> int:
    if value is None:
        return 0
    try:
        return len(value)
    except TypeError:
        return 0


@asynccontextmanager
async def stack(
    tmp_path: Path,
    *,
    clock: ManualClock | None = None,
    slack: bool = True,
    pager: str | None = None,
    router: Router | None = None,
    private_key: str | None = None,
    limits: Limits | None = None,
    **settings_overrides: str,
) -> AsyncIterator[Stack]:
    """The app on 127.0.0.1:0 with the sims; `pager` is None, "pagerduty", "jsm" or "opsgenie"."""
    clock = clock or ManualClock()
    private_key = private_key or generate_app_key()
    webhook_secret = "whsec-" + secrets.token_hex(16)
    async with AsyncExitStack() as exits:
        # One clock for the sim and the app: token expiry and JWT times agree.
        sim = GitHubSim(
            tmp_path / "github",
            webhook_secret=webhook_secret,
            app_id=int(APP_ID),
            app_public_key=public_key_of(private_key),
            clock=clock.now,
        )
        # The installation gets exactly what app.yml asks for, so a missing
        # permission shows here as GitHub's 403, not in production.
        sim.app_permissions = manifest_permissions()
        sim.app_events = manifest_events()
        await sim.start()
        exits.push_async_callback(sim.close)
        env: dict[str, str] = {
            "APP_ID": APP_ID,
            "PRIVATE_KEY": private_key,
            "WEBHOOK_SECRET": webhook_secret,
            "GITHUB_API_URL": sim.url,
            "LOG_FORMAT": "text",
            "LOG_LEVEL": "DEBUG",
        }

        slack_sim = None
        if slack:
            slack_sim = SlackSim()
            await slack_sim.start()
            exits.push_async_callback(slack_sim.close)
            env["SLACK_BOT_TOKEN"] = slack_sim.token
            env["SLACK_API_URL"] = slack_sim.url

        pagerduty = opsgenie = jsm = None
        if pager == "pagerduty":
            pagerduty = PagerDutySim()
            await pagerduty.start()
            exits.push_async_callback(pagerduty.close)
            env["PAGERDUTY_ROUTING_KEY"] = pagerduty.routing_key
            env["PAGERDUTY_API_TOKEN"] = pagerduty.api_token
            env["PAGERDUTY_EVENTS_URL"] = pagerduty.url
            env["PAGERDUTY_API_URL"] = pagerduty.url
        elif pager == "opsgenie":
            opsgenie = OpsgenieSim()
            await opsgenie.start()
            exits.push_async_callback(opsgenie.close)
            env["OPSGENIE_API_KEY"] = opsgenie.api_key
            env["OPSGENIE_API_URL"] = opsgenie.url
        elif pager == "jsm":
            jsm = JsmOpsSim()
            await jsm.start()
            exits.push_async_callback(jsm.close)
            env["JSM_API_KEY"] = jsm.api_key
            env["JSM_API_URL"] = jsm.url
        elif pager is not None:
            raise ValueError(
                f"pager must be None, 'pagerduty', 'jsm' or 'opsgenie', not {pager!r}"
            )

        env.update(settings_overrides)
        settings = Settings.from_env(env)
        settings.require_serving()

        session = aiohttp.ClientSession()
        exits.push_async_callback(session.close)
        chosen_router = router if router is not None else _default_router()
        services, application, runner, app_url = await _start_app(
            settings, session, clock, chosen_router, limits
        )
        exits.push_async_callback(_stop_app, services, runner)
        sim.webhook_url = app_url + "/webhooks"

        yield Stack(
            sim=sim,
            slack=slack_sim,
            pagerduty=pagerduty,
            opsgenie=opsgenie,
            jsm=jsm,
            app_url=app_url,
            services=services,
            dispatcher=dispatcher_of(application),
            clock=clock,
            settings=settings,
            app=application,
            session=session,
            runner=runner,
            router=chosen_router,
            exits=exits,
            extras={"limits": limits},
        )


async def _start_app(
    settings: Settings,
    session: aiohttp.ClientSession,
    clock: ManualClock,
    router: Router,
    limits: Limits | None = None,
) -> tuple[Services, web.Application, web.AppRunner, str]:
    services = build_services(settings, session, clock=clock)
    application = create_app(
        services,
        router,
        queue_size=settings.queue_size,
        workers=settings.workers,
        drain_timeout=settings.shutdown_timeout,
        limits=limits,
    )
    runner = runner_for(application)
    await runner.setup()
    await start_site(runner, "127.0.0.1", 0)
    host, port = runner.addresses[0][:2]
    return services, application, runner, f"http://{host}:{port}"


async def _stop_app(services: Services, runner: web.AppRunner) -> None:
    """Idempotent: restart() stops the old app, and the exit stack stops every app again."""
    if runner.server is None:  # cleaned up already
        return
    await runner.cleanup()
    if services.slack is not None:
        await services.slack.close()
