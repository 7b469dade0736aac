"""The app's revert agrees with `git revert`: same tree when git is clean, a conflict when
git has one, and nothing else.

Random histories (seeded) are written into the simulator's bare repository; the app
reverts a random earlier commit over HTTP through the simulator, exactly as in
production, and git reverts the same commit in a clone sharing those objects.
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from app.core.revert_plan import REGULAR_MODE, Entry, MergeJob
from app.github.client import GitHubClient
from app.revert.commit import RevertCommit, RevertConflict, RevertEmpty, build_revert_commit
from app.revert.git_merge import merge_contents
from tests.revert_helpers import (
    History,
    HistoryMaker,
    Oracle,
    checkout,
    git,
    git_revert,
    moves_around,
    write_history,
)

SEEDS = (20_260_611, 20_260_612, 20_260_613)
HISTORIES = 40
CULPRITS = 5  # per history: about 190 cases a seed (some histories are short)
SLOTS = 3  # histories in flight at once, each with its own clone
MOVES = ("renamed by the culprit", "renamed since", "moved into a directory", "renamed with edits")
MIN_CASES_PER_MOVE = 5  # per seed: the histories must really exercise each kind of move
REPO = "octo/agree"

# Found by a search over random triples: `git merge-file` (Myers, git < 2.44) merges this
# cleanly, while merge-ort (histogram, what `git revert` uses) reports a conflict.
MYERS_CLEAN_HISTOGRAM_CONFLICT = {
    "base": ["if", "x = 1", "b", "return", "", "a", "return", "}", "", "a", "return", "b",
             "if", "x = 1", "end", "{", "", "x = 1", "", "b", "{", "{", "x = 1", "b", "{", "",
             "a", "end", "end", "return", "x = 1", "end", "return", "", "}", "b", "return", "a",
             "b", "return", "return", "a", "end", "if", "b", "end"],
    "ours": ["if", "x = 1", "b", "return", "", "a", "return", "}", "", "a", "return", "b", "}",
             "x = 1", "b", "{", "", "x = 1", "b", "c", "", "b", "{", "{", "x = 1", "b", "if",
             "{", "if", "a", "end", "end", "return", "x = 1", "end", "return", "", "}", "b",
             "return", "a", "b", "return", "return", "a", "}", "end", "if", "b", "end"],
    "theirs": ["if", "x = 1", "b", "return", "", "return", "a", "return", "}", "", "a",
               "return", "b", "if", "x = 1", "end", "{", "end", "x = 1", "", "b", "{", "{",
               "x = 1", "b", "{", "", "a", "end", "end", "return", "x = 1", "end", "return", "",
               "}", "b", "return", "a", "b", "return", "return", "a", "end", "if", "b", "end"],
}  # fmt: skip


def _text(lines: list[str]) -> bytes:
    return "".join(line + "\n" for line in lines).encode()


async def _hash(data: bytes, tmp: Path) -> str:
    _, out = await git(tmp, "hash-object", "--stdin", stdin=data)
    return out.strip()


async def test_merge_routine_is_merge_ort_not_myers(tmp_path: Path) -> None:
    sides = {k: _text(v) for k, v in MYERS_CLEAN_HISTOGRAM_CONFLICT.items()}
    for name, data in sides.items():
        (tmp_path / name).write_bytes(data)
    myers, _ = await git(tmp_path, "merge-file", "-p", "ours", "base", "theirs", check=False)
    assert myers == 0, "the pinned case should be clean for git merge-file (Myers)"
    shas = {k: await _hash(v, tmp_path) for k, v in sides.items()}
    job = MergeJob(
        "f.txt",
        Entry(REGULAR_MODE, shas["base"]),
        Entry(REGULAR_MODE, shas["ours"]),
        Entry(REGULAR_MODE, shas["theirs"]),
        REGULAR_MODE,
    )
    outcomes, _ = await merge_contents([job], {shas[k]: v for k, v in sides.items()})
    assert outcomes["f.txt"].merged is None  # a conflict, as `git revert` finds


async def test_merge_routine_merges_cleanly_and_returns_the_new_blob(tmp_path: Path) -> None:
    base = b"one\ntwo\nthree\nfour\nfive\n"
    ours = b"ONE\ntwo\nthree\nfour\nfive\n"
    theirs = b"one\ntwo\nthree\nfour\nFIVE\n"
    binary = b"\0" + theirs
    shas = {d: await _hash(d, tmp_path) for d in (base, ours, theirs, binary)}

    def job(path: str, b: bytes, o: bytes, t: bytes) -> MergeJob:
        entry = lambda d: Entry(REGULAR_MODE, shas[d])  # noqa: E731
        return MergeJob(path, entry(b), entry(o), entry(t), REGULAR_MODE)

    jobs = [job("dir/with space.txt", base, ours, theirs)]
    outcomes, fresh = await merge_contents(jobs, {s: d for d, s in shas.items()})
    merged = outcomes["dir/with space.txt"].merged
    assert merged is not None
    assert fresh[merged.sha] == b"ONE\ntwo\nthree\nfour\nFIVE\n"

    outcomes, fresh = await merge_contents(
        [job("img", base, ours, binary)], {s: d for d, s in shas.items()}
    )
    assert outcomes["img"].merged is None and "binary" in outcomes["img"].reason
    assert fresh == {}


@pytest.fixture
def fast_tmp(tmp_path: Path) -> Iterator[Path]:
    """Memory-backed when the machine has it: hundreds of checkouts and loose objects
    cost milliseconds each on a disk mounted with `discard`."""
    shm = Path("/dev/shm")
    if not (shm.is_dir() and os.access(shm, os.W_OK)):
        yield tmp_path
        return
    path = Path(tempfile.mkdtemp(prefix="buildsheriff-agreement-", dir=shm))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.mark.parametrize("seed", SEEDS)
async def test_revert_agrees_with_git_revert(fast_tmp: Path, seed: int) -> None:
    """Same tree when git's revert is clean; a conflict on the same paths when it is not;
    including culprits whose files were renamed, moved into a directory or renamed with
    edits since, and culprits that renamed files themselves."""
    from sim.github.server import GitHubSim

    tmp_path = fast_tmp
    started = time.monotonic()
    sim = GitHubSim(tmp_path / "github")
    await sim.start()
    try:
        repo = sim.create_repo(REPO)
        token = sim.create_token(repo.owner)
        git_dir = Path(repo.git_dir)
        rng = random.Random(seed)
        maker = HistoryMaker(rng)
        # Everything random is drawn up front, so the cases do not depend on scheduling.
        plans = []
        for n in range(HISTORIES):
            history = maker.make(rng.randint(1, 30))
            picks = rng.sample(range(len(history.commits)), min(CULPRITS, len(history.commits)))
            plans.append((n, history, picks))
        clones = asyncio.Queue[Path]()
        for slot in range(SLOTS):
            clone = tmp_path / f"clone{slot}"
            source = str(git_dir)
            await git(tmp_path, "clone", "-q", "--shared", "--no-checkout", source, str(clone))
            clones.put_nowait(clone)
        tally: Counter[str] = Counter()
        disagreements: list[str] = []
        async with aiohttp.ClientSession() as session:
            gh = GitHubClient(session, api_url=sim.url, oauth_token=token)

            async def one_history(n: int, history: History, picks: list[int]) -> None:
                branch = f"h{n}"
                start = repo.head()
                shas = await write_history(git_dir, history, start, branch)
                head = shas[-1]
                repo.move_ref(f"refs/heads/{branch}", head, repo.owner, notify=False)
                clone = await clones.get()
                try:
                    _, head_tree = await git(clone, "rev-parse", f"{head}^{{tree}}")

                    async def oracles() -> list[tuple[Oracle, set[str]]]:
                        await checkout(clone, head)
                        found = []
                        for i in picks:
                            parent = shas[i - 1] if i else start
                            oracle = await git_revert(
                                clone, head, shas[i], merge=history.commits[i][1]
                            )
                            found.append((oracle, await moves_around(clone, parent, shas[i], head)))
                        return found

                    # Every task finishes before the clone goes back to the pool.
                    results = await asyncio.gather(
                        oracles(),
                        *(build_revert_commit(gh, REPO, shas[i], branch=branch) for i in picks),
                        return_exceptions=True,
                    )
                finally:
                    clones.put_nowait(clone)
                for outcome in results:
                    if isinstance(outcome, BaseException):
                        raise outcome
                found, *apps = results
                for i, (oracle, moves), app in zip(picks, found, apps, strict=True):
                    verdict = _compare(oracle, head_tree.strip(), app)
                    tally[verdict] += 1
                    tally["merge commits"] += history.commits[i][1]
                    for move in moves:
                        tally[move] += 1
                        tally[f"{move}: {verdict}"] += 1
                    if isinstance(app, RevertCommit) and app.merged_paths:
                        tally["needed a content merge"] += 1
                    if isinstance(app, RevertCommit) and app.followed:
                        tally["followed to a new path"] += 1
                    if verdict.startswith("DISAGREE"):
                        disagreements.append(
                            f"{verdict}: culprit {shas[i]} on {branch} {sorted(moves)}"
                        )

            pending = [one_history(*plan) for plan in plans]
            for batch in range(0, len(pending), SLOTS):
                await asyncio.gather(*pending[batch : batch + SLOTS])
        total = sum(v for k, v in tally.items() if k.startswith(("agree", "DISAGREE")))
        agreed = sum(v for k, v in tally.items() if k.startswith("agree"))
        print(
            f"\nseed {seed}: revert agreement with git: {agreed}/{total} = {agreed / total:.1%} "
            f"in {time.monotonic() - started:.1f}s; {dict(sorted(tally.items()))}"
        )
        assert not disagreements, "\n".join(disagreements[:10])
        assert total >= 150
        assert {m: tally[m] for m in MOVES} == {
            m: max(tally[m], MIN_CASES_PER_MOVE) for m in MOVES
        }, "too few cases of some kind of move"
        assert sim.violations == []
    finally:
        await sim.close()


def _compare(
    oracle: Oracle, head_tree: str, app: RevertCommit | RevertConflict | RevertEmpty
) -> str:
    got = type(app).__name__
    if oracle.crashed:
        ok = isinstance(app, RevertConflict)
        return "agree: conflict (git revert crashed)" if ok else f"DISAGREE: git crashed, app {got}"
    if not oracle.clean:
        if not isinstance(app, RevertConflict):
            return f"DISAGREE: git conflict, app {got}"
        files = set(app.unmerged_paths)
        if files == oracle.conflicts and app.paths:
            return "agree: conflict"
        return f"DISAGREE: conflicts differ (git {sorted(oracle.conflicts)}, app {app.paths})"
    if oracle.tree == head_tree:
        return "agree: empty" if isinstance(app, RevertEmpty) else f"DISAGREE: git empty, app {got}"
    if not isinstance(app, RevertCommit):
        return f"DISAGREE: git clean, app {got}"
    if app.tree_sha != oracle.tree:
        return f"DISAGREE: trees differ (git {oracle.tree}, app {app.tree_sha})"
    return "agree: same tree"
