"""Bounds that keep the webhook endpoint answering under abuse.

- Connections: at most `max_connections` open. When full, a new connection evicts the
  oldest one that never sent a complete request (a slow-header client); if every open
  connection is doing real work, the newcomer is closed instead.
- Headers: a connection that has not sent a complete request within `header_timeout`
  seconds of opening is closed (aiohttp's idle timer, started at connection time).
- Bodies: the bytes of request bodies being read at once are bounded (`BodyBudget`);
  an unsigned request beyond the bound is answered 503 with Retry-After before its body
  is read, and the connection closed, so it is refused rather than buffered. A body that
  does not arrive within `body_timeout` seconds is answered 408.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from aiohttp import web

log = logging.getLogger(__name__)

MB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    max_connections: int = 1024
    header_timeout: float = 10.0
    body_timeout: float = 10.0
    # Bytes of bodies read at once, and the part of it bodies over `small_body` may use:
    # a flood of large bodies never keeps an ordinary (small) webhook out.
    body_budget: int = 96 * MB
    large_body_budget: int = 60 * MB
    small_body: int = 1 * MB


class BodyBudget:
    """How many body bytes may be read at once; never waits (a refusal is a 503)."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.in_use = 0
        self.large_in_use = 0

    def try_take(self, size: int) -> bool:
        large = size > self.limits.small_body
        if self.in_use + size > self.limits.body_budget:
            return False
        if large and self.large_in_use + size > self.limits.large_body_budget:
            return False
        self.in_use += size
        if large:
            self.large_in_use += size
        return True

    def give_back(self, size: int) -> None:
        self.in_use -= size
        if size > self.limits.small_body:
            self.large_in_use -= size


class _GuardedProtocol(asyncio.Protocol):
    """aiohttp's protocol for one connection, counted by a ConnectionGuard."""

    def __init__(self, inner: Any, guard: ConnectionGuard) -> None:
        self.inner = inner
        self.guard = guard
        self.admitted = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        if not self.guard.admit(self):
            transport.close()
            return
        self.admitted = True
        self.inner.connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.guard.forget(self)
        if self.admitted:
            self.inner.connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        result: bool | None = self.inner.eof_received()
        return result

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()


class ConnectionGuard:
    """Counts connections; evicts the oldest that never sent a complete request."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self._open: OrderedDict[_GuardedProtocol, None] = OrderedDict()
        self._working: set[Any] = set()  # aiohttp protocols that delivered a request
        self.evicted = 0
        self.refused = 0

    @property
    def open(self) -> int:
        return len(self._open)

    def admit(self, protocol: _GuardedProtocol) -> bool:
        if len(self._open) >= self.limits.max_connections:
            idle = next((p for p in self._open if p.inner not in self._working), None)
            if idle is None:
                self.refused += 1
                return False
            self.evicted += 1
            self._open.pop(idle, None)
            idle.transport.close()
        self._open[protocol] = None
        return True

    def forget(self, protocol: _GuardedProtocol) -> None:
        self._open.pop(protocol, None)
        self._working.discard(protocol.inner)

    def saw_request(self, inner: Any) -> None:
        self._working.add(inner)

    @web.middleware
    async def middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.saw_request(request.protocol)
        response: web.StreamResponse = await handler(request)
        return response


class GuardedSite(web.TCPSite):
    """A TCP site whose connections pass through a ConnectionGuard."""

    def __init__(self, runner: web.AppRunner, host: str, port: int, guard: ConnectionGuard
                 ) -> None:
        super().__init__(runner, host, port)
        self._guard = guard

    async def start(self) -> None:
        await web.BaseSite.start(self)
        loop = asyncio.get_running_loop()
        server = self._runner.server
        assert server is not None
        guard = self._guard
        self._server = await loop.create_server(
            lambda: _GuardedProtocol(server(), guard),
            self._host,
            self._port,
            backlog=max(self._backlog, 1024),
            reuse_address=self._reuse_address,
            reuse_port=self._reuse_port,
        )


def runner_for(application: web.Application) -> web.AppRunner:
    """An AppRunner whose header timeout is the application's `Limits`."""
    limits: Limits = application[LIMITS_KEY]
    # aiohttp starts its keep-alive timer when a connection opens and closes the
    # connection when it fires while no request is being handled: a header timeout.
    return web.AppRunner(application, access_log=None, handle_signals=False,
                         keepalive_timeout=limits.header_timeout)


async def start_site(runner: web.AppRunner, host: str, port: int) -> None:
    guard: ConnectionGuard = runner.app[GUARD_KEY]
    await GuardedSite(runner, host, port, guard).start()


LIMITS_KEY = web.AppKey("limits", Limits)
GUARD_KEY = web.AppKey("connection_guard", ConnectionGuard)
