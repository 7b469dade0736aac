"""Real `python -m app serve` processes against the simulators, for crash and replica tests.

    async with serve_cluster(tmp_path, rsa_key, replicas=2, redis_url=...) as c:
        repo = c.sim.create_repo("octo/widgets")
        ...                          # act through the simulators, as in tests/e2e
        await c.settle()             # every delivery answered, every replica idle
        await c.replicas[0].kill()   # kill -9
        await c.replicas[0].start()  # a fresh process on the same port and settings

The simulators run in the test's event loop on 127.0.0.1:0; each replica is a child process
with a bare environment (no `.env`), listening on its own port, its stderr (JSON logs) in
`<tmp>/serve-<n>.log`. GitHub's webhooks reach the replicas through `Balancer`, a small
proxy that spreads them round robin over the replicas that are up (and can send each
delivery several times: `copies`), so a replica that is down fails the delivery in the
simulator's log exactly as GitHub would record it. Time is real here (a child process has
no injectable clock): waits are bounded polls.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import signal
import sys
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from demo.stack import APP_ID, manifest_events, manifest_permissions, public_key_of
from sim.github.server import GitHubSim
from sim.pager import PagerDutySim
from sim.slack import SlackSim
from tests.process import bare_env, free_port

CHECKOUT = str(Path(__file__).resolve().parents[1])
START_TIMEOUT = 60.0
SETTLE_TIMEOUT = 120.0
POLL_S = 0.05  # another process works: poll, bounded by the timeouts above


@dataclass
class Replica:
    """One `serve` child process; `start` again after `kill` is a process restart."""

    name: str
    port: int
    env: dict[str, str]
    log_path: Path
    process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def up(self) -> bool:
        return self.process is not None and self.process.returncode is None

    async def start(self, *, wait: bool = True) -> None:
        assert not self.up, f"{self.name} is running already"
        log = self.log_path.open("ab")
        try:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "app", "serve",
                cwd=self.log_path.parent,
                env=self.env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )
        finally:
            log.close()
        if wait:
            await self.wait_listening()

    async def wait_listening(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + START_TIMEOUT
        while loop.time() < deadline:
            if not self.up:
                raise AssertionError(f"{self.name} exited: {self.log_tail()}")
            if await self.health() is not None:
                return
            await asyncio.sleep(POLL_S)
        raise AssertionError(f"{self.name} did not listen in time: {self.log_tail()}")

    async def health(self) -> dict[str, Any] | None:
        """/healthz's JSON, or None when nothing answers."""
        try:
            async with aiohttp.ClientSession() as session, session.get(
                self.url + "/healthz", timeout=aiohttp.ClientTimeout(total=5)
            ) as response:
                if response.status != 200:
                    return None
                data: dict[str, Any] = await response.json()
                return data
        except (aiohttp.ClientError, TimeoutError):
            return None

    async def kill(self) -> None:
        """kill -9: no drain, no goodbye."""
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGKILL)
            await self.process.wait()

    async def stop(self, grace: float = START_TIMEOUT) -> int:
        """SIGTERM (drain, then exit; kill -9 after `grace` s); the exit code."""
        if self.process is None:
            return 0
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.process.wait(), grace)
        except TimeoutError:
            await self.kill()
        return int(self.process.returncode or 0)

    def log_lines(self) -> list[dict[str, Any]]:
        """The JSON log lines this replica wrote (every start of it)."""
        lines = []
        for raw in self.log_path.read_text(errors="replace").splitlines():
            try:
                lines.append(json.loads(raw))
            except ValueError:
                lines.append({"msg": raw})
        return lines

    def log_tail(self, n: int = 20) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])


class Balancer:
    """A load balancer in front of the replicas: each delivery goes to the next replica that
    is up (round robin), `copies` times (spread over them, all at once). GitHub is answered
    with the first copy's status; a connection failure is answered 502, so the simulator
    records a failed delivery."""

    def __init__(self, replicas: list[Replica], path: str = "/webhooks") -> None:
        self.replicas = replicas
        self.path = path
        self.copies = 1
        self.only: Replica | None = None  # send everything to this one while set
        self.forwarded: list[tuple[str, str, int]] = []  # (replica, delivery id, status)
        self._turn = itertools.count()
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self.url = ""

    async def start(self) -> None:
        app = web.Application(client_max_size=30 * 1024 * 1024)
        app.router.add_post(self.path, self._forward)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}{self.path}"
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()

    def _targets(self) -> list[Replica]:
        up = [r for r in self.replicas if r.up and (self.only is None or r is self.only)]
        if not up:
            return []
        start = next(self._turn)
        return [up[(start + i) % len(up)] for i in range(self.copies)]

    async def _forward(self, request: web.Request) -> web.Response:
        body = await request.read()
        headers = {k: v for k, v in request.headers.items()
                   if k.lower() not in ("host", "content-length")}
        targets = self._targets()
        if not targets:
            return web.Response(status=502, text="no replica is up")
        statuses = await asyncio.gather(*(self._send(r, headers, body) for r in targets))
        delivery = request.headers.get("X-GitHub-Delivery", "")
        self.forwarded.extend((r.name, delivery, s) for r, s in zip(targets, statuses,
                                                                      strict=True))
        return web.Response(status=statuses[0])

    async def _send(self, replica: Replica, headers: Mapping[str, str], body: bytes) -> int:
        assert self._session is not None
        try:
            async with self._session.post(replica.url + self.path, data=body,
                                          headers=dict(headers)) as response:
                await response.read()
                return response.status
        except (aiohttp.ClientError, TimeoutError):
            return 502


