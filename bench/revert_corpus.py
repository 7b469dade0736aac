"""Reverts of random histories: the generator of tests/test_revert_agreement.py as a corpus.

Seeded random histories (edits, deletions, mode flips, files becoming directories,
merges, hand-made reverts) are written into the simulator; the app's
`build_revert_commit` reverts random earlier commits over HTTP, one at a time, with
LATENCY on every GitHub call, then again without. Medians per revert (clean, conflict
or empty alike): calls and round trips against the issue's target, time against the same
revert without latency.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from pathlib import Path

import aiohttp

from app.github.client import GitHubClient
from app.revert.commit import build_revert_commit
from bench import Section, median
from sim.github.server import GitHubSim
from tests.revert_helpers import HistoryMaker, write_history

SEED = 20_260_612
HISTORIES, QUICK_HISTORIES = 8, 3
CULPRITS = 3
LATENCY = 0.1
TARGET_CALLS = 12
REPO = "bench/corpus"


async def run(workdir: Path, quick: bool) -> list[Section]:
    histories = QUICK_HISTORIES if quick else HISTORIES
    section = Section("reverts of random histories", key="corpus")
    rng = random.Random(SEED)
    maker = HistoryMaker(rng)
    calls: list[int] = []
    trips: list[int] = []
    slow: list[float] = []
    fast: list[float] = []
    outcomes: Counter[str] = Counter()
    async with GitHubSim(workdir / "github") as sim, aiohttp.ClientSession() as session:
        repo = sim.create_repo(REPO)
        gh = GitHubClient(session, api_url=sim.url, oauth_token=sim.create_token(repo.owner))
        for n in range(histories):
            history = maker.make(rng.randint(5, 30))
            branch = f"h{n}"
            shas = await write_history(Path(repo.git_dir), history, repo.head(), branch)
            repo.move_ref(f"refs/heads/{branch}", shas[-1], repo.owner, notify=False)
            for index in rng.sample(range(len(shas)), min(CULPRITS, len(shas))):
                for latency in (LATENCY, 0.0):
                    sim.meter.start(latency=latency)
                    started = time.perf_counter()
                    result = await build_revert_commit(gh, REPO, shas[index], branch=branch)
                    elapsed = time.perf_counter() - started
                    usage = sim.meter.stop()
                    if latency:
                        slow.append(elapsed)
                        calls.append(usage.calls)
                        trips.append(usage.round_trips)
                        outcomes[type(result).__name__] += 1
                    else:
                        fast.append(elapsed)
        if sim.violations:
            raise RuntimeError(f"simulator saw violations: {sim.violations[:3]}")
    section.add("calls a revert (median)", median(calls), "target", TARGET_CALLS, "calls",
                f"≤ {TARGET_CALLS}")
    section.add(f"time a revert, {int(LATENCY * 1000)} ms a call (median)", median(slow),
                "same, no latency", median(fast), "s")
    section.notes.append(
        f"{len(calls)} reverts in {histories} histories ({dict(sorted(outcomes.items()))});"
        f" round trips: median {median(trips)}, max {max(trips)}; calls: max {max(calls)}"
    )
    return [section]
