"""Histories for the benchmarks, written straight into a simulated repository's git.

The simulator's own `repo.commit` writes one object per git call: right for tests, far
too slow for 20,000 files. One `git fast-import` per history writes any size in about
a second; the branch is then moved without webhooks, as if it had been pushed before
the benchmark started.
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from sim.github.repo import SimRepo

GIT = shutil.which("git") or "git"
WORDS = (
    "self", "value", "return", "items", "config", "result", "request", "len", "for", "in",
    "if", "else", "None", "True", "data", "path", "error", "count", "key", "name", "index",
    "parse", "build", "client", "response", "cache", "token", "limit", "offset", "node",
)
LINES = 40


@dataclass(frozen=True)
class Change:
    """One commit: path -> new content (None deletes), by a simulator user."""

    message: str
    files: Mapping[str, bytes | None]
    author: str = "octocat"


def source_text(path: str, edits: Mapping[int, str] | None = None, lines: int = LINES) -> bytes:
    """A file that differs from every other (so packs compress it like code), with edits."""
    # Seeded per path: the same path always starts from the same text.
    rng = random.Random(path)
    body = [
        f"{' ' * 4 * rng.randrange(3)}{rng.choice(WORDS)}_{n} = "
        + " ".join(rng.choice(WORDS) for _ in range(rng.randrange(2, 7)))
        for n in range(lines)
    ]
    for n, line in (edits or {}).items():
        body[n] = line
    return ("\n".join(body) + "\n").encode()


def tree_paths(files: int, per_dir: int = 10, dirs_per_package: int = 10) -> list[str]:
    """`files` paths, `per_dir` to a directory, directories grouped in packages."""
    return [
        f"pkg{d // dirs_per_package}/mod{d % dirs_per_package}/file{f}.py"
        for d in range((files + per_dir - 1) // per_dir)
        for f in range(per_dir)
    ][:files]


def _stream(repo: SimRepo, ref: str, start: str, changes: Sequence[Change],
            when: int) -> bytes:
    out = bytearray()
    previous = start
    for index, change in enumerate(changes):
        ident = repo.ident(change.author)
        message = change.message.encode() + b"\n"
        stamp = f"{ident.name} <{ident.email}> {when + index} +0000".encode()
        out += b"commit %s\nmark :%d\n" % (ref.encode(), index + 1)
        out += b"author %s\ncommitter %s\n" % (stamp, stamp)
        out += b"data %d\n%s" % (len(message), message)
        out += b"from %s\n" % previous.encode()
        for path, data in sorted(change.files.items()):
            if data is None:
                out += b"D %s\n" % path.encode()
            else:
                out += b"M 100644 inline %s\ndata %d\n%s\n" % (path.encode(), len(data), data)
        out += b"\n"
        previous = f":{index + 1}"
    return bytes(out)


async def _git(git_dir: Path, *args: str, stdin: bytes | None = None) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update({"GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull, "LC_ALL": "C"})
    proc = await asyncio.create_subprocess_exec(
        GIT, "-C", str(git_dir), *args, env=env,
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate(stdin)
    if proc.returncode:
        raise RuntimeError(f"git {' '.join(args)}: {err.decode()[:300]}")
    return out.decode()


async def append(repo: SimRepo, changes: Sequence[Change], *, branch: str | None = None,
                 when: float | None = None) -> list[str]:
    """Commit `changes` on top of the branch, oldest first, and move it; the new shas."""
    branch = branch or repo.default_branch
    start = repo.head(branch)
    scratch = f"refs/bench/{branch}"
    stamp = int(repo.now() if when is None else when) - len(changes)
    git_dir = Path(repo.git_dir)
    await _git(git_dir, "fast-import", "--quiet", "--force",
               stdin=_stream(repo, scratch, start, changes, stamp))
    shas = (await _git(git_dir, "rev-list", "--reverse", f"{start}..{scratch}")).split()
    await _git(git_dir, "update-ref", "-d", scratch)
    repo.move_ref(f"refs/heads/{branch}", shas[-1], repo.owner, notify=False)
    return shas
