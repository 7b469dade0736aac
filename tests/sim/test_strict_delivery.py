"""Webhooks as GitHub delivers them: only the events the App subscribed to, and, switched on per
test, dropped, duplicated, reordered or delayed deliveries and REST reads that lag the webhook
that announced a change. Everything runs on the simulator's (manual) clock."""

from __future__ import annotations

from app.clock import ManualClock
from sim.github.delivery_faults import DeliveryFaults
from sim.github.repo import SimRepo
from sim.github.server import GitHubSim
from tests.sim.conftest import Api, Receiver


def commit(repo: SimRepo, n: int) -> str:
    return repo.commit({f"f{n}.txt": f"{n}\n"}, f"Commit {n}")


def pushes(receiver: Receiver) -> list[str]:
    return [e.data["after"] for e in receiver.events if e.event == "push"]


async def test_only_subscribed_events_are_delivered(
    sim: GitHubSim, repo: SimRepo, receiver: Receiver
) -> None:
    sim.app_events = ["push"]
    sha = commit(repo, 1)
    repo.add_check_run(sha, "ci")
    await sim.drain()
    assert [e.event for e in receiver.events] == ["push"]
    skipped = [d for d in sim.deliveries if d.get("unsubscribed")]
    assert skipped == []  # never sent, so never listed as a delivery
    assert sim.violations == []


async def test_dropped_deliveries_never_arrive(
    sim: GitHubSim, repo: SimRepo, receiver: Receiver
) -> None:
    sim.delivery_faults = DeliveryFaults(drop=1.0, events=frozenset({"push"}))
    commit(repo, 1)
    repo.create_issue_as("Still delivered")
    await sim.drain()
    assert [e.event for e in receiver.events] == ["issues"]
    assert [d.get("dropped") for d in sim.deliveries if d["event"] == "push"] == [True]


async def test_duplicated_deliveries_arrive_twice_with_the_same_delivery_id(
    sim: GitHubSim, repo: SimRepo, receiver: Receiver
) -> None:
    sim.delivery_faults = DeliveryFaults(duplicate=1.0)
    sha = commit(repo, 1)
    await sim.drain()
    assert pushes(receiver) == [sha, sha]
    ids = [h["X-GitHub-Delivery"] for h in receiver.headers]
    assert len(ids) == 2 and ids[0] == ids[1]


async def test_reordered_deliveries_arrive_after_the_next_one(
    sim: GitHubSim, repo: SimRepo, receiver: Receiver
) -> None:
    sim.delivery_faults = DeliveryFaults(reorder=1.0)
    first, second, third, fourth = (commit(repo, n) for n in range(1, 5))
    await sim.drain()
    # The first is held back and goes out after the second; the third likewise.
    assert pushes(receiver) == [second, first, fourth, third]


async def test_a_held_back_delivery_still_goes_out_when_nothing_follows(
    sim: GitHubSim, repo: SimRepo, receiver: Receiver
) -> None:
    sim.delivery_faults = DeliveryFaults(reorder=1.0)
    only = commit(repo, 1)
    await sim.drain()
    assert pushes(receiver) == [only]


async def test_delayed_deliveries_wait_for_the_clock(
    sim: GitHubSim, repo: SimRepo, receiver: Receiver, clock: ManualClock
) -> None:
    sim.delivery_faults = DeliveryFaults(delay=30)
    sha = commit(repo, 1)
    await sim.drain()
    assert pushes(receiver) == []
    clock.advance(29)
    await sim.drain()
    assert pushes(receiver) == []
    clock.advance(1)
    await sim.drain()
    assert pushes(receiver) == [sha]


async def test_faults_are_reproducible_from_their_seed(
    sim: GitHubSim, repo: SimRepo, receiver: Receiver
) -> None:
    def fates(seed: int) -> list[bool]:
        faults = DeliveryFaults(drop=0.5, seed=seed)
        return [faults.roll(faults.drop) for _ in range(20)]

    assert fates(3) == fates(3) and fates(3) != fates(4)


async def test_rest_reads_lag_the_webhook_that_announced_a_change(
    api: Api, sim: GitHubSim, repo: SimRepo, clock: ManualClock
) -> None:
    sim.read_lag = 5
    before = repo.head()
    path = "/repos/octo/widgets/git/ref/heads/main"
    assert (await api.get(path)).body["object"]["sha"] == before
    after = commit(repo, 1)
    # The push webhook is out; the replica this read hits has not caught up yet.
    assert (await api.get(path)).body["object"]["sha"] == before
    clock.advance(5)
    assert (await api.get(path)).body["object"]["sha"] == after
    # A read never made before the change has nothing older to answer with.
    fresh = await api.get(f"/repos/octo/widgets/commits/{after}")
    assert fresh.status == 200 and fresh.body["sha"] == after
