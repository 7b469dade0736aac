"""Content merges for a revert, done by git's merge-ort itself (`git merge-tree --write-tree`).

Why not `git merge-file -p`: `git revert` merges with merge-ort, and merge-ort hardcodes
the *histogram* diff, while `git merge-file` before git 2.44 can only use Myers. The two
disagree on real inputs (a Myers-clean merge that merge-ort calls a conflict is pinned
in tests/test_revert_agreement.py). Why not a Python diff3: agreement would be an
aspiration, not a fact. So the files that need merging are written into a throw-away
bare repository as three tiny commits (base=C, ours=H, theirs=P, holding only those
paths) and merged with `git merge-tree --write-tree` (git >= 2.38): the same code path
as `git revert`, so agreement holds by construction, binary detection and the mode
rule included. Each side holds every path (only the base may miss one), so rename
detection has nothing to pair and cannot make the mini-merge differ from the real one.

Four short git processes per revert, however many files: init, fast-import, merge-tree,
ls-tree, plus cat-file for the merged contents.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from app.core.revert import Entry, MergeJob, MergeOutcome

GIT = os.environ.get("BUILDSHERIFF_GIT", "git")
_IDENTITY = b"Build Sheriff <buildsheriff@localhost> 0 +0000"
_BINARY_SNIFF = 8000  # git's buffer_is_binary looks at this many bytes for a NUL


class GitMergeError(RuntimeError):
    """git itself failed (not a conflict): missing binary, corrupt input."""


def _hermetic_env(git_dir: str) -> dict[str, str]:
    # No user or system config may change how the merge behaves (renames, drivers, ...).
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(
        GIT_DIR=git_dir,
        GIT_CONFIG_NOSYSTEM="1",
        GIT_CONFIG_GLOBAL=os.devnull,
        GIT_TERMINAL_PROMPT="0",
        LC_ALL="C",
    )
    return env


async def _git(env: Mapping[str, str], *args: str, stdin: bytes | None = None) -> tuple[int, bytes]:
    try:
        proc = await asyncio.create_subprocess_exec(
            GIT,
            *args,
            stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=dict(env),
        )
    except FileNotFoundError as exc:
        raise GitMergeError("git is not installed; it is needed to merge file contents") from exc
    out, err = await proc.communicate(stdin)
    code = proc.returncode if proc.returncode is not None else -1
    if code not in (0, 1):
        raise GitMergeError(f"git {args[0]} failed ({code}): {err.decode(errors='replace')[:300]}")
    return code, out


def _quote_path(path: str) -> bytes:
    """fast-import's path syntax: C-style quoting when the path could be misread."""
    raw = path.encode()
    if not any(ch in raw for ch in b'"\\\n') and not raw.startswith(b'"'):
        return raw
    escaped = raw.replace(b"\\", b"\\\\").replace(b'"', b'\\"').replace(b"\n", b"\\n")
    return b'"' + escaped + b'"'


def _fast_import_stream(jobs: Sequence[MergeJob], blobs: Mapping[str, bytes]) -> bytes:
    marks: dict[str, int] = {}
    out = bytearray()
    for sha in sorted({e.sha for j in jobs for e in (j.base, j.ours, j.theirs) if e}):
        marks[sha] = len(marks) + 1
        data = blobs[sha]
        out += b"blob\nmark :%d\ndata %d\n" % (marks[sha], len(data)) + data + b"\n"
    sides: list[tuple[bytes, list[tuple[str, Entry]]]] = [
        (b"base", [(j.path, j.base) for j in jobs if j.base is not None]),
        (b"ours", [(j.path, j.ours) for j in jobs]),
        (b"theirs", [(j.path, j.theirs) for j in jobs]),
    ]
    base_mark = len(marks) + 1
    for i, (name, entries) in enumerate(sides):
        out += b"commit refs/heads/%s\nmark :%d\n" % (name, base_mark + i)
        out += b"committer " + _IDENTITY + b"\ndata 0\n"
        if i:
            out += b"from :%d\n" % base_mark
            out += b"deleteall\n"
        for path, entry in entries:
            out += b"M %s :%d %s\n" % (entry.mode.encode(), marks[entry.sha], _quote_path(path))
        out += b"\n"
    return bytes(out)


def _is_binary(data: bytes) -> bool:
    return b"\0" in data[:_BINARY_SNIFF]


def _conflict_reason(job: MergeJob, blobs: Mapping[str, bytes]) -> str:
    sides = [e for e in (job.base, job.ours, job.theirs) if e is not None]
    if any(_is_binary(blobs[e.sha]) for e in sides):
        return "binary file changed on both sides"
    if job.base is None:
        return "deleted by the culprit and added again since, differently"
    return "both sides changed the same lines"


async def merge_contents(
    jobs: Sequence[MergeJob], blobs: Mapping[str, bytes]
) -> tuple[dict[str, MergeOutcome], dict[str, bytes]]:
    """Merge every job at once; returns outcomes by path and the new blobs' contents by sha.

    `blobs` must hold the contents of every entry the jobs name (by blob sha).
    """
    if not jobs:
        return {}, {}
    with tempfile.TemporaryDirectory(prefix="buildsheriff-merge-") as tmp:
        git_dir = str(Path(tmp) / "repo.git")
        env = _hermetic_env(git_dir)
        await _git(env, "init", "--quiet", "--bare", git_dir)
        stream = _fast_import_stream(jobs, blobs) + b"done\n"
        await _git(env, "fast-import", "--quiet", "--done", stdin=stream)
        code, out = await _git(
            env, "merge-tree", "--write-tree", "--name-only", "-z", "ours", "theirs"
        )
        fields = out.split(b"\0")
        tree = fields[0].decode()
        # With conflicts, the names follow the tree and end at an empty field (messages after).
        conflicted: set[str] = set()
        for name in fields[1:] if code == 1 else []:
            if not name:
                break
            conflicted.add(name.decode())
        _, listing = await _git(env, "ls-tree", "-r", "-z", tree)
        merged: dict[str, Entry] = {}
        for record in listing.split(b"\0"):
            if not record:
                continue
            meta, path = record.split(b"\t", 1)
            mode, _kind, sha = meta.decode().split()
            merged[path.decode()] = Entry(mode, sha)
        outcomes: dict[str, MergeOutcome] = {}
        for job in jobs:
            if job.path in conflicted or job.path not in merged:
                outcomes[job.path] = MergeOutcome(job.path, None, _conflict_reason(job, blobs))
            else:
                outcomes[job.path] = MergeOutcome(job.path, merged[job.path])
        if conflicted:
            return outcomes, {}
        fresh = sorted({o.merged.sha for o in outcomes.values() if o.merged} - set(blobs))
        contents = await _read_blobs(env, fresh)
    return outcomes, contents


async def _read_blobs(env: Mapping[str, str], shas: Sequence[str]) -> dict[str, bytes]:
    if not shas:
        return {}
    _, out = await _git(env, "cat-file", "--batch", stdin="".join(s + "\n" for s in shas).encode())
    contents: dict[str, bytes] = {}
    pos = 0
    for _ in shas:
        header_end = out.index(b"\n", pos)
        sha, _kind, size = out[pos:header_end].decode().split()
        start = header_end + 1
        contents[sha] = out[start : start + int(size)]
        pos = start + int(size) + 1
    return contents
