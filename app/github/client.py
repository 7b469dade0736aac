"""The GitHub API client every part of the app uses (gidgethub over one aiohttp session).

gidgethub does no retrying of its own. Every request (REST and GraphQL) goes through the
app's one retry policy (app.retry, on tenacity), waiting on the injectable Clock:

- 429, and 403 "secondary rate limit": GitHub refused before doing anything, so every
  method, POST included, is repeated after Retry-After (a minute when it is absent, as
  GitHub advises), if that is within `max_wait`; else the error is raised at once.
- 403 with x-ratelimit-remaining: 0 (`RateLimitExceeded`): the same, until x-ratelimit-reset.
- A connection that could not be opened: nothing was sent, so any method is repeated.
- 5xx and connections dropped after the request was sent: the request may have been
  applied. Repeated (exponential back-off with jitter) for GET/HEAD/PUT/PATCH/DELETE,
  which name their target, and for the POSTs that are guarded (`GUARDED_POSTS`: a second
  try finds what the first did, or adds nothing). Every other POST (a new issue, a comment,
  a check run, a deployment, a re-run, a GraphQL mutation) is raised to the handler, whose
  next run (the next event, the reconciler) re-reads GitHub and finds what did or did not
  happen.

GraphQL's own rate limit answers HTTP 200 with `errors[].type == "RATE_LIMITED"` and no
data: nothing was done. A query, and a mutation named in `GUARDED_MUTATIONS` (one whose
repeat sets the same state), waits for x-ratelimit-reset (or Retry-After) like a REST rate
limit, within `max_wait`; beyond it, or for any other mutation, the error is raised and the
next event or the reconciler finds the step still due.

Slowing down before the limit: each answer's x-ratelimit-* headers are kept per resource
(core, search, graphql); once fewer than 10 % of a resource's requests are left, every
request first waits its share of the time to the reset (time left / requests left, at most
`max_wait`), so the requests left last until the reset instead of failing at zero. With none
left, a request waits for a reset within `max_wait`, and does not wait for a later one.
"""

from __future__ import annotations

import contextvars
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
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
    QueryError,
    RateLimitExceeded,
)
from gidgethub.aiohttp import GitHubAPI

from app import retry
from app.clock import Clock, SystemClock
from app.metrics import Metrics

USER_AGENT = "buildsheriff"
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "PATCH", "DELETE", "OPTIONS"})
# POSTs a second try cannot make twice: what a 5xx or a dropped connection may have applied
# is found, or added to nothing, by trying again.
_REPO = r"/repos/[^/]+/[^/]+"
GUARDED_POSTS = tuple(
    re.compile(pattern + "\n")  # the end of the path
    for pattern in (
        # git objects are content-addressed: the same blob or tree again is the same object;
        # a commit made twice leaves one unreferenced object
        _REPO + r"/git/(blobs|trees|commits)",
        # deterministic branch names: a second try answers 422 "Reference already exists",
        # which the revert and bisection take as "continue"
        _REPO + r"/git/refs",
        # 422 "A pull request already exists": the revert continues that PR
        _REPO + r"/pulls",
        # 422 already_exists: the label is there
        _REPO + r"/labels",
        # sets: adding the same label, assignee, reviewer or reaction twice adds it once
        _REPO + r"/issues/\d+/(labels|assignees)",
        _REPO + r"/pulls/\d+/requested_reviewers",
        _REPO + r"/(issues/comments|comments|issues|pulls/comments)/\d+/reactions",
        _REPO + r"/issues/\d+/reactions",
        # a second token is as good as the first
        r"/app/installations/\d+/access_tokens",
        # a second redelivery arrives with the same delivery id and is dropped as processed
        r"/app/hook/deliveries/\d+/attempts",
    )
)
# GraphQL mutations whose repeat sets the state the first try would have: taking the PR's
# node id (and, to enqueue, its expected head), they switch auto-merge or the queue entry
# on or off. Repeated after a RATE_LIMITED answer (see the module docstring).
GUARDED_MUTATIONS = frozenset({
    "enablePullRequestAutoMerge",
    "disablePullRequestAutoMerge",
    "enqueuePullRequest",
    "dequeuePullRequest",
})
DEFAULT_MAX_ATTEMPTS = 4
DEFAULT_MAX_WAIT = 60.0
BACKOFF_BASE = 1.0
# Below this share of a resource's requests left, requests are spread until the reset.
SLOW_BELOW = 0.10
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


def guarded_post(url: str) -> bool:
    """A POST that may be repeated after it may have been applied (see GUARDED_POSTS)."""
    path = urlsplit(url).path
    return any(pattern.search(path + "\n") for pattern in GUARDED_POSTS)


