"""The App webhook's delivery log in the simulator, per GitHub's OpenAPI description:
every attempt with its status, `cursor` pages newest first, redelivery by integer id."""

from __future__ import annotations

import json
from typing import Any

from app.clock import ManualClock
from sim.github.repo import SimRepo
from sim.github.server import GitHubSim
from tests.sim.conftest import Api, Receiver
from tests.sim.test_github_sim_git import app_jwt


def bearer(sim: GitHubSim, clock: ManualClock) -> str:
    return f"Bearer {app_jwt(sim, clock.now())}"


async def all_pages(api: Api, auth: str, path: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    url: str | None = path
    while url:
        answer = await api.get(url, raw_auth=auth)
        assert answer.status == 200, answer.body
        items += answer.body
        link = answer.headers.get("Link", "")
        url = None
        if 'rel="next"' in link:
            url = link.split(";")[0].strip("<>").removeprefix(api.sim.url)
    return items


async def test_attempts_are_logged_newest_first_and_paged_by_cursor(
    sim: GitHubSim, repo: SimRepo, api: Api, receiver: Receiver, clock: ManualClock
) -> None:
    sim.add_user("mona")
    for n in range(5):
        repo.commit({"n.txt": f"{n}\n"}, f"change {n}", author="mona")
        clock.advance(1)
    await sim.drain()
    auth = bearer(sim, clock)
    first = await api.get("/app/hook/deliveries?per_page=2", raw_auth=auth)
    assert first.status == 200 and len(first.body) == 2
    assert "cursor=" in first.headers["Link"] and 'rel="next"' in first.headers["Link"]
    items = await all_pages(api, auth, "/app/hook/deliveries?per_page=2")
    guids = [d["delivery_id"] for d in sim.deliveries if d["event"] == "push"]
    assert [i["guid"] for i in items] == guids[::-1]
    assert all(i["status"] == "OK" and i["status_code"] == 202 for i in items)
    assert all(isinstance(i["id"], int) and i["redelivery"] is False for i in items)
    assert sim.violations == []


async def test_a_failed_delivery_is_redelivered_by_its_integer_id_with_the_same_guid(
    sim: GitHubSim, repo: SimRepo, api: Api, receiver: Receiver, clock: ManualClock
) -> None:
    sim.webhook_url = receiver.url.replace("/webhooks", "/nowhere")  # the app answers 404
    sim.add_user("mona")
    repo.commit({"n.txt": "1\n"}, "change", author="mona")
    await sim.drain()
    sim.webhook_url = receiver.url
    auth = bearer(sim, clock)
    (failed,) = (await api.get("/app/hook/deliveries", raw_auth=auth)).body
    assert (failed["status"], failed["status_code"]) == ("Invalid HTTP Response: 404", 404)
    # The guid is not an id; an unknown id is 404.
    assert (await api.post(f"/app/hook/deliveries/{failed['guid']}/attempts",
                           raw_auth=auth)).status == 404
    assert (await api.post("/app/hook/deliveries/1/attempts", raw_auth=auth)).status == 404
    # An installation token cannot use it (JWT only).
    assert (await api.post(f"/app/hook/deliveries/{failed['id']}/attempts")).status == 401
    again = await api.post(f"/app/hook/deliveries/{failed['id']}/attempts", raw_auth=auth)
    assert again.status == 202
    await sim.drain()
    assert [e.delivery_id for e in receiver.events] == [failed["guid"]]
    newest, oldest = (await api.get("/app/hook/deliveries", raw_auth=auth)).body
    assert (newest["guid"], newest["redelivery"], newest["status"]) == (failed["guid"], True, "OK")
    assert oldest["id"] == failed["id"]
    one = await api.get(f"/app/hook/deliveries/{failed['id']}", raw_auth=auth)
    assert one.body["request"]["payload"]["head_commit"]["message"] == "change"
    assert sim.violations == []


async def test_what_never_connected_is_neither_success_nor_failure_and_old_ones_stay_put(
    sim: GitHubSim, repo: SimRepo, api: Api, clock: ManualClock
) -> None:
    sim.webhook_url = "http://127.0.0.1:9/webhooks"  # nobody listens on port 9
    sim.add_user("mona")
    repo.commit({"n.txt": "1\n"}, "change", author="mona")
    await sim.drain()
    auth = bearer(sim, clock)
    (item,) = (await api.get("/app/hook/deliveries", raw_auth=auth)).body
    assert (item["status"], item["status_code"]) == ("failed to connect", 0)
    # GitHub's `status` filter classifies by status_code: 0 is in neither class.
    assert (await api.get("/app/hook/deliveries?status=failure", raw_auth=auth)).body == []
    assert (await api.get("/app/hook/deliveries?status=success", raw_auth=auth)).body == []
    clock.advance(3 * 86400 + 1)
    auth = bearer(sim, clock)
    old = await api.post(f"/app/hook/deliveries/{item['id']}/attempts", raw_auth=auth)
    assert old.status == 422
    bad_cursor = await api.get("/app/hook/deliveries?cursor=zzz", raw_auth=auth)
    assert bad_cursor.status == 400
    assert json.dumps(sim.violations) == "[]"
