"""Revert without a clone: the app's Git Data API revert against `git clone` + `git revert`.

A repository of 500 files in 50 directories; the culprit edits six files, adds one
and deletes one; 50 later commits edit other files and, every fifth commit, the far
end of a culprit's file, so the revert needs real content merges (clean ones).

App: `build_revert_commit` over HTTP against the GitHub simulator with a token,
exactly as the app and the CLI call it (the simulator serves from this process, so
its own work is inside the app's time). Baseline: `git clone --no-local` (a real
pack transfer, as over the network, not hard links) and `git revert --no-commit`
of the same commit in a temporary directory. Both must produce the same tree.
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp

from app.github.client import GitHubClient
from app.revert.commit import RevertCommit, build_revert_commit
from bench import Deadline, Figure, Section, human_bytes, median
from sim.github.server import GitHubSim

REPO = "bench/monolith"
DIRS = 50
FILES_PER_DIR = 10
LINES = 60
LATER_COMMITS = 50
CULPRIT_FILES = 6
ROUNDS = 3
BUDGET_S = 40.0
SEED = 20_260_612
WORDS = (
    "self", "value", "return", "items", "config", "result", "request", "len", "for", "in",
    "if", "else", "None", "True", "data", "path", "error", "count", "key", "name", "index",
    "parse", "build", "client", "response", "cache", "token", "limit", "offset", "node",
)
GIT = shutil.which("git") or "git"
HERMETIC = {
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_AUTHOR_NAME": "Bench",
    "GIT_AUTHOR_EMAIL": "bench@example.com",
    "GIT_COMMITTER_NAME": "Bench",
    "GIT_COMMITTER_EMAIL": "bench@example.com",
    "LC_ALL": "C",
}


def _path(d: int, f: int) -> str:
    return f"pkg{d // 10}/mod{d:02d}/file{f}.py"


def _text(path: str, edits: dict[int, str] | None = None) -> str:
    # Seeded per path: files differ from each other, so the clone's pack compresses them
    # about as well as source code, not as well as 500 copies of one template.
    rng = random.Random(path)
    lines = [
        f"{' ' * 4 * rng.randrange(3)}{rng.choice(WORDS)}_{n} = "
        + " ".join(rng.choice(WORDS) for _ in range(rng.randrange(2, 7)))
        for n in range(LINES)
    ]
    for n, line in (edits or {}).items():
        lines[n] = line
    return "\n".join(lines) + "\n"


def _history(sim: GitHubSim) -> tuple[str, int]:
    """The repository; returns (culprit sha, merges expected)."""
    rng = random.Random(SEED)
    repo = sim.create_repo(REPO)
    repo.set_permission("alice", "write")
    paths = [_path(d, f) for d in range(DIRS) for f in range(FILES_PER_DIR)]
    current: dict[str, dict[int, str]] = {p: {} for p in paths}
    repo.commit({p: _text(p) for p in paths}, "Import the monolith", push=False)

    suspects = rng.sample(paths, CULPRIT_FILES + 1)
    culprit_files, deleted = suspects[:CULPRIT_FILES], suspects[-1]
    changes: dict[str, str | None] = {}
    for p in culprit_files:
        current[p][3] = f"# {p}: made faster (and broken)"
        changes[p] = _text(p, current[p])
    changes["pkg0/mod00/new_helper.py"] = "def helper():\n    return None\n"
    changes[deleted] = None
    culprit = repo.commit(changes, "Make everything faster", author="alice", push=False)

    merged: set[str] = set()
    others = [p for p in paths if p not in suspects]
    for k in range(LATER_COMMITS):
        edits: dict[str, str | None] = {}
        for p in rng.sample(others, 2):
            current[p][rng.randrange(LINES)] = f"# {p}: edit {k}"
            edits[p] = _text(p, current[p])
        if k % 5 == 0:
            # Far from line 3, so git and the app both merge it cleanly.
            p = culprit_files[(k // 5) % CULPRIT_FILES]
            current[p][LINES - 1 - k // 5] = f"# {p}: later edit {k}"
            edits[p] = _text(p, current[p])
            merged.add(p)
        repo.commit(edits, f"Later change {k}", author="bob", push=False)
    return culprit, len(merged)


async def _git(cwd: Path, *args: str) -> str:
    proc = await asyncio.create_subprocess_exec(
        GIT, "-C", str(cwd), *args,
        env={**{k: v for k, v in os.environ.items() if not k.startswith("GIT_")}, **HERMETIC},
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    if proc.returncode:
        raise RuntimeError(f"git {' '.join(args)}: {err.decode()[:300]}")
    return out.decode()


async def _clone_and_revert(git_dir: Path, into: Path, culprit: str) -> tuple[float, str, int]:
    """(seconds for clone + revert, the index's tree, bytes of the pack received)."""
    started = time.perf_counter()
    await _git(into.parent, "clone", "-q", "--no-local", "-b", "main", str(git_dir), into.name)
    await _git(into, "revert", "--no-commit", culprit)
    elapsed = time.perf_counter() - started
    tree = (await _git(into, "write-tree")).strip()
    pack = sum(f.stat().st_size for f in (into / ".git" / "objects" / "pack").glob("*.pack"))
    return elapsed, tree, pack


async def _blob_bytes(git_dir: Path) -> tuple[int, int]:
    """(bytes of the head tree's blobs, bytes of every blob in the repository)."""
    head = await _git(git_dir, "ls-tree", "-r", "-l", "main")
    head_bytes = sum(int(line.split()[3]) for line in head.splitlines() if " blob " in line)
    listing = await _git(
        git_dir, "cat-file", "--batch-all-objects", "--batch-check=%(objecttype) %(objectsize)"
    )
    all_bytes = sum(int(size) for kind, size in (ln.split() for ln in listing.splitlines())
                    if kind == "blob")
    return head_bytes, all_bytes


def _breakdown(calls: Counter[str]) -> str:
    kinds = Counter(
        {"tree reads": calls["GET /repos/{owner}/{repo}/git/trees/{tree_sha}"],
         "blob reads": calls["GET /repos/{owner}/{repo}/git/blobs/{file_sha}"],
         "blob writes": calls["POST /repos/{owner}/{repo}/git/blobs"]}
    )
    kinds["other"] = calls.total() - kinds.total()
    return ", ".join(f"{n} {kind}" for kind, n in kinds.items())


async def run(workdir: Path, quick: bool = False) -> list[Section]:
    section = Section("revert")
    received = [0]

    async def count_chunk(
        _: Any, __: Any, params: aiohttp.TraceResponseChunkReceivedParams
    ) -> None:
        received[0] += len(params.chunk)

    tracing = aiohttp.TraceConfig()
    tracing.on_response_chunk_received.append(count_chunk)
    async with GitHubSim(workdir / "github") as sim, aiohttp.ClientSession(
        trace_configs=[tracing]
    ) as session:
        started = time.perf_counter()
        culprit, merges = _history(sim)
        setup_s = time.perf_counter() - started
        repo = sim.repo(REPO)
        git_dir = Path(repo.git_dir)
        gh = GitHubClient(session, api_url=sim.url, oauth_token=sim.create_token("alice"))

        async def app_revert() -> tuple[float, RevertCommit]:
            began = time.perf_counter()
            result = await build_revert_commit(gh, REPO, culprit, branch="main")
            elapsed = time.perf_counter() - began
            if not isinstance(result, RevertCommit):
                raise RuntimeError(f"expected a clean revert, got {result!r}")
            return elapsed, result

        await app_revert()  # warm-up: connection, caches of the simulator's git process
        calls_before, bytes_before = sim.calls.copy(), received[0]
        log_from = len(sim.call_log)
        app_s, git_s = [], []
        deadline = Deadline(BUDGET_S)
        result: RevertCommit | None = None
        git_tree = ""
        pack = 0
        for index in range(ROUNDS):
            if deadline.passed and index:
                break
            elapsed, result = await app_revert()
            app_s.append(elapsed)
            if index == 0:
                calls = sim.calls - calls_before
                http_bytes = received[0] - bytes_before
                blob_shas = [p.rsplit("/", 1)[-1] for m, p, _ in sim.call_log[log_from:]
                             if m == "GET" and "/git/blobs/" in p]
            elapsed, git_tree, pack = await _clone_and_revert(
                git_dir, workdir / f"clone{index}", culprit
            )
            git_s.append(elapsed)
        assert result is not None
        if len(result.merged_paths) != merges:
            raise RuntimeError(f"{len(result.merged_paths)} content merges, expected {merges}")
        if result.tree_sha != git_tree:
            raise RuntimeError(f"app tree {result.tree_sha} != git revert tree {git_tree}")
        fetched = sum(len((repo.store.read_object(s) or ("", b""))[1]) for s in blob_shas)
        head_bytes, all_bytes = await _blob_bytes(git_dir)

        section.figures.append(
            Figure("build_revert_commit", median(app_s) * 1000,
                   "git clone + git revert", median(git_s) * 1000, "ms")
        )
        section.figures.append(
            Figure("blob bytes downloaded", fetched, "all blobs in the repo", all_bytes, "B")
        )
        section.notes.append(
            f"{DIRS * FILES_PER_DIR} files; culprit + {LATER_COMMITS} later commits;"
            f" {len(result.merged_paths)} content merges; tree identical to git's;"
            f" median of {len(app_s)}"
        )
        section.notes.append(f"{calls.total()} API requests: {_breakdown(calls)}")
        section.notes.append(
            f"{len(blob_shas)} blobs fetched = {100 * fetched / head_bytes:.1f}% of the head"
            f" tree's {human_bytes(head_bytes)}; HTTP bodies {human_bytes(http_bytes)}"
            f" vs the clone's pack {human_bytes(pack)}"
        )
        section.notes.append(f"writing the history took {setup_s:.1f} s (untimed)")
    return [section]
