"""A bare git repository driven through the git CLI: the simulator's real object store.

Reads go through one long-lived `git cat-file --batch` process (a request touches many
objects); writes use plumbing commands (`hash-object`, `mktree`, `commit-tree`, `update-ref`),
so everything the simulator stores can be inspected with ordinary git commands.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

ZERO_SHA = "0" * 40
_HEX = frozenset("0123456789abcdef")


class GitError(Exception):
    """A git command failed; carries git's own stderr."""


@dataclass(frozen=True)
class Ident:
    name: str
    email: str
    timestamp: int
    tz: str = "+0000"


@dataclass(frozen=True)
class TreeEntry:
    mode: str  # GitHub spelling: "100644", "100755", "120000", "160000", "040000"
    type: str  # blob | tree | commit
    sha: str
    name: str


@dataclass(frozen=True)
class CommitInfo:
    sha: str
    tree: str
    parents: tuple[str, ...]
    author: Ident
    committer: Ident
    message: str


@dataclass(frozen=True)
class FileChange:
    status: str  # added | removed | modified | renamed | changed
    filename: str
    previous_filename: str | None
    sha: str | None  # blob sha after the change (None when removed)
    old_sha: str | None
    additions: int
    deletions: int


def is_sha(value: str) -> bool:
    return len(value) == 40 and set(value) <= _HEX


def _mode_for_github(mode: str) -> str:
    return "040000" if mode in ("40000", "040000") else mode


def _parse_ident(text: str) -> Ident:
    # "Name <email> 1700000000 +0000"
    left, _, rest = text.rpartition("> ")
    name, _, email = left.partition(" <")
    ts, _, tz = rest.partition(" ")
    return Ident(name=name, email=email, timestamp=int(ts), tz=tz or "+0000")


