"""P6: `/revert` typed on a commit 100 behind the head of a 5,000-file repository.

The whole app (demo.stack) against the simulators, LATENCY on every GitHub call. The
culprit edits CULPRIT_FILES files; LATER commits follow, MERGES of which edit a culprit
file again (so the revert needs as many clean content merges). A writer comments
`/revert` on the culprit commit; the flow is read from the simulator's meter until the
stack settles (👀, the permission check, the revert commit, the PR, its auto-merge, the
reply). Counts against the issue's targets; the time against the same command in a
2-file repository with the culprit just behind the head, same run, same latency.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from bench import Section
from bench.scenarios import (
    AUTO_MERGE,
    CULPRIT_AUTHOR,
    OPEN_PULL,
    call_graph,
    large_repo,
    protected_repo,
    small_repo,
    until,
)
from demo.stack import Stack, stack
from sim.github.metering import Usage
from sim.github.repo import SimRepo

LATENCY = 0.1
FILES, CULPRIT_FILES, LATER, MERGES = 5_000, 10, 100, 5
QUICK_FILES = 1_000
TARGET_CALLS, TARGET_ROUND_TRIPS = 30, 12


@dataclass(frozen=True)
class Command:
    seconds: float
    to_pull: Usage
    to_auto_merge: Usage
    settled: Usage
    graph: list[str]


async def revert_command(s: Stack, repo: SimRepo, culprit: str, latency: float) -> Command:
    await s.settle()
    s.sim.meter.start(latency=latency)
    started = time.perf_counter()
    repo.comment_on_commit(culprit, "/revert", user=CULPRIT_AUTHOR)
    await s.settle()
    elapsed = time.perf_counter() - started
    calls = sorted(s.sim.meter.calls, key=lambda c: c.started)
    settled = s.sim.meter.stop()
    pulls = repo.pulls()
    if len(pulls) != 1 or not pulls[0]["title"].startswith("Revert"):
        raise RuntimeError(f"{repo.full_name}: expected one revert PR, got {len(pulls)}")
    return Command(elapsed, until(calls, OPEN_PULL), until(calls, AUTO_MERGE), settled,
                   call_graph(calls, origin=started))


async def run(workdir: Path, quick: bool) -> list[Section]:
    files = QUICK_FILES if quick else FILES
    section = Section(f"/revert of a commit {LATER} behind head, {files:,} files", key="P6")
    async with stack(workdir, LOG_LEVEL="ERROR") as s:
        warm, warm_culprit = small_repo(s.sim, "bench/warm-up")
        await revert_command(s, warm, warm_culprit, 0.0)
        near, near_culprit = small_repo(s.sim, "bench/near")
        baseline = await revert_command(s, near, near_culprit, LATENCY)
        repo = protected_repo(s.sim, "bench/monolith")
        culprit, merged = await large_repo(repo, files=files, culprit_files=CULPRIT_FILES,
                                           later=LATER, merges=MERGES)
        command = await revert_command(s, repo, culprit, LATENCY)
        if s.sim.violations:
            raise RuntimeError(f"simulator saw violations: {s.sim.violations[:3]}")
    usage = command.settled
    section.add("GitHub calls", usage.calls, "target", TARGET_CALLS, "calls",
                f"≤ {TARGET_CALLS}")
    section.add("round trips", usage.round_trips, "target", TARGET_ROUND_TRIPS, "round trips",
                f"≤ {TARGET_ROUND_TRIPS}")
    section.add(f"time, {int(LATENCY * 1000)} ms a call", command.seconds,
                "2 files, culprit at head", baseline.seconds, "s")
    section.notes.append(
        f"the culprit edits {CULPRIT_FILES} files, {len(merged)} content merges; until the"
        f" stack settles; {command.to_pull.calls} calls and {command.to_pull.round_trips}"
        f" round trips until the PR exists; 2 files: {baseline.settled.calls} calls,"
        f" {baseline.settled.round_trips} round trips"
    )
    top = ", ".join(f"{n}× {op}" for op, n in usage.operations.most_common(3))
    section.notes.append(f"most called: {top}")
    section.detail = command.graph
    return [section]