def top_level_fields(document: str) -> list[str]:
    """The fields of a GraphQL operation's outermost selection (aliases and arguments
    skipped): what a mutation does."""
    fields: list[str] = []
    depth = parens = 0
    for token in re.findall(r'"(?:[^"\\]|\\.)*"|[A-Za-z_][A-Za-z0-9_]*|[{}():]', document):
        if token == "(":
            parens += 1
        elif token == ")":
            parens -= 1
        elif token == "{" and not parens:
            depth += 1
        elif token == "}" and not parens:
            depth -= 1
        elif depth == 1 and not parens and token[0] != '"':
            if token == ":" and fields:
                fields.pop()  # an alias: the field's name comes next
            elif token != ":":
                fields.append(token)
    return fields


def guarded_mutation(query: str) -> bool:
    """A GraphQL mutation whose every field is in GUARDED_MUTATIONS."""
    fields = top_level_fields(query)
    return bool(fields) and set(fields) <= GUARDED_MUTATIONS


def _rate_limited(exc: BaseException) -> bool:
    """GraphQL's rate limit: HTTP 200, errors[].type RATE_LIMITED, and no data (nothing done)."""
    if not isinstance(exc, QueryError) or not isinstance(exc.response, dict):
        return False
    if any(value is not None for value in (exc.response.get("data") or {}).values()):
        return False
    errors = exc.response.get("errors") or []
    return any(isinstance(e, dict) and e.get("type") == "RATE_LIMITED" for e in errors)


