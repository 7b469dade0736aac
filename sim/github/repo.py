"""SimRepo: one simulated repository, and the Python API tests use to act on it as people would.

Every method here goes through the same code as the REST API, so a label added by a test sends
the same `issues labeled` webhook as one added by the app.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sim.github.ci import ActionsCI, Workflow
from sim.github.git_store import TreeEntry, is_sha
from sim.github.repo_base import BLOB_MODES, TreeError, kind_of_mode
from sim.github.repo_merging import MERGE_METHOD_SETTINGS
from sim.github.repo_queue import MergeQueueMixin
from sim.github.state import PERMISSION_RANK, MergeQueueRule, Protection, QueueEntry, Ruleset

REPO_SETTINGS = (*MERGE_METHOD_SETTINGS.values(), "allow_auto_merge", "allow_update_branch",
                 "delete_branch_on_merge")

FileValue = str | bytes | None | tuple[str, str | bytes]


class SimRepo(MergeQueueMixin):
    # --- settings ----------------------------------------------------------------------------

    def set_permission(self, login: str, perm: str) -> None:
        """admin | maintain | write | triage | read | none; anyone but "none" is a collaborator."""
        if perm not in PERMISSION_RANK:
            raise ValueError(f"unknown permission {perm!r}")
        self.sim.user(login)
        if perm == "none":
            self.permissions.pop(login, None)
        else:
            self.permissions[login] = perm

    def configure(self, **settings: bool) -> None:
        """Repository settings as `PATCH /repos/{owner}/{repo}` sets them (allow_squash_merge,
        allow_merge_commit, allow_rebase_merge, allow_auto_merge, allow_update_branch,
        delete_branch_on_merge)."""
        for name, value in settings.items():
            if name not in REPO_SETTINGS:
                raise ValueError(f"unknown repository setting {name!r}")
            setattr(self, name, bool(value))

    def protect(self, branch: str, *, required_checks: tuple[str, ...] | list[str] = (),
                required_reviews: int = 0, strict: bool = False,
                enforce_admins: bool = False) -> None:
        self.protections[branch] = Protection(list(required_checks), required_reviews, strict,
                                              enforce_admins)

    def unprotect(self, branch: str) -> None:
        self.protections.pop(branch, None)

    def add_ruleset(self, required_checks: tuple[str, ...] | list[str], *,
                    branches: tuple[str, ...] | list[str] = ("~DEFAULT_BRANCH",),
                    name: str = "required checks") -> Ruleset:
        """A repository ruleset with a `required_status_checks` rule on the given branches."""
        ruleset = Ruleset(self.sim.next_id("ruleset"), name, list(branches), list(required_checks))
        self.rulesets.append(ruleset)
        return ruleset

    def require_merge_queue(self, required_checks: tuple[str, ...] | list[str] = ("build",), *,
                            branches: tuple[str, ...] | list[str] = ("~DEFAULT_BRANCH",),
                            merge_method: str = "MERGE",
                            bypass: tuple[str, ...] | list[str] = (),
                            name: str = "merge queue") -> Ruleset:
        """A ruleset requiring a merge queue (and `required_checks`) on the given branches;
        `bypass` names who may bypass it (and so jump the queue): logins, or "admin"."""
        ruleset = self.add_ruleset(required_checks, branches=branches, name=name)
        ruleset.merge_queue = MergeQueueRule(merge_method=merge_method.upper())
        ruleset.bypass = list(bypass)
        return ruleset

    def enqueue(self, number: int, *, user: str = "octocat", jump: bool = False) -> QueueEntry:
        """A person adds a pull request to its base's merge queue (as `enqueuePullRequest`)."""
        return self.enqueue_pull(self.pull_or_404(number), user, jump=jump)

    def merge_queue(self, branch: str | None = None) -> list[int]:
        """The pull request numbers in `branch`'s merge queue, front first."""
        return [e.number for e in self.queue(branch or self.default_branch)]

    def merge_group(self, branch: str | None = None) -> QueueEntry | None:
        """The front entry of `branch`'s queue when its merge group is built."""
        queue = self.queue(branch or self.default_branch)
        return queue[0] if queue and queue[0].group_sha else None

    # --- git ---------------------------------------------------------------------------------

    def _entry(self, path: str, value: FileValue) -> TreeEntry | None:
        if value is None:
            return None
        mode = "100644"
        content: str | bytes = value if not isinstance(value, tuple) else value[1]
        if isinstance(value, tuple):
            mode = value[0]
        if mode == "160000":
            target = content.decode() if isinstance(content, bytes) else content
            if not is_sha(target):
                raise ValueError(f"a submodule entry needs a commit sha, got {target!r}")
            return TreeEntry(mode, "commit", target, path)
        if mode not in BLOB_MODES:
            raise ValueError(f"unsupported mode {mode!r} for {path!r}")
        data = content.encode() if isinstance(content, str) else content
        return TreeEntry(mode, kind_of_mode(mode), self.store.write_blob(data), path)

    def commit(self, files: Mapping[str, FileValue], message: str, *, author: str = "octocat",
               branch: str | None = None, parents: list[str] | None = None,
               push: bool = True) -> str:
        """Commit `files` (None deletes) on top of the branch and advance it; returns the sha."""
        branch = branch or self.default_branch
        if parents is None:
            current = self.branch_sha(branch) or self.branch_sha(self.default_branch)
            parents = [current] if current else []
        base_tree = None
        if parents:
            info = self.store.read_commit(parents[0])
            if info is None:
                raise ValueError(f"{parents[0]} is not a commit of {self.full_name}")
            base_tree = info.tree
        try:
            tree = self.build_tree(base_tree, {p: self._entry(p, v) for p, v in files.items()})
        except TreeError as error:
            raise ValueError(error.message) from None
        ident = self.ident(author)
        sha = self.store.write_commit(tree, parents, message, ident, ident)
        self.move_ref(f"refs/heads/{branch}", sha, author, notify=push)
        return sha

    def read_file(self, path: str, ref: str | None = None) -> bytes | None:
        sha = self.resolve(ref or self.default_branch)
        info = self.store.read_commit(sha) if sha else None
        entry = self.store.entry_at(info.tree, path) if info else None
        if entry is None or entry.type != "blob":
            return None
        found = self.store.read_object(entry.sha)
        return found[1] if found else None

    # --- pull requests -----------------------------------------------------------------------

    def open_pr(self, head: str, title: str, body: str = "", *, author: str = "octocat",
                base: str | None = None) -> int:
        return self.create_pull(head, base, title, body, author).number

    def review(self, number: int, user: str, state: str = "APPROVED", body: str = "") -> None:
        self.add_review(self.pull_or_404(number), user, state, body)

    def merge(self, number: int, *, user: str = "octocat", method: str = "merge") -> str:
        return self.merge_pull(self.pull_or_404(number), user, method=method)

    # --- checks ------------------------------------------------------------------------------

    def add_check_run(self, sha: str, name: str, *, conclusion: str | None = "success",
                      status: str = "completed", app_slug: str = "github-actions",
                      suite: int | dict[str, Any] | None = None) -> dict[str, Any]:
        suite_record = None
        if suite is not None:
            suite_id = suite["id"] if isinstance(suite, dict) else suite
            suite_record = self.check_suite_records[int(suite_id)]
        if status != "completed":
            conclusion = None
        run = self.create_check_run(sha, name, self._actor_for(app_slug), app_slug=app_slug,
                                    status=status, conclusion=conclusion, suite=suite_record)
        return self.sim.shapes.check_run(self, run)

    def complete_check_run(self, run_id: int, conclusion: str) -> dict[str, Any]:
        run = self.check_run_records[run_id]
        self.update_check_run(run, self._actor_for(run.app_slug), conclusion=conclusion)
        return self.sim.shapes.check_run(self, run)

    def _actor_for(self, app_slug: str) -> str:
        return self.sim.bot_login_for(app_slug)

    def set_status(self, sha: str, context: str, state: str, *, target_url: str | None = None,
                   description: str | None = None, user: str | None = None) -> dict[str, Any]:
        status = self.create_status(sha, context, state, user or self.owner,
                                    target_url=target_url, description=description)
        return self.sim.shapes.status(self, status)

    def add_workflow_run(self, sha: str, name: str, conclusion: str | None, *,
                         jobs: tuple[str, ...] | list[str] = ("build",),
                         failed_jobs: tuple[str, ...] | list[str] | None = None,
                         event: str = "push", branch: str | None = None) -> dict[str, Any]:
        """A finished Actions run (conclusion None: still in progress) with one check per job."""
        run = self.create_workflow_run(sha, name, conclusion, jobs=jobs, failed_jobs=failed_jobs,
                                       event=event, branch=branch, actor=self.owner)
        return self.sim.shapes.workflow_run(self, run)

    def use_ci(self, *workflows: Workflow) -> ActionsCI:
        """Turn on GitHub Actions: from now on every push its workflows listen to is built
        (default: one workflow "CI", job "build", on the default branch, cancel-in-progress)."""
        self.ci = ActionsCI(self, workflows or (Workflow(),))
        return self.ci

    def finish_workflow_run(self, run_id: int, conclusion: str) -> dict[str, Any]:
        run = self.workflow_run_or_404(run_id)
        self.complete_workflow_run(run, conclusion, self.owner)
        return self.sim.shapes.workflow_run(self, run)

    # --- deployments -------------------------------------------------------------------------

    def add_deployment(self, sha: str, environment: str = "production",
                       state: str = "success") -> dict[str, Any]:
        dep = self.create_deployment(sha, self.owner, environment=environment,
                                     required_contexts=[])
        self.create_deployment_status(dep, state, self.owner)
        return self.sim.shapes.deployment(self, dep)

    @property
    def deployments(self) -> list[dict[str, Any]]:
        return [
            {**self.sim.shapes.deployment(self, d),
             "statuses": [self.sim.shapes.deployment_status(self, d, s) for s in d.statuses]}
            for d in self.deployment_records.values()
        ]

    # --- issues as people use them -----------------------------------------------------------

    def create_issue_as(self, title: str, body: str = "", *, user: str = "octocat",
                        labels: list[str] | None = None) -> int:
        return self.create_issue(title, body, user, labels=labels).number

    def comment(self, issue_number: int, body: str, *, user: str) -> dict[str, Any]:
        return self.sim.shapes.comment(self, self.add_comment(issue_number, body, user))

    def comment_on_commit(self, sha: str, body: str, *, user: str) -> dict[str, Any]:
        return self.sim.shapes.commit_comment(self, self.add_commit_comment(sha, body, user))

    def add_labels(self, n: int, names: list[str] | str, *, user: str) -> None:
        self.add_issue_labels(self.issue_or_404(n), [names] if isinstance(names, str) else names,
                              user)

    def convert_to_draft(self, n: int, *, user: str) -> None:
        self.set_draft(self.pull_or_404(n), True, user)

    def mark_ready_for_review(self, n: int, *, user: str) -> None:
        self.set_draft(self.pull_or_404(n), False, user)

    def remove_label(self, n: int, name: str, *, user: str) -> None:
        self.remove_issue_label(self.issue_or_404(n), name, user)

    def close_issue(self, n: int, *, user: str) -> None:
        self.close(self.issue_or_404(n), user)

    def reopen_issue(self, n: int, *, user: str) -> None:
        self.reopen(self.issue_or_404(n), user)

    def react_to_comment(self, comment_id: int, content: str, *, user: str) -> None:
        self.react(f"issue_comment:{comment_id}", content, user)

    # --- reading state -----------------------------------------------------------------------

    def issue(self, n: int) -> dict[str, Any]:
        issue = self.issue_or_404(n)
        shaped = self.sim.shapes.issue(self, issue)
        shaped["comments_list"] = [self.sim.shapes.comment(self, c) for c in issue.comments]
        return shaped

    def issues(self, state: str = "all") -> list[dict[str, Any]]:
        return [
            self.issue(i.number) for i in self.issue_map.values()
            if state == "all" or i.state == state
        ]

    def pull(self, n: int) -> dict[str, Any]:
        return self.sim.shapes.pull(self, self.pull_or_404(n))

    def pulls(self, state: str = "all") -> list[dict[str, Any]]:
        return [
            self.sim.shapes.pull(self, i) for i in self.pull_records()
            if state == "all" or i.state == state
        ]

    @property
    def commit_comments(self) -> list[dict[str, Any]]:
        return [self.sim.shapes.commit_comment(self, c) for c in self.commit_comment_records]

    @property
    def reactions(self) -> list[dict[str, Any]]:
        return [
            {"id": r.id, "subject": r.subject, "content": r.content, "user": r.user}
            for r in self.reaction_records
        ]

    @property
    def labels(self) -> dict[str, dict[str, Any]]:
        return {name: self.sim.shapes.label(self, lab) for name, lab in self.label_map.items()}

    @property
    def check_runs(self) -> list[dict[str, Any]]:
        return [self.sim.shapes.check_run(self, r) for r in self.check_run_records.values()]

    def check_run_annotations(self, run_id: int) -> list[dict[str, Any]]:
        """Every annotation of a check run, in the order they were sent."""
        run = self.check_run_records[run_id]
        return [self.sim.shapes.check_annotation(self, run, n) for n in run.annotations]

    @property
    def statuses(self) -> list[dict[str, Any]]:
        return [self.sim.shapes.status(self, s) for s in self.status_records]

    @property
    def workflow_runs(self) -> list[dict[str, Any]]:
        return [self.sim.shapes.workflow_run(self, r) for r in self.workflow_run_records.values()]

    def __repr__(self) -> str:
        return f"SimRepo({self.full_name!r})"
