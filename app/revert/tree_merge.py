"""The whole revert merged by git's merge-ort on the real trees, for when files may have moved.

Only git agrees with git: rename detection, directory renames, the rename limit and
their conflicts are merge-ort's own. So `git merge-tree --write-tree` runs in a
throw-away bare repository holding the trees the app read through the API (stored
under GitHub's shas, so shared subtrees stay shared) and no file contents at all.

The repository is a partial clone. Its promisor "remote" is a five-line remote helper
that writes down which objects git asks for and fails. merge-ort prefetches, in
batches, exactly the blobs it needs (content merges; similarity scoring only for the
sources that matter and their candidates, as it does for partial clones), so a round
that fails names what to download; the app downloads that batch through the Git Data
API and runs the merge again. Two or three rounds, and no blob git did not ask for.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.core.revert_moves import Followed
from app.core.revert_plan import GITLINK_MODE, Conflict, Entry, TreeWrite
from app.revert.git_merge import (
    GitMergeError,
    ObjectWriter,
    hermetic_env,
    parse_batch,
    run_git,
    tree_body,
)

EMPTY_TREE_SHA = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
MAX_ROUNDS = 16  # each round must bring new objects; real merges need two or three
FOLLOW_NAMING_LIMIT = 1000  # past this many paths, moves are not named in the PR body
_HELPER_NAME = "git-remote-buildsheriff"
_HELPER = b"""#!/bin/sh
# Build Sheriff's promisor remote: note what git wants, then fail; the app fetches it.
while IFS= read -r line; do
  case "$line" in
    capabilities) printf 'fetch\\n\\n' ;;
    list*) printf '\\n' ;;
    "fetch "*) set -- $line; printf '%s\\n' "$2" >> "$BUILDSHERIFF_WANTS" ;;
    "") exit 1 ;;
    *) printf 'unsupported\\n' ;;
  esac
done
exit 1
"""
_CONFIG = b"""[core]
\trepositoryformatversion = 1
\tbare = true
[extensions]
\tpartialClone = origin
[remote "origin"]
\turl = buildsheriff::github
\tpromisor = true
\tpartialclonefilter = blob:none
[gc]
\tauto = 0
[maintenance]
\tauto = false
"""
_SHA = re.compile(rb"\b[0-9a-f]{40}\b")
_helper_dir: str | None = None

BlobFetcher = Callable[[Sequence[str]], Awaitable[Mapping[str, bytes]]]
TreeFetcher = Callable[[str], Awaitable[Sequence[Mapping[str, Any]]]]


@dataclass(frozen=True)
class TreeMerge:
    """merge-ort's answer, in the terms the revert needs."""

    tree: str  # the merged tree (with conflict markers when there are conflicts)
    conflicts: tuple[Conflict, ...]  # at the paths git lists, without its "~HEAD" suffixes
    writes: tuple[TreeWrite, ...] = ()  # from the head's tree to the merged one
    new_blobs: Mapping[str, bytes] = field(default_factory=dict)  # made by the merge
    followed: tuple[Followed, ...] = ()
    downloaded: int = 0  # objects fetched for git


def _helper_path() -> str:
    """The directory holding the remote helper: one per user under the temp dir, reused
    by every process (not /dev/shm: containers mount it noexec)."""
    global _helper_dir
    if _helper_dir is not None and Path(_helper_dir, _HELPER_NAME).exists():
        return _helper_dir
    home = Path(tempfile.gettempdir()) / f"buildsheriff-git-{os.getuid()}"
    try:
        home.mkdir(mode=0o700, exist_ok=True)
        info = home.lstat()
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
            raise PermissionError(f"{home} is not a private directory of this user")
    except OSError:  # someone else's, or not writable: a private one for this process
        home = Path(tempfile.mkdtemp(prefix="buildsheriff-git-"))
        atexit.register(shutil.rmtree, home, True)
    helper = home / _HELPER_NAME
    if not helper.exists() or helper.read_bytes() != _HELPER:
        fresh = home / f".{_HELPER_NAME}.{os.getpid()}"
        fresh.write_bytes(_HELPER)
        fresh.chmod(stat.S_IRWXU)
        os.replace(fresh, helper)  # atomic: a process running git never sees half a file
    _helper_dir = str(home)
    return _helper_dir


