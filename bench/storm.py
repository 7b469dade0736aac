"""P3 and P5: a storm of failures of one red head, and the app's memory, in its own process.

The app runs as in production (`python -m app serve`, its own process, so its RSS is its
own) against the GitHub and Slack simulators served from this process. One repository's
culprit fails its required `build` check STORM times (re-runs: GitHub lists the latest),
and the STORM `check_run.completed` deliveries arrive together, IN_FLIGHT at a time; the
app's own follow-up webhooks (labels, the PR, ...) are delivered by the simulator as
GitHub would, and lost if refused (GitHub does not redeliver on its own).

P3 counts, from the simulators: incident issues, revert PRs, Slack threads, GitHub calls
(against one red event's calls in the same run, and the issue's target), 503 answers and
deliveries lost. No latency is injected: the storm is today ~5 calls per event in
sequence, minutes at 100 ms a call, and it is counted, not timed.

P5, from /proc: idle RSS (against a bare aiohttp server process, same run), the storm's
peak RSS (sampled every SAMPLE_S), and memory per queued event: distinct evaluations
queued behind one that waits on GitHub, (RSS at that depth - RSS before) over the depth,
against the event's body size.
"""

from __future__ import annotations

import asyncio
import copy
import json
import secrets
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiohttp

from bench import Deadline, Section
from bench.process import Server, free_port, memory
from bench.scenarios import incident_issues, small_repo
from demo.stack import generate_app_key, manifest_permissions, public_key_of, webhook_headers
from sim.github.repo import SimRepo
from sim.github.server import GitHubSim
from sim.slack import SlackSim

APP_ID = "4242"
STORM, QUICK_STORM = 1_000, 200
QUEUED, QUICK_QUEUED = 500, 200
IN_FLIGHT = 64
SAMPLE_S = 0.05
MB = 1 << 20
TARGET_CALLS = 30
SETTLE_LIMIT_S = 600.0


async def _metrics(session: aiohttp.ClientSession, url: str) -> dict[str, float]:
    async with session.get(url + "/metrics") as response:
        text = await response.text()
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
    return out


def _failed_handlers(metrics: dict[str, float]) -> float:
    """Events whose handler raised: the `error` samples of the handler histogram."""
    return sum(
        value
        for name, value in metrics.items()
        if name.startswith("buildsheriff_handler_seconds_count{") and 'outcome="error"' in name
    )


async def _settle(sim: GitHubSim, slack: SlackSim, session: aiohttp.ClientSession,
                  url: str) -> dict[str, float]:
    """Until nothing moves for a while: the app's queue, the simulators' deliveries."""
    quiet = 0
    before: tuple[Any, ...] = ()
    deadline = Deadline(SETTLE_LIMIT_S)
    while quiet < 5:
        if deadline.passed:
            raise RuntimeError(f"the app did not settle in {SETTLE_LIMIT_S:.0f} s")
        await sim.drain()
        await asyncio.sleep(0.2)
        metrics = await _metrics(session, url)
        # The app's own figures only: process and GC metrics move on every scrape.
        own = sorted((k, v) for k, v in metrics.items() if k.startswith("buildsheriff_"))
        now = (own, len(sim.deliveries), len(sim.meter.calls), len(slack.messages))
        busy = metrics["buildsheriff_queue_depth"] or metrics["buildsheriff_jobs_running"]
        quiet = 0 if busy or now != before else quiet + 1
        before = now
    return metrics


async def _post(session: aiohttp.ClientSession, url: str, secret: str,
                payloads: Sequence[dict[str, Any]]) -> list[int]:
    queue = iter(payloads)
    statuses: list[int] = []

    async def sender() -> None:
        for payload in queue:
            body = json.dumps(payload).encode()
            headers = webhook_headers("check_run", body, secret,
                                      delivery_id=secrets.token_hex(16))
            async with session.post(url + "/webhooks", data=body, headers=headers) as response:
                await response.read()
                statuses.append(response.status)

    await asyncio.gather(*(sender() for _ in range(IN_FLIGHT)))
    return statuses


