"""The webhook endpoint under abuse, asserted as behaviour: slow clients, floods of large
unsigned bodies, hostile JSON and repository names never keep real webhooks out nor reach
GitHub. (How fast and how much memory: bench/abuse.py.)"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import pytest

from app.logs import RepeatedErrors
from app.server.limits import GUARD_KEY, Limits
from tests.e2e.scenarios import new_repo
from tests.harness import example_payload, webhook_headers

MB = 1024 * 1024


async def raw(url: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    parts = urlsplit(url)
    return await asyncio.open_connection(parts.hostname, parts.port)


def request_head(path: str, headers: dict[str, str], length: int) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Length: {length}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def status_of(reader: asyncio.StreamReader) -> int:
    line = await reader.readline()
    return int(line.split()[1]) if line else 0


async def test_600_slow_header_connections_do_not_keep_a_signed_webhook_out(
    stack_factory: Callable[..., Any],
) -> None:
    async with stack_factory(limits=Limits(max_connections=200)) as s:
        repo = new_repo(s)
        await s.settle()
        slow = []
        for _ in range(600):
            reader, writer = await raw(s.app_url)
            writer.write(b"POST /webhooks HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            slow.append((reader, writer))
        await asyncio.gather(*(w.drain() for _, w in slow))
        payload = s.sim.build_payload("push", None, repo, ref="refs/heads/main")
        response = await s.post_webhook("push", payload)
        assert response.status == 202
        guard = s.app[GUARD_KEY]
        assert guard.open <= 200 and guard.evicted >= 400
        for _, writer in slow:
            writer.close()


async def test_unsigned_24_mb_bodies_beyond_the_bound_are_refused_not_buffered(
    stack_factory: Callable[..., Any],
) -> None:
    async with stack_factory(slack=False) as s:
        size = 24 * MB
        headers = {"Content-Type": "application/json", "X-GitHub-Event": "push",
                   "X-GitHub-Delivery": "flood", "X-Hub-Signature-256": "sha256=" + "0" * 64}
        conns = []
        for _ in range(32):
            reader, writer = await raw(s.app_url)
            writer.write(request_head("/webhooks", headers, size) + b" " * 65536)
            conns.append((reader, writer))
        answers = {asyncio.ensure_future(status_of(r)): (r, w) for r, w in conns}
        refused: list[int] = []
        pending = set(answers)
        limits = Limits()
        admitted = limits.large_body_budget // size  # bodies the budget lets in at once
        while len(refused) < 32 - admitted:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            refused += [task.result() for task in done]
        assert refused == [503] * (32 - admitted)
        budget = s.app["receiver"].body_budget
        assert budget.large_in_use == admitted * size  # only those are being read
        for task in pending:  # the admitted ones send the rest: a bad signature, 401
            _, writer = answers[task]
            writer.write(b" " * (size - 65536))
        statuses = await asyncio.gather(*pending)
        assert statuses == [401] * admitted
        assert budget.in_use == 0
        for _, writer in conns:
            writer.close()


@pytest.mark.parametrize("shape", ["object", "array"])
async def test_a_10000_deep_json_is_a_400(stack_factory: Callable[..., Any], shape: str) -> None:
    async with stack_factory(slack=False) as s:
        depth = 10_000
        if shape == "object":
            body = ('{"a":' * depth + "1" + "}" * depth).encode()
        else:
            body = ("[" * depth + "]" * depth).encode()
        secret = s.settings.webhook_secret or ""
        async with s.session.post(s.webhook_url, data=body,
                                  headers=webhook_headers("push", body, secret)) as response:
            assert response.status == 400
            assert (await response.json())["error"] == "JSON nested too deeply"
        # A deep but parseable one is refused the same way.
        nested: Any = {"x": 1}
        for _ in range(100):
            nested = {"a": nested}
        response = await s.post_webhook("push", {"repository": None, "deep": nested})
        assert response.status == 400


@pytest.mark.parametrize("full_name", ["a/..", "a/b/../../app", "../app", "a/b/c", "a/.",
                                       "a/b?x=1", "a/b%2f..", "", "a b/c"])
async def test_a_repository_name_that_is_not_owner_slash_name_never_reaches_github(
    stack_factory: Callable[..., Any], full_name: str
) -> None:
    async with stack_factory(slack=False) as s:
        payload = example_payload("check_run", "completed")
        payload["repository"]["full_name"] = full_name
        calls = len(s.sim.call_log)
        response = await s.post_webhook("check_run", payload)
        await s.settle()
        assert response.status == 400
        assert s.sim.call_log[calls:] == []


async def test_a_slow_body_times_out_and_a_slow_header_is_disconnected(
    stack_factory: Callable[..., Any],
) -> None:
    async with stack_factory(slack=False,
                             limits=Limits(body_timeout=0.3, header_timeout=0.3)) as s:
        headers = {"Content-Type": "application/json", "X-GitHub-Event": "push",
                   "X-GitHub-Delivery": "slow", "X-Hub-Signature-256": "sha256=" + "0" * 64}
        reader, writer = await raw(s.app_url)
        writer.write(request_head("/webhooks", headers, 1000) + b"{")
        assert await status_of(reader) == 408
        writer.close()
        reader, writer = await raw(s.app_url)
        writer.write(b"POST /webhooks HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        assert await reader.read() == b""  # closed by the server, nothing answered
        writer.close()


def test_repeated_errors_are_logged_once_with_a_count() -> None:
    now = [0.0]
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    logger = logging.getLogger("test.repeated")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    logger.addHandler(Keep())
    logger.addFilter(RepeatedErrors(window=60, timer=lambda: now[0]))
    for _ in range(500):
        try:
            json.loads("{")
        except ValueError:
            logger.exception("Error handling request")
        logger.warning("webhook rejected", extra={"reason": "bad signature"})
    logger.info("ordinary line")
    now[0] = 61.0
    logger.warning("webhook rejected", extra={"reason": "bad signature"})
    assert [(r.getMessage(), getattr(r, "repeated", 0), bool(r.exc_info)) for r in records] == [
        ("Error handling request", 0, True),
        ("webhook rejected", 0, False),
        ("ordinary line", 0, False),
        ("webhook rejected", 499, False),
    ]