class _LazyRepo:
    """A scratch partial clone, filled with objects as git asks for them."""

    def __init__(
        self,
        git_dir: Path,
        levels: Mapping[str, Sequence[Mapping[str, Any]]],
        blobs: BlobFetcher,
        trees: TreeFetcher,
    ) -> None:
        self.git_dir = git_dir
        self.writer = ObjectWriter(git_dir)
        self._blobs = blobs
        self._trees = trees
        self.tree_shas: set[str] = set()
        self.blob_shas: set[str] = set()
        self.downloaded = 0
        self._wants = git_dir / "wanted"
        (git_dir / "objects").mkdir(parents=True)
        (git_dir / "refs" / "heads").mkdir(parents=True)
        (git_dir / "HEAD").write_bytes(b"ref: refs/heads/ours\n")
        (git_dir / "config").write_bytes(_CONFIG)
        self.env = hermetic_env(str(git_dir))
        self.env["PATH"] = _helper_path() + os.pathsep + self.env.get("PATH", os.defpath)
        self.env["BUILDSHERIFF_WANTS"] = str(self._wants)
        self.env["GIT_LITERAL_PATHSPECS"] = "1"
        self.writer.write(b"tree", b"")
        for sha, items in levels.items():
            self._store_tree(sha, items)

    def _store_tree(self, sha: str, items: Sequence[Mapping[str, Any]]) -> None:
        raw: list[tuple[bytes, bytes, str]] = []
        for item in items:
            mode = str(item["mode"]).lstrip("0")
            raw.append((str(item["path"]).encode(), mode.encode(), str(item["sha"])))
            if item.get("type") == "tree":
                self.tree_shas.add(str(item["sha"]))
            elif item.get("type") == "blob":
                self.blob_shas.add(str(item["sha"]))
        self.tree_shas.add(sha)
        # Stored under GitHub's sha: what git compares is what GitHub holds.
        self.writer.write(b"tree", tree_body(raw), name=sha)

    def ref(self, name: str, sha: str) -> None:
        (self.git_dir / "refs" / "heads" / name).write_bytes(sha.encode() + b"\n")

    async def run(self, *args: str, stdin: bytes | None = None) -> tuple[int, bytes]:
        """A git command, rerun after fetching whatever it failed to find."""
        for _ in range(MAX_ROUNDS):
            code, out, err = await run_git(self.env, *args, stdin=stdin)
            if code in (0, 1):
                return code, out
            wanted = self._wanted(err)
            if not wanted:
                detail = err.decode(errors="replace").strip()[-300:]
                raise GitMergeError(f"git {args[0]} failed ({code}): {detail}")
            await self._supply(wanted)
        raise GitMergeError(f"git {args[0]} kept asking for objects")

    def _wanted(self, err: bytes) -> list[str]:
        asked: list[bytes] = []
        if self._wants.exists():
            asked = [line.split()[0] for line in self._wants.read_bytes().splitlines() if line]
            self._wants.unlink()
        if not asked:  # a read that does not go through the promisor names its object
            asked = _SHA.findall(err)
        return sorted({s.decode() for s in asked if not self.writer.has(s.decode())})

    async def _supply(self, shas: Sequence[str]) -> None:
        trees = [s for s in shas if s in self.tree_shas]
        blobs = [s for s in shas if s not in self.tree_shas]
        listings = await asyncio.gather(*(self._trees(sha) for sha in trees))
        for sha, items in zip(trees, listings, strict=True):
            self._store_tree(sha, items)
        if blobs:
            fetched = await self._blobs(blobs)
            for sha in blobs:
                if self.writer.write(b"blob", fetched[sha]) != sha:
                    raise GitMergeError(f"blob {sha} does not hash to its name")
        self.downloaded += len(shas)


async def merge_trees(
    *,
    scratch: str | None,
    levels: Mapping[str, Sequence[Mapping[str, Any]]],
    base: str,
    ours: str,
    theirs: str | None,
    theirs_label: str,
    blobs: BlobFetcher,
    trees: TreeFetcher,
    touched: Sequence[str],
    gone: Sequence[str],
) -> TreeMerge:
    """merge-ort of base=`base`, ours=`ours`, theirs=`theirs` (tree shas; None: empty).

    `levels` are the directory listings already read, by tree sha (GitHub's shape);
    `blobs` and `trees` download what else git asks for. `touched` are the paths the
    culprit changed and `gone` those of them the head no longer has, to name the files
    followed to a new path. Conflicted paths carry git's own explanation."""
    with tempfile.TemporaryDirectory(prefix="buildsheriff-follow-", dir=scratch) as tmp:
        repo = _LazyRepo(Path(tmp) / "repo.git", levels, blobs, trees)
        base_commit = repo.writer.commit(base, [])
        ours_commit = repo.writer.commit(ours, [base_commit])
        theirs_commit = repo.writer.commit(theirs or EMPTY_TREE_SHA, [base_commit])
        # The labels git uses in its messages and "path~label" names: "HEAD" as in
        # `git revert`, and "<culprit>^" (a child of theirs, named after the culprit).
        repo.ref("ours", ours_commit)
        repo.ref(theirs_label, repo.writer.commit(EMPTY_TREE_SHA, [theirs_commit]))
        code, out = await repo.run(
            "merge-tree", "--write-tree", "-z", "--name-only", "HEAD", f"{theirs_label}^"
        )
        fields = out.split(b"\0")
        tree = fields[0].decode()
        if code == 1:
            conflicts = _conflicts(fields, ("HEAD", f"{theirs_label}^")) or (
                Conflict(".", "git reported a conflict without naming it", unmerged=False),
            )
            return TreeMerge(tree, conflicts, downloaded=repo.downloaded)
        _, diff = await repo.run("diff-tree", "-r", "-z", "--no-renames", ours, tree)
        writes = _parse_raw_diff(diff)
        fresh = sorted(
            {
                w.entry.sha
                for w in writes
                if w.entry is not None
                and w.entry.mode != GITLINK_MODE
                and w.entry.sha not in repo.blob_shas
            }
        )
        new_blobs: dict[str, bytes] = {}
        if fresh:
            _, batch = await repo.run(
                "cat-file", "--batch", stdin="".join(f"{s}\n" for s in fresh).encode()
            )
            new_blobs = parse_batch(batch)
        followed = await _followed(repo, base, ours, touched, gone, writes)
        return TreeMerge(tree, (), writes, new_blobs, followed, repo.downloaded)


