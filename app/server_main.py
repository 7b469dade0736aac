"""`python -m app serve`: settings from the environment, the server, clean exit on SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Mapping

import aiohttp
from aiohttp import web
from gidgethub.routing import Router

from app.bootstrap import build_services
from app.clock import SystemClock
from app.context import Services
from app.logs import configure_logging
from app.server import create_app
from app.settings import Settings, SettingsError

log = logging.getLogger("app.server_main")

SLACK_FLUSH_TIMEOUT = 5.0


def _router() -> Router:
    handlers = importlib.import_module("app.handlers")
    router = getattr(handlers, "router", None)
    return router if isinstance(router, Router) else Router()


def _background(services: Services) -> list[Callable[[], Awaitable[None]]]:
    """The reconciler, when the handlers package provides one (`reconcile_forever(services)`)."""
    try:
        module = importlib.import_module("app.handlers.reconcile")
    except ModuleNotFoundError:
        return []
    start = getattr(module, "reconcile_forever", None)
    if start is None:
        return []
    return [lambda: start(services)]


async def run_server(
    settings: Settings,
    *,
    stop: asyncio.Event | None = None,
    started: asyncio.Future[str] | None = None,
    router: Router | None = None,
) -> None:
    """Serve until `stop` is set (SIGTERM/SIGINT set it), then drain and close.

    `started` receives the base URL once listening (tests and PORT=0 use it).
    """
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    installed: list[signal.Signals] = []
    for signum in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signum, stop.set)
            installed.append(signum)
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
            services = build_services(settings, session, clock=SystemClock())
            application = create_app(
                services,
                router if router is not None else _router(),
                queue_size=settings.queue_size,
                workers=settings.workers,
                background=_background(services),
                drain_timeout=settings.shutdown_timeout,
            )
            runner = web.AppRunner(application, access_log=None, handle_signals=False)
            await runner.setup()
            try:
                await web.TCPSite(runner, settings.host, settings.port).start()
                host, port = runner.addresses[0][:2]
                log.info("listening", extra={"host": host, "port": port})
                if started is not None and not started.done():
                    started.set_result(f"http://{host}:{port}")
                await stop.wait()
                log.info("stopping: draining the queue")
            finally:
                # Shutdown drains the queue while the session is still open for handlers.
                await runner.cleanup()
                if services.slack is not None:
                    # Bounded: an unreachable Slack must not keep the process from exiting.
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(services.slack.flush(), SLACK_FLUSH_TIMEOUT)
                    await services.slack.close()
    finally:
        for signum in installed:
            loop.remove_signal_handler(signum)


def serve(env: Mapping[str, str] | None = None) -> int:
    try:
        settings = Settings.from_env(os.environ if env is None else env)
        settings.require_serving()
    except SettingsError as exc:
        print(f"buildsheriff: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, settings.log_format)
    asyncio.run(run_server(settings))
    return 0
