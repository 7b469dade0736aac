"""Random git histories for the revert agreement test, and `git revert` as the oracle.

Histories are written with one `git fast-import` into the simulator's bare repository
(fast: one process per history). Each file's lines carry the file's own token, so
git's rename detection pairs a file with its own renamed self (kept token) and never
with another file, while lines within a file repeat a lot, which is where Myers and
histogram diffs part ways. Histories rename files (in place, to another directory,
with and without edits) and move whole directories or the top-level files into a
new directory, so reverts meet merge-ort's rename and directory-rename handling.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

GIT = shutil.which("git") or "git"
VOCAB = ["{", "}", "return x", "x = 1", "", "if x:", "pass", "end", "y = x", "# note"]
HERMETIC = {
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_AUTHOR_NAME": "T",
    "GIT_AUTHOR_EMAIL": "t@example.com",
    "GIT_COMMITTER_NAME": "T",
    "GIT_COMMITTER_EMAIL": "t@example.com",
    "LC_ALL": "C",
}


def git_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(HERMETIC)
    env.update(extra)
    return env


async def git(
    cwd: Path, *args: str, stdin: bytes | None = None, check: bool = True
) -> tuple[int, str]:
    # `-C` rather than cwd=, a full path and close_fds=False: Python then spawns with
    # posix_spawn, not fork, which is much cheaper from a process as big as this one.
    proc = await asyncio.create_subprocess_exec(
        GIT,
        "-C",
        str(cwd),
        *args,
        close_fds=False,
        env=git_env(),
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate(stdin)
    code = proc.returncode or 0
    if check and code != 0:
        raise AssertionError(f"git {' '.join(args)} -> {code}: {err.decode()[:500]}")
    return code, out.decode()


@dataclass
class FileState:
    mode: str
    lines: list[str]
    binary: bool = False

    def data(self) -> bytes:
        if self.mode == "120000":
            return self.lines[0].encode()  # a symlink's blob is its target
        text = "".join(line + "\n" for line in self.lines).encode()
        return b"\0BIN" + text if self.binary else text


@dataclass
class History:
    """What fast-import should write: commits as (files after the commit, is_merge)."""

    commits: list[tuple[dict[str, FileState], bool]] = field(default_factory=list)


class HistoryMaker:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.serial = 0

    def _token(self) -> str:
        self.serial += 1
        return f"t{self.serial}"

    def _new_file(self, binary: bool = False) -> FileState:
        token = self._token()
        lines = [f"{token} {self.rng.choice(VOCAB)}" for _ in range(self.rng.randint(12, 60))]
        return FileState("100644", lines, binary)

    def _edit(self, f: FileState) -> FileState:
        if f.mode == "120000":
            return FileState(f.mode, [f"target-{self._token()}"])
        lines = list(f.lines)
        token = lines[0].split(" ")[0] if lines else self._token()
        for _ in range(self.rng.randint(1, 3)):
            at = self.rng.randint(0, len(lines))
            op = self.rng.random()
            fresh = [f"{token} {self.rng.choice(VOCAB)}" for _ in range(self.rng.randint(1, 3))]
            if op < 0.4 or not lines:
                lines[at:at] = fresh
            elif op < 0.7:
                i = min(at, len(lines) - 1)
                del lines[i : i + self.rng.randint(1, 2)]
            else:
                i = min(at, len(lines) - 1)
                lines[i : i + 1] = fresh
        return FileState(f.mode, lines, f.binary)

    def make(self, later: int) -> History:
        """A base commit of a few files, then `later` random commits on top."""
        rng = self.rng
        files: dict[str, FileState] = {}
        names = ["a.txt", "b.txt", "src/c.py", "src/deep/d.py", "docs/e.md", "f.cfg", "g/h.txt"]
        for name in rng.sample(names, rng.randint(3, len(names))):
            files[name] = self._new_file()
        if rng.random() < 0.15:
            files["blob.bin"] = self._new_file(binary=True)
        if rng.random() < 0.2:
            files["link"] = FileState("120000", ["a.txt"])
        history = History([(dict(files), False)])
        gone: list[str] = []
        for _ in range(later):
            files = dict(files)
            if len(history.commits) > 1 and rng.random() < 0.06:
                # Someone reverted an earlier commit by hand: reverting it again is empty.
                undone = self._undo(history, rng.randrange(1, len(history.commits)), files)
                if undone:
                    history.commits.append((undone, False))
                    continue
            for name in rng.sample(sorted(files), min(len(files), rng.randint(1, 2))):
                roll = rng.random()
                if roll < 0.08 and len(files) > 1:
                    del files[name]
                    gone.append(name)
                elif roll < 0.1 and files[name].mode != "120000":
                    # The file becomes a directory of the same name.
                    del files[name]
                    files[f"{name}/inner.txt"] = self._new_file()
                elif roll < 0.15 and files[name].mode != "120000":
                    flipped = "100755" if files[name].mode == "100644" else "100644"
                    files[name] = FileState(flipped, files[name].lines, files[name].binary)
                elif roll < 0.3:
                    self._rename(files, name, gone)
                else:
                    files[name] = self._edit(files[name])
            if rng.random() < 0.07:
                self._move_into_directory(files)
            if rng.random() < 0.12:
                if gone and rng.random() < 0.5:
                    back = gone.pop(rng.randrange(len(gone)))
                    if _fits(files, back, leaving=[]):
                        files[back] = self._new_file()
                else:
                    files[f"new/{self._token()}.txt"] = self._new_file()
            history.commits.append((files, rng.random() < 0.1))
        return history

    def _rename(self, files: dict[str, FileState], name: str, gone: list[str]) -> None:
        """Rename in place, to another directory or to a new one; sometimes with edits."""
        rng = self.rng
        folder, _, base = name.rpartition("/")
        dirs = sorted({p.rpartition("/")[0] for p in files} | {"", f"d{self._token()}"})
        roll = rng.random()
        if roll < 0.35:
            target = _join(folder, f"r{self._token()}.txt")
        elif roll < 0.7:
            target = _join(rng.choice(dirs), base)
        else:
            target = _join(rng.choice(dirs), f"r{self._token()}.txt")
        if not _fits(files, target, leaving=[name]):
            return
        state = files.pop(name)
        files[target] = self._edit(state) if rng.random() < 0.4 else state
        if rng.random() < 0.3:
            gone.append(name)

    def _move_into_directory(self, files: dict[str, FileState]) -> None:
        """A directory (or every top-level file) moves into a new directory, as a package
        moving into `src/` does; sometimes one of the moved files is edited too."""
        rng = self.rng
        tops = sorted({p.split("/")[0] for p in files if "/" in p})
        group = rng.choice([*tops, ""])
        moving = [p for p in files if (p.split("/")[0] == group if group else "/" not in p)]
        root = rng.choice(["src", "lib", "pkg", f"m{self._token()}"])
        if not moving or group == root:
            return
        targets = {p: f"{root}/{p}" for p in moving}
        rest = {p: s for p, s in files.items() if p not in targets}
        if not all(_fits(rest, t, leaving=[]) for t in targets.values()):
            return
        edited = rng.choice(moving) if rng.random() < 0.3 else None
        for old, new in targets.items():
            state = files[old]
            rest[new] = self._edit(state) if old == edited else state
        files.clear()
        files.update(rest)

    @staticmethod
    def _undo(history: History, k: int, files: dict[str, FileState]) -> dict[str, FileState]:
        """`files` with commit k's changes taken back where nothing touched them since."""
        before, after = history.commits[k - 1][0], history.commits[k][0]
        result = dict(files)
        changed = False
        for path in set(before) | set(after):
            if before.get(path) == after.get(path) or files.get(path) != after.get(path):
                continue
            changed = True
            if path in before:
                result[path] = before[path]
            else:
                del result[path]
        return result if changed else {}


