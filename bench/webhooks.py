"""Webhook acknowledgement and dispatcher throughput, on the real server over loopback.

Latency: time from POST to 202 for signed `check_run.completed` (success) deliveries
about a feature branch: routed, queued and handled (two handlers run, neither needs
GitHub), so the figure is the cost of the acknowledgement path itself. Baseline:
GET /healthz on the same server through the same client session, interleaved one
for one so both see the same conditions (the handled jobs run between requests,
as in production).

Throughput: a burst of 1,000 such deliveries over 10 repositories (per-repository
serial handling), timed until every one is answered and the dispatcher is idle.
Baseline: the same burst as `check_run.created`, which no handler wants (202,
nothing queued). Bodies and signatures are made before the clock starts.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiohttp

from app.clock import ManualClock
from bench import Deadline, Figure, Section, percentile
from demo.stack import Stack, stack, webhook_headers

REPOS = 10
LATENCY_PAIRS = 400
LATENCY_WARMUP = 30
LATENCY_BUDGET_S = 20.0
BURST = 1_000
BURST_CONCURRENCY = 16  # requests in flight at once, as GitHub's parallel deliveries
BURST_ROUNDS = 2
BURST_BUDGET_S = 30.0

Delivery = tuple[bytes, dict[str, str]]


def _payloads(s: Stack) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Per repository: a green check run on a feature branch, as completed and as created."""
    completed, created = [], []
    for index in range(REPOS):
        repo = s.sim.create_repo(f"bench/repo{index}")
        sha = repo.commit({"feature.txt": f"{index}\n"}, "Work in progress", branch="feature")
        run = repo.add_check_run(sha, "ci", conclusion="success")
        done = s.sim.build_payload(
            "check_run", "completed", repo, check_run=run, sender="github-actions[bot]"
        )
        if done["check_run"]["check_suite"]["head_branch"] != "feature":
            raise RuntimeError("the bench's check run should be about the feature branch")
        completed.append(done)
        created.append({**done, "action": "created"})
    return completed, created


def _signed(s: Stack, payloads: Sequence[dict[str, Any]], count: int) -> list[Delivery]:
    secret = s.settings.webhook_secret or ""
    bodies = [json.dumps(p).encode() for p in payloads]
    out: list[Delivery] = []
    for i in range(count):
        body = bodies[i % len(bodies)]
        headers = webhook_headers("check_run", body, secret, delivery_id=secrets.token_hex(16))
        out.append((body, headers))
    return out


async def _post(session: aiohttp.ClientSession, url: str, delivery: Delivery) -> int:
    body, headers = delivery
    async with session.post(url, data=body, headers=headers) as response:
        await response.read()
        return response.status


async def _get(session: aiohttp.ClientSession, url: str) -> int:
    async with session.get(url) as response:
        await response.read()
        return response.status


async def _latency(s: Stack, deliveries: list[Delivery]) -> tuple[list[float], list[float]]:
    """(webhook ms, healthz ms), one of each per round, until the count or budget runs out."""
    health_url = s.app_url + "/healthz"
    hooks: list[float] = []
    health: list[float] = []
    deadline = Deadline(LATENCY_BUDGET_S)
    for index, delivery in enumerate(deliveries):
        if deadline.passed:
            break
        started = time.perf_counter()
        status = await _post(s.session, s.webhook_url, delivery)
        hook_ms = (time.perf_counter() - started) * 1000
        started = time.perf_counter()
        health_status = await _get(s.session, health_url)
        health_ms = (time.perf_counter() - started) * 1000
        if (status, health_status) != (202, 200):
            raise RuntimeError(f"expected 202 and 200, got {status} and {health_status}")
        if index >= LATENCY_WARMUP:
            hooks.append(hook_ms)
            health.append(health_ms)
    await s.settle()
    return hooks, health


async def _burst(s: Stack, deliveries: list[Delivery]) -> float:
    """Seconds from the first POST until all are answered 202 and the dispatcher is idle."""
    pending = iter(deliveries)
    deadline = Deadline(BURST_BUDGET_S)
    statuses: list[int] = []

    async def sender() -> None:
        for delivery in pending:
            if deadline.passed:
                raise RuntimeError(f"burst did not finish in {BURST_BUDGET_S:.0f} s")
            statuses.append(await _post(s.session, s.webhook_url, delivery))

    started = time.perf_counter()
    await asyncio.gather(*(sender() for _ in range(BURST_CONCURRENCY)))
    await s.dispatcher.idle()
    elapsed = time.perf_counter() - started
    if statuses != [202] * len(deliveries):
        raise RuntimeError(f"burst answers: {sorted(set(statuses))}")
    return elapsed


async def run(workdir: Path, quick: bool = False) -> list[Section]:
    section = Section("webhooks")
    running = stack(workdir, clock=ManualClock(), slack=False, pager=None, LOG_LEVEL="WARNING")
    async with running as s:
        completed, created = _payloads(s)
        await s.settle()

        before = s.dispatcher.counters.copy()
        count = LATENCY_WARMUP + LATENCY_PAIRS
        hooks, health = await _latency(s, _signed(s, completed, count))
        handled = s.dispatcher.counters["handled"] - before["handled"]
        for q in (50, 95):
            section.figures.append(
                Figure(f"POST→202 p{q}", percentile(hooks, q),
                       f"GET /healthz p{q}", percentile(health, q), "ms")
            )
        section.notes.append(
            f"{len(hooks)} check_run.completed (feature branch; {handled} handled)"
            f" interleaved with {len(health)} /healthz; {LATENCY_WARMUP} warm-up pairs"
        )

        handled_s: list[float] = []
        ignored_s: list[float] = []
        for _ in range(BURST_ROUNDS):
            before = s.dispatcher.counters.copy()
            ignored_s.append(await _burst(s, _signed(s, created, BURST)))
            handled_s.append(await _burst(s, _signed(s, completed, BURST)))
            after = s.dispatcher.counters
            counted = (after["ignored"] - before["ignored"], after["handled"] - before["handled"])
            if counted != (BURST, BURST) or after["failed"]:
                raise RuntimeError(f"burst counted (ignored, handled) = {counted}")
        section.figures.append(
            Figure(f"burst {BURST:,} handled", BURST / min(handled_s),
                   "same burst, unwanted event", BURST / min(ignored_s), "ev/s")
        )
        section.notes.append(
            f"{BURST:,} over {REPOS} repos, {BURST_CONCURRENCY} in flight,"
            f" {s.settings.workers} workers, best of {BURST_ROUNDS}, until the queue is idle"
        )
        if s.sim.violations:
            raise RuntimeError(f"simulator saw violations: {s.sim.violations[:3]}")
    return [section]
