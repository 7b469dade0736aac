"""Landing pull requests as GitHub does: merge/squash/rebase guarded by the repository's allowed
merge methods, drafts, branch protection (strict: up to date with the base), the transient
"Base branch was modified" race, auto-merge, and bringing a branch up to date (update-branch).

Merges are done by git itself (`git merge-tree --write-tree`), never by the app's code, so the
simulator cannot share the app's mistakes. A merge queue would sit here too: a queued pull
request is landed by the same `land` once its group is green.
"""

from __future__ import annotations

import asyncio

from sim.github.git_store import TreeEntry
from sim.github.repo_pulls import PullsMixin
from sim.github.routes import ApiError
from sim.github.state import AutoMerge, Issue

# Repository settings (GET/PATCH /repos/{owner}/{repo}) and the merge method each allows.
MERGE_METHOD_SETTINGS = {
    "merge": "allow_merge_commit",
    "squash": "allow_squash_merge",
    "rebase": "allow_rebase_merge",
}
_NOT_ALLOWED = {
    "merge": "Merge commits are not allowed on this repository.",
    "squash": "Squash merges are not allowed on this repository.",
    "rebase": "Rebase merges are not allowed on this repository.",
}
BASE_MODIFIED = "Base branch was modified. Review and try the merge again."
HEAD_MODIFIED = "Head branch was modified. Review and try the merge again."
BEHIND = "Head branch is not up to date with the base branch"


class GraphQLProblem(Exception):
    """A GraphQL mutation refused the way GitHub refuses it (type + message)."""

    def __init__(self, message: str, kind: str = "UNPROCESSABLE") -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind


