"""P1: a red webhook until the revert pull request has auto-merge, on a small repository.

The whole app (demo.stack) against the simulators; GitHub answers every call after
LATENCY seconds, so the flow's length is its sequential round trips. The culprit's
`build` check run fails; the flow is read from the simulator's meter: calls and round
trips until the incident issue exists and until auto-merge is enabled on the revert PR
(the `enablePullRequestAutoMerge` mutation), and everything the red event led to once
the stack settles. Baseline for the time: the same flow, same run, without latency.
Counts are shown next to the issue's targets.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from bench import Section
from bench.scenarios import (
    AUTO_MERGE,
    CREATE_ISSUE,
    call_graph,
    incident_issues,
    reached,
    small_repo,
    until,
)
from demo.stack import Stack, stack
from sim.github.metering import ApiCall, Usage

LATENCY = 0.1
TARGET_ROUND_TRIPS = 10
TARGET_CALLS = 25


@dataclass(frozen=True)
class Flow:
    seconds: float  # red event sent -> auto-merge enabled
    to_issue: Usage
    to_auto_merge: Usage
    settled: Usage
    graph: list[str]


async def red_flow(s: Stack, name: str, latency: float) -> Flow:
    """One P1 flow on a fresh repository `name` of the running stack."""
    repo, culprit = small_repo(s.sim, name)
    await s.settle()
    s.sim.meter.start(latency=latency)
    started = time.perf_counter()
    repo.add_check_run(culprit, "build", conclusion="failure")
    await s.settle()
    calls: list[ApiCall] = sorted(s.sim.meter.calls, key=lambda c: c.started)
    settled = s.sim.meter.stop()
    enabled = reached(calls, AUTO_MERGE)
    pulls = repo.pulls()
    if enabled is None or len(pulls) != 1 or pulls[0]["auto_merge"] is None:
        raise RuntimeError(f"{name}: no revert PR with auto-merge ({len(pulls)} PRs)")
    if len(incident_issues(repo)) != 1:
        raise RuntimeError(f"{name}: expected one incident issue")
    return Flow(
        seconds=enabled.finished - started,
        to_issue=until(calls, CREATE_ISSUE),
        to_auto_merge=until(calls, AUTO_MERGE),
        settled=settled,
        graph=call_graph(calls, origin=started),
    )


async def run(workdir: Path, quick: bool) -> list[Section]:
    del quick  # one flow each way is already quick
    section = Section("red → revert PR with auto-merge", key="P1")
    async with stack(workdir, LOG_LEVEL="ERROR") as s:
        await red_flow(s, "bench/warm-up", 0.0)  # imports, schemas, connections
        bare = await red_flow(s, "bench/no-latency", 0.0)
        flow = await red_flow(s, "bench/widgets", LATENCY)
        if s.sim.violations:
            raise RuntimeError(f"simulator saw violations: {s.sim.violations[:3]}")
    ms = int(LATENCY * 1000)
    section.add("round trips to auto-merge", flow.to_auto_merge.round_trips, "target",
                TARGET_ROUND_TRIPS, "round trips", f"≤ {TARGET_ROUND_TRIPS}")
    section.add("calls to auto-merge", flow.to_auto_merge.calls, "target", TARGET_CALLS,
                "calls", f"≤ {TARGET_CALLS}")
    section.add("calls before the issue exists", flow.to_issue.calls, "calls to auto-merge",
                flow.to_auto_merge.calls, "calls")
    section.add(f"time to auto-merge, {ms} ms a call", flow.seconds, "same, no latency",
                bare.seconds, "s")
    section.notes.append(
        f"{flow.to_issue.round_trips} round trips before the issue exists;"
        f" {flow.settled.calls} calls, {flow.settled.round_trips} round trips until the"
        f" stack settles (follow-up webhooks included); at most"
        f" {flow.to_auto_merge.max_in_flight} calls in flight"
    )
    top = ", ".join(f"{n}× {op}" for op, n in flow.to_auto_merge.operations.most_common(4))
    section.notes.append(f"most called: {top}")
    section.detail = flow.graph
    return [section]
