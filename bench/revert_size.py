"""P4 and P4': the revert commit's cost as the change and the repository grow.

The app's `build_revert_commit` over HTTP against the GitHub simulator, as the app and
the CLI call it (the simulator serves from this process, so its own work is inside the
app's time); calls, round trips and bytes from the simulator's meter.

P4: a culprit touching CULPRIT_FILES of FILES files, CULPRIT_FILES' later commits each
editing one of its files again (so as many clean content merges). Baseline: a local
`git clone --no-local` (a real pack transfer, not hard links) and `git revert --no-commit`
of the same commit; both must give the same tree. No latency on either side (as the
issue measures it); best of ROUNDS on each side. The app's time is its own: the
seconds in which the simulator (in this process) was answering are taken out, and the
wall time with them is the next row.

P4': a culprit touching 3 files of BIG_FILES files, against the same culprit in a
SMALL_FILES-file repository: calls and bytes should stay flat as the repository grows.

P4 moved: every package moved into src/ after the culprit; the revert follows the moves
as `git revert` does (git's merge on the real trees). Against git clone + git revert, and
its calls against the same story without the move.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from app.github.client import GitHubClient
from app.revert.commit import RevertCommit, build_revert_commit
from bench import Section, human_bytes
from bench.history import Change, append, source_text, tree_paths
from bench.scenarios import large_repo
from sim.github.metering import Usage
from sim.github.repo import SimRepo
from sim.github.server import GitHubSim

FILES, CULPRIT_FILES, MERGES = 4_000, 2_000, 20
QUICK_FILES, QUICK_CULPRIT_FILES = 1_000, 500
BIG_FILES, SMALL_FILES, FEW = 20_000, 500, 3
QUICK_BIG_FILES = 5_000
LATER = 20
MOVED_FILES, QUICK_MOVED_FILES, MOVED_CULPRIT_FILES, MOVED_MERGES = 2_000, 500, 20, 5
ROUNDS = 2
GIT = shutil.which("git") or "git"
HERMETIC = {
    "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull, "LC_ALL": "C",
    "GIT_AUTHOR_NAME": "Bench", "GIT_AUTHOR_EMAIL": "bench@example.com",
    "GIT_COMMITTER_NAME": "Bench", "GIT_COMMITTER_EMAIL": "bench@example.com",
}


@dataclass(frozen=True)
class AppRevert:
    seconds: float
    result: RevertCommit
    usage: Usage
    # Served for the one create-tree request: GitHub answers with the new root's listing.
    tree_answer_bytes: int = 0


async def _git(cwd: Path, *args: str) -> str:
    proc = await asyncio.create_subprocess_exec(
        GIT, "-C", str(cwd), *args,
        env={**{k: v for k, v in os.environ.items() if not k.startswith("GIT_")}, **HERMETIC},
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    if proc.returncode:
        raise RuntimeError(f"git {' '.join(args)}: {err.decode()[:300]}")
    return out.decode()


async def clone_and_revert(git_dir: Path, into: Path, culprit: str) -> tuple[float, str, int]:
    """(seconds for clone + revert, the index's tree, bytes of the pack received)."""
    started = time.perf_counter()
    await _git(into.parent, "clone", "-q", "--no-local", "-b", "main", str(git_dir), into.name)
    await _git(into, "revert", "--no-commit", culprit)
    elapsed = time.perf_counter() - started
    tree = (await _git(into, "write-tree")).strip()
    pack = sum(f.stat().st_size for f in (into / ".git" / "objects" / "pack").glob("*.pack"))
    shutil.rmtree(into, ignore_errors=True)
    return elapsed, tree, pack


async def app_revert(sim: GitHubSim, gh: GitHubClient, repo: str, culprit: str, *,
                     gzip: bool = False) -> AppRevert:
    sim.meter.start(measure_gzip=gzip)
    started = time.perf_counter()
    result = await build_revert_commit(gh, repo, culprit, branch="main")
    elapsed = time.perf_counter() - started
    tree_answer = sum(c.bytes_out for c in sim.meter.calls if c.operation == _TREE_WRITE)
    usage = sim.meter.stop()
    if not isinstance(result, RevertCommit):
        raise RuntimeError(f"expected a clean revert of {culprit} in {repo}, got {result!r}")
    return AppRevert(elapsed, result, usage, tree_answer)


_TREE_WRITE = "POST /repos/{owner}/{repo}/git/trees"


def _kinds(usage: Usage) -> str:
    ops = usage.operations
    named = {
        "tree reads": ops["GET /repos/{owner}/{repo}/git/trees/{tree_sha}"],
        "blob reads": ops["GET /repos/{owner}/{repo}/git/blobs/{file_sha}"],
        "tree writes": ops[_TREE_WRITE],
        "blob writes": ops["POST /repos/{owner}/{repo}/git/blobs"],
    }
    named["other"] = usage.calls - sum(named.values())
    return ", ".join(f"{n} {kind}" for kind, n in named.items() if n)


async def _p4(sim: GitHubSim, gh: GitHubClient, workdir: Path, quick: bool) -> Section:
    section = Section(f"revert of a culprit touching {CULPRIT_FILES:,} files", key="P4")
    files, touched = (QUICK_FILES, QUICK_CULPRIT_FILES) if quick else (FILES, CULPRIT_FILES)
    if quick:
        section.title = f"revert of a culprit touching {touched:,} files (quick)"
    repo = sim.create_repo("bench/monolith")
    started = time.perf_counter()
    culprit, merged = await large_repo(repo, files=files, culprit_files=touched, later=LATER,
                                       merges=MERGES)
    setup_s = time.perf_counter() - started
    apps, gits = [], []
    tree, pack = "", 0
    for index in range(ROUNDS):
        apps.append(await app_revert(sim, gh, repo.full_name, culprit, gzip=index == 0))
        elapsed, tree, pack = await clone_and_revert(Path(repo.git_dir), workdir / f"c{index}",
                                                     culprit)
        gits.append(elapsed)
    first = apps[0]
    if first.result.tree_sha != tree:
        raise RuntimeError(f"app tree {first.result.tree_sha} != git revert tree {tree}")
    if len(first.result.merged_paths) != len(merged):
        raise RuntimeError(f"{len(first.result.merged_paths)} merges, expected {len(merged)}")
    usage = first.usage
    # The simulator answers from this process: its own work (git subprocesses, checking
    # every answer against GitHub's OpenAPI description) is not the app's, so the time
    # against the clone is the app's own; the whole wall time is shown beside it.
    own = min(a.seconds - a.usage.server_seconds for a in apps)
    section.add("time, no latency (the app's own)", own,
                "git clone + git revert", min(gits), "s", "≤ 1×")
    section.add("time, with the simulator's work", min(a.seconds for a in apps),
                "git clone + git revert", min(gits), "s")
    section.add("GitHub calls", usage.calls, "target", 40, "calls", "≤ 40")
    section.add("bytes served (JSON bodies)", usage.bytes_out, "the clone's pack", pack, "B",
                "≤ 1×")
    section.notes.append(
        f"{files:,} files; the culprit + {LATER} later commits; {len(merged)} content merges;"
        f" the tree is git's; best of {ROUNDS} each"
    )
    section.notes.append(f"{usage.calls} calls: {_kinds(usage)}; at most {usage.max_in_flight}"
                         " in flight")
    section.notes.append(
        f"gzip-ed as GitHub serves them: {human_bytes(usage.bytes_out_gzip or 0)};"
        f" uploaded {human_bytes(usage.bytes_in)}; writing the history took {setup_s:.1f} s"
    )
    return section


async def _p4_flat(sim: GitHubSim, gh: GitHubClient, quick: bool) -> Section:
    big_files = QUICK_BIG_FILES if quick else BIG_FILES
    section = Section(f"{big_files:,}-file repository, culprit touching {FEW} files",
                      key="P4'")
    measured: dict[int, AppRevert] = {}
    for files in (SMALL_FILES, big_files):
        repo = sim.create_repo(f"bench/files{files}")
        culprit, _ = await large_repo(repo, files=files, culprit_files=FEW, later=LATER,
                                      merges=1)
        await app_revert(sim, gh, repo.full_name, culprit)  # warm-up
        measured[files] = await app_revert(sim, gh, repo.full_name, culprit)
    small, big = measured[SMALL_FILES].usage, measured[big_files].usage
    section.add("GitHub calls", big.calls, f"{SMALL_FILES}-file repository", small.calls,
                "calls", "flat (1×)")
    section.add("bytes served (JSON bodies)", big.bytes_out, f"{SMALL_FILES}-file repository",
                small.bytes_out, "B", "≤ 2×")
    big_answer = measured[big_files].tree_answer_bytes
    small_answer = measured[SMALL_FILES].tree_answer_bytes
    section.add("bytes served but the create-tree answer", big.bytes_out - big_answer,
                f"{SMALL_FILES}-file repository", small.bytes_out - small_answer, "B")
    section.add("the create-tree answer (the new root's listing)", big_answer,
                f"{SMALL_FILES}-file repository", small_answer, "B")
    section.notes.append(f"{big_files:,} files: {_kinds(big)}; {SMALL_FILES} files:"
                         f" {_kinds(small)}; one content merge each")
    return section


async def _moved_story(repo: SimRepo, files: int, *, move: bool) -> tuple[str, int]:
    """MOVED_CULPRIT_FILES of `files` edited by the culprit; LATER commits by others, the
    first MOVED_MERGES also editing a culprit file far from its line; halfway, when `move`,
    every package moves into src/ (as one commit). Returns (culprit, content merges)."""
    paths = tree_paths(files)
    touched = paths[:: max(1, len(paths) // MOVED_CULPRIT_FILES)][:MOVED_CULPRIT_FILES]
    others = [p for p in paths if p not in set(touched)]
    edits: dict[str, dict[int, str]] = {}
    where = {p: p for p in paths}

    def edit(path: str, line: int, text: str) -> bytes:
        edits.setdefault(path, {})[line] = text
        return source_text(path, edits[path])

    changes = [Change("Import the monolith", {p: source_text(p) for p in paths})]
    culprit_files = {p: edit(p, 3, f"# {p}: made faster (and broken)") for p in touched}
    changes.append(Change("Make everything faster", culprit_files, author="mona"))
    for k in range(LATER):
        if move and k == LATER // 2:
            moves: dict[str, bytes | None] = {}
            for p in paths:
                where[p] = f"src/{p}"
                moves[p], moves[where[p]] = None, source_text(p, edits.get(p))
            changes.append(Change("Move every package into src/", moves, author="bob"))
        later = {where[p]: edit(p, 10 + k % 20, f"# later {k}") for p in others[2 * k : 2 * k + 2]}
        if k < MOVED_MERGES:
            later[where[touched[k]]] = edit(touched[k], 35, f"# later edit {k} of a culprit file")
        changes.append(Change(f"Later change {k}", later, author="bob"))
    shas = await append(repo, changes)
    return shas[1], MOVED_MERGES


async def _p4_moved(sim: GitHubSim, gh: GitHubClient, workdir: Path, quick: bool) -> Section:
    """The culprit's package moved into src/ since: the revert follows the moves."""
    files = QUICK_MOVED_FILES if quick else MOVED_FILES
    section = Section(f"revert after every package moved into src/ ({files:,} files)",
                      key="P4 moved")
    measured: dict[bool, AppRevert] = {}
    tree = ""
    gits: list[float] = []
    pack = 0
    for move in (False, True):
        repo = sim.create_repo(f"bench/{'moved' if move else 'unmoved'}")
        culprit, merges = await _moved_story(repo, files, move=move)
        runs = [await app_revert(sim, gh, repo.full_name, culprit) for _ in range(ROUNDS)]
        measured[move] = min(runs, key=lambda r: r.seconds)
        if len(measured[move].result.merged_paths) != merges:
            raise RuntimeError(f"{measured[move].result.merged_paths} merges, expected {merges}")
        if move:
            for index in range(ROUNDS):
                elapsed, tree, pack = await clone_and_revert(
                    Path(repo.git_dir), workdir / f"m{index}", culprit
                )
                gits.append(elapsed)
    moved, unmoved = measured[True], measured[False]
    if moved.result.tree_sha != tree:
        raise RuntimeError(f"app tree {moved.result.tree_sha} != git revert tree {tree}")
    section.add("time, no latency", moved.seconds, "git clone + git revert", min(gits), "s")
    section.add("GitHub calls", moved.usage.calls, "the same revert, nothing moved",
                unmoved.usage.calls, "calls")
    section.add("bytes served (JSON bodies)", moved.usage.bytes_out, "the clone's pack", pack,
                "B")
    section.notes.append(
        f"{files:,} files; the culprit edits {MOVED_CULPRIT_FILES}; {LATER} later commits, one"
        f" of them moving everything into src/; {len(moved.result.followed)} files followed;"
        f" {MOVED_MERGES} content merges; the tree is git's; best of {ROUNDS} each"
    )
    section.notes.append(f"moved: {moved.usage.calls} calls: {_kinds(moved.usage)}")
    section.notes.append(f"nothing moved: {unmoved.usage.calls} calls: {_kinds(unmoved.usage)}")
    return section


async def run(workdir: Path, quick: bool) -> list[Section]:
    async with GitHubSim(workdir / "github") as sim, aiohttp.ClientSession() as session:
        # Five reverts of the large culprit would spend an hour's budget: the budget is
        # not what this measures (the calls are), so it is lifted here.
        sim.rate_limit = 1_000_000
        gh = GitHubClient(session, api_url=sim.url, oauth_token=sim.create_token("bench"))
        sections = [
            await _p4(sim, gh, workdir, quick),
            await _p4_flat(sim, gh, quick),
            await _p4_moved(sim, gh, workdir, quick),
        ]
        if sim.violations:
            raise RuntimeError(f"simulator saw violations: {sim.violations[:3]}")
    return sections