def _join(folder: str, name: str) -> str:
    return f"{folder}/{name}" if folder else name


def _fits(files: dict[str, FileState], path: str, *, leaving: list[str]) -> bool:
    """`path` can be added: no file there or above it, no directory there."""
    others = [p for p in files if p not in leaving]
    parts = path.split("/")
    above = {"/".join(parts[:i]) for i in range(1, len(parts))}
    return path not in others and not any(p in above or p.startswith(path + "/") for p in others)


def fast_import_stream(history: History, ref: str, start: str, side_ref: str) -> bytes:
    """Commits on `ref` from `start`; a "merge" also names a side commit as second parent."""
    out = bytearray()
    mark = 0
    blob_marks: dict[bytes, int] = {}
    for files, _ in history.commits:
        for state in files.values():
            data = state.data()
            if data not in blob_marks:
                mark += 1
                blob_marks[data] = mark
                out += b"blob\nmark :%d\ndata %d\n" % (mark, len(data)) + data + b"\n"
    previous = start
    when = 1_700_000_000
    for i, (files, is_merge) in enumerate(history.commits):
        side = None
        if is_merge:
            # The side branch: one commit off `previous`; the merge's tree is ours to pick
            # (git revert -m 1 only looks at the first parent).
            mark += 1
            side = mark
            out += b"commit %s\nmark :%d\n" % (side_ref.encode(), side)
            out += b"committer T <t@example.com> %d +0000\ndata 5\nside\n" % when
            out += b"from %s\n\n" % previous.encode()
        mark += 1
        message = f"commit {i}\n".encode()
        out += b"commit %s\nmark :%d\n" % (ref.encode(), mark)
        out += b"committer T <t@example.com> %d +0000\n" % (when + i)
        out += b"data %d\n" % len(message) + message
        out += b"from %s\n" % previous.encode()
        if side is not None:
            out += b"merge :%d\n" % side
        out += b"deleteall\n"
        for path, state in sorted(files.items()):
            out += b"M %s :%d %s\n" % (state.mode.encode(), blob_marks[state.data()], path.encode())
        out += b"\n"
        previous = f":{mark}"
    return bytes(out)