class GitStore:
    def __init__(self, git_dir: Path) -> None:
        self.git_dir = git_dir
        self._batch: subprocess.Popen[bytes] | None = None
        self._refs: dict[str, str] | None = None
        self._commit_cache: dict[str, CommitInfo] = {}
        self._diff_cache: dict[tuple[str | None, str], list[FileChange]] = {}
        self._env = {
            **os.environ,
            "GIT_DIR": str(git_dir),
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": os.devnull,
            "GIT_TERMINAL_PROMPT": "0",
            "LC_ALL": "C",
        }

    @classmethod
    def init(cls, git_dir: Path, initial_branch: str) -> GitStore:
        git_dir.parent.mkdir(parents=True, exist_ok=True)
        store = cls(git_dir)
        subprocess.run(
            ["git", "init", "--bare", "--quiet", f"--initial-branch={initial_branch}",
             str(git_dir)],
            check=True,
            env=store._env,
            capture_output=True,
        )
        return store

    # --- processes ---------------------------------------------------------------------------

    def run(self, *args: str, input: bytes | None = None, env: dict[str, str] | None = None,
            ok_codes: tuple[int, ...] = (0,)) -> bytes:
        proc = subprocess.run(
            ["git", *args],
            input=input,
            capture_output=True,
            env={**self._env, **(env or {})},
            cwd=self.git_dir,
        )
        if proc.returncode not in ok_codes:
            raise GitError(f"git {args[0]} failed: {proc.stderr.decode(errors='replace').strip()}")
        return proc.stdout

    def run_code(self, *args: str) -> tuple[int, bytes]:
        proc = subprocess.run(["git", *args], capture_output=True, env=self._env, cwd=self.git_dir)
        return proc.returncode, proc.stdout

    def git(self, *args: str) -> str:
        """Run any git command the way a person would; refs may change under us, so forget them."""
        self._refs = None
        return self.run(*args).decode()

    def close(self) -> None:
        if self._batch is not None:
            if self._batch.stdin:
                self._batch.stdin.close()
            self._batch.wait(timeout=5)
            if self._batch.stdout:
                self._batch.stdout.close()
            self._batch = None

    def _batch_proc(self) -> subprocess.Popen[bytes]:
        if self._batch is None or self._batch.poll() is not None:
            self._batch = subprocess.Popen(
                ["git", "cat-file", "--batch"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                env=self._env,
                cwd=self.git_dir,
            )
        return self._batch

    # --- objects -----------------------------------------------------------------------------

    def read_object(self, name: str) -> tuple[str, bytes] | None:
        """(type, raw content) of an object by sha, or None when it does not exist."""
        if "\n" in name or not name:
            return None
        proc = self._batch_proc()
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(name.encode() + b"\n")
        proc.stdin.flush()
        header = proc.stdout.readline().decode().split()
        if len(header) != 3:  # "<name> missing" / "ambiguous"
            return None
        _, kind, size = header
        data = proc.stdout.read(int(size) + 1)[:-1]
        return kind, data

    def object_type(self, sha: str) -> str | None:
        found = self.read_object(sha) if is_sha(sha) else None
        return found[0] if found else None

    def write_blob(self, data: bytes) -> str:
        return self.run("hash-object", "-w", "--stdin", input=data).decode().strip()

    def write_tree(self, entries: list[TreeEntry]) -> str:
        lines = b"".join(
            f"{e.mode} {e.type} {e.sha}\t".encode() + e.name.encode() + b"\0" for e in entries
        )
        return self.run("mktree", "-z", "--missing", input=lines).decode().strip()

    def write_commit(self, tree: str, parents: list[str], message: str, author: Ident,
                     committer: Ident) -> str:
        args = ["commit-tree", tree]
        for parent in parents:
            args += ["-p", parent]
        env = {
            "GIT_AUTHOR_NAME": author.name,
            "GIT_AUTHOR_EMAIL": author.email,
            "GIT_AUTHOR_DATE": f"@{author.timestamp} {author.tz}",
            "GIT_COMMITTER_NAME": committer.name,
            "GIT_COMMITTER_EMAIL": committer.email,
            "GIT_COMMITTER_DATE": f"@{committer.timestamp} {committer.tz}",
        }
        # -F - keeps the message byte-exact (no stripping of comment lines or whitespace).
        return self.run(*args, "-F", "-", input=message.encode(), env=env).decode().strip()

    def read_tree(self, sha: str) -> list[TreeEntry] | None:
        found = self.read_object(sha)
        if found is None or found[0] != "tree":
            return None
        data = found[1]
        entries: list[TreeEntry] = []
        i = 0
        while i < len(data):
            space = data.index(b" ", i)
            nul = data.index(b"\0", space)
            mode = _mode_for_github(data[i:space].decode())
            name = data[space + 1 : nul].decode(errors="surrogateescape")
            sha_hex = data[nul + 1 : nul + 21].hex()
            kind = "tree" if mode == "040000" else "commit" if mode == "160000" else "blob"
            entries.append(TreeEntry(mode, kind, sha_hex, name))
            i = nul + 21
        return entries

    def ls_tree_recursive(self, tree: str) -> list[tuple[TreeEntry, str, int | None]]:
        """(entry, full path, blob size) for every entry below `tree`, trees included."""
        out = self.run("ls-tree", "-r", "-t", "-l", "-z", tree)
        result: list[tuple[TreeEntry, str, int | None]] = []
        for record in out.split(b"\0"):
            if not record:
                continue
            meta, _, path_b = record.partition(b"\t")
            mode, kind, sha, size = meta.decode().split()
            path = path_b.decode(errors="surrogateescape")
            entry = TreeEntry(_mode_for_github(mode), kind, sha, path.rsplit("/", 1)[-1])
            result.append((entry, path, int(size) if size != "-" else None))
        return result

    def files(self, tree: str) -> dict[str, TreeEntry]:
        """Every non-tree entry of `tree` by full path."""
        return {path: e for e, path, _ in self.ls_tree_recursive(tree) if e.type != "tree"}

    def entry_at(self, tree: str, path: str) -> TreeEntry | None:
        current = TreeEntry("040000", "tree", tree, "")
        for part in [p for p in path.strip("/").split("/") if p]:
            if current.type != "tree":
                return None
            entries = self.read_tree(current.sha) or []
            found = next((e for e in entries if e.name == part), None)
            if found is None:
                return None
            current = found
        return current

    def read_commit(self, sha: str) -> CommitInfo | None:
        cached = self._commit_cache.get(sha)
        if cached is not None:
            return cached
        found = self.read_object(sha)
        if found is None or found[0] != "commit":
            return None
        head, _, message = found[1].decode(errors="replace").partition("\n\n")
        tree = ""
        parents: list[str] = []
        author = committer = Ident("", "", 0)
        for line in head.split("\n"):
            key, _, value = line.partition(" ")
            if key == "tree":
                tree = value
            elif key == "parent":
                parents.append(value)
            elif key == "author":
                author = _parse_ident(value)
            elif key == "committer":
                committer = _parse_ident(value)
        info = CommitInfo(sha, tree, tuple(parents), author, committer, message)
        self._commit_cache[sha] = info
        return info

    def resolve_commit(self, rev: str) -> str | None:
        """The commit sha a revision names (full or abbreviated sha, branch, tag, refs/...)."""
        if is_sha(rev):
            return rev if self.object_type(rev) == "commit" else None
        refs = self.refs()
        for candidate in (rev, f"refs/heads/{rev}", f"refs/tags/{rev}", f"refs/{rev}"):
            if candidate in refs:
                return self._peel(refs[candidate])
        if 4 <= len(rev) < 40 and set(rev) <= _HEX:
            code, out = self.run_code("rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")
            return out.decode().strip() if code == 0 else None
        return None

    def _peel(self, sha: str) -> str | None:
        found = self.read_object(sha)
        while found is not None and found[0] == "tag":
            target = found[1].split(b"\n", 1)[0].split(b" ")[1].decode()
            sha, found = target, self.read_object(target)
        return sha if found is not None and found[0] == "commit" else None

    # --- refs --------------------------------------------------------------------------------

    def refs(self) -> dict[str, str]:
        if self._refs is None:
            out = self.run("for-each-ref", "--format=%(objectname) %(refname)").decode()
            self._refs = {}
            for line in out.splitlines():
                sha, _, name = line.partition(" ")
                self._refs[name] = sha
        return self._refs

    def set_ref(self, name: str, sha: str, old: str | None = None) -> None:
        args = ["update-ref", name, sha]
        if old is not None:
            args.append(old)
        self.run(*args)
        self.refs()[name] = sha

    def delete_ref(self, name: str) -> None:
        self.run("update-ref", "-d", name)
        self.refs().pop(name, None)

    # --- history -----------------------------------------------------------------------------

    def is_ancestor(self, ancestor: str, descendant: str) -> bool:
        code, _ = self.run_code("merge-base", "--is-ancestor", ancestor, descendant)
        return code == 0

    def merge_base(self, a: str, b: str) -> str | None:
        code, out = self.run_code("merge-base", a, b)
        return out.decode().strip() if code == 0 else None

    def rev_list(self, *args: str) -> list[str]:
        return self.run("rev-list", *args).decode().split()

    def merge_tree(self, ours: str, theirs: str) -> str | None:
        """The tree of merging two commits, or None when git reports conflicts."""
        code, out = self.run_code("merge-tree", "--write-tree", "--no-messages", "--name-only",
                                  ours, theirs)
        if code not in (0, 1):
            raise GitError(f"git merge-tree failed for {ours} {theirs}")
        return out.decode().split("\n", 1)[0].strip() if code == 0 else None

    def empty_tree(self) -> str:
        return self.run("hash-object", "-t", "tree", "-w", "--stdin", input=b"").decode().strip()

    def diff(self, old: str | None, new: str) -> list[FileChange]:
        """Files changed between two commits or trees (old None: against the empty tree)."""
        key = (old, new)
        if is_sha(new) and (old is None or is_sha(old)) and key in self._diff_cache:
            return self._diff_cache[key]
        changes = self._diff(old, new)
        if is_sha(new) and (old is None or is_sha(old)):
            self._diff_cache[key] = changes
        return changes

    def _diff(self, old: str | None, new: str) -> list[FileChange]:
        base = old or self.empty_tree()
        raw = self.run("diff-tree", "-r", "-M", "-z", "--raw", "--numstat", base, new)
        records = raw.split(b"\0")
        changes: list[FileChange] = []
        numstats: list[tuple[int, int]] = []
        i = 0
        while i < len(records):
            rec = records[i].decode(errors="surrogateescape")
            if rec.startswith(":"):
                meta = rec[1:].split(" ")
                status = meta[4]
                if status[0] in "RC":
                    old_path, new_path = records[i + 1].decode(), records[i + 2].decode()
                    i += 3
                else:
                    old_path = new_path = records[i + 1].decode()
                    i += 2
                kind = {"A": "added", "D": "removed", "M": "modified", "R": "renamed",
                        "C": "copied", "T": "changed"}.get(status[0], "modified")
                changes.append(FileChange(
                    status=kind,
                    filename=new_path,
                    previous_filename=old_path if kind == "renamed" else None,
                    sha=None if kind == "removed" else meta[3],
                    old_sha=None if kind == "added" else meta[2],
                    additions=0,
                    deletions=0,
                ))
            elif rec:
                # numstat: "<added>\t<deleted>\t<path>" or, for renames, "<a>\t<d>\t" + 2 paths
                added, deleted, path = rec.split("\t", 2)
                numstats.append((
                    int(added) if added.isdigit() else 0,
                    int(deleted) if deleted.isdigit() else 0,
                ))
                i += 1 if path else 3
            else:
                i += 1
        return [
            FileChange(c.status, c.filename, c.previous_filename, c.sha, c.old_sha, a, d)
            for c, (a, d) in zip(changes, numstats + [(0, 0)] * (len(changes) - len(numstats)),
                                 strict=True)
        ]
