"""The simulator's meter: calls, sequential round trips and bytes per phase, injected latency.

Benchmarks and the call-budget tests rely on these counts, so they are checked here on
calls whose answer we know. No timing is asserted: the latency only makes concurrent
calls overlap, as they would over a real network.
"""

from __future__ import annotations

import asyncio

import pytest

from sim.github.metering import ApiCall, Usage, calls_until, graphql_operation, round_trips
from sim.github.repo import SimRepo
from sim.github.server import GitHubSim
from tests.sim.conftest import Api

LATENCY = 0.1  # long enough that calls sent together are all in flight at once


def call(started: float, finished: float, operation: str = "GET /x") -> ApiCall:
    method, _, path = operation.partition(" ")
    return ApiCall(method, path, operation, 200, started, finished, 0, 10, None)


@pytest.mark.parametrize(
    ("intervals", "expected"),
    [
        ([], 0),
        ([(0, 1)], 1),
        ([(0, 1), (2, 3), (4, 5)], 3),  # one after another
        ([(0, 1), (0, 1), (0.5, 1.5)], 1),  # all overlap
        ([(0, 1), (1, 2)], 1),  # the second started as the first finished: overlap
        ([(0, 1), (0, 3), (2, 3)], 2),  # the third waited for the first, not the second
        ([(0, 1), (2, 3), (0, 10), (11, 12)], 3),  # the longest chain, not the busy periods
        ([(4, 5), (0, 1), (2, 3)], 3),  # order of the list does not matter
    ],
)
def test_round_trips_are_the_longest_chain_of_sequential_calls(
    intervals: list[tuple[float, float]], expected: int
) -> None:
    assert round_trips(call(s, f) for s, f in intervals) == expected


@pytest.mark.parametrize(
    ("intervals", "expected"),
    [
        ([], 0),
        ([(0, 1), (2, 3)], 1),
        ([(0, 3), (1, 2), (1.5, 4), (3.5, 5)], 3),
        ([(0, 1), (1, 2)], 2),  # a tie overlaps, as for round trips
    ],
)
def test_max_in_flight_is_the_most_calls_overlapping(
    intervals: list[tuple[float, float]], expected: int
) -> None:
    assert Usage.of([call(s, f) for s, f in intervals]).max_in_flight == expected


def test_calls_until_cuts_a_flow_where_a_call_finished() -> None:
    calls = [call(0, 1), call(2, 3, "POST /issues"), call(2.5, 4), call(5, 6, "POST /issues")]
    cut = calls_until(calls, lambda c: c.operation == "POST /issues")
    assert cut == calls[:3]
    assert Usage.of(cut).round_trips == 2
    assert calls_until(calls, lambda c: False) == calls


def test_graphql_operation_names_the_first_field() -> None:
    body = b'{"query": "mutation($id: ID!) {\\n  enablePullRequestAutoMerge(input: {}) {x}}"}'
    assert graphql_operation(body) == "mutation enablePullRequestAutoMerge"
    assert graphql_operation(b'{"query": "{ viewer { login } }"}') == "query viewer"
    assert graphql_operation(b'{"query": "query Q { repository(owner: \\"o\\") { id } }"}') == (
        "query repository"
    )
    assert graphql_operation(b"not json") == "?"


async def test_off_by_default_records_nothing(api: Api, sim: GitHubSim) -> None:
    assert (await api.get("/repos/octo/widgets")).status == 200
    assert sim.meter.usage().calls == 0 and not sim.meter.recording


async def test_counts_calls_bytes_and_statuses_per_phase(
    api: Api, sim: GitHubSim, repo: SimRepo
) -> None:
    sim.meter.start(measure_gzip=True)
    got = await api.get("/repos/octo/widgets")
    missing = await api.get("/repos/octo/widgets/issues/999")
    asked = await api.graphql("query { viewer { login } }")
    assert (got.status, missing.status, asked.status) == (200, 404, 200)

    recorded = list(sim.meter.calls)
    phase = sim.meter.reset()
    assert phase.calls == 3
    assert phase.operations == {
        "GET /repos/{owner}/{repo}": 1,
        "GET /repos/{owner}/{repo}/issues/{issue_number}": 1,
        "POST /graphql query viewer": 1,
    }
    assert phase.statuses == {200: 2, 404: 1}
    assert sim.meter.calls == []  # the next phase starts empty
    assert phase.bytes_out == sum(c.bytes_out for c in recorded)
    assert phase.bytes_in > 0  # the GraphQL document
    assert phase.bytes_out_gzip is not None and 0 < phase.bytes_out_gzip < phase.bytes_out

    await api.get("/repos/octo/widgets")
    (again,) = sim.meter.calls
    assert again.bytes_out == recorded[0].bytes_out > 1000  # the full repository, again
    assert sim.meter.stop().calls == 1
    await api.get("/repos/octo/widgets")
    assert sim.meter.usage().calls == 0


async def test_concurrent_calls_share_a_round_trip_sequential_ones_do_not(
    api: Api, sim: GitHubSim, repo: SimRepo
) -> None:
    sim.meter.start(latency=LATENCY)
    await asyncio.gather(*(api.get("/repos/octo/widgets") for _ in range(4)))
    together = sim.meter.reset()
    assert (together.calls, together.round_trips, together.max_in_flight) == (4, 1, 4)

    for _ in range(3):
        await api.get(f"/repos/octo/widgets/commits/{repo.head()}")
    one_by_one = sim.meter.reset()
    assert (one_by_one.calls, one_by_one.round_trips) == (3, 3)

    await asyncio.gather(api.get("/repos/octo/widgets"), api.graphql("{ viewer { login } }"))
    await api.get("/repos/octo/widgets")
    mixed = sim.meter.stop()
    assert (mixed.calls, mixed.round_trips) == (3, 2)