async def write_history(git_dir: Path, history: History, start: str, name: str) -> list[str]:
    """Write the history on top of `start` (scratch refs named after `name`, so several
    can be written at once) and return the new commits' shas, oldest first."""
    ref, side = f"refs/scratch/{name}", f"refs/scratch/{name}-side"
    stream = fast_import_stream(history, ref, start, side)
    await git(git_dir, "fast-import", "--quiet", "--force", stdin=stream)
    _, log = await git(git_dir, "rev-list", "--first-parent", "--reverse", f"{start}..{ref}")
    return log.split()


@dataclass(frozen=True)
class Oracle:
    clean: bool
    tree: str | None  # the index's tree after a clean revert
    conflicts: frozenset[str] = frozenset()  # unmerged paths, without "~label" suffixes
    # git revert died instead of answering (git 2.39's merge-ort hits a BUG() on some
    # directory-rename tangles that `git merge-tree` reports as conflicts).
    crashed: bool = False


# merge-ort moves a file out of a directory's way to "path~<label>" (HEAD, or the
# revert's "parent of <sha> (<subject>)"), '/' in the label written as '_'.
_LABEL_SUFFIX = re.compile(r"~(HEAD|parent of .*)$")


def strip_label(path: str) -> str:
    return _LABEL_SUFFIX.sub("", path)


async def checkout(clone: Path, head: str) -> None:
    await git(clone, "checkout", "-q", "-f", "--detach", head)


async def git_revert(clone: Path, head: str, culprit: str, *, merge: bool) -> Oracle:
    """`git revert --no-commit` of `culprit` on the checked-out `head`, then back to it.

    `reset --hard` also drops REVERT_HEAD, so the next revert starts clean."""
    args = ["revert", "--no-commit", *(["-m", "1"] if merge else []), culprit]
    code, _ = await git(clone, *args, check=False)
    tree = None
    unmerged: frozenset[str] = frozenset()
    if code not in (0, 1):
        (clone / ".git" / "index.lock").unlink(missing_ok=True)  # left by the abort
        await git(clone, "reset", "-q", "--hard", head)
        return Oracle(False, None, crashed=True)
    if code == 0:
        _, tree = await git(clone, "write-tree")
    else:
        _, listing = await git(clone, "ls-files", "-u", "-z")
        unmerged = frozenset(
            strip_label(record.split("\t", 1)[1]) for record in listing.split("\0") if record
        )
    await git(clone, "reset", "-q", "--hard", head)
    return Oracle(code == 0, tree.strip() if tree else None, unmerged)


def _name_status(out: str) -> list[tuple[str, list[str]]]:
    """`diff-tree -z --name-status` records: status, then one path (two for R and C)."""
    fields, records, i = out.split("\0"), [], 0
    while i < len(fields) - 1:
        status = fields[i]
        width = 2 if status.startswith(("R", "C")) else 1
        records.append((status, fields[i + 1 : i + 1 + width]))
        i += 1 + width
    return records


async def moves_around(clone: Path, parent: str, culprit: str, head: str) -> set[str]:
    """What git's rename detection sees around a culprit: "renamed by the culprit";
    for paths the culprit touched, "renamed since" (same content), "moved into a
    directory" (a new directory above the same path) and "renamed with edits"."""
    kinds: set[str] = set()
    _, own = await git(clone, "diff-tree", "-r", "-z", "-M", "--name-status", parent, culprit)
    touched: set[str] = set()
    for status, paths in _name_status(own):
        touched.update(paths)
        if status.startswith("R"):
            kinds.add("renamed by the culprit")
    _, later = await git(clone, "diff-tree", "-r", "-z", "-M", "--name-status", culprit, head)
    for status, paths in _name_status(later):
        if not status.startswith("R") or paths[0] not in touched:
            continue
        old, new = paths
        if new.endswith("/" + old):
            kinds.add("moved into a directory")
        elif status == "R100":
            kinds.add("renamed since")
        else:
            kinds.add("renamed with edits")
    return kinds


def numbered_lines(tag: str, n: int = 20) -> str:
    """`n` lines, each naming its file's `tag` (git's rename detection pairs a file with itself)."""
    return "".join(f"{tag} line {i}\n" for i in range(n))


def edit_line(text: str, at: int, new: str) -> str:
    lines = text.splitlines(keepends=True)
    lines[at] = new + "\n"
    return "".join(lines)


def tree_files(repo: Any, sha: str) -> dict[str, bytes]:
    """Every file of the commit's tree, read from the simulator's git repository."""
    listing = repo.git("ls-tree", "-r", "--name-only", sha).split()
    return {path: repo.read_file(path, sha) or b"" for path in listing}


def tree_texts(repo: Any, sha: str) -> dict[str, str]:
    return {path: data.decode() for path, data in tree_files(repo, sha).items()}