async def _followed(
    repo: _LazyRepo,
    base: str,
    ours: str,
    touched: Sequence[str],
    gone: Sequence[str],
    writes: Sequence[TreeWrite],
) -> tuple[Followed, ...]:
    """Which of the culprit's files the revert changed at a new path, as git pairs them
    between the culprit and the head (only among those paths, so with the contents the
    merge already fetched)."""
    known = set(touched)
    arrived = [w.path for w in writes if w.path not in known]
    if not gone or not arrived or len(gone) + len(arrived) > FOLLOW_NAMING_LIMIT:
        return ()
    _, out = await repo.run(
        "diff-tree", "-r", "-z", "-M", "--diff-filter=R", base, ours, "--", *gone, *arrived
    )
    fields = out.split(b"\0")
    pairs: list[Followed] = []
    i = 0
    while i + 2 < len(fields):
        if fields[i].startswith(b":"):
            pairs.append(Followed(fields[i + 1].decode(), fields[i + 2].decode()))
            i += 3
        else:
            i += 1
    wrote = set(arrived)
    return tuple(sorted((f for f in pairs if f.new in wrote), key=lambda f: f.old))


def _parse_raw_diff(out: bytes) -> tuple[TreeWrite, ...]:
    """`diff-tree -r -z` records: ":<old mode> <new mode> <old sha> <new sha> <status>" NUL path."""
    fields = out.split(b"\0")
    writes: list[TreeWrite] = []
    for meta, path in zip(fields[0::2], fields[1::2], strict=False):
        if not meta.startswith(b":"):
            continue
        _old_mode, new_mode, _old_sha, new_sha, status = meta[1:].decode().split(" ")
        name = path.decode()
        if status == "D":
            writes.append(TreeWrite(name, None))
        else:
            writes.append(TreeWrite(name, Entry(new_mode.rjust(6, "0"), new_sha)))
    return tuple(sorted(writes, key=lambda w: w.path))


def _conflicts(fields: Sequence[bytes], labels: Sequence[str]) -> tuple[Conflict, ...]:
    """Conflicted names follow the tree up to an empty field; then git's messages, each
    "<count> NUL <path>... NUL <type> NUL <text> NUL"."""
    names: list[str] = []
    i = 1
    while i < len(fields) and fields[i]:
        names.append(fields[i].decode())
        i += 1
    i += 1
    suffix = re.compile("~(" + "|".join(re.escape(label) for label in labels) + r")(_\d+)?$")
    said: dict[str, list[str]] = {}
    unattached: list[Conflict] = []
    while i < len(fields) and fields[i].isdigit():
        count = int(fields[i])
        paths = [p.decode() for p in fields[i + 1 : i + 1 + count]]
        kind = fields[i + 1 + count].decode()
        text = fields[i + 2 + count].decode().strip().split(": ", 1)[-1]
        i += count + 3
        if not kind.startswith("CONFLICT") or not paths:
            continue
        for path in paths:
            said.setdefault(path, []).append(text)
        # About a directory rename ("Unclear where to rename dir to"): named "dir/".
        where = suffix.sub("", paths[0])
        if "dir rename" in kind or "directory rename" in kind:
            where = where.rstrip("/") + "/"
        unattached.append(Conflict(where, text, unmerged=False))
    conflicts: dict[str, str] = {}
    for name in names:
        path = suffix.sub("", name)
        reason = " ".join(dict.fromkeys(said.get(name, []) + said.get(path, [])))
        conflicts.setdefault(path, reason or "both sides changed it")
    if not conflicts:
        # merge-ort found a conflict but left no file unmerged (a directory renamed to
        # several places): still a conflict, named after what git's messages are about.
        return tuple(sorted(set(unattached), key=lambda c: c.path))
    return tuple(Conflict(p, r) for p, r in sorted(conflicts.items()))
