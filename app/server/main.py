"""`python -m app serve`: settings from the environment and `.env`, the server, clean exit."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import signal
import socket
import sys
from collections.abc import Awaitable, Callable, Mapping

import aiohttp
from gidgethub.routing import Router

from app.clock import SystemClock
from app.handlers import router as all_handlers
from app.jobs.delivery_recovery import RECOVERY_INTERVAL, delivery_recovery_task
from app.jobs.escalation import escalation_task
from app.jobs.reconciler import reconciler_task
from app.logs import configure_logging
from app.server.app import create_app
from app.server.dedupe import LocalLease, MemoryDedupe
from app.server.dispatcher import Dispatcher
from app.server.limits import runner_for, start_site
from app.server.preflight import git_problem
from app.server.redis_queue import RedisEventQueue
from app.server.redis_store import RedisDedupe, RedisLease, RedisUnavailable, connect
from app.server.wiring import build_services
from app.services import DeliveryDedupe, JobSubmitter, Lease, Services
from app.settings import Settings, SettingsError, environment, redis_where

log = logging.getLogger("app.server.main")

SLACK_FLUSH_TIMEOUT = 5.0


# Escalations are checked this often (at most): pages go out on time, not at the
# pace of the full reconcile.
ESCALATION_INTERVAL = 60.0


def _background(
    services: Services, jobs: JobSubmitter, interval: float, dedupe: DeliveryDedupe, lease: Lease
) -> list[Callable[[], Awaitable[None]]]:
    """The reconciler (start-up and every `interval` s), the escalation watch and the
    recovery of failed webhook deliveries."""
    return [
        reconciler_task(services, jobs, interval, lease),
        escalation_task(services, jobs, min(ESCALATION_INTERVAL, interval), lease),
        delivery_recovery_task(services, dedupe, lease, min(RECOVERY_INTERVAL, interval)),
    ]


async def run_server(
    settings: Settings,
    *,
    stop: asyncio.Event | None = None,
    started: asyncio.Future[str] | None = None,
    router: Router | None = None,
    reconcile: bool = True,
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
        async with contextlib.AsyncExitStack() as exits, aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=30)
        ) as session:
            services = build_services(settings, session, clock=SystemClock())
            dispatcher = Dispatcher(workers=settings.workers, queue_size=settings.queue_size)
            dedupe: DeliveryDedupe = MemoryDedupe()
            lease: Lease = LocalLease()
            durable: RedisEventQueue | None = None
            if settings.redis_url:
                # Unreachable now: RedisUnavailable stops `serve` with one line.
                client = await connect(settings.redis_url)
                exits.push_async_callback(client.aclose)
                holder = f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"
                prefix = settings.redis_prefix
                dedupe = RedisDedupe(client, prefix)
                lease = RedisLease(client, prefix, holder)
                durable = RedisEventQueue(client, prefix, holder=holder,
                                          lease=settings.redis_lease,
                                          backlog_limit=settings.queue_size)
                await durable.ensure_group()
                log.info("sharing work through Redis",
                         extra={"redis": redis_where(settings.redis_url), "prefix": prefix,
                                "replica": holder})
            application = create_app(
                services,
                router if router is not None else all_handlers,
                background=(
                    _background(
                        services, dispatcher, settings.reconcile_interval, dedupe, lease
                    )
                    if reconcile
                    else ()
                ),
                drain_timeout=settings.shutdown_timeout,
                dispatcher=dispatcher,
                dedupe=dedupe,
                durable=durable,
            )
            runner = runner_for(application)
            await runner.setup()
            try:
                await start_site(runner, settings.host, settings.port)
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
    """Exit 2 with one line per unusable setting (all of them) or host problem."""
    source = environment() if env is None else env
    problems: list[str] = []
    settings: Settings | None = None
    try:
        settings = Settings.from_env(source, serving=True)
    except SettingsError as exc:
        problems.extend(exc.lines)
    git = git_problem(source.get("BUILDSHERIFF_GIT") or "git")
    if git is not None:
        problems.append(git)
    if problems or settings is None:
        for line in problems:
            print(f"buildsheriff: {line}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, settings.log_format)
    try:
        asyncio.run(run_server(settings))
    except RedisUnavailable as error:
        print(f"buildsheriff: REDIS_URL: {error}", file=sys.stderr)
        return 2
    return 0
