"""Fixtures for the GitHub simulator's own tests: a started simulator on a manual clock, a
repository, an HTTP client holding an installation token, and a webhook receiver."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from gidgethub import sansio
from multidict import CIMultiDict

from app.clock import ManualClock
from sim.github.repo import SimRepo
from sim.github.server import GitHubSim


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def sim(tmp_path: Path, clock: ManualClock) -> AsyncIterator[GitHubSim]:
    simulator = GitHubSim(tmp_path / "github", clock=clock.now)
    await simulator.start()
    try:
        yield simulator
    finally:
        await simulator.close()


@pytest.fixture
def repo(sim: GitHubSim) -> SimRepo:
    return sim.create_repo("octo/widgets")


@dataclass
class Answer:
    status: int
    body: Any
    headers: CIMultiDict[str]


@dataclass
class Api:
    """A bare HTTP client for the simulator, authenticated like the app (installation token)."""

    sim: GitHubSim
    session: aiohttp.ClientSession
    token: str

    async def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        token: str | None = None,
        raw_auth: str | None = None,
    ) -> Answer:
        headers = {"Accept": "application/vnd.github+json"}
        auth = raw_auth if raw_auth is not None else f"token {token or self.token}"
        if auth:
            headers["Authorization"] = auth
        kwargs: dict[str, Any] = {"headers": headers}
        if body is not None:
            kwargs["json"] = body
        async with self.session.request(method, self.sim.url + path, **kwargs) as resp:
            data = await resp.json() if resp.content_type == "application/json" else None
            return Answer(resp.status, data, CIMultiDict(resp.headers))

    async def get(self, path: str, **kw: Any) -> Answer:
        return await self.call("GET", path, **kw)

    async def post(self, path: str, body: Any = None, **kw: Any) -> Answer:
        return await self.call("POST", path, body, **kw)

    async def patch(self, path: str, body: Any = None, **kw: Any) -> Answer:
        return await self.call("PATCH", path, body, **kw)

    async def put(self, path: str, body: Any = None, **kw: Any) -> Answer:
        return await self.call("PUT", path, body, **kw)

    async def delete(self, path: str, body: Any = None, **kw: Any) -> Answer:
        return await self.call("DELETE", path, body, **kw)

    async def graphql(self, query: str, **variables: Any) -> Answer:
        return await self.post("/graphql", {"query": query, "variables": variables})


@pytest.fixture
async def api(sim: GitHubSim, repo: SimRepo) -> AsyncIterator[Api]:
    async with aiohttp.ClientSession() as session:
        yield Api(sim, session, sim.installation_token(repo.installation_id or 1))


@dataclass
class Receiver:
    """A tiny app endpoint: verifies each delivery with gidgethub, as the real app does."""

    secret: str
    events: list[sansio.Event] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    url: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        event = sansio.Event.from_http(request.headers, body, secret=self.secret)
        self.events.append(event)
        self.headers.append(dict(request.headers))
        return web.Response(status=202)


@pytest.fixture
async def receiver(sim: GitHubSim) -> AsyncIterator[Receiver]:
    rec = Receiver(sim.webhook_secret)
    app = web.Application()
    app.router.add_post("/webhooks", rec.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    rec.url = f"http://127.0.0.1:{runner.addresses[0][1]}/webhooks"
    sim.webhook_url = rec.url
    try:
        yield rec
    finally:
        await runner.cleanup()