def _held_back(sim: GitHubSim, repo: SimRepo, culprit: str, count: int) -> list[dict[str, Any]]:
    """`count` failures of the culprit's required check, recorded but not delivered."""
    hook = sim.webhook_url
    sim.webhook_url = None
    first = len(sim.deliveries)
    for _ in range(count):
        repo.add_check_run(culprit, "build", conclusion="failure")
    sim.webhook_url = hook
    return [d["payload"] for d in sim.deliveries[first:]
            if d["event"] == "check_run" and d["action"] == "completed"]


async def _queued_memory(sim: GitHubSim, slack: SlackSim, session: aiohttp.ClientSession,
                         url: str, pid: int, secret: str, count: int
                         ) -> tuple[float, float, list[int]]:
    """Memory per queued event: one red evaluation waits on GitHub (a held call), so the
    repository's turn is taken and `count` green results, each about another commit (a
    different question: nothing coalesces), queue behind it. (RSS at that depth - RSS
    before) / depth; then GitHub answers and everything runs."""
    repo, culprit = small_repo(sim, "bench/queued")
    (red,) = _held_back(sim, repo, culprit, 1)
    hold = sim.hold("GET", "/repos/{owner}/{repo}/branches/{branch}")
    await _post(session, url, secret, [red])
    await hold.reached.wait()
    before = memory(pid)["VmRSS"]
    greens = []
    for index in range(count):
        green = copy.deepcopy(red)
        green["check_run"]["head_sha"] = f"{index + 1:040x}"
        green["check_run"]["conclusion"] = "success"
        greens.append(green)
    statuses = await _post(session, url, secret, greens)
    depth = (await _metrics(session, url))["buildsheriff_queue_depth"]
    grown = memory(pid)["VmRSS"] - before
    sim.release_holds()
    await _settle(sim, slack, session, url)
    return (grown / depth if depth else 0.0), depth, statuses


async def _sample(pid: int, session: aiohttp.ClientSession, url: str,
                  samples: list[tuple[int, float]], stop: asyncio.Event) -> None:
    while not stop.is_set():
        rss = memory(pid)["VmRSS"]
        try:
            depth = (await _metrics(session, url))["buildsheriff_queue_depth"]
        except aiohttp.ClientError:
            depth = 0.0
        samples.append((rss, depth))
        try:
            await asyncio.wait_for(stop.wait(), SAMPLE_S)
        except TimeoutError:
            pass


async def _bare_idle_rss() -> int:
    port = free_port()
    async with Server(["bench.bare_server", str(port)], {}, port) as bare, \
            aiohttp.ClientSession() as session:
        async with session.post(bare.url + "/webhooks", data=b"{}") as response:
            await response.read()
        return memory(bare.pid)["VmRSS"]


