"""A simulated repository's state and the behaviour every part of it shares.

Refs change in one place (`move_ref`), which sends `push` and keeps open pull requests in step,
exactly once for a REST call, a merge or a commit made from a test.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sim.github.git_store import ZERO_SHA, GitStore, Ident, TreeEntry
from sim.github.routes import ApiError
from sim.github.state import (
    PERMISSION_RANK,
    CheckRun,
    CheckSuite,
    CommitComment,
    CommitStatus,
    Deployment,
    Issue,
    Label,
    Protection,
    QueueEntry,
    Reaction,
    Ruleset,
    WorkflowRun,
    node_id,
)

if TYPE_CHECKING:
    from sim.github.ci import ActionsCI
    from sim.github.server import GitHubSim

GOOD_CONCLUSIONS = frozenset({"success", "neutral", "skipped"})
BLOB_MODES = frozenset({"100644", "100755", "120000"})
_KIND_OF_MODE = {"040000": "tree", "160000": "commit"}


class TreeError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def kind_of_mode(mode: str) -> str:
    return _KIND_OF_MODE.get(mode, "blob")


def check_path(path: str) -> list[str]:
    parts = path.split("/")
    if not path or any(p in ("", ".", "..", ".git") for p in parts):
        raise TreeError(f"tree.path contains a malformed path component: {path!r}")
    return parts


class RepoBase:
    def __init__(self, sim: GitHubSim, owner: str, name: str, *, repo_id: int,
                 default_branch: str, installation_id: int | None, allow_auto_merge: bool,
                 private: bool, git_dir: Path) -> None:
        self.sim = sim
        self.owner = owner
        self.name = name
        self.full_name = f"{owner}/{name}"
        self.id = repo_id
        self.default_branch = default_branch
        self.installation_id = installation_id
        self.allow_auto_merge = allow_auto_merge
        self.allow_merge_commit = True
        self.allow_squash_merge = True
        self.allow_rebase_merge = True
        self.allow_update_branch = False
        self.delete_branch_on_merge = False
        # Merges that will lose the "Base branch was modified" race, and how many did.
        self.base_races = 0
        self.base_races_lost = 0
        self.private = private
        self.git_dir = git_dir
        self.store = GitStore.init(git_dir, default_branch)
        self.created_at = sim.now()
        self.updated_at = self.created_at
        self.pushed_at = self.created_at
        # Every state change (each one sends a webhook, subscribed or not): for lagging reads.
        self.changes = 0
        self.changed_at = self.created_at
        self.rerun_outcomes: dict[str, str] = {}
        # GitHub Actions, when a test turns it on (SimRepo.use_ci): builds pushes by itself.
        self.ci: ActionsCI | None = None
        self.permissions: dict[str, str] = {}
        self.protections: dict[str, Protection] = {}
        self.rulesets: list[Ruleset] = []
        # Each base branch's merge queue, front first (sim.github.repo_queue).
        self.queue_entries: dict[str, list[QueueEntry]] = {}
        self._queue_moves_base = False
        self.issue_map: dict[int, Issue] = {}
        self.label_map: dict[str, Label] = {}
        self.reaction_records: list[Reaction] = []
        self.commit_comment_records: list[CommitComment] = []
        self.check_suite_records: dict[int, CheckSuite] = {}
        self.check_run_records: dict[int, CheckRun] = {}
        self.status_records: list[CommitStatus] = []
        self.workflow_run_records: dict[int, WorkflowRun] = {}
        self.workflow_ids: dict[str, int] = {}
        self.deployment_records: dict[int, Deployment] = {}
        self._numbers = itertools.count(1)
        # Keyed by (base sha, head sha): git objects never change, so neither do these.
        self._merge_cache: dict[tuple[str, str], str | None] = {}
        self._stats_cache: dict[tuple[str, str], tuple[int, int, int, int]] = {}

    @property
    def node_id(self) -> str:
        return node_id("Repository", self.id)

    def now(self) -> float:
        return self.sim.now()

    def next_number(self) -> int:
        return next(self._numbers)

    def emit(self, event: str, action: str | None, actor: str, **objects: Any) -> None:
        self.sim.emit(event, action, self, actor, **objects)

    # --- git ---------------------------------------------------------------------------------

    def git(self, *args: str) -> str:
        """Run git in the bare repository (e.g. `repo.git("log", "--oneline", "main")`)."""
        return self.store.git(*args)

    def head(self, branch: str | None = None) -> str:
        sha = self.store.refs().get(f"refs/heads/{branch or self.default_branch}")
        if sha is None:
            raise KeyError(f"no branch {branch or self.default_branch!r} in {self.full_name}")
        return sha

    def branch_sha(self, branch: str) -> str | None:
        return self.store.refs().get(f"refs/heads/{branch}")

    def resolve(self, rev: str) -> str | None:
        return self.store.resolve_commit(rev)

    def ident(self, login: str, when: float | None = None) -> Ident:
        user = self.sim.user(login)
        return Ident(user.name or user.login, user.email, int(self.now() if when is None else when))

    def web_flow(self, when: float | None = None) -> Ident:
        return self.ident("web-flow", when)

    def build_tree(self, base_tree: str | None, changes: dict[str, TreeEntry | None]) -> str:
        """Apply path -> entry (None deletes) on top of `base_tree`, writing the changed trees."""
        nested: dict[str, Any] = {}
        for path, entry in changes.items():
            parts = check_path(path)
            node = nested
            for part in parts[:-1]:
                child = node.setdefault(part, {})
                if not isinstance(child, dict):
                    raise TreeError(f"tree.path {path!r} conflicts with another entry")
                node = child
            if parts[-1] in node and isinstance(node[parts[-1]], dict):
                raise TreeError(f"tree.path {path!r} conflicts with another entry")
            node[parts[-1]] = ("set", entry)
        sha = self._write_level(base_tree, nested, "")
        return sha if sha is not None else self.store.empty_tree()

    def _write_level(self, tree: str | None, changes: dict[str, Any], prefix: str) -> str | None:
        entries = {e.name: e for e in (self.store.read_tree(tree) or [])} if tree else {}
        for name, change in changes.items():
            path = prefix + name
            if isinstance(change, dict):
                existing = entries.get(name)
                if existing is not None and existing.type != "tree":
                    if all(isinstance(v, tuple) and v[1] is None for v in change.values()):
                        raise TreeError(f"GitHub could not find the tree entry {path!r} to delete")
                    existing = None
                sub = self._write_level(existing.sha if existing else None, change, path + "/")
                if sub is None:
                    entries.pop(name, None)
                else:
                    entries[name] = TreeEntry("040000", "tree", sub, name)
                continue
            entry = change[1]
            if entry is None:
                if name not in entries:
                    raise TreeError(f"GitHub could not find the tree entry {path!r} to delete")
                del entries[name]
            else:
                entries[name] = TreeEntry(entry.mode, entry.type, entry.sha, name)
        if not entries:
            return None
        return self.store.write_tree(sorted(entries.values(), key=_git_order))

    # --- refs --------------------------------------------------------------------------------

    def move_ref(self, ref: str, new: str | None, actor: str, *, notify: bool = True) -> None:
        """Point `ref` (refs/...) at `new` (None deletes) and tell everyone who listens."""
        before = self.store.refs().get(ref)
        if new is None:
            if before is None:
                return
            self.store.delete_ref(ref)
        else:
            self.store.set_ref(ref, new, before or ZERO_SHA)
        self.pushed_at = self.now()
        if ref.startswith("refs/heads/"):
            self.on_branch_moved(ref.removeprefix("refs/heads/"), before, new, actor)
        if notify:
            self.emit("push", None, actor, ref=ref, before=before or ZERO_SHA,
                      after=new or ZERO_SHA)
            if self.ci is not None and new is not None and ref.startswith("refs/heads/"):
                self.ci.on_push(ref.removeprefix("refs/heads/"), new, actor)
        if ref.startswith("refs/heads/"):
            self.after_branch_moved(ref.removeprefix("refs/heads/"), before, new, actor)

    def on_branch_moved(self, branch: str, before: str | None, after: str | None,
                        actor: str) -> None:
        """Bookkeeping before the push event (pull requests override)."""

    def after_branch_moved(self, branch: str, before: str | None, after: str | None,
                           actor: str) -> None:
        """Events that follow the push event (pull requests override)."""

    def create_branch(self, name: str, sha: str, *, actor: str | None = None) -> None:
        if self.store.object_type(sha) != "commit":
            raise ValueError(f"{sha} is not a commit of {self.full_name}")
        self.move_ref(f"refs/heads/{name}", sha, actor or self.owner)

    # --- records -----------------------------------------------------------------------------

    def issue_records(self) -> list[Issue]:
        return list(self.issue_map.values())

    def issue_record(self, number: int) -> Issue | None:
        return self.issue_map.get(number)

    def label_record(self, name: str) -> Label:
        existing = self.find_label(name)
        if existing is not None:
            return existing
        label = Label(id=self.sim.next_id("label"), name=name)
        self.label_map[name] = label
        return label

    def find_label(self, name: str) -> Label | None:
        found = self.label_map.get(name)
        if found is not None:
            return found
        lowered = name.lower()
        return next((lab for lab in self.label_map.values() if lab.name.lower() == lowered), None)

    def open_pulls_for(self, sha: str) -> list[Issue]:
        return [
            i for i in self.issue_map.values()
            if i.pull is not None and i.state == "open" and self.pull_head_sha(i) == sha
        ]

    def mergeability(self, issue: Issue) -> tuple[bool | None, str]:
        raise NotImplementedError

    def pull_stats(self, issue: Issue) -> tuple[int, int, int, int]:
        raise NotImplementedError

    def pull_head_sha(self, issue: Issue) -> str:
        assert issue.pull is not None
        return issue.pull.head_sha

    def pull_base_sha(self, issue: Issue) -> str:
        assert issue.pull is not None
        if issue.state == "open":
            current = self.branch_sha(issue.pull.base_ref)
            if current is not None:
                return current
        return issue.pull.base_sha

    # --- permissions and protection ----------------------------------------------------------

    def permission_of(self, login: str) -> str:
        if login in self.permissions:
            return self.permissions[login]
        if login == self.owner:
            return "admin"
        user = self.sim.users.get(login)
        if user is not None and user.login == self.sim.app_bot_login:
            return "write"
        return "read" if not self.private else "none"

    def is_collaborator(self, login: str) -> bool:
        if login == self.owner:
            return True
        return PERMISSION_RANK.get(self.permissions.get(login, "none"), 0) > 0

    def can_write(self, login: str) -> bool:
        return PERMISSION_RANK.get(self.permission_of(login), 0) >= PERMISSION_RANK["write"]

    def required_checks(self, branch: str) -> list[str]:
        names: list[str] = []
        protection = self.protections.get(branch)
        if protection is not None:
            names += protection.required_checks
        for ruleset in self.rulesets_for(branch):
            names += [n for n in ruleset.required_checks if n not in names]
        return names

    def rulesets_for(self, branch: str) -> list[Ruleset]:
        from fnmatch import fnmatchcase

        def matches(pattern: str) -> bool:
            if pattern == "~DEFAULT_BRANCH":
                return branch == self.default_branch
            if pattern == "~ALL":
                return True
            return fnmatchcase(branch, pattern.removeprefix("refs/heads/"))

        return [r for r in self.rulesets if any(matches(p) for p in r.branches)]

    def context_state(self, sha: str, context: str) -> str:
        """success | failure | pending | missing, for one required check name on a commit."""
        runs = [r for r in self.check_run_records.values()
                if r.head_sha == sha and r.name == context]
        if runs:
            latest = max(runs, key=lambda r: r.id)
            if latest.status != "completed":
                return "pending"
            return "success" if latest.conclusion in GOOD_CONCLUSIONS else "failure"
        statuses = [s for s in self.status_records if s.sha == sha and s.context == context]
        if statuses:
            state = max(statuses, key=lambda s: s.id).state
            return {"success": "success", "pending": "pending"}.get(state, "failure")
        return "missing"

    def latest_runs(self, sha: str) -> list[CheckRun]:
        latest: dict[tuple[int, str], CheckRun] = {}
        for run in self.check_run_records.values():
            if run.head_sha != sha:
                continue
            key = (run.suite_id, run.name)
            if key not in latest or latest[key].id < run.id:
                latest[key] = run
        return sorted(latest.values(), key=lambda r: r.id)

    def latest_statuses(self, sha: str) -> list[CommitStatus]:
        latest: dict[str, CommitStatus] = {}
        for status in self.status_records:
            if status.sha == sha and (
                status.context not in latest or latest[status.context].id < status.id
            ):
                latest[status.context] = status
        return sorted(latest.values(), key=lambda s: s.id)

    def contexts_on(self, sha: str) -> Iterable[tuple[str, str]]:
        """(name, success|failure|pending) of every check run and status on a commit."""
        for run in self.latest_runs(sha):
            if run.status != "completed":
                yield run.name, "pending"
            else:
                yield run.name, "success" if run.conclusion in GOOD_CONCLUSIONS else "failure"
        for status in self.latest_statuses(sha):
            yield status.context, {"success": "success", "pending": "pending"}.get(
                status.state, "failure"
            )

    def require_commit(self, ref: str) -> str:
        sha = self.resolve(ref)
        if sha is None:
            raise ApiError(422, f"No commit found for SHA: {ref}")
        return sha


def _git_order(entry: TreeEntry) -> bytes:
    # git sorts tree entries by name, comparing a tree's name as if it ended in "/".
    name = entry.name.encode()
    return name + b"/" if entry.type == "tree" else name
