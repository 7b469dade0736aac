"""GitHub App authentication: App JWTs, installation tokens cached until near expiry.

Installation tokens live one hour. Asking for a new one per request (as simple
bots do) spends the App's rate limit and adds a round trip to every event, so
tokens are cached per installation and refreshed `REFRESH_MARGIN` before
`expires_at`, with concurrent callers of one installation sharing one request.
Tokens and the key are never logged, and no repr here shows them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

import aiohttp
from cachetools import TLRUCache

from app.clock import Clock, SystemClock
from app.github.client import GitHubClient
from app.logs import register_secret
from app.metrics import Metrics

REFRESH_MARGIN = 5 * 60.0
# A token whose expiry cannot be read is treated as short-lived rather than trusted.
FALLBACK_LIFETIME = 10 * 60.0
MAX_CACHED_INSTALLATIONS = 10_000

log = logging.getLogger(__name__)

class GitHubFactory(Protocol):
    """The client of one installation: `GitHubApp.installation_client`, or one token's."""

    def __call__(self, installation_id: int, /) -> Awaitable[GitHubClient]: ...


@dataclass(frozen=True)
class _CachedToken:
    token: str = field(repr=False)
    refresh_at: float
    client: GitHubClient = field(repr=False)


def _expiry(value: object, now: float) -> float:
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            pass
    return now + FALLBACK_LIFETIME


class GitHubApp:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        app_id: str,
        private_key: str,
        api_url: str = "https://api.github.com",
        clock: Clock | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        # PyJWT >= 2.10 rejects a non-string `iss`: keep the id a string throughout.
        self.app_id = str(app_id)
        self._private_key = private_key
        self._session = session
        self.api_url = api_url.rstrip("/")
        self.clock: Clock = clock or SystemClock()
        self.metrics = metrics
        self._tokens: TLRUCache[int, _CachedToken] = TLRUCache(
            maxsize=MAX_CACHED_INSTALLATIONS,
            ttu=lambda _key, value, _now: value.refresh_at,
            timer=self.clock.now,
        )
        self._locks: dict[int, asyncio.Lock] = {}

    def __repr__(self) -> str:
        return f"<GitHubApp id={self.app_id} {self.api_url}>"

    def app_client(self) -> GitHubClient:
        """A client authenticated as the App itself (JWT): for /app/... endpoints only."""
        return GitHubClient(
            self._session,
            api_url=self.api_url,
            clock=self.clock,
            app_id=self.app_id,
            private_key=self._private_key,
            metrics=self.metrics,
        )

    async def installation_client(self, installation_id: int) -> GitHubClient:
        installation_id = int(installation_id)
        cached = self._tokens.get(installation_id)
        if cached is not None:
            return cached.client
        lock = self._locks.setdefault(installation_id, asyncio.Lock())
        async with lock:
            # Another caller may have fetched it while this one waited for the lock.
            cached = self._tokens.get(installation_id)
            if cached is None:
                cached = await self._fetch(installation_id)
                self._tokens[installation_id] = cached
        return cached.client

    def forget(self, installation_id: int) -> None:
        """Drop a cached token (e.g. after a 401: the installation was suspended or removed)."""
        self._tokens.pop(int(installation_id), None)

    async def _fetch(self, installation_id: int) -> _CachedToken:
        now = self.clock.now()
        # gidgethub.apps.get_installation_access_token signs with time.time(); this is the
        # same request with a JWT issued by our clock (see app_jwt).
        answer = await self.app_client().post(
            f"/app/installations/{installation_id}/access_tokens", data=b""
        )
        token = str(answer["token"])
        register_secret(token)
        expires_at = _expiry(answer.get("expires_at"), now)
        log.info(
            "installation token issued",
            extra={"installation_id": installation_id, "expires_at": answer.get("expires_at")},
        )
        client = GitHubClient(
            self._session,
            api_url=self.api_url,
            oauth_token=token,
            clock=self.clock,
            metrics=self.metrics,
            installation=str(installation_id),
        )
        return _CachedToken(token=token, refresh_at=expires_at - REFRESH_MARGIN, client=client)


def token_client_factory(
    session: aiohttp.ClientSession,
    *,
    token: str,
    api_url: str = "https://api.github.com",
    clock: Clock | None = None,
    metrics: Metrics | None = None,
) -> GitHubFactory:
    """For GITHUB_TOKEN deployments: every installation id gets the same plain-token client."""
    register_secret(token)
    client = GitHubClient(
        session, api_url=api_url, oauth_token=token, clock=clock, metrics=metrics
    )

    async def github_for_installation(installation_id: int) -> GitHubClient:
        return client

    return github_for_installation