@dataclass
class ServeCluster:
    sim: GitHubSim
    slack: SlackSim | None
    pagerduty: PagerDutySim | None
    replicas: list[Replica]
    balancer: Balancer
    webhook_secret: str
    extras: dict[str, Any] = field(default_factory=dict)

    async def start_all(self) -> None:
        await asyncio.gather(*(r.start() for r in self.replicas if not r.up))

    def _progress(self) -> tuple[int, ...]:
        return (
            len(self.sim.call_log),
            len(self.sim.deliveries),
            len(self.slack.messages) if self.slack is not None else 0,
            sum(self.pagerduty.calls.values()) if self.pagerduty is not None else 0,
        )

    async def idle(self) -> bool:
        """Every replica that is up has nothing queued, running or waiting for Slack."""
        for replica in self.replicas:
            if not replica.up:
                continue
            health = await replica.health()
            if health is None or health.get("busy", True):
                return False
        return True

    async def settle(self, within: float = SETTLE_TIMEOUT,
                     until: Callable[[], bool] | None = None) -> None:
        """Deliver and handle until nothing moves (and `until()` holds, when given)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        before: tuple[int, ...] | None = None
        stable = 0
        while loop.time() < deadline:
            await self.sim.drain()
            now = self._progress()
            if now == before and await self.idle() and (until is None or until()):
                stable += 1
                if stable >= 3:
                    return
            else:
                stable = 0
            before = now
            await asyncio.sleep(POLL_S)
        tails = "\n".join(f"--- {r.name}\n{r.log_tail()}" for r in self.replicas)
        raise AssertionError(f"the replicas did not settle in {within:.0f} s\n{tails}")

    async def wait_for(self, condition: Callable[[], bool], within: float = SETTLE_TIMEOUT,
                       what: str = "condition") -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while not condition():
            if loop.time() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            await asyncio.sleep(POLL_S)


@asynccontextmanager
async def serve_cluster(
    tmp_path: Path,
    private_key: str,
    *,
    replicas: int = 1,
    redis_url: str | None = None,
    redis_prefix: str | None = None,
    slack: bool = True,
    pager: bool = False,
    start: bool = True,
    **env: str,
) -> AsyncIterator[ServeCluster]:
    """The simulators here, `replicas` serve processes there, the balancer in between.

    `env` adds or overrides the replicas' settings (environment names: WORKERS="2")."""
    secret = "whsec-" + os.urandom(16).hex()
    async with AsyncExitStack() as exits:
        sim = GitHubSim(tmp_path / "github", webhook_secret=secret, app_id=int(APP_ID),
                        app_public_key=public_key_of(private_key))
        sim.app_permissions = manifest_permissions()
        sim.app_events = manifest_events()
        await sim.start()
        exits.push_async_callback(sim.close)
        base = bare_env(
            APP_ID=APP_ID,
            PRIVATE_KEY=private_key,
            WEBHOOK_SECRET=secret,
            GITHUB_API_URL=sim.url,
            HOST="127.0.0.1",
            LOG_FORMAT="json",
            LOG_LEVEL="INFO",
            SHUTDOWN_TIMEOUT="5",
        )
        # The children run this checkout's code whatever the working directory.
        base["PYTHONPATH"] = CHECKOUT
        slack_sim = pagerduty = None
        if slack:
            slack_sim = SlackSim()
            await slack_sim.start()
            exits.push_async_callback(slack_sim.close)
            base.update(SLACK_BOT_TOKEN=slack_sim.token, SLACK_API_URL=slack_sim.url)
        if pager:
            pagerduty = PagerDutySim()
            await pagerduty.start()
            exits.push_async_callback(pagerduty.close)
            base.update(PAGERDUTY_ROUTING_KEY=pagerduty.routing_key,
                        PAGERDUTY_API_TOKEN=pagerduty.api_token,
                        PAGERDUTY_EVENTS_URL=pagerduty.url, PAGERDUTY_API_URL=pagerduty.url)
        if redis_url is not None:
            base["REDIS_URL"] = redis_url
            if redis_prefix is not None:
                base["REDIS_PREFIX"] = redis_prefix
        base.update(env)
        children = []
        for n in range(replicas):
            port = free_port()
            children.append(Replica(f"serve-{n}", port, {**base, "PORT": str(port)},
                                    tmp_path / f"serve-{n}.log"))
        balancer = Balancer(children)
        await balancer.start()
        exits.push_async_callback(balancer.close)
        sim.webhook_url = balancer.url

        async def stop_children() -> None:
            await asyncio.gather(*(r.stop() for r in children), return_exceptions=True)

        exits.push_async_callback(stop_children)
        cluster = ServeCluster(sim, slack_sim, pagerduty, children, balancer, secret)
        if start:
            await cluster.start_all()
        yield cluster


BACKENDS = ["redis", "one-process"]


def cluster_backend(request: Any, **redis_settings: str) -> dict[str, Any]:
    """`serve_cluster` arguments for a backend of BACKENDS: two replicas sharing the
    machine's Redis (under this test's prefix, with `redis_settings`), or one process."""
    if request.param == "one-process":
        return {"replicas": 1}
    url = request.getfixturevalue("redis_url")
    prefix = request.getfixturevalue("redis_prefix")
    return {"replicas": 2, "redis_url": url, "redis_prefix": prefix, **redis_settings}
