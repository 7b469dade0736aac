"""Content merges for a revert, done by git's merge-ort itself (`git merge-tree --write-tree`).

Why not `git merge-file -p`: `git revert` merges with merge-ort, and merge-ort hardcodes
the *histogram* diff, while `git merge-file` before git 2.44 can only use Myers. The two
disagree on real inputs (a Myers-clean merge that merge-ort calls a conflict is pinned
in tests/test_revert_agreement.py). Why not a Python diff3: agreement would be an
aspiration, not a fact. So the files that need merging go into a throw-away bare
repository as three tiny commits (base=C, ours=H, theirs=P, holding only those paths)
merged with `git merge-tree --write-tree` (git >= 2.38): the same code path as
`git revert`, so agreement holds by construction, binary detection and the mode rule
included. Every side holds every path (only the base may miss one), so rename detection
has nothing to pair and cannot make the mini-merge differ from the real one.

Cost: the inputs are written as loose objects from Python (the documented object
format: zlib of "<type> <size>\\0<body>"), which is far cheaper than `git init` plus
`git fast-import` processes; then one merge-tree, and, when clean, ls-tree and cat-file
side by side to read the results. Three git processes per revert, however many files.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import tempfile
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path

from app.core.revert_plan import Entry, MergeJob, MergeOutcome

GIT = os.environ.get("BUILDSHERIFF_GIT", "git")
_IDENTITY = b"Build Sheriff <buildsheriff@localhost> 0 +0000"
_BINARY_SNIFF = 8000  # git's buffer_is_binary looks at this many bytes for a NUL
_TREE_MODE = b"40000"
# Past this many bytes of input, the scratch repository goes to the ordinary temp dir.
MEMORY_SCRATCH_LIMIT = 16 * 1024 * 1024
_SHM = Path("/dev/shm")


def scratch_dir(input_bytes: int) -> str | None:
    """Where the throw-away repository lives: `$BUILDSHERIFF_SCRATCH_DIR`, else memory
    (/dev/shm) for small merges, else the system temp dir.

    A merge writes and deletes a few dozen small files; on a disk mounted with `discard`
    each delete costs milliseconds, in memory microseconds."""
    configured = os.environ.get("BUILDSHERIFF_SCRATCH_DIR")
    if configured:
        return configured
    if input_bytes <= MEMORY_SCRATCH_LIMIT and _SHM.is_dir() and os.access(_SHM, os.W_OK):
        return str(_SHM)
    return None


class GitMergeError(RuntimeError):
    """git itself failed (not a conflict): missing binary, corrupt input."""


def hermetic_env(git_dir: str) -> dict[str, str]:
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
    code, out, err = await run_git(env, *args, stdin=stdin)
    if code not in (0, 1):
        raise GitMergeError(f"git {args[0]} failed ({code}): {err.decode(errors='replace')[:300]}")
    return code, out


async def run_git(
    env: Mapping[str, str], *args: str, stdin: bytes | None = None
) -> tuple[int, bytes, bytes]:
    """(exit code, stdout, stderr) of one git command; raises only when git is missing."""
    executable = shutil.which(GIT)
    if executable is None:
        raise GitMergeError("git is not installed; it is needed to merge file contents")
    # A full path, no cwd and close_fds=False let Python use posix_spawn instead of fork:
    # forking a large server process costs milliseconds on the event loop. Python opens
    # every descriptor non-inheritable (PEP 446), so nothing leaks into git.
    proc = await asyncio.create_subprocess_exec(
        executable,
        *args,
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=dict(env),
        close_fds=False,
    )
    out, err = await proc.communicate(stdin)
    return (proc.returncode if proc.returncode is not None else -1), out, err


class ObjectWriter:
    """Loose objects into a bare repository's object directory."""

    def __init__(self, git_dir: Path) -> None:
        self.objects = git_dir / "objects"

    def write(self, kind: bytes, body: bytes, name: str | None = None) -> str:
        """Store an object; `name` stores it under a sha known from elsewhere (GitHub's)."""
        data = b"%s %d\0" % (kind, len(body)) + body
        sha = name or hashlib.sha1(data).hexdigest()
        path = self.objects / sha[:2] / sha[2:]
        if not path.exists():
            path.parent.mkdir(exist_ok=True)
            path.write_bytes(zlib.compress(data, 1))
        return sha

    def has(self, sha: str) -> bool:
        return (self.objects / sha[:2] / sha[2:]).exists()

    def tree(self, entries: Mapping[str, Entry]) -> str:
        root: dict[str, object] = {}
        for path, entry in entries.items():
            node = root
            *dirs, name = path.split("/")
            for part in dirs:
                child = node.setdefault(part, {})
                assert isinstance(child, dict)
                node = child
            node[name] = entry
        return self._write_level(root)

    def _write_level(self, node: Mapping[str, object]) -> str:
        items: list[tuple[bytes, bytes, str]] = []
        for name, value in node.items():
            raw = name.encode()
            if isinstance(value, Entry):
                items.append((raw, value.mode.lstrip("0").encode(), value.sha))
            else:
                assert isinstance(value, dict)
                items.append((raw, _TREE_MODE, self._write_level(value)))
        return self.write(b"tree", tree_body(items))

    def commit(self, tree: str, parents: Sequence[str]) -> str:
        body = b"tree %s\n" % tree.encode()
        body += b"".join(b"parent %s\n" % p.encode() for p in parents)
        body += b"author " + _IDENTITY + b"\ncommitter " + _IDENTITY + b"\n\nmerge input\n"
        return self.write(b"commit", body)


