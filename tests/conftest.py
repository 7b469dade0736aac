"""Fixtures shared by every test: one RSA App key per session, and the end-to-end stack."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
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
    tmp_path: Path, rsa_key: str
) -> Callable[..., AbstractAsyncContextManager[Stack]]:
    """`async with stack_factory(slack=False, WORKERS="2") as s:` — the whole app over the sims."""

    def make(**kwargs: Any) -> AbstractAsyncContextManager[Stack]:
        kwargs.setdefault("private_key", rsa_key)
        return stack(tmp_path, **kwargs)

    return make
