"""The webhook endpoint under abuse, on a real `python -m app serve` child process.

Memory: the server's peak RSS (VmHWM) while 32 clients send 24 MB unsigned bodies at
once (a bogus signature header, so the server cannot tell before reading). Baseline:
the same process's RSS at rest, just before. Target: peak under 300 MB.

Latency: a signed webhook (check_run.created, answered 202 without GitHub) while 600
slow-header connections are open. Baseline: the same request with no load, same process,
just before. Target: under 1 s.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import sys
import time
from pathlib import Path

import aiohttp

from bench import Figure, Section, percentile
from demo.stack import webhook_headers

MB = 1024 * 1024
BODIES = 32
BODY = 24 * MB
SLOW = 600
SAMPLES = 20
CHECKOUT = str(Path(__file__).resolve().parents[1])


def _port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _rss(pid: int, field: str) -> float:
    """VmRSS or VmHWM of `pid`, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"{field} not found")


async def _serve(workdir: Path) -> tuple[asyncio.subprocess.Process, str, str]:
    secret = "whsec-" + secrets.token_hex(16)
    port = _port()
    env = {k: os.environ[k] for k in ("PATH", "HOME", "LANG") if k in os.environ}
    env.update(WEBHOOK_SECRET=secret, GITHUB_TOKEN="bench-token-not-used",
               GITHUB_API_URL="http://127.0.0.1:9", HOST="127.0.0.1", PORT=str(port),
               LOG_LEVEL="error", PYTHONPATH=CHECKOUT)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "app", "serve", cwd=workdir, env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    async with aiohttp.ClientSession() as session:
        for _ in range(600):
            try:
                async with session.get(url + "/healthz") as response:
                    if response.status == 200:
                        return process, url, secret
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    process.kill()
    raise RuntimeError("serve did not start")


async def _flood(url: str) -> list[int]:
    """32 unsigned 24 MB bodies at once; the status each got."""
    host, port = url.removeprefix("http://").split(":")
    chunk = b" " * MB

    async def one(n: int) -> int:
        reader, writer = await asyncio.open_connection(host, int(port))
        head = (f"POST /webhooks HTTP/1.1\r\nHost: {host}\r\nContent-Length: {BODY}\r\n"
                f"Content-Type: application/json\r\nX-GitHub-Event: push\r\n"
                f"X-GitHub-Delivery: flood-{n}\r\nX-Hub-Signature-256: sha256={'0' * 64}\r\n\r\n")
        writer.write(head.encode())
        try:
            for _ in range(BODY // MB):
                writer.write(chunk)
                await writer.drain()
        except (ConnectionError, OSError):
            pass  # refused early: the server closed the connection
        line = await reader.readline()
        writer.close()
        return int(line.split()[1]) if line else 0

    return list(await asyncio.gather(*(one(n) for n in range(BODIES))))


async def _latencies(session: aiohttp.ClientSession, url: str, secret: str) -> list[float]:
    body = b'{"action":"created","check_run":{"id":1},"repository":null}'
    out = []
    for _ in range(SAMPLES):
        headers = webhook_headers("check_run", body, secret)
        started = time.perf_counter()
        async with session.post(url + "/webhooks", data=body, headers=headers) as response:
            await response.read()
            if response.status != 202:
                raise RuntimeError(f"signed webhook answered {response.status}")
        out.append(time.perf_counter() - started)
    return out


async def run(workdir: Path, quick: bool = False) -> list[Section]:
    section = Section("webhook endpoint under abuse", key="abuse")
    process, url, secret = await _serve(workdir)
    try:
        await asyncio.sleep(1.0)  # let start-up allocations settle before the baseline
        rest = _rss(process.pid, "VmRSS")
        statuses = await _flood(url)
        peak = _rss(process.pid, "VmHWM")
        section.figures.append(Figure(f"peak RSS, {BODIES} unsigned 24 MB bodies at once",
                                      peak, "RSS at rest", rest, "MB", target="< 300"))
        section.notes.append(
            f"answers: {statuses.count(401)}x 401 (read, bad signature), "
            f"{statuses.count(503)}x 503 (refused before reading), "
            f"{len(statuses) - statuses.count(401) - statuses.count(503)}x other")
        async with aiohttp.ClientSession() as session:
            quiet = await _latencies(session, url, secret)
            host, port = url.removeprefix("http://").split(":")
            slow = []
            for _ in range(SLOW):
                _, writer = await asyncio.open_connection(host, int(port))
                writer.write(b"POST /webhooks HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                slow.append(writer)
            loaded = await _latencies(session, url, secret)
            for writer in slow:
                writer.close()
        section.figures.append(Figure(f"signed webhook p50, {SLOW} slow-header connections",
                                      percentile(loaded, 50) * 1000, "p50 with no load",
                                      percentile(quiet, 50) * 1000, "ms", target="< 1000"))
        section.figures.append(Figure(f"signed webhook max, {SLOW} slow-header connections",
                                      max(loaded) * 1000, "max with no load",
                                      max(quiet) * 1000, "ms", target="< 1000"))
    finally:
        process.send_signal(signal.SIGTERM)
        await process.wait()
    return [section]