def tree_body(items: list[tuple[bytes, bytes, str]]) -> bytes:
    """A tree object's body from (name, mode without leading zeros, sha) entries."""
    # git orders a tree's entries by name, a subtree's name counting as "name/".
    items = sorted(items, key=lambda i: i[0] + b"/" if i[1] == _TREE_MODE else i[0])
    return b"".join(m + b" " + name + b"\0" + bytes.fromhex(sha) for name, m, sha in items)


def bare_repo(git_dir: Path) -> None:
    """The minimal repository layout git accepts (gitrepository-layout)."""
    (git_dir / "objects").mkdir(parents=True)
    (git_dir / "refs").mkdir()
    (git_dir / "HEAD").write_bytes(b"ref: refs/heads/main\n")
    (git_dir / "config").write_bytes(b"[core]\n\trepositoryformatversion = 0\n\tbare = true\n")


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

    `blobs` must hold the contents of every entry the jobs name (by blob sha). When any
    path conflicts the whole revert is a conflict, so the other paths' outcomes are then
    placeholders (their `ours` side) and nothing is read back.
    """
    if not jobs:
        return {}, {}
    odd = [j for j in jobs if "\n" in j.path]
    if odd:  # cat-file's line protocol cannot name them; no real repository has them
        return {j.path: MergeOutcome(j.path, None, "path contains a newline") for j in jobs}, {}
    scratch = scratch_dir(sum(len(d) for d in blobs.values()))
    with tempfile.TemporaryDirectory(prefix="buildsheriff-merge-", dir=scratch) as tmp:
        git_dir = Path(tmp) / "repo.git"
        bare_repo(git_dir)
        writer = ObjectWriter(git_dir)
        for sha, data in blobs.items():
            if writer.write(b"blob", data) != sha:
                raise GitMergeError(f"blob {sha} does not hash to its name")
        base = writer.commit(writer.tree({j.path: j.base for j in jobs if j.base is not None}), [])
        ours = writer.commit(writer.tree({j.path: j.ours for j in jobs}), [base])
        theirs = writer.commit(writer.tree({j.path: j.theirs for j in jobs}), [base])
        env = hermetic_env(str(git_dir))
        code, out = await _git(env, "merge-tree", "--write-tree", "--name-only", "-z", ours, theirs)
        fields = out.split(b"\0")
        tree = fields[0].decode()
        if code == 1:
            # Conflicted names follow the tree and end at an empty field (messages after).
            conflicted: set[str] = set()
            for name in fields[1:]:
                if not name:
                    break
                conflicted.add(name.decode())
            return {
                j.path: MergeOutcome(j.path, None, _conflict_reason(j, blobs))
                if j.path in conflicted
                else MergeOutcome(j.path, j.ours)
                for j in jobs
            }, {}
        wanted = "".join(f"{tree}:{j.path}\n" for j in jobs).encode()
        listing, contents = await asyncio.gather(
            _git(env, "ls-tree", "-r", "-z", tree),
            _git(env, "cat-file", "--batch", stdin=wanted),
        )
    merged = parse_ls_tree(listing[1])
    outcomes = {
        j.path: MergeOutcome(j.path, merged[j.path])
        if j.path in merged
        else MergeOutcome(j.path, None, "deleted by the merge")
        for j in jobs
    }
    fresh = {sha: data for sha, data in parse_batch(contents[1]).items() if sha not in blobs}
    return outcomes, fresh


def parse_ls_tree(out: bytes) -> dict[str, Entry]:
    entries: dict[str, Entry] = {}
    for record in out.split(b"\0"):
        if not record:
            continue
        meta, path = record.split(b"\t", 1)
        mode, _kind, sha = meta.decode().split()
        entries[path.decode()] = Entry(mode, sha)
    return entries


def parse_batch(out: bytes) -> dict[str, bytes]:
    """`git cat-file --batch` answers: "<sha> <type> <size>\\n<content>\\n" each."""
    contents: dict[str, bytes] = {}
    pos = 0
    while pos < len(out):
        header_end = out.index(b"\n", pos)
        header = out[pos:header_end].decode().split()
        if len(header) != 3:  # "<name> missing": cannot happen for paths ls-tree listed
            pos = header_end + 1
            continue
        sha, _kind, size = header
        start = header_end + 1
        contents[sha] = out[start : start + int(size)]
        pos = start + int(size) + 1
    return contents