@dataclass
class _Limit:
    """One rate-limit resource as GitHub last told it (x-ratelimit-*)."""

    limit: int
    remaining: int
    reset: float


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
        self.policy = retry.Policy(
            attempts=max(1, max_attempts), base=BACKOFF_BASE, cap=max_wait, max_wait=max_wait
        )
        self.max_attempts = self.policy.attempts
        self.max_wait = max_wait
        self.metrics = metrics
        # whose rate limit this client spends: an installation id, "app" (JWT) or "token"
        self.installation = installation or ("app" if kwargs.get("app_id") else "token")
        self.limits: dict[str, _Limit] = {}

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

    # ------------------------------------------------------------------ retries

    def _classify(self, method: str, url: str, exc: BaseException) -> retry.Retry | None:
        """What a failed request means for trying it again (module docstring)."""
        repeatable = method in IDEMPOTENT_METHODS or (method == "POST" and guarded_post(url))
        if isinstance(exc, RateLimitExceeded):
            reset = exc.rate_limit.reset_datetime.timestamp()
            # +1: the reset is in whole seconds
            return retry.Retry("rate limit", after=max(reset - self.clock.now(), 0.0) + 1.0)
        if isinstance(exc, BadRequest) and _is_secondary_limit(exc):
            after = _retry_after(exc.headers, self.clock.now())
            return retry.Retry(
                f"secondary rate limit ({int(exc.status_code)})",
                after=after if after is not None else SECONDARY_LIMIT_WAIT,
            )
        if isinstance(exc, GitHubBroken):
            return retry.Retry(f"HTTP {int(exc.status_code)}") if repeatable else None
        if isinstance(exc, aiohttp.ClientConnectorError):
            return retry.Retry(type(exc).__name__)  # nothing was sent
        if isinstance(exc, aiohttp.ClientConnectionError | TimeoutError):
            return retry.Retry(type(exc).__name__) if repeatable else None
        return None

    async def _with_retries(
        self, method: str, url: str, fn: Callable[[], Awaitable[Any]],
        classify: retry.Classify | None = None,
    ) -> Any:
        return await retry.call(
            fn,
            policy=self.policy,
            clock=self.clock,
            classify=classify or (lambda exc: self._classify(method, url, exc)),
            what=f"GitHub {method}",
            log=log,
            fields={"method": method, "url": url},
        )

    async def _make_request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        # Before gidgethub's urljoin, which would resolve the dot segments away.
        refuse_dot_segments(url)
        parent = super()._make_request
        return await self._with_retries(
            method, url, lambda: parent(method, url, *args, **kwargs)
        )

    # ------------------------------------------------------------ rate limits

    def _resource(self, url: str) -> str:
        if url == self.graphql_url:
            return "graphql"
        path = url.removeprefix(self.api_url)
        return "search" if path.startswith("/search/") else "core"

    def _remember_limit(self, url: str, headers: Mapping[str, str]) -> None:
        try:
            limit = _Limit(
                int(headers["x-ratelimit-limit"]),
                int(headers["x-ratelimit-remaining"]),
                float(headers["x-ratelimit-reset"]),
            )
        except (KeyError, ValueError):
            return
        self.limits[headers.get("x-ratelimit-resource") or self._resource(url)] = limit

    def pace(self, url: str) -> float:
        """Seconds to wait before a request to `url` so that the resource's requests left
        last until its reset (0 while more than SLOW_BELOW of them are left)."""
        limit = self.limits.get(self._resource(url))
        if limit is None or limit.limit <= 0 or limit.remaining > limit.limit * SLOW_BELOW:
            return 0.0
        left = limit.reset - self.clock.now()
        if left <= 0:
            return 0.0  # a new window: the next answer says how many
        if limit.remaining <= 0:
            # spent: wait for the reset when it is near; when it is not, waiting part of the
            # way would only hold the worker before the same refusal (which gives up at once)
            return left + 1.0 if left + 1.0 <= self.max_wait else 0.0
        return min(left / limit.remaining, self.max_wait)

    async def manage_rate_limit(self, *, method: str, url: str) -> None:
        """gidgethub's hook before each REST request (GraphQL calls it from graphql())."""
        wait = self.pace(url)
        limit = self.limits.get(self._resource(url))
        if wait > 0:
            log.info(
                "GitHub rate limit nearly spent; slowing down",
                extra={"method": method, "url": url, "wait_s": round(wait, 3),
                       "remaining": limit.remaining if limit else None},
            )
            await self.sleep(wait)
        if limit is not None:
            limit.remaining -= 1  # this request spends one; the answer will say exactly

    # ------------------------------------------------------------------ transport

    async def _request(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes = b""
    ) -> tuple[int, Mapping[str, str], bytes]:
        refuse_dot_segments(url)
        started = self.metrics.timer() if self.metrics else 0.0
        try:
            status, response_headers, data = await super()._request(method, url, headers, body)
        except (aiohttp.ClientConnectionError, TimeoutError):
            self._measure(url, "error", started, {})
            raise
        _last_response.set((status, response_headers))
        self._remember_limit(url, response_headers)
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
        """gidgethub's graphql() calls neither hook: the same policy is applied here.

        A query is a read (retried on 5xx and dropped connections); a mutation is a POST
        that may have been applied, so it is repeated only when nothing was sent or GitHub
        said "rate limited" (an HTTP 429/403; a 200 RATE_LIMITED only for GUARDED_MUTATIONS).
        """
        url = endpoint or self.graphql_url
        is_mutation = query.lstrip().startswith("mutation")
        repeatable = not is_mutation or guarded_mutation(query)
        method = "POST" if is_mutation else "GET"  # how the policy sees it
        parent = super().graphql

        async def once() -> Any:
            await self.manage_rate_limit(method="POST", url=url)
            _last_response.set(None)
            return await parent(query, endpoint=url, **variables)

        def classify(exc: BaseException) -> retry.Retry | None:
            if _rate_limited(exc):
                last = _last_response.get()
                return self._graphql_rate_limited(last[1] if last else {}) if repeatable else None
            if isinstance(exc, GitHubBroken | GraphQLException):
                last = _last_response.get()
                return None if last is None else self._graphql_verdict(*last, is_mutation)
            return self._classify(method, url, exc)

        return await self._with_retries("POST", url, once, classify)

    def _graphql_verdict(
        self, status: int, headers: Mapping[str, str], is_mutation: bool
    ) -> retry.Retry | None:
        if status >= 500:
            return None if is_mutation else retry.Retry(f"HTTP {status}")
        if status == 403 and headers.get("x-ratelimit-remaining") == "0":
            try:
                reset = float(headers["x-ratelimit-reset"])
            except (KeyError, ValueError):
                return None
            return retry.Retry("rate limit", after=max(reset - self.clock.now(), 0.0) + 1.0)
        if status == 429 or (status == 403 and "retry-after" in headers):
            after = _retry_after(headers, self.clock.now())
            return retry.Retry(
                f"secondary rate limit ({status})",
                after=after if after is not None else SECONDARY_LIMIT_WAIT,
            )
        return None

    def _graphql_rate_limited(self, headers: Mapping[str, str]) -> retry.Retry:
        """A 200 RATE_LIMITED: until x-ratelimit-reset when the budget is spent, else what
        Retry-After says, else GitHub's advice for a secondary limit (a minute)."""
        if headers.get("x-ratelimit-remaining") == "0":
            try:
                reset = float(headers["x-ratelimit-reset"])
            except (KeyError, ValueError):
                pass
            else:
                return retry.Retry(
                    "GraphQL rate limited", after=max(reset - self.clock.now(), 0.0) + 1.0
                )
        after = _retry_after(headers, self.clock.now())
        return retry.Retry(
            "GraphQL rate limited", after=after if after is not None else SECONDARY_LIMIT_WAIT
        )
