"""Fixtures shared by every test: one RSA App key per session, and the end-to-end stack."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from app import retry
from tests.harness import Stack, generate_app_key, secrets_in_records, stack, stack_secrets


@pytest.fixture(scope="session")
def rsa_key() -> str:
    """A freshly generated 2048-bit RSA App key (PEM); generated once, it is slow."""
    return generate_app_key()


@pytest.fixture
def stack_factory(
    tmp_path: Path, rsa_key: str, request: pytest.FixtureRequest, caplog: pytest.LogCaptureFixture
) -> Callable[..., AbstractAsyncContextManager[Stack]]:
    """`async with stack_factory(slack=False, WORKERS="2") as s:` — the whole app over the sims."""

    allow = request.node.get_closest_marker("sim_violations_expected") is not None

    @asynccontextmanager
    async def make(**kwargs: Any) -> AsyncIterator[Stack]:
        kwargs.setdefault("private_key", rsa_key)
        retry.seed(0)  # the retry policy's jitter replays exactly from test to test
        async with stack(tmp_path, **kwargs) as s:
            yield s
            # Every request the app made must be one GitHub defines (OpenAPI, GraphQL
            # schema), and every webhook the sim sent must match GitHub's schemas.
            if not allow:
                await s.sim.drain()
                assert s.sim.violations == [], "\n".join(s.sim.violations)
            # No secret of this stack in any log record of the test (README: Security).
            leaked = secrets_in_records(stack_secrets(s), caplog.records)
            assert leaked == [], f"secrets in log records: {leaked}"

    return make


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "sim_violations_expected: the test provokes requests GitHub would refuse"
    )


REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
async def redis_url() -> str:
    """The machine's Redis, or a skip when none answers, except with REQUIRE_REDIS=1
    (.ci/run sets it): there a missing Redis fails the test instead of hiding it."""
    import os

    from redis import asyncio as aioredis

    url = os.environ.get("TEST_REDIS_URL", REDIS_URL)
    client = aioredis.from_url(url, socket_connect_timeout=2)
    try:
        await client.ping()
    except Exception as error:
        message = f"no Redis at {url}: {type(error).__name__}"
        if os.environ.get("REQUIRE_REDIS") == "1":
            pytest.fail(message + " (REQUIRE_REDIS=1)")
        pytest.skip(message)
    finally:
        await client.aclose()
    return url


@pytest.fixture
async def redis_prefix(redis_url: str) -> AsyncIterator[str]:
    """A key prefix of this test's own; its keys are deleted afterwards (never a flush)."""
    import uuid

    from redis import asyncio as aioredis

    prefix = f"buildsheriff-test-{uuid.uuid4().hex[:12]}:"
    yield prefix
    client = aioredis.from_url(redis_url)
    try:
        keys = [key async for key in client.scan_iter(match=prefix + "*", count=1000)]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()
