"""Metering of the simulator's API for benchmarks and call-count tests.

What a GitHub App pays for is calls (5,000 an hour per installation) and, in wall time,
*sequential round trips* (each 50–300 ms in production). On loopback a call takes
microseconds, so concurrency and sequence look alike; an injected latency on every call
(REST and GraphQL, as network time before GitHub answers) makes them differ, and the
meter counts both:

- calls, per operation ("GET /repos/{owner}/{repo}/commits/{ref}",
  "POST /graphql mutation enablePullRequestAutoMerge"), per status, bytes in and out;
- round trips: the longest chain of calls in which each one started after the previous
  had finished. Calls that overlap share a round trip; a call that starts after another
  has finished is a new one. With latency L and little CPU, wall time ≈ round trips × L.

Off by default (no latency, nothing recorded): `sim.meter.start(latency=0.1)`. A phase
is read with `meter.usage()` and ended with `meter.reset()` (which returns its usage);
`calls_until` slices a recorded flow at a call ("until the issue exists").
Counts can be asserted in tests; timings belong in bench/.
"""

from __future__ import annotations

import asyncio
import collections
import gzip
import json
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# (method, raw path) -> the operation's name; the server passes its OpenAPI router.
Describe = Callable[[str, str], str]

GRAPHQL_PATHS = ("/graphql", "/api/graphql")
# The first field of a GraphQL document: `mutation X($a: T) { enablePullRequestAutoMerge(`.
_FIRST_FIELD = re.compile(r"^\s*(query|mutation)?\s*\w*\s*(\([^)]*\))?\s*\{\s*(\w+)", re.S)


@dataclass(frozen=True)
class ApiCall:
    """One request, as the server saw it: times are `time.perf_counter()` seconds."""

    method: str
    path: str
    operation: str
    status: int
    started: float
    finished: float
    bytes_in: int
    bytes_out: int
    bytes_out_gzip: int | None  # the body gzip-ed, when the meter measures it


@dataclass(frozen=True)
class Usage:
    calls: int
    round_trips: int
    bytes_in: int
    bytes_out: int
    bytes_out_gzip: int | None
    # The most calls in flight at once: GitHub refuses more than 100 concurrent requests
    # (a secondary rate limit the simulator does not enforce; this shows how close a flow is).
    max_in_flight: int = 0
    operations: collections.Counter[str] = field(default_factory=collections.Counter)
    statuses: collections.Counter[int] = field(default_factory=collections.Counter)
    # Seconds in which the simulator was answering at least one call: its own work, which
    # runs in the benchmark's process (with no latency injected).
    server_seconds: float = 0.0

    @classmethod
    def of(cls, calls: Sequence[ApiCall]) -> Usage:
        gzipped = [c.bytes_out_gzip for c in calls]
        return cls(
            calls=len(calls),
            round_trips=round_trips(calls),
            bytes_in=sum(c.bytes_in for c in calls),
            bytes_out=sum(c.bytes_out for c in calls),
            bytes_out_gzip=None if None in gzipped else sum(g or 0 for g in gzipped),
            max_in_flight=max_in_flight(calls),
            operations=collections.Counter(c.operation for c in calls),
            statuses=collections.Counter(c.status for c in calls),
            server_seconds=busy_seconds(calls),
        )


def round_trips(calls: Iterable[ApiCall]) -> int:
    """The longest chain of calls each starting after the previous one finished."""
    return max(chain_depths(list(calls)), default=0)


def chain_depths(calls: Sequence[ApiCall]) -> list[int]:
    """Per call, the round trip it falls in: 1 + the deepest call finished before it started."""
    # Sweep the calls' start and finish times in order; at a tie the start comes first
    # (the calls overlapped). `done` is the longest chain among calls finished so far.
    events: list[tuple[float, int, int]] = []
    for index, call in enumerate(calls):
        events.append((call.started, 0, index))
        events.append((call.finished, 1, index))
    events.sort()
    depth = [0] * len(calls)
    done = 0
    for _, kind, index in events:
        if kind == 0:
            depth[index] = done + 1
        else:
            done = max(done, depth[index])
    return depth