async def run(workdir: Path, quick: bool) -> list[Section]:
    count = QUICK_STORM if quick else STORM
    storm = Section(f"storm: {count:,} failures of one red head, concurrent", key="P3")
    mem = Section("memory of the app's process", key="P5")
    key = generate_app_key()
    secret = "whsec-" + secrets.token_hex(16)
    bare_rss = await _bare_idle_rss()
    port = free_port()
    async with GitHubSim(workdir / "github", webhook_secret=secret, app_id=int(APP_ID),
                         app_public_key=public_key_of(key)) as sim, SlackSim() as slack:
        sim.app_permissions = manifest_permissions()
        env = {
            "APP_ID": APP_ID, "PRIVATE_KEY": key, "WEBHOOK_SECRET": secret,
            "GITHUB_API_URL": sim.url, "SLACK_BOT_TOKEN": slack.token,
            "SLACK_API_URL": slack.url, "HOST": "127.0.0.1", "PORT": str(port),
            "LOG_LEVEL": "CRITICAL", "LOG_FORMAT": "text",
        }
        warm, warm_culprit = small_repo(sim, "bench/warm-up")
        repo, culprit = small_repo(sim, "bench/widgets")
        async with Server(["app", "serve"], env, port) as app, \
                aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
            sim.webhook_url = app.url + "/webhooks"
            await _settle(sim, slack, session, app.url)
            # One red event on another repository: warms the app up, and is the baseline.
            sim.meter.start()
            warm.add_check_run(warm_culprit, "build", conclusion="failure")
            await _settle(sim, slack, session, app.url)
            one = sim.meter.stop()
            idle = memory(app.pid)["VmRSS"]

            payloads = _held_back(sim, repo, culprit, count)
            body_size = len(json.dumps(payloads[0]).encode())
            threads_before = len(slack.top_level())
            first_follow_up = len(sim.deliveries)
            samples: list[tuple[int, float]] = []
            stop = asyncio.Event()
            sampler = asyncio.create_task(_sample(app.pid, session, app.url, samples, stop))
            sim.meter.start()
            statuses = await _post(session, app.url, secret, payloads)
            metrics = await _settle(sim, slack, session, app.url)
            usage = sim.meter.stop()
            stop.set()
            await sampler
            after = memory(app.pid)
            # The storm's figures, before the queued-events measure adds its own repository.
            follow_ups = sim.deliveries[first_follow_up:]
            violations = [v for v in sim.violations if "rate limit" not in v]
            issues, pulls = len(incident_issues(repo)), len(repo.pulls())
            threads = len(slack.top_level()) - threads_before
            per_queued, queued_depth, queued_statuses = await _queued_memory(
                sim, slack, session, app.url, app.pid, secret, QUICK_QUEUED if quick else QUEUED
            )

    refused = Counter(statuses)[503] + sum(1 for d in follow_ups if d["status"] == 503)
    lost = sum(1 for s in statuses if not 200 <= s < 300) + sum(
        1 for d in follow_ups if not (d["status"] and 200 <= d["status"] < 300))
    storm.add("GitHub calls", usage.calls, "one red event", one.calls, "calls",
              f"≤ {TARGET_CALLS}")
    storm.add("503 answers", refused, "target", 0, "answers", "0")
    storm.add("deliveries lost", lost, "target", 0, "deliveries", "0")
    storm.notes.append(
        f"{issues} incident issue, {pulls} revert PR, {threads} Slack thread (1 each is right);"
        f" {usage.statuses[403]} calls refused 403 (rate limit),"
        f" {_failed_handlers(metrics):.0f} events failed"
    )
    top = ", ".join(f"{n}× {op}" for op, n in usage.operations.most_common(3))
    storm.notes.append(f"most called: {top}; {len(follow_ups)} follow-up webhooks")
    if violations:
        storm.notes.append(f"simulator violations: {violations[:2]}")

    peak_rss, peak_depth = max(samples, key=lambda s: (s[1], s[0]))
    mem.add("idle RSS", idle / MB, "bare aiohttp server", bare_rss / MB, "MB", "≤ 70 MB")
    mem.add("storm peak RSS", after["VmHWM"] / MB, "idle", idle / MB, "MB", "≤ 100 MB")
    mem.add("RSS per queued event", per_queued, "the event's JSON body", body_size, "B")
    mem.notes.append(
        f"storm: deepest queue {peak_depth:.0f} jobs at {peak_rss / MB:.0f} MB (coalesced);"
        f" after the storm {after['VmRSS'] / MB:.0f} MB ({len(samples)} samples)"
    )
    mem.notes.append(
        f"per queued event: {queued_depth:.0f} distinct evaluations queued behind one that"
        f" waits on GitHub (answers {dict(Counter(queued_statuses))}); RSS growth over depth"
    )
    return [storm, mem]
