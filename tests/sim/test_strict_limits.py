"""The secondary rate limit on content-creating requests (switched on per test, on the
simulator's clock), and App JWTs that live at most 10 minutes."""

from __future__ import annotations

import jwt

from app.clock import ManualClock
from sim.github.rate_limits import SecondaryLimit
from sim.github.repo import SimRepo
from sim.github.server import GitHubSim
from tests.sim.conftest import Api


async def test_content_creation_is_limited_to_80_a_minute_with_retry_after(
    api: Api, sim: GitHubSim, repo: SimRepo, clock: ManualClock
) -> None:
    number = repo.create_issue_as("Busy")
    path = f"/repos/octo/widgets/issues/{number}/comments"
    for n in range(80):
        assert (await api.post(path, {"body": f"comment {n}"})).status == 201
        clock.advance(0.5)
    assert (await api.post(path, {"body": "one more"})).status == 201  # no limit by default

    sim.secondary_limit = SecondaryLimit()
    for n in range(80):
        assert (await api.post(path, {"body": f"limited {n}"})).status == 201
    refused = await api.post(path, {"body": "too fast"})
    assert refused.status == 403
    assert refused.body["message"].startswith("You have exceeded a secondary rate limit.")
    assert refused.headers["retry-after"] == "60"
    assert (await api.get(path)).status == 200  # reads are not content creation
    assert len(repo.issue(number)["comments_list"]) == 81 + 80
    clock.advance(60)
    assert (await api.post(path, {"body": "after waiting"})).status == 201


async def test_the_secondary_limit_may_answer_429(
    api: Api, sim: GitHubSim, repo: SimRepo
) -> None:
    sim.secondary_limit = SecondaryLimit(per_minute=1, status=429)
    assert (await api.post("/repos/octo/widgets/labels", {"name": "a"})).status == 201
    refused = await api.post("/repos/octo/widgets/labels", {"name": "b"})
    assert refused.status == 429 and int(refused.headers["retry-after"]) > 0


async def test_an_app_jwt_may_live_at_most_ten_minutes(
    api: Api, sim: GitHubSim, clock: ManualClock
) -> None:
    now = int(clock.now())

    def signed(exp: int) -> str:
        token = jwt.encode({"iat": now - 60, "exp": exp, "iss": str(sim.app_id)},
                           sim.app_private_key, algorithm="RS256")
        return f"Bearer {token}"

    assert (await api.get("/app", raw_auth=signed(now + 600))).status == 200
    too_long = await api.get("/app", raw_auth=signed(now + 660))
    assert too_long.status == 401
    assert "too far in the future" in too_long.body["message"]
