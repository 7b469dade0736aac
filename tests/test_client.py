"""The API client's retries: what is retried, how long it waits (on a fake clock), and the bound.

Most cases use a scripted HTTP server on 127.0.0.1 that answers the next canned
response, so each header GitHub may send can be shown exactly.
"""

from __future__ import annotations

import json
import logging
import socket
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from gidgethub import BadRequest, GitHubBroken, QueryError, RateLimitExceeded

from app.clock import ManualClock
from app.github.client import GitHubClient, graphql_endpoint, guarded_mutation
from sim.github.server import GitHubSim


@dataclass
class Scripted:
    """Answers each request with the next scripted (status, headers, body); then 200 {}."""

    url: str = ""
    script: deque[tuple[int, dict[str, str], Any]] = field(default_factory=deque)
    requests: list[tuple[str, str]] = field(default_factory=list)

    def then(self, status: int, body: Any = None, **headers: str) -> Scripted:
        fixed = {k.replace("_", "-"): v for k, v in headers.items()}
        self.script.append((status, fixed, body if body is not None else {"message": "x"}))
        return self

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append((request.method, request.path))
        status, headers, body = self.script.popleft() if self.script else (200, {}, {"ok": 1})
        return web.json_response(body, status=status, headers=headers)


@pytest.fixture
async def scripted() -> AsyncIterator[Scripted]:
    server = Scripted()
    application = web.Application()
    application.router.add_route("*", "/{tail:.*}", server.handle)
    runner = web.AppRunner(application, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    server.url = f"http://{host}:{port}"
    yield server
    await runner.cleanup()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


def backed_off(slept: list[float], *ceilings: float) -> bool:
    """Exponential back-off with jitter: each wait between half and all of its ceiling."""
    pairs = zip(slept, ceilings, strict=False)
    return len(slept) == len(ceilings) and all(c / 2 <= s <= c for s, c in pairs)


def honoured(slept: list[float], *asked: float) -> bool:
    """A wait the server asked for, plus at most 10 % of jitter."""
    pairs = zip(slept, asked, strict=False)
    return len(slept) == len(asked) and all(a <= s <= a * 1.1 for s, a in pairs)


def client(session: aiohttp.ClientSession, url: str, clock: ManualClock) -> GitHubClient:
    return GitHubClient(session, api_url=url, oauth_token="t" * 40, clock=clock)


def test_graphql_endpoint_for_github_and_ghes() -> None:
    assert graphql_endpoint("https://api.github.com") == "https://api.github.com/graphql"
    assert graphql_endpoint("https://ghe.example/api/v3") == "https://ghe.example/api/graphql"
    assert graphql_endpoint("https://ghe.example/api/v3/") == "https://ghe.example/api/graphql"


async def test_get_is_retried_on_5xx_with_exponential_backoff(
    scripted: Scripted, session: aiohttp.ClientSession
) -> None:
    clock = ManualClock()
    scripted.then(502).then(503)
    gh = client(session, scripted.url, clock)
    assert await gh.getitem("/repos/o/r") == {"ok": 1}
    assert backed_off(clock.slept, 1.0, 2.0)
    assert len(scripted.requests) == 3


async def test_retries_are_bounded(scripted: Scripted, session: aiohttp.ClientSession) -> None:
    clock = ManualClock()
    for _ in range(10):
        scripted.then(500)
    gh = client(session, scripted.url, clock)
    with pytest.raises(GitHubBroken):
        await gh.getitem("/repos/o/r")
    assert len(scripted.requests) == 4
    assert backed_off(clock.slept, 1.0, 2.0, 4.0)


async def test_post_is_not_repeated_after_a_5xx(
    scripted: Scripted, session: aiohttp.ClientSession
) -> None:
    # The comment may have been created before the 502: posting again could post it twice.
    scripted.then(502)
    gh = client(session, scripted.url, ManualClock())
    with pytest.raises(GitHubBroken):
        await gh.post("/repos/o/r/issues/1/comments", data={"body": "hi"})
    assert scripted.requests == [("POST", "/repos/o/r/issues/1/comments")]


@pytest.mark.parametrize(
    "path",
    ["/repos/o/r/git/refs", "/repos/o/r/pulls", "/repos/o/r/git/trees",
     "/repos/o/r/issues/1/labels", "/repos/o/r/issues/comments/5/reactions"],
)
async def test_a_guarded_post_is_repeated_after_a_5xx(
    scripted: Scripted, session: aiohttp.ClientSession, path: str
) -> None:
    # Deterministic names (422 "already exists" continues), content-addressed objects and
    # sets: a second try cannot make the thing twice.
    clock = ManualClock()
    scripted.then(502)
    gh = client(session, scripted.url, clock)
    assert await gh.post(path, data={"x": 1}) == {"ok": 1}
    assert scripted.requests == [("POST", path), ("POST", path)]
    assert backed_off(clock.slept, 1.0)


async def test_requests_slow_down_as_the_rate_limit_nears_zero(
    scripted: Scripted, session: aiohttp.ClientSession
) -> None:
    clock = ManualClock()
    reset = int(clock.now()) + 600

    def limited(remaining: int) -> None:
        scripted.then(200, {"ok": 1}, x_ratelimit_limit="5000",
                      x_ratelimit_remaining=str(remaining), x_ratelimit_reset=str(reset),
                      x_ratelimit_resource="core")

    limited(4000)  # plenty left: no wait
    limited(100)   # under 10 %: the 100 left are spread over the 600 s to the reset
    limited(100)
    gh = client(session, scripted.url, clock)
    await gh.getitem("/repos/o/r")
    assert clock.slept == []
    await gh.getitem("/repos/o/r")
    assert clock.slept == []  # this request learnt that 100 are left
    await gh.post("/repos/o/r/issues", data={"title": "t"})  # writes too
    assert clock.slept == [pytest.approx(6.0)]
    # never failing at zero: at 0 left it waits for the reset (within max_wait)
    gh.limits["core"].remaining = 0
    gh.limits["core"].reset = clock.now() + 30
    await gh.getitem("/repos/o/r")
    assert clock.slept[-1] == pytest.approx(31.0)
    # a reset beyond max_wait is not waited for in part: the request goes (and, refused,
    # gives up at once), the worker is not held
    gh.limits["core"].remaining = 0
    gh.limits["core"].reset = clock.now() + 1800
    await gh.getitem("/repos/o/r")
    assert clock.slept[-1] == pytest.approx(31.0)


async def test_429_honours_retry_after_even_for_post(
    scripted: Scripted, session: aiohttp.ClientSession
) -> None:
    clock = ManualClock()
    scripted.then(429, retry_after="7")
    gh = client(session, scripted.url, clock)
    assert await gh.post("/repos/o/r/issues", data={"title": "t"}) == {"ok": 1}
    assert honoured(clock.slept, 7.0)
    assert len(scripted.requests) == 2


async def test_secondary_rate_limit_403_waits_retry_after(
    scripted: Scripted, session: aiohttp.ClientSession
) -> None:
    clock = ManualClock()
    scripted.then(403, {"message": "You have exceeded a secondary rate limit."}, retry_after="3")
    gh = client(session, scripted.url, clock)
    assert await gh.getitem("/repos/o/r") == {"ok": 1}
    assert honoured(clock.slept, 3.0)


async def test_retry_after_beyond_the_bound_gives_up_at_once(
    scripted: Scripted, session: aiohttp.ClientSession
) -> None:
    clock = ManualClock()
    scripted.then(429, retry_after="3600")
    gh = client(session, scripted.url, clock)
    with pytest.raises(BadRequest):
        await gh.getitem("/repos/o/r")
    assert clock.slept == [] and len(scripted.requests) == 1


async def test_primary_rate_limit_waits_for_a_near_reset(
    scripted: Scripted, session: aiohttp.ClientSession
) -> None:
    clock = ManualClock()
    reset = int(clock.now()) + 20
    scripted.then(
        403,
        x_ratelimit_limit="5000",
        x_ratelimit_remaining="0",
        x_ratelimit_reset=str(reset),
    )
    gh = client(session, scripted.url, clock)
    assert await gh.getitem("/repos/o/r") == {"ok": 1}
    assert honoured(clock.slept, 21.0)


async def test_primary_rate_limit_with_a_far_reset_gives_up_and_logs(
    scripted: Scripted, session: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    clock = ManualClock()
    scripted.then(
        403,
        x_ratelimit_limit="5000",
        x_ratelimit_remaining="0",
        x_ratelimit_reset=str(int(clock.now()) + 1800),
    )
    gh = client(session, scripted.url, clock)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(RateLimitExceeded):
        await gh.getitem("/repos/o/r")
    assert clock.slept == []
    assert any("giving up" in r.getMessage() for r in caplog.records)


async def test_plain_4xx_is_not_retried(scripted: Scripted, session: aiohttp.ClientSession) -> None:
    scripted.then(404, {"message": "Not Found"})
    gh = client(session, scripted.url, ManualClock())
    with pytest.raises(BadRequest):
        await gh.getitem("/repos/o/r")
    assert len(scripted.requests) == 1


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_refused_connection_is_retried_then_raised(session: aiohttp.ClientSession) -> None:
    clock = ManualClock()
    gh = client(session, f"http://127.0.0.1:{_closed_port()}", clock)
    with pytest.raises(aiohttp.ClientConnectionError):
        await gh.post("/repos/o/r/issues", data={"title": "t"})
    assert backed_off(clock.slept, 1.0, 2.0, 4.0)


async def test_graphql_query_is_retried_on_5xx_but_a_mutation_is_not(
    scripted: Scripted, session: aiohttp.ClientSession
) -> None:
    clock = ManualClock()
    gh = client(session, scripted.url, clock)
    scripted.then(502, {"message": "bad gateway"})
    scripted.script.append((200, {}, {"data": {"viewer": {"login": "me"}}}))
    assert await gh.graphql("query { viewer { login } }") == {"viewer": {"login": "me"}}
    assert scripted.requests == [("POST", "/graphql"), ("POST", "/graphql")]

    scripted.requests.clear()
    scripted.then(502, {"message": "bad gateway"})
    with pytest.raises(GitHubBroken):
        await gh.graphql("mutation { enablePullRequestAutoMerge(input: {}) { clientMutationId } }")
    assert scripted.requests == [("POST", "/graphql")]


async def test_graphql_rate_limit_honours_retry_after(
    scripted: Scripted, session: aiohttp.ClientSession
) -> None:
    clock = ManualClock()
    gh = client(session, scripted.url, clock)
    scripted.then(403, {"message": "secondary rate limit"}, retry_after="5")
    scripted.script.append((200, {}, {"data": {"ok": True}}))
    assert await gh.graphql("mutation { x }") == {"ok": True}
    assert honoured(clock.slept, 5.0)


def rate_limited(scripted: Scripted, clock: ManualClock, reset_in: float) -> float:
    """GitHub's answer to a GraphQL request over its budget: 200, RATE_LIMITED, no data.
    Returns the wait due: to the reset (whole seconds, as GitHub says it), plus one."""
    reset = int(clock.now() + reset_in)
    scripted.then(
        200,
        {"errors": [{"type": "RATE_LIMITED", "message": "API rate limit exceeded for user."}]},
        x_ratelimit_limit="5000", x_ratelimit_remaining="0", x_ratelimit_used="5000",
        x_ratelimit_reset=str(reset), x_ratelimit_resource="graphql",
    )
    return reset - clock.now() + 1.0


ENABLE = """
mutation($id: ID!) {
  enablePullRequestAutoMerge(input: {pullRequestId: $id, mergeMethod: MERGE}) {
    pullRequest { number }
  }
}
"""


async def test_graphql_rate_limited_query_and_guarded_mutation_wait_for_the_reset(
    scripted: Scripted, session: aiohttp.ClientSession
) -> None:
    clock = ManualClock()
    gh = client(session, scripted.url, clock)
    due = rate_limited(scripted, clock, 20)
    scripted.script.append((200, {}, {"data": {"viewer": {"login": "me"}}}))
    assert await gh.graphql("query { viewer { login } }") == {"viewer": {"login": "me"}}
    assert len(scripted.requests) == 2 and honoured(clock.slept, due)

    scripted.requests.clear()
    clock.slept.clear()
    due = rate_limited(scripted, clock, 5)
    scripted.script.append((200, {}, {"data": {"enablePullRequestAutoMerge": None}}))
    assert await gh.graphql(ENABLE, id="PR_1") == {"enablePullRequestAutoMerge": None}
    assert len(scripted.requests) == 2 and honoured(clock.slept, due)


async def test_graphql_rate_limited_far_reset_or_unguarded_mutation_gives_up_at_once(
    scripted: Scripted, session: aiohttp.ClientSession
) -> None:
    clock = ManualClock()
    gh = client(session, scripted.url, clock)
    rate_limited(scripted, clock, 1800)  # beyond max_wait: the reconciler finds it later
    with pytest.raises(QueryError):
        await gh.graphql("query { viewer { login } }")
    assert len(scripted.requests) == 1 and clock.slept == []

    scripted.requests.clear()
    gh = client(session, scripted.url, clock)  # one that has not yet seen the budget spent
    rate_limited(scripted, clock, 5)
    with pytest.raises(QueryError):
        await gh.graphql(
            'mutation { addComment(input: {subjectId: "I_1", body: "x"}) { clientMutationId } }')
    assert len(scripted.requests) == 1 and clock.slept == []


def test_guarded_mutations_are_told_by_their_top_level_fields() -> None:
    from app.revert.land import DEQUEUE, DISABLE_AUTO_MERGE, ENABLE_AUTO_MERGE, ENQUEUE

    for document in (ENABLE_AUTO_MERGE, DISABLE_AUTO_MERGE, ENQUEUE, DEQUEUE):
        assert guarded_mutation(document), document
    assert not guarded_mutation(
        'mutation { a: enablePullRequestAutoMerge(input: {pullRequestId: "}"}) { clientMutationId }'
        ' b: mergePullRequest(input: {pullRequestId: "x"}) { clientMutationId } }')
    assert not guarded_mutation("mutation { addComment(input: {}) { clientMutationId } }")


async def test_client_repr_hides_the_token(session: aiohttp.ClientSession) -> None:
    gh = GitHubClient(session, api_url="http://127.0.0.1:9", oauth_token="ghs_" + "z" * 36)
    assert "zzzz" not in repr(gh)
    assert json.dumps({"gh": repr(gh)})


@pytest.fixture
async def sim(tmp_path: Path) -> AsyncIterator[GitHubSim]:
    github = GitHubSim(tmp_path / "github")
    await github.start()
    github.create_repo("octo/widgets")
    yield github
    await github.close()


def sim_client(sim: GitHubSim, session: aiohttp.ClientSession, clock: ManualClock) -> GitHubClient:
    return GitHubClient(
        session, api_url=sim.url, oauth_token=sim.create_token("octocat"), clock=clock
    )


async def test_sim_502_then_200_succeeds(sim: GitHubSim, session: aiohttp.ClientSession) -> None:
    clock = ManualClock()
    sim.inject("GET", "/repos/{owner}/{repo}", status=502)
    repo = await sim_client(sim, session, clock).getitem("/repos/octo/widgets")
    assert repo["full_name"] == "octo/widgets"
    assert [status for _, _, status in sim.call_log] == [502, 200]
    assert backed_off(clock.slept, 1.0)


async def test_sim_429_retry_after_is_honoured_on_the_fake_clock(
    sim: GitHubSim, session: aiohttp.ClientSession
) -> None:
    clock = ManualClock()
    start = clock.now()
    sim.inject("POST", "/repos/{owner}/{repo}/issues", status=429, headers={"Retry-After": "30"})
    issue = await sim_client(sim, session, clock).post(
        "/repos/octo/widgets/issues", data={"title": "Build is red"}
    )
    assert issue["title"] == "Build is red"
    assert 30.0 <= clock.now() - start <= 33.0  # Retry-After, plus at most 10 % jitter
    # One issue exists: the refused attempt created nothing.
    titles = [
        i["title"]
        async for i in sim_client(sim, session, clock).getiter("/repos/octo/widgets/issues")
    ]
    assert titles == ["Build is red"]


async def test_sim_retry_bound_is_respected(sim: GitHubSim, session: aiohttp.ClientSession) -> None:
    sim.inject("GET", "/repos/{owner}/{repo}", status=503, times=10)
    with pytest.raises(GitHubBroken):
        await sim_client(sim, session, ManualClock()).getitem("/repos/octo/widgets")
    assert [status for _, _, status in sim.call_log] == [503] * 4


def test_web_url_for_github_com_and_ghes() -> None:
    from app.github.client import web_url

    assert web_url("https://api.github.com") == "https://github.com"
    assert web_url("https://ghe.example.com/api/v3/") == "https://ghe.example.com"
