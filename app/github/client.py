"""The GitHub API client every part of the app uses (gidgethub over one aiohttp session).

gidgethub does no retrying of its own. This client adds bounded retries through
gidgethub 6's `handle_rate_limit_error` hook (REST) and around the transport
(connection errors, GraphQL), sleeping through an injectable Clock so tests
never wait.

Which failures are retried, and why POST is treated differently:
- 429, and 403 "secondary rate limit" (with or without Retry-After): GitHub refused
  the request before doing anything, so every method, POST included, is safe to
  repeat. We honour Retry-After when it is within `max_wait`.
- 403 with x-ratelimit-remaining: 0 (`RateLimitExceeded`): the primary quota is
  spent; wait until x-ratelimit-reset if that is within `max_wait`, else give up
  (waiting longer would hold a worker and every later event of that repository).
- 5xx and connection drops after the request was sent: the request may have been
  applied. GitHub's creates can half-succeed (a 502 after the comment was posted),
  so repeating a POST could post twice. Only GET/HEAD/PUT/PATCH/DELETE are retried
  there: they name their target, so doing them twice leaves the same state.
  A POST that fails this way surfaces to the handler, whose next run (redelivery
  or reconciler) re-reads state and finds what did or did not happen.
- A connection that could not be opened at all: nothing was sent, so any method.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import unquote, urlsplit

import aiohttp
import jwt
from gidgethub import (
    BadRequest,
    GitHubBroken,
    GraphQLException,
    HTTPException,
    RateLimitExceeded,
)
from gidgethub.aiohttp import GitHubAPI

from app.clock import Clock, SystemClock
from app.metrics import Metrics

USER_AGENT = "buildsheriff"
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "PATCH", "DELETE", "OPTIONS"})
DEFAULT_MAX_ATTEMPTS = 4
DEFAULT_MAX_WAIT = 60.0
BACKOFF_BASE = 1.0
JWT_CLOCK_SKEW = 60
JWT_LIFETIME = 9 * 60
JWT_REFRESH_AFTER = 7 * 60
# GitHub's advice for a secondary limit without Retry-After: wait at least a minute.
SECONDARY_LIMIT_WAIT = 60.0

log = logging.getLogger(__name__)

# The status and headers of the last raw response in this task: gidgethub's GraphQL
# errors carry no headers (and a proxy's HTML 502 becomes a content-type error), but
# deciding whether to retry a GraphQL call needs both.
_last_response: contextvars.ContextVar[tuple[int, Mapping[str, str]] | None] = (
    contextvars.ContextVar("buildsheriff_last_response", default=None)
)


def app_jwt(*, app_id: str, private_key: str | bytes, now: float) -> str:
    """A GitHub App JWT as gidgethub.apps.get_jwt makes it, but issued at `now`.

    The issue time is backdated for clock drift; `iss` is a string (PyJWT >= 2.10
    refuses an int); GitHub accepts at most 10 minutes of life.
    """
    issued_at = int(now) - JWT_CLOCK_SKEW
    payload = {"iat": issued_at, "exp": issued_at + JWT_LIFETIME, "iss": str(app_id)}
    return jwt.encode(payload, private_key, algorithm="RS256")


def graphql_endpoint(api_url: str) -> str:
    """github.com serves GraphQL at /graphql; GitHub Enterprise Server at /api/graphql."""
    base = api_url.rstrip("/")
    if base.endswith("/api/v3"):
        return base[: -len("/v3")] + "/graphql"
    return base + "/graphql"


def web_url(api_url: str) -> str:
    """Where people look: https://github.com for api.github.com, https://HOST for GHES."""
    base = api_url.rstrip("/")
    if base == "https://api.github.com":
        return "https://github.com"
    if base.endswith("/api/v3"):
        return base[: -len("/api/v3")]
    return base