def busy_seconds(calls: Iterable[ApiCall]) -> float:
    """The length of the union of the calls' [started, finished] intervals."""
    total = 0.0
    end = float("-inf")
    for started, finished in sorted((c.started, c.finished) for c in calls):
        if started > end:
            total += finished - started
            end = finished
        elif finished > end:
            total += finished - end
            end = finished
    return total


def max_in_flight(calls: Iterable[ApiCall]) -> int:
    """The most calls that were in flight at one moment (a tie counts as overlapping)."""
    events = sorted(e for c in calls for e in ((c.started, 0), (c.finished, 1)))
    most = now = 0
    for _, kind in events:
        now += 1 if kind == 0 else -1
        most = max(most, now)
    return most


def calls_until(calls: Sequence[ApiCall], matches: Callable[[ApiCall], bool]) -> list[ApiCall]:
    """The calls that started before the first matching call finished, that call included.

    All of `calls` when none matches (so a missing step shows as "everything").
    """
    for call in calls:
        if matches(call):
            return [c for c in calls if c.started < call.finished or c is call]
    return list(calls)


def graphql_operation(body: bytes) -> str:
    """ "query repository" / "mutation enablePullRequestAutoMerge": the first field asked for."""
    try:
        document = json.loads(body).get("query")
    except (ValueError, AttributeError):
        return "?"
    if not isinstance(document, str):
        return "?"
    found = _FIRST_FIELD.match(document)
    if found is None:
        return "?"
    return f"{found.group(1) or 'query'} {found.group(3)}"


class Meter:
    """Latency injection and call accounting for every API request the simulator serves."""

    def __init__(self, describe: Describe) -> None:
        self._describe = describe
        self.recording = False
        self.latency = 0.0  # seconds added to every call, REST and GraphQL
        self.measure_gzip = False
        self.calls: list[ApiCall] = []
        self._epoch = 0

    def start(self, *, latency: float = 0.0, measure_gzip: bool = False) -> None:
        """Record from now on (a fresh phase), `latency` seconds on every call."""
        self.recording = True
        self.latency = latency
        self.measure_gzip = measure_gzip
        self.reset()

    def stop(self) -> Usage:
        usage = self.reset()
        self.recording = False
        self.latency = 0.0
        return usage

    def reset(self) -> Usage:
        """End the current phase: its usage, and a fresh count from here.

        A call still in flight belongs to the phase it started in, so it is not counted.
        """
        usage = Usage.of(self.calls)
        self.calls = []
        self._epoch += 1
        return usage

    def usage(self) -> Usage:
        return Usage.of(self.calls)

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if not self.recording and not self.latency:
            return await handler(request)
        epoch = self._epoch
        started = time.perf_counter()
        if self.latency:
            await asyncio.sleep(self.latency)
        raw = await request.read()  # aiohttp keeps it: the handler reads the same bytes
        response = await handler(request)
        if not self.recording or epoch != self._epoch:
            return response
        method = request.method.upper()
        path = request.raw_path.split("?", 1)[0]
        if path in GRAPHQL_PATHS and method == "POST":
            operation = f"POST /graphql {graphql_operation(raw)}"
        else:
            operation = self._describe(method, path)
        body = response.body if isinstance(response, web.Response) else None
        served = body if isinstance(body, bytes) else b""
        self.calls.append(
            ApiCall(
                method=method,
                path=path,
                operation=operation,
                status=response.status,
                started=started,
                finished=time.perf_counter(),
                bytes_in=len(raw),
                bytes_out=len(served),
                bytes_out_gzip=len(gzip.compress(served, 6)) if self.measure_gzip else None,
            )
        )
        return response
