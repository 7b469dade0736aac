"""GitHub App auth against the GitHub simulator: JWTs it accepts, tokens cached and refreshed.

The simulator verifies the App JWT with the App's public key on its own (manual) clock
and rejects expired installation tokens, so "the call worked" is the assertion.
"""

from __future__ import annotations

import asyncio
import logging
import traceback
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from gidgethub import BadRequest

from app.clock import ManualClock
from app.github.auth import REFRESH_MARGIN, GitHubApp, token_client_factory
from sim.github import auth as gh_auth
from sim.github.server import GitHubSim
from tests.harness import APP_ID, public_key_of

TOKEN_ENDPOINT = "POST /app/installations/{installation_id}/access_tokens"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def sim(tmp_path: Path, rsa_key: str, clock: ManualClock) -> AsyncIterator[GitHubSim]:
    github = GitHubSim(
        tmp_path / "github",
        app_id=int(APP_ID),
        app_public_key=public_key_of(rsa_key),
        clock=clock.now,
    )
    await github.start()
    github.create_repo("octo/widgets")
    yield github
    await github.close()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


@pytest.fixture
def github_app(
    sim: GitHubSim, session: aiohttp.ClientSession, rsa_key: str, clock: ManualClock
) -> GitHubApp:
    return GitHubApp(session, app_id=APP_ID, private_key=rsa_key, api_url=sim.url, clock=clock)


async def test_app_jwt_is_accepted(github_app: GitHubApp) -> None:
    app_info = await github_app.app_client().getitem("/app")
    assert app_info["id"] == int(APP_ID)


async def test_installation_token_works_and_is_cached(
    github_app: GitHubApp, sim: GitHubSim
) -> None:
    gh = await github_app.installation_client(1)
    repo = await gh.getitem("/repos/octo/widgets")
    assert repo["full_name"] == "octo/widgets"

    again = await github_app.installation_client(1)
    await again.getitem("/repos/octo/widgets")
    assert again is gh
    assert len(sim.issued_tokens) == 1
    assert sim.calls[TOKEN_ENDPOINT] == 1


async def test_token_is_refreshed_five_minutes_before_it_expires(
    github_app: GitHubApp, sim: GitHubSim, clock: ManualClock
) -> None:
    first = await github_app.installation_client(1)
    assert first.oauth_token == sim.issued_tokens[0]
    expires_at = clock.now() + sim.token_ttl

    clock.advance(expires_at - REFRESH_MARGIN - 60 - clock.now())  # 6 minutes left
    assert await github_app.installation_client(1) is first
    assert len(sim.issued_tokens) == 1

    clock.advance(120)  # 4 minutes left: inside the margin
    second = await github_app.installation_client(1)
    assert len(sim.issued_tokens) == 2
    assert second.oauth_token == sim.issued_tokens[1] != sim.issued_tokens[0]
    assert (await second.getitem("/repos/octo/widgets"))["name"] == "widgets"


async def test_expires_at_is_read_from_githubs_answer(
    github_app: GitHubApp, sim: GitHubSim, clock: ManualClock
) -> None:
    sim.token_ttl = 600.0  # a short-lived token: refreshed 5 minutes before its own expiry
    await github_app.installation_client(1)
    clock.advance(600 - REFRESH_MARGIN + 1)
    await github_app.installation_client(1)
    assert len(sim.issued_tokens) == 2


async def test_concurrent_callers_share_one_token_request(
    github_app: GitHubApp, sim: GitHubSim
) -> None:
    sim.set_latency("/app/installations/{installation_id}/access_tokens", 0.01)
    clients = await asyncio.gather(*(github_app.installation_client(1) for _ in range(20)))
    assert len({id(c) for c in clients}) == 1
    assert len(sim.issued_tokens) == 1


async def test_wrong_key_is_refused_without_revealing_it(
    sim: GitHubSim, session: aiohttp.ClientSession, clock: ManualClock
) -> None:
    other_key = _other_key()
    app = GitHubApp(session, app_id=APP_ID, private_key=other_key, api_url=sim.url, clock=clock)
    with pytest.raises(BadRequest) as caught:
        await app.installation_client(1)
    assert caught.value.status_code == 401
    text = "".join(traceback.format_exception(caught.value)) + repr(app)
    assert _pem_body(other_key)[0] not in text
    assert sim.issued_tokens == []


async def test_tokens_and_key_never_reach_a_log_line(
    github_app: GitHubApp,
    sim: GitHubSim,
    clock: ManualClock,
    rsa_key: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    gh = await github_app.installation_client(1)
    await gh.getitem("/repos/octo/widgets")
    sim.inject("GET", "/repos/{owner}/{repo}", status=502)
    await gh.getitem("/repos/octo/widgets")  # a retry, logged
    clock.advance(sim.token_ttl)
    await github_app.installation_client(1)  # a refresh, logged
    assert len(sim.issued_tokens) == 2 and caplog.records

    logged = "\n".join(_everything_in(record) for record in caplog.records)
    for token in sim.issued_tokens:
        assert token not in logged
    for line in _pem_body(rsa_key):
        assert line not in logged


async def test_plain_token_factory_serves_every_installation(
    sim: GitHubSim, session: aiohttp.ClientSession, clock: ManualClock
) -> None:
    token = sim.create_token("octocat")
    factory = token_client_factory(session, token=token, api_url=sim.url, clock=clock)
    gh = await factory(1)
    assert await factory(99) is gh
    assert (await gh.getitem("/repos/octo/widgets"))["full_name"] == "octo/widgets"


def test_app_repr_shows_no_secret(rsa_key: str) -> None:
    app = GitHubApp(None, app_id=APP_ID, private_key=rsa_key)  # type: ignore[arg-type]
    assert "PRIVATE" not in repr(app) and _pem_body(rsa_key)[0] not in repr(app)


def _everything_in(record: logging.LogRecord) -> str:
    parts = [record.getMessage(), repr(vars(record))]
    if record.exc_info:
        parts.append("".join(traceback.format_exception(*record.exc_info)))
    return "\n".join(parts)


def _pem_body(pem: str) -> list[str]:
    return [line for line in pem.splitlines() if line and not line.startswith("-----")]


def _other_key() -> str:
    # An unrelated App key: the simulator's own test pair (cached, so not generated again).
    return gh_auth.test_key_pair().private_pem.decode()