def _retry_after(headers: Mapping[str, str], now: float) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date)."""
    value = headers.get("retry-after")
    if value is None:
        return None
    value = value.strip()
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        return max(parsedate_to_datetime(value).timestamp() - now, 0.0)
    except (TypeError, ValueError):
        return None


def refuse_dot_segments(url: str) -> None:
    """A `.` or `..` segment (quoted or not) would make another endpoint of a path built
    from a payload (`/repos/a/b/commits/../../../app`); such a request is never sent."""
    for segment in urlsplit(url).path.split("/"):
        if unquote(segment) in (".", ".."):
            raise ValueError(f"refusing a GitHub path with a dot segment: {url!r}")


def _is_secondary_limit(exc: HTTPException) -> bool:
    if exc.status_code == 429:
        return True
    if exc.status_code != 403 or isinstance(exc, RateLimitExceeded):
        return False
    if "retry-after" in exc.headers:
        return True
    message = str(exc).lower()
    return "secondary rate limit" in message or "abuse" in message


class GitHubClient(GitHubAPI):
    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        api_url: str = "https://api.github.com",
        oauth_token: str | None = None,
        clock: Clock | None = None,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        max_wait: float = DEFAULT_MAX_WAIT,
        metrics: Metrics | None = None,
        installation: str = "",
        **kwargs: Any,
    ) -> None:
        super().__init__(
            session, USER_AGENT, oauth_token=oauth_token, base_url=api_url.rstrip("/"), **kwargs
        )
        self.api_url = api_url.rstrip("/")
        self.graphql_url = graphql_endpoint(self.api_url)
        self.clock: Clock = clock or SystemClock()
        self.max_attempts = max(1, max_attempts)
        self.max_wait = max_wait
        self.metrics = metrics
        # whose rate limit this client spends: an installation id, "app" (JWT) or "token"
        self.installation = installation or ("app" if kwargs.get("app_id") else "token")

    def __repr__(self) -> str:
        # gidgethub keeps the token on the instance; a repr must never show it.
        return f"<GitHubClient {self.api_url}>"

    async def sleep(self, seconds: float) -> None:
        await self.clock.sleep(seconds)

    def _get_app_jwt(self) -> str | None:
        """gidgethub's own App JWT reads time.time(); ours reads the injected clock.

        So a sim (or a test) whose clock is not the wall clock sees a JWT issued "now".
        """
        if self.app_id is None or self.private_key is None:
            return None
        now = self.clock.now()
        if self._app_jwt is None or now >= self._app_jwt_refresh_at:
            self._app_jwt = app_jwt(app_id=self.app_id, private_key=self.private_key, now=now)
            self._app_jwt_refresh_at = now + JWT_REFRESH_AFTER
        return self._app_jwt

    def _backoff(self, attempt: int) -> float:
        return BACKOFF_BASE * 2 ** (attempt - 1)

    def _wait_for(self, exc: HTTPException, method: str, attempt: int) -> float | None:
        """Seconds to sleep before retrying after `exc`, or None to give up."""
        if isinstance(exc, RateLimitExceeded):
            reset = exc.rate_limit.reset_datetime.timestamp()
            wait = max(reset - self.clock.now(), 0.0) + 1.0  # +1: reset is whole seconds
            return wait if wait <= self.max_wait else None
        if isinstance(exc, BadRequest) and _is_secondary_limit(exc):
            retry_after = _retry_after(exc.headers, self.clock.now())
            wait = retry_after if retry_after is not None else SECONDARY_LIMIT_WAIT
            return wait if wait <= self.max_wait else None
        if isinstance(exc, GitHubBroken) and method in IDEMPOTENT_METHODS:
            return self._backoff(attempt)
        return None

    async def handle_rate_limit_error(
        self, *, method: str, url: str, exception: HTTPException, attempt: int
    ) -> bool:
        wait = self._wait_for(exception, method, attempt)
        if wait is None:
            if isinstance(exception, BadRequest) and (
                isinstance(exception, RateLimitExceeded) or _is_secondary_limit(exception)
            ):
                # The wait exceeds max_wait: holding this repository's worker that long
                # would stall its later events; the caller sees the error now instead.
                log.warning(
                    "GitHub rate limit: giving up",
                    extra={"method": method, "url": url, "status": int(exception.status_code),
                           "max_wait_s": self.max_wait},
                )
            return False
        if attempt >= self.max_attempts:
            log.warning(
                "GitHub request failed; giving up",
                extra={"method": method, "url": url, "status": int(exception.status_code),
                       "attempts": attempt},
            )
            return False
        log.info(
            "GitHub request failed; retrying",
            extra={"method": method, "url": url, "status": int(exception.status_code),
                   "attempt": attempt, "wait_s": round(wait, 3)},
        )
        await self.sleep(wait)
        return True

    async def _make_request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        # Before gidgethub's urljoin, which would resolve the dot segments away.
        refuse_dot_segments(url)
        return await super()._make_request(method, url, *args, **kwargs)

    async def _request(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes = b""
    ) -> tuple[int, Mapping[str, str], bytes]:
        refuse_dot_segments(url)
        attempt = 0
        while True:
            attempt += 1
            started = self.metrics.timer() if self.metrics else 0.0
            try:
                status, response_headers, data = await super()._request(
                    method, url, headers, body
                )
            except (aiohttp.ClientConnectionError, TimeoutError) as exc:
                self._measure(url, "error", started, {})
                # A refused connection sent nothing; other drops may follow a sent request.
                sent_nothing = isinstance(exc, aiohttp.ClientConnectorError)
                if not (sent_nothing or method in IDEMPOTENT_METHODS):
                    raise
                if attempt >= self.max_attempts:
                    log.warning(
                        "GitHub unreachable; giving up",
                        extra={"method": method, "url": url, "attempts": attempt,
                               "error": type(exc).__name__},
                    )
                    raise
                wait = self._backoff(attempt)
                log.info(
                    "GitHub unreachable; retrying",
                    extra={"method": method, "url": url, "attempt": attempt,
                           "error": type(exc).__name__, "wait_s": wait},
                )
                await self.sleep(wait)
                continue
            _last_response.set((status, response_headers))
            self._measure(url, status, started, response_headers)
            return status, response_headers, data

    def _measure(
        self, url: str, status: int | str, started: float, headers: Mapping[str, str]
    ) -> None:
        if self.metrics is None:
            return
        path = url.removeprefix(self.api_url) if url.startswith(self.api_url) else url
        if url == self.graphql_url:
            path = "/graphql"
        seconds = self.metrics.timer() - started
        self.metrics.github_answer(path, status, seconds, headers, self.installation)

    async def graphql(self, query: str, *, endpoint: str | None = None, **variables: Any) -> Any:
        """gidgethub's graphql() bypasses the retry hook: the same policy is applied here.

        A query is a read (retried on 5xx); a mutation is a POST that may have been
        applied, so it is retried only when GitHub said "rate limited".
        """
        is_mutation = query.lstrip().startswith("mutation")
        attempt = 0
        while True:
            attempt += 1
            _last_response.set(None)
            try:
                return await super().graphql(
                    query, endpoint=endpoint or self.graphql_url, **variables
                )
            except (GitHubBroken, GraphQLException):
                last = _last_response.get()
                if last is None:
                    raise
                status, headers = last
                wait = self._graphql_wait(status, headers, is_mutation, attempt)
                if wait is None or attempt >= self.max_attempts:
                    raise
                log.info(
                    "GitHub GraphQL failed; retrying",
                    extra={"status": status, "attempt": attempt, "wait_s": round(wait, 3)},
                )
                await self.sleep(wait)

    def _graphql_wait(
        self, status: int, headers: Mapping[str, str], is_mutation: bool, attempt: int
    ) -> float | None:
        if status >= 500:
            return None if is_mutation else self._backoff(attempt)
        if status == 403 and headers.get("x-ratelimit-remaining") == "0":
            try:
                reset = float(headers["x-ratelimit-reset"])
            except (KeyError, ValueError):
                return None
            wait = max(reset - self.clock.now(), 0.0) + 1.0
            return wait if wait <= self.max_wait else None
        if status == 429 or (status == 403 and "retry-after" in headers):
            retry_after = _retry_after(headers, self.clock.now())
            wait = retry_after if retry_after is not None else SECONDARY_LIMIT_WAIT
            return wait if wait <= self.max_wait else None
        return None
