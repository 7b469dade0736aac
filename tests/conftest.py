"""Fixtures shared by every test: one RSA App key per session, and the end-to-end stack."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.harness import Stack, generate_app_key, stack


@pytest.fixture(scope="session")
def rsa_key() -> str:
    """A freshly generated 2048-bit RSA App key (PEM); generated once, it is slow."""
    return generate_app_key()


@pytest.fixture
def stack_factory(
    tmp_path: Path, rsa_key: str, request: pytest.FixtureRequest
) -> Callable[..., AbstractAsyncContextManager[Stack]]:
    """`async with stack_factory(slack=False, WORKERS="2") as s:` — the whole app over the sims."""

    allow = request.node.get_closest_marker("sim_violations_expected") is not None

    @asynccontextmanager
    async def make(**kwargs: Any) -> AsyncIterator[Stack]:
        kwargs.setdefault("private_key", rsa_key)
        async with stack(tmp_path, **kwargs) as s:
            yield s
            # Every request the app made must be one GitHub defines (OpenAPI, GraphQL
            # schema), and every webhook the sim sent must match GitHub's schemas.
            if not allow:
                await s.sim.drain()
                assert s.sim.violations == [], "\n".join(s.sim.violations)

    return make


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "sim_violations_expected: the test provokes requests GitHub would refuse"
    )
