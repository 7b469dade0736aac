"""Pull requests: creation, branches moving under them, mergeability by git, reviews.

Landing them (merge methods, auto-merge, update-branch) is in repo_merging.
"""

from __future__ import annotations

from typing import Any

from sim.github.repo_checks import ChecksMixin
from sim.github.repo_issues import IssuesMixin
from sim.github.routes import ApiError, not_found
from sim.github.state import Issue, Pull, Review


class PullsMixin(IssuesMixin, ChecksMixin):
    # --- lookups -----------------------------------------------------------------------------

    def pull_or_404(self, number: int) -> Issue:
        issue = self.issue_map.get(number)
        if issue is None or issue.pull is None:
            raise not_found()
        return issue

    def pull_records(self) -> list[Issue]:
        return [i for i in self.issue_map.values() if i.pull is not None]

    def pull_stats(self, issue: Issue) -> tuple[int, int, int, int]:
        """(commits, additions, deletions, changed files) of a pull request."""
        head = self.pull_head_sha(issue)
        base = self.pull_base_sha(issue)
        key = (base, head)
        if key not in self._stats_cache:
            merge_base = self.store.merge_base(base, head) if base else None
            if merge_base is None:
                self._stats_cache[key] = (0, 0, 0, 0)
            else:
                commits = len(self.store.rev_list(f"{merge_base}..{head}"))
                files = self.store.diff(merge_base, head)
                self._stats_cache[key] = (commits, sum(f.additions for f in files),
                                          sum(f.deletions for f in files), len(files))
        return self._stats_cache[key]

    # --- creation ----------------------------------------------------------------------------

    def create_pull(self, head: str, base: str | None, title: str, body: str | None,
                    actor: str, *, draft: bool = False,
                    maintainer_can_modify: bool = False) -> Issue:
        base = base or self.default_branch
        owner, _, branch = head.rpartition(":")
        if owner and owner.lower() != self.owner.lower():
            raise ApiError(422, "Validation Failed", errors=[
                {"resource": "PullRequest", "field": "head", "code": "invalid"}])
        head_sha = self.branch_sha(branch)
        base_sha = self.branch_sha(base)
        if head_sha is None:
            raise ApiError(422, "Validation Failed", errors=[
                {"resource": "PullRequest", "field": "head", "code": "invalid"}])
        if base_sha is None:
            raise ApiError(422, "Validation Failed", errors=[
                {"resource": "PullRequest", "field": "base", "code": "invalid"}])
        for other in self.pull_records():
            pr = other.pull
            assert pr is not None
            if other.state == "open" and pr.head_ref == branch and pr.base_ref == base:
                raise ApiError(422, "Validation Failed", errors=[{
                    "resource": "PullRequest", "code": "custom",
                    "message": f"A pull request already exists for {self.owner}:{branch}."}])
        if self.store.is_ancestor(head_sha, base_sha):
            raise ApiError(422, "Validation Failed", errors=[{
                "resource": "PullRequest", "code": "custom",
                "message": f"No commits between {base} and {branch}"}])
        now = self.now()
        issue = Issue(
            number=self.next_number(),
            id=self.sim.next_id("issue"),
            title=title,
            body=body,
            user=actor,
            created_at=now,
            updated_at=now,
        )
        issue.pull = Pull(
            id=self.sim.next_id("pull"),
            head_ref=branch,
            head_sha=head_sha,
            base_ref=base,
            base_sha=base_sha,
            draft=draft,
            maintainer_can_modify=maintainer_can_modify,
        )
        self.issue_map[issue.number] = issue
        self.emit_issue(issue, "opened", actor)
        return issue

    def edit_pull(self, issue: Issue, actor: str, changes: dict[str, Any]) -> Issue:
        pr = issue.pull
        assert pr is not None
        base = changes.get("base")
        if base and base != pr.base_ref:
            if self.branch_sha(base) is None:
                raise ApiError(422, "Validation Failed", errors=[
                    {"resource": "PullRequest", "field": "base", "code": "invalid"}])
            old = pr.base_ref
            pr.base_ref = base
            self.emit_issue(issue, "edited", actor, changes={"base": {
                "ref": {"from": old}, "sha": {"from": pr.base_sha}}})
        if "maintainer_can_modify" in changes:
            pr.maintainer_can_modify = bool(changes["maintainer_can_modify"])
        self.edit_issue(issue.number, actor, {
            k: v for k, v in changes.items() if k in ("title", "body", "state")})
        return issue

    # --- branches moving ---------------------------------------------------------------------

    def on_branch_moved(self, branch: str, before: str | None, after: str | None,
                        actor: str) -> None:
        for issue in self.pull_records():
            pr = issue.pull
            assert pr is not None
            if issue.state != "open":
                continue
            if pr.base_ref == branch and after is not None:
                pr.base_sha = after

    def after_branch_moved(self, branch: str, before: str | None, after: str | None,
                           actor: str) -> None:
        for issue in self.pull_records():
            pr = issue.pull
            assert pr is not None
            if issue.state != "open" or pr.head_ref != branch:
                continue
            if after is None:
                # Deleting a pull request's head branch closes it.
                self.close(issue, actor)
                continue
            if after != pr.head_sha:
                old = pr.head_sha
                pr.head_sha = after
                issue.updated_at = self.now()
                self.emit_issue(issue, "synchronize", actor, before=old, after=after)

    # --- mergeability and protection ---------------------------------------------------------

    def merged_tree(self, base_sha: str, head_sha: str) -> str | None:
        key = (base_sha, head_sha)
        if key not in self._merge_cache:
            self._merge_cache[key] = self.store.merge_tree(base_sha, head_sha)
        return self._merge_cache[key]

    def review_problem(self, issue: Issue) -> str | None:
        pr = issue.pull
        assert pr is not None
        protection = self.protections.get(pr.base_ref)
        needed = protection.required_reviews if protection else 0
        if needed <= 0:
            return None
        latest: dict[str, Review] = {}
        for review in pr.reviews:
            if review.state in ("APPROVED", "CHANGES_REQUESTED", "DISMISSED"):
                latest[review.user] = review
        approvals = sum(
            1 for login, review in latest.items()
            if review.state == "APPROVED" and login != issue.user and self.can_write(login)
        )
        if approvals >= needed:
            return None
        if needed == 1:
            return "At least 1 approving review is required by reviewers with write access."
        return f"At least {needed} approving reviews are required by reviewers with write access."

    def pull_commit_shas(self, issue: Issue) -> list[str]:
        """The pull request's commits, oldest first (GET /pulls/{n}/commits)."""
        head, base = self.pull_head_sha(issue), self.pull_base_sha(issue)
        merge_base = self.store.merge_base(base, head) or base
        return list(reversed(self.store.rev_list("--topo-order", f"{merge_base}..{head}")))

    def checks_problem(self, issue: Issue) -> tuple[str, str] | None:
        """(state, message) of the first required check not yet successful on the head."""
        pr = issue.pull
        assert pr is not None
        head = self.pull_head_sha(issue)
        failing = None
        for context in self.required_checks(pr.base_ref):
            state = self.context_state(head, context)
            if state in ("missing", "pending"):
                return "pending", f'Required status check "{context}" is expected.'
            if state == "failure" and failing is None:
                failing = ("failure", f'Required status check "{context}" is failing.')
        return failing

    def mergeability(self, issue: Issue) -> tuple[bool | None, str]:
        pr = issue.pull
        assert pr is not None
        if issue.state != "open":
            return None, "unknown"
        head = self.pull_head_sha(issue)
        base = self.pull_base_sha(issue)
        if self.merged_tree(base, head) is None:
            return False, "dirty"
        if pr.draft:
            return True, "draft"
        if self.review_problem(issue) or self.checks_problem(issue):
            return True, "blocked"
        protection = self.protections.get(pr.base_ref)
        if protection is not None and protection.strict and not self.store.is_ancestor(base, head):
            return True, "behind"
        if any(state == "failure" for _, state in self.contexts_on(head)):
            return True, "unstable"
        return True, "clean"

    # --- reviews -----------------------------------------------------------------------------

    def request_reviewers(self, issue: Issue, reviewers: list[str], actor: str) -> None:
        pr = issue.pull
        assert pr is not None
        for login in reviewers:
            if login == issue.user:
                raise ApiError(422, "Review cannot be requested from pull request author.")
            if not self.is_collaborator(login):
                raise ApiError(422, (
                    "Reviews may only be requested from collaborators. One or more of the users "
                    f"or teams you specified is not a collaborator of the {self.full_name} "
                    "repository."
                ))
        for login in reviewers:
            if login in pr.requested_reviewers:
                continue
            pr.requested_reviewers.append(login)
            issue.updated_at = self.now()
            self.emit_issue(issue, "review_requested", actor,
                            requested_reviewer=self.sim.shapes.user(login))

    def remove_requested_reviewers(self, issue: Issue, reviewers: list[str], actor: str) -> None:
        pr = issue.pull
        assert pr is not None
        for login in reviewers:
            if login in pr.requested_reviewers:
                pr.requested_reviewers.remove(login)
                self.emit_issue(issue, "review_request_removed", actor,
                                requested_reviewer=self.sim.shapes.user(login))

    def add_review(self, issue: Issue, actor: str, state: str, body: str = "") -> Review:
        pr = issue.pull
        assert pr is not None
        if actor == issue.user and state in ("APPROVED", "CHANGES_REQUESTED"):
            word = "approve" if state == "APPROVED" else "request changes on"
            raise ApiError(422, "Unprocessable Entity", errors=[
                f"Can not {word} your own pull request"])
        review = Review(self.sim.next_id("review"), actor, state, self.pull_head_sha(issue),
                        body, self.now())
        pr.reviews.append(review)
        if actor in pr.requested_reviewers:
            pr.requested_reviewers.remove(actor)
        self.checks_changed(self.pull_head_sha(issue))
        return review
