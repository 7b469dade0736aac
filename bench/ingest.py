"""P2: ingest of an irrelevant event, against a bare aiohttp handler on the same loop.

The event: `check_run.completed`, success, about a feature branch. Handlers subscribe
to it (it could have been about the default branch), so the app verifies and parses it;
then its concerns say it cannot matter (app.handlers.Concerns), and it is answered 202
without being queued or run, and without a GitHub call. The app is the real server
(demo.stack) on 127.0.0.1. Baseline: an aiohttp handler that reads the body and answers
202, served from the same process to the same client, with the same signed bodies. A
second baseline, the floor, also does what no receiver may skip: the signature over the
body, and a check that the body is JSON (msgspec, building nothing).
Both get REQUESTS deliveries, IN_FLIGHT at a time; the app's clock stops when every one
is answered and its queue is idle. Best of ROUNDS, interleaved. GitHub calls are counted
by the simulator's meter (target: none).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import secrets
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiohttp
import msgspec
from aiohttp import web

from bench import Section
from demo.stack import Stack, stack, webhook_headers

REPOS = 10
IN_FLIGHT = 64
REQUESTS = 1_000
QUICK_REQUESTS = 500
ROUNDS = 3
TARGET = 0.85

Delivery = tuple[bytes, dict[str, str]]


def _payloads(s: Stack) -> list[dict[str, Any]]:
    """Per repository: a green check run on a feature branch, completed."""
    out = []
    for index in range(REPOS):
        repo = s.sim.create_repo(f"bench/repo{index}")
        sha = repo.commit({"feature.txt": f"{index}\n"}, "Work in progress", branch="feature")
        run = repo.add_check_run(sha, "ci", conclusion="success")
        payload = s.sim.build_payload(
            "check_run", "completed", repo, check_run=run, sender="github-actions[bot]"
        )
        if payload["check_run"]["check_suite"]["head_branch"] != "feature":
            raise RuntimeError("the bench's check run should be about the feature branch")
        out.append(payload)
    return out


def _signed(secret: str, payloads: Sequence[dict[str, Any]], count: int) -> list[Delivery]:
    bodies = [json.dumps(p).encode() for p in payloads]
    return [
        (body, webhook_headers("check_run", body, secret, delivery_id=secrets.token_hex(16)))
        for body in (bodies[i % len(bodies)] for i in range(count))
    ]


async def _blast(session: aiohttp.ClientSession, url: str, deliveries: list[Delivery]) -> float:
    """Seconds until every delivery is answered; all must be 202."""
    pending = iter(deliveries)
    statuses: list[int] = []

    async def sender() -> None:
        for body, headers in pending:
            async with session.post(url, data=body, headers=headers) as response:
                await response.read()
                statuses.append(response.status)

    started = time.perf_counter()
    await asyncio.gather(*(sender() for _ in range(IN_FLIGHT)))
    elapsed = time.perf_counter() - started
    if statuses != [202] * len(deliveries):
        raise RuntimeError(f"answers: {sorted(set(statuses))}")
    return elapsed


class _Nothing(msgspec.Struct):
    """Decoding into it checks every byte of the JSON and builds nothing."""


async def _bare_server(secret: str) -> tuple[web.AppRunner, str, str]:
    """(runner, the bare handler's URL, the floor's URL). The floor does only what no
    receiver may skip: check the signature over the body and that the body is JSON."""
    key = secret.encode()
    validate = msgspec.json.Decoder(_Nothing).decode

    async def accept(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(status=202)

    async def floor(request: web.Request) -> web.Response:
        body = await request.read()
        signature = request.headers.get("X-Hub-Signature-256", "")
        if not hmac.compare_digest(f"sha256={hmac.digest(key, body, 'sha256').hex()}",
                                   signature):
            return web.Response(status=401)
        validate(body)
        return web.Response(status=202)

    app = web.Application()
    app.router.add_post("/webhooks", accept)
    app.router.add_post("/floor", floor)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    host, port = runner.addresses[0][:2]
    return runner, f"http://{host}:{port}/webhooks", f"http://{host}:{port}/floor"


async def run(workdir: Path, quick: bool) -> list[Section]:
    section = Section("ingest of an irrelevant event", key="P2")
    count = QUICK_REQUESTS if quick else REQUESTS
    async with stack(workdir, slack=False, LOG_LEVEL="WARNING") as s:
        secret = s.settings.webhook_secret or ""
        bare_runner, bare_url, floor_url = await _bare_server(secret)
        try:
            payloads = _payloads(s)
            await s.settle()
            connector = aiohttp.TCPConnector(limit=IN_FLIGHT)
            async with aiohttp.ClientSession(connector=connector) as session:
                for url in (bare_url, floor_url, s.webhook_url):  # warm
                    await _blast(session, url, _signed(secret, payloads, IN_FLIGHT))
                await s.settle()
                s.sim.meter.start()
                before = s.dispatcher.counters.copy()
                app_s, bare_s, floor_s = [], [], []
                for _ in range(ROUNDS):
                    bare_s.append(await _blast(session, bare_url,
                                               _signed(secret, payloads, count)))
                    floor_s.append(await _blast(session, floor_url,
                                                _signed(secret, payloads, count)))
                    deliveries = _signed(secret, payloads, count)
                    started = time.perf_counter()
                    await _blast(session, s.webhook_url, deliveries)
                    await s.dispatcher.idle()
                    app_s.append(time.perf_counter() - started)
                usage = s.sim.meter.stop()
                after = s.dispatcher.counters
                handled = sum(after[k] - before[k] for k in ("handled", "ignored"))
                if handled != count * ROUNDS or after["failed"]:
                    raise RuntimeError(f"{handled} handled or ignored of {count * ROUNDS}")
            if s.sim.violations:
                raise RuntimeError(f"simulator saw violations: {s.sim.violations[:3]}")
        finally:
            await bare_runner.cleanup()
    section.add(f"req/s, {IN_FLIGHT} in flight", count / min(app_s),
                "bare aiohttp handler", count / min(bare_s), "req/s", f"≥ {TARGET}×")
    section.add(f"req/s, {IN_FLIGHT} in flight", count / min(app_s),
                "handler that only verifies and checks the JSON", count / min(floor_s), "req/s")
    section.add("GitHub calls", usage.calls, "target", 0, "calls", "0")
    section.notes.append(
        f"{count:,} check_run.completed (success, feature branch) over {REPOS} repositories,"
        f" {s.settings.workers} workers; best of {ROUNDS}, until answered and the queue is idle"
    )
    return [section]