class MergingMixin(PullsMixin):
    # --- what the repository allows ------------------------------------------------------------

    def method_allowed(self, method: str) -> bool:
        setting = MERGE_METHOD_SETTINGS.get(method)
        return setting is not None and bool(getattr(self, setting))

    def is_protected(self, branch: str) -> bool:
        """Branch protection or a ruleset applies (what auto-merge needs to exist at all)."""
        return branch in self.protections or bool(self.rulesets_for(branch))

    def is_behind(self, issue: Issue) -> bool:
        """Strict protection and the head does not contain the base's tip."""
        pr = issue.pull
        assert pr is not None
        protection = self.protections.get(pr.base_ref)
        if protection is None or not protection.strict:
            return False
        return not self.store.is_ancestor(self.pull_base_sha(issue), self.pull_head_sha(issue))

    def race_base_on_next_merge(self, times: int = 1) -> None:
        """The next `times` merges lose a race: someone else's commit lands on the base while
        GitHub merges, and the merge answers 405 "Base branch was modified"."""
        self.base_races += times

    # --- merging -------------------------------------------------------------------------------

    def merge_pull(self, issue: Issue, actor: str, *, method: str = "merge",
                   sha: str | None = None, commit_title: str | None = None,
                   commit_message: str | None = None) -> str:
        """Merge as `PUT /pulls/{n}/merge` does, refusing as GitHub refuses (in its order)."""
        pr = issue.pull
        assert pr is not None
        if issue.state != "open":
            raise ApiError(405, "Pull Request is not mergeable")
        if pr.draft:
            raise ApiError(405, "Pull Request is still a draft")
        head = self.pull_head_sha(issue)
        if sha is not None and sha != head:
            raise ApiError(409, HEAD_MODIFIED)
        if method in _NOT_ALLOWED and not self.method_allowed(method):
            raise ApiError(405, _NOT_ALLOWED[method])
        base = self.pull_base_sha(issue)
        if self.merged_tree(base, head) is None:
            raise ApiError(405, "Pull Request is not mergeable")
        problem = self.review_problem(issue)
        if problem:
            raise ApiError(405, problem)
        failing = self.checks_problem(issue)
        if failing:
            raise ApiError(405, failing[1])
        if self.is_behind(issue):
            raise ApiError(405, BEHIND)
        if self.base_races > 0:
            self.base_races -= 1
            self._land_someone_elses_commit(pr.base_ref)
            raise ApiError(405, BASE_MODIFIED)
        return self.land(issue, actor, method, commit_title, commit_message)

    def _land_someone_elses_commit(self, branch: str) -> None:
        tip = self.branch_sha(branch)
        info = self.store.read_commit(tip) if tip else None
        assert tip is not None and info is not None
        who = self.ident(self.owner)
        count = self.base_races_lost = self.base_races_lost + 1
        blob = self.store.write_blob(f"{count}\n".encode())
        tree = self.build_tree(info.tree, {f".concurrent/{count}": _blob_entry(blob)})
        sha = self.store.write_commit(tree, [tip], f"Concurrent change {count}\n", who, who)
        self.move_ref(f"refs/heads/{branch}", sha, self.owner)

    def land(self, issue: Issue, actor: str, method: str, commit_title: str | None,
             commit_message: str | None) -> str:
        """Write the merge/squash/rebase commit on the base and close the pull request."""
        pr = issue.pull
        assert pr is not None
        head, base = self.pull_head_sha(issue), self.pull_base_sha(issue)
        tree = self.merged_tree(base, head)
        assert tree is not None
        if method == "merge":
            title = commit_title or (
                f"Merge pull request #{issue.number} from {self.owner}/{pr.head_ref}")
            message = commit_message if commit_message is not None else issue.title
            new = self.store.write_commit(tree, [base, head], _join(title, message),
                                          self.ident(actor), self.web_flow())
        elif method == "squash":
            merge_base = self.store.merge_base(base, head) or base
            shas = list(reversed(self.store.rev_list(f"{merge_base}..{head}")))
            infos = [self.store.read_commit(s) for s in shas]
            title = commit_title or f"{issue.title} (#{issue.number})"
            if commit_message is None:
                if len(infos) == 1 and infos[0] is not None:
                    commit_message = infos[0].message.partition("\n")[2].strip("\n")
                else:
                    commit_message = "\n\n".join(
                        "* " + info.message.strip() for info in infos if info is not None)
            author = self.ident(issue.user)
            new = self.store.write_commit(tree, [base], _join(title, commit_message), author,
                                          self.web_flow())
        elif method == "rebase":
            new = self._rebase(issue, base, head)
        else:
            raise ApiError(422, "Validation Failed", errors=[{
                "resource": "PullRequest", "code": "invalid", "field": "merge_method"}])
        self.move_ref(f"refs/heads/{pr.base_ref}", new, actor)
        pr.merged = True
        pr.merged_at = self.now()
        pr.merged_by = actor
        pr.merge_commit_sha = new
        pr.base_sha = base
        self.close(issue, actor)
        return new

    def _rebase(self, issue: Issue, base: str, head: str) -> str:
        pr = issue.pull
        assert pr is not None
        merge_base = self.store.merge_base(base, head) or base
        shas = list(reversed(self.store.rev_list("--topo-order", f"{merge_base}..{head}")))
        onto = base
        rebased: list[str] = []
        for sha in shas:
            info = self.store.read_commit(sha)
            assert info is not None
            if len(info.parents) != 1:
                raise ApiError(405, "This branch can't be rebased")
            onto_tree = self.store.read_commit(onto)
            assert onto_tree is not None
            # A stand-in commit with onto's tree and the picked commit's parent makes that
            # parent the merge base: merge-tree then computes exactly a cherry-pick.
            stand_in = self.store.write_commit(onto_tree.tree, [info.parents[0]], "cherry-pick",
                                               info.author, info.committer)
            tree = self.store.merge_tree(stand_in, sha)
            if tree is None:
                raise ApiError(405, "This branch can't be rebased")
            onto = self.store.write_commit(tree, [onto], info.message, info.author,
                                           self.web_flow())
            rebased.append(onto)
        # GitHub finds the pull request from any of these (GET /commits/{sha}/pulls).
        pr.landed_shas = rebased
        return onto

    # --- bringing a branch up to date ----------------------------------------------------------

    def update_branch(self, issue: Issue, actor: str, expected_head_sha: str | None) -> None:
        """`PUT /pulls/{n}/update-branch`: check now, merge the base into the head a moment later
        (GitHub answers 202 and pushes the merge commit asynchronously)."""
        pr = issue.pull
        assert pr is not None
        if issue.state != "open":
            raise ApiError(422, "Pull request is not open")
        head, base = self.pull_head_sha(issue), self.pull_base_sha(issue)
        if expected_head_sha is not None and expected_head_sha != head:
            raise ApiError(422, "expected head sha didn’t match current head ref.")
        if self.store.is_ancestor(base, head):
            raise ApiError(422, "There are no new commits on the base branch.")
        if self.merged_tree(head, base) is None:
            raise ApiError(422, "merge conflict between base and head")
        self.sim.spawn(self._update_branch_soon(issue, actor, head, base))

    async def _update_branch_soon(self, issue: Issue, actor: str, head: str, base: str) -> None:
        await asyncio.sleep(0)
        pr = issue.pull
        assert pr is not None
        if issue.state != "open" or self.branch_sha(pr.head_ref) != head:
            return  # the head moved meanwhile: GitHub's update loses the race quietly
        tree = self.merged_tree(head, base)
        assert tree is not None
        message = f"Merge branch '{pr.base_ref}' into {pr.head_ref}\n"
        sha = self.store.write_commit(tree, [head, base], message, self.ident(actor),
                                      self.web_flow())
        self.move_ref(f"refs/heads/{pr.head_ref}", sha, actor)

    # --- auto-merge ----------------------------------------------------------------------------

    def enable_auto_merge(self, issue: Issue, actor: str, method: str,
                          commit_title: str | None = None,
                          commit_message: str | None = None) -> None:
        pr = issue.pull
        assert pr is not None
        if not self.allow_auto_merge:
            raise GraphQLProblem("Auto merge is not allowed for this repository")
        if issue.state != "open":
            raise GraphQLProblem("Pull request Pull request is closed")
        if method.lower() in _NOT_ALLOWED and not self.method_allowed(method.lower()):
            raise GraphQLProblem(_NOT_ALLOWED[method.lower()])
        if pr.draft:
            raise GraphQLProblem("Pull request Pull request is in draft status")
        if not self.is_protected(pr.base_ref):
            raise GraphQLProblem("Protected branch rules not configured for this branch")
        mergeable, state = self.mergeability(issue)
        if not mergeable:
            raise GraphQLProblem(f"Pull request Pull request is in {state} status")
        checks = self.checks_problem(issue)
        pending = checks is not None and checks[0] == "pending"
        if not pending and self.review_problem(issue) is None and not self.is_behind(issue):
            # Nothing left to wait for: GitHub refuses, and the caller should merge directly.
            raise GraphQLProblem(
                f"Pull request Pull request is in {'unstable' if checks else state} status")
        pr.auto_merge = AutoMerge(actor, method.lower(), self.now(), commit_title,
                                  commit_message)
        issue.updated_at = self.now()
        pr.timeline.append(("AutoMergeEnabledEvent", actor, self.now()))
        self.emit_issue(issue, "auto_merge_enabled", actor, reason="")

    def disable_auto_merge(self, issue: Issue, actor: str) -> None:
        pr = issue.pull
        assert pr is not None
        if pr.auto_merge is None:
            return
        pr.auto_merge = None
        issue.updated_at = self.now()
        pr.timeline.append(("AutoMergeDisabledEvent", actor, self.now()))
        self.emit_issue(issue, "auto_merge_disabled", actor, reason="")

    def checks_changed(self, sha: str) -> None:
        waiting = [i for i in self.open_pulls_for(sha) if i.pull and i.pull.auto_merge]
        if not waiting:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        for issue in waiting:
            if loop is None:
                self.try_auto_merge(issue)
            else:
                # GitHub merges a little later, not inside the request that reported the check.
                self.sim.spawn(self._auto_merge_soon(issue))

    async def _auto_merge_soon(self, issue: Issue) -> None:
        await asyncio.sleep(0)
        self.try_auto_merge(issue)

    def try_auto_merge(self, issue: Issue) -> bool:
        pr = issue.pull
        if pr is None or pr.auto_merge is None or issue.state != "open":
            return False
        if self.checks_problem(issue) or self.review_problem(issue) or self.is_behind(issue):
            return False  # still waiting (BLOCKED or BEHIND)
        auto = pr.auto_merge
        try:
            self.merge_pull(issue, auto.enabled_by, method=auto.merge_method,
                            commit_title=auto.commit_title, commit_message=auto.commit_message)
        except ApiError:
            return False
        return True

    # --- drafts --------------------------------------------------------------------------------

    def set_draft(self, issue: Issue, draft: bool, actor: str) -> None:
        """convertPullRequestToDraft / markPullRequestReadyForReview; a draft loses auto-merge."""
        pr = issue.pull
        assert pr is not None
        if pr.draft == draft or issue.state != "open":
            return
        pr.draft = draft
        issue.updated_at = self.now()
        self.emit_issue(issue, "converted_to_draft" if draft else "ready_for_review", actor)
        if draft:
            self.disable_auto_merge(issue, actor)


def _blob_entry(sha: str) -> TreeEntry:
    return TreeEntry("100644", "blob", sha, "")


def _join(title: str, message: str | None) -> str:
    return f"{title}\n\n{message}\n" if message else f"{title}\n"
