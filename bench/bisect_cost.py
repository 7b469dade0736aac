"""What bisection costs: rounds of CI per incident, and GitHub calls per round.

N commits land one after the other on `main`; CI (the simulator's GitHub Actions, with
cancel-in-progress) builds only the last one, red. Build Sheriff bisects the N suspects
(re-runs, probe refs one at a time, probe refs in parallel) until it opens the revert of
the culprit (about three eighths of the way in). Everything runs through the real server
and the simulator; a CI round is one `finish_running()` of the simulator's CI.

A round's calls: every CI tick after the first reads one round's answer and asks the next
(the last one opens the revert instead), including the evaluations that CI's webhooks start.
Baselines, same run: the whole one-suspect incident (nothing to bisect) for the calls;
ceil(log2 N) for the rounds. Calls are counts, not times: they do not depend on the host.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from bench import Figure, Section
from demo.stack import generate_app_key, stack
from sim.github.ci import Workflow

SIZES = (2, 8, 32)
MODES = (
    ("re-runs", "", False),
    ("probe refs", "bisect: probe\n", True),
    ("probe refs, parallel", "bisect: probe\nbisect_parallel: true\n", True),
)
REPO = "bench/busy"
MAX_TICKS = 40


def _culprit_index(n: int) -> int:
    return max(0, (3 * n) // 8 - 1)


async def _incident(workdir: Path, n: int, config: str, every_branch: bool) -> dict[str, Any]:
    """One incident from the red build to the revert PR: rounds, CI runs, GitHub calls."""
    async with stack(
        workdir, private_key=generate_app_key(), slack=False, LOG_LEVEL="WARNING"
    ) as s:
        s.sim.add_user("mona", name="Mona Lisa")
        repo = s.sim.create_repo(REPO)
        repo.set_permission("mona", "write")
        ci = repo.use_ci(Workflow(branches=("**",) if every_branch else None))
        repo.commit({"app.py": "x = 0\n", ".github/buildsheriff.yml": config or "{}\n"},
                    "Set up")
        ci.finish_running()  # the last green build
        await s.settle()
        shas = [repo.commit({f"part{i}.py": f"x = {i}\n"}, f"Part {i}", author="mona")
                for i in range(n)]
        culprit = shas[_culprit_index(n)]
        ci.red_while(f"part{_culprit_index(n)}.py")
        s.sim.reset_calls()
        asked_before = len(ci.finished)
        ticks: list[int] = []  # GitHub calls while CI finished a round and the app reacted
        while ci.running() and not repo.pulls():
            before = sum(s.sim.calls.values())
            ci.finish_running()
            await s.settle()
            ticks.append(sum(s.sim.calls.values()) - before)
            assert len(ticks) < MAX_TICKS, "the bisection did not end"
        (pr,) = repo.pulls()
        assert pr["head"]["ref"].endswith(culprit), "bisection blamed the wrong commit"
        runs = len(ci.finished) - asked_before - 1  # minus main's own build of the head
        return {"rounds": len(ticks) - 1, "ticks": ticks, "calls": sum(ticks), "ci_runs": runs}


async def run(workdir: Path, quick: bool = False) -> list[Section]:
    section = Section("bisection cost", "bisect")
    single = await _incident(workdir / "single", 1, "", False)
    section.notes.append(
        f"baseline: a one-suspect incident costs {single['calls']} GitHub calls "
        "(red build to revert PR)"
    )
    for n in SIZES[:2] if quick else SIZES:
        for label, config, every_branch in MODES:
            if n == 2 and "parallel" in label:
                continue  # one probe round either way
            got = await _incident(workdir / f"{n}-{label}", n, config, every_branch)
            rounds = got["rounds"]
            # Each tick after the first answers one round and asks the next (the last one
            # opens the revert instead): that is what a round costs in GitHub calls.
            per_round = sum(got["ticks"][1:]) / rounds
            section.figures.append(
                Figure(f"{n} suspects, {label}: rounds per incident", rounds,
                       "ceil(log2 N)", max(1, math.ceil(math.log2(n))), "rounds",
                       target="≤ ⌈log2 N⌉" if "parallel" not in label else "1")
            )
            section.figures.append(
                Figure(f"{n} suspects, {label}: GitHub calls per round", round(per_round, 1),
                       "one-suspect incident", single["calls"], "calls")
            )
            section.notes.append(
                f"{n} suspects, {label}: {got['calls']} calls in all, {got['ci_runs']} CI runs;"
                f" calls per CI tick {got['ticks']} (first: detect, open, ask round 1)"
            )
    return [section]
