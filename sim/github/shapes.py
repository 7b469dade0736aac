"""GitHub's JSON shapes for the simulator's records.

One shape per object, used both by the REST answers and by the webhook payloads (the webhook
schemas are strict, so every shape here stays inside what they allow). People, repositories
and git objects are in gh_shapes_base, checks and deployments in gh_shapes_checks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sim.github.shapes_base import ident_date, iso
from sim.github.shapes_checks import CheckShapes
from sim.github.state import PERMISSION_RANK, Comment, CommitComment, Issue, Label, Pull, node_id

if TYPE_CHECKING:
    from sim.github.repo_base import RepoBase as SimRepo

__all__ = ["REACTION_CONTENTS", "Shapes", "ident_date", "iso"]

REACTION_CONTENTS = ("+1", "-1", "laugh", "confused", "heart", "hooray", "eyes", "rocket")


class Shapes(CheckShapes):
    # --- issues ------------------------------------------------------------------------------

    def label(self, repo: SimRepo, label: Label) -> dict[str, Any]:
        return {
            "id": label.id,
            "node_id": label.node_id,
            "url": f"{self.repo_api(repo)}/labels/{label.name}",
            "name": label.name,
            "color": label.color,
            "default": label.default,
            "description": label.description,
        }

    def author_association(self, repo: SimRepo, login: str) -> str:
        if login == repo.owner:
            return "OWNER"
        user = self.sim.users.get(login)
        if user is not None and user.type == "Bot":
            return "NONE"
        if PERMISSION_RANK.get(repo.permissions.get(login, "none"), 0) > 0:
            return "COLLABORATOR"
        return "NONE"

    def reactions(self, repo: SimRepo, subject: str, url: str) -> dict[str, Any]:
        counts = {c: 0 for c in REACTION_CONTENTS}
        for r in repo.reaction_records:
            if r.subject == subject:
                counts[r.content] = counts.get(r.content, 0) + 1
        return {"url": url, "total_count": sum(counts.values()), **counts}

    def issue(self, repo: SimRepo, issue: Issue, *, rest: bool = True) -> dict[str, Any]:
        a = self.repo_api(repo)
        url = f"{a}/issues/{issue.number}"
        kind = "pull" if issue.pull else "issues"
        shaped: dict[str, Any] = {
            "url": url,
            "repository_url": a,
            "labels_url": f"{url}/labels{{/name}}",
            "comments_url": f"{url}/comments",
            "events_url": f"{url}/events",
            "html_url": f"{self.web}/{repo.full_name}/{kind}/{issue.number}",
            "id": issue.id,
            "node_id": issue.pull.node_id if issue.pull else issue.node_id,
            "number": issue.number,
            "title": issue.title,
            "user": self.user(issue.user),
            "labels": [self.label(repo, repo.label_record(n)) for n in issue.labels],
            "state": issue.state,
            "locked": issue.locked,
            "assignee": self.user(issue.assignees[0]) if issue.assignees else None,
            "assignees": [self.user(a_) for a_ in issue.assignees],
            "milestone": None,
            "comments": len(issue.comments),
            "created_at": iso(issue.created_at),
            "updated_at": iso(issue.updated_at),
            "closed_at": iso(issue.closed_at),
            "author_association": self.author_association(repo, issue.user),
            "active_lock_reason": None,
            "body": issue.body,
            "reactions": self.reactions(repo, f"issue:{issue.number}", f"{url}/reactions"),
            "timeline_url": f"{url}/timeline",
            "performed_via_github_app": None,
            "state_reason": issue.state_reason,
        }
        if issue.pull is not None:
            shaped["draft"] = issue.pull.draft
            shaped["pull_request"] = {
                "url": f"{a}/pulls/{issue.number}",
                "html_url": f"{self.web}/{repo.full_name}/pull/{issue.number}",
                "diff_url": f"{self.web}/{repo.full_name}/pull/{issue.number}.diff",
                "patch_url": f"{self.web}/{repo.full_name}/pull/{issue.number}.patch",
                "merged_at": iso(issue.pull.merged_at),
            }
        if rest:
            shaped["closed_by"] = self.user(issue.closed_by)
        return shaped

    def comment(self, repo: SimRepo, comment: Comment) -> dict[str, Any]:
        a = self.repo_api(repo)
        url = f"{a}/issues/comments/{comment.id}"
        issue = repo.issue_record(comment.issue_number)
        kind = "pull" if issue is not None and issue.pull else "issues"
        return {
            "url": url,
            "html_url": (
                f"{self.web}/{repo.full_name}/{kind}/{comment.issue_number}"
                f"#issuecomment-{comment.id}"
            ),
            "issue_url": f"{a}/issues/{comment.issue_number}",
            "id": comment.id,
            "node_id": comment.node_id,
            "user": self.user(comment.user),
            "created_at": iso(comment.created_at),
            "updated_at": iso(comment.updated_at),
            "author_association": self.author_association(repo, comment.user),
            "performed_via_github_app": None,
            "body": comment.body,
            "reactions": self.reactions(repo, f"issue_comment:{comment.id}", f"{url}/reactions"),
        }

    def commit_comment(self, repo: SimRepo, comment: CommitComment, *,
                       rest: bool = True) -> dict[str, Any]:
        url = f"{self.repo_api(repo)}/comments/{comment.id}"
        shaped: dict[str, Any] = {
            "url": url,
            "html_url": (
                f"{self.web}/{repo.full_name}/commit/{comment.commit_id}#commitcomment-{comment.id}"
            ),
            "id": comment.id,
            "node_id": comment.node_id,
            "user": self.user(comment.user),
            "position": comment.position,
            "line": comment.line,
            "path": comment.path,
            "commit_id": comment.commit_id,
            "created_at": iso(comment.created_at),
            "updated_at": iso(comment.updated_at),
            "author_association": self.author_association(repo, comment.user),
            "body": comment.body,
        }
        if rest:
            shaped["reactions"] = self.reactions(repo, f"commit_comment:{comment.id}",
                                                 f"{url}/reactions")
        return shaped

    # --- pull requests -----------------------------------------------------------------------

    def pr_branch(self, repo: SimRepo, ref: str, sha: str) -> dict[str, Any]:
        return {
            "label": f"{repo.owner}:{ref}",
            "ref": ref,
            "sha": sha,
            "user": self.user(repo.owner),
            "repo": self.repository(repo),
        }

    def pull(self, repo: SimRepo, issue: Issue) -> dict[str, Any]:
        pr = issue.pull
        assert pr is not None
        a = self.repo_api(repo)
        url = f"{a}/pulls/{issue.number}"
        html = f"{self.web}/{repo.full_name}/pull/{issue.number}"
        head_sha = repo.pull_head_sha(issue)
        base_sha = repo.pull_base_sha(issue)
        mergeable, mergeable_state = repo.mergeability(issue)
        stats = repo.pull_stats(issue)
        return {
            "url": url,
            "id": pr.id,
            "node_id": pr.node_id,
            "html_url": html,
            "diff_url": f"{html}.diff",
            "patch_url": f"{html}.patch",
            "issue_url": f"{a}/issues/{issue.number}",
            "number": issue.number,
            "state": issue.state,
            "locked": issue.locked,
            "title": issue.title,
            "user": self.user(issue.user),
            "body": issue.body,
            "created_at": iso(issue.created_at),
            "updated_at": iso(issue.updated_at),
            "closed_at": iso(issue.closed_at),
            "merged_at": iso(pr.merged_at),
            "merge_commit_sha": pr.merge_commit_sha,
            "assignee": self.user(issue.assignees[0]) if issue.assignees else None,
            "assignees": [self.user(x) for x in issue.assignees],
            "requested_reviewers": [self.user(x) for x in pr.requested_reviewers],
            "requested_teams": [],
            "labels": [self.label(repo, repo.label_record(n)) for n in issue.labels],
            "milestone": None,
            "draft": pr.draft,
            "commits_url": f"{url}/commits",
            "review_comments_url": f"{url}/comments",
            "review_comment_url": f"{a}/pulls/comments{{/number}}",
            "comments_url": f"{a}/issues/{issue.number}/comments",
            "statuses_url": f"{a}/statuses/{head_sha}",
            "head": self.pr_branch(repo, pr.head_ref, head_sha),
            "base": self.pr_branch(repo, pr.base_ref, base_sha),
            "_links": {
                "self": {"href": url},
                "html": {"href": html},
                "issue": {"href": f"{a}/issues/{issue.number}"},
                "comments": {"href": f"{a}/issues/{issue.number}/comments"},
                "review_comments": {"href": f"{url}/comments"},
                "review_comment": {"href": f"{a}/pulls/comments{{/number}}"},
                "commits": {"href": f"{url}/commits"},
                "statuses": {"href": f"{a}/statuses/{head_sha}"},
            },
            "author_association": self.author_association(repo, issue.user),
            "auto_merge": self.auto_merge(pr),
            "active_lock_reason": None,
            "merged": pr.merged,
            "mergeable": mergeable,
            "rebaseable": mergeable,
            "mergeable_state": mergeable_state,
            "merged_by": self.user(pr.merged_by),
            "comments": len(issue.comments),
            "review_comments": 0,
            "maintainer_can_modify": pr.maintainer_can_modify,
            "commits": stats[0],
            "additions": stats[1],
            "deletions": stats[2],
            "changed_files": stats[3],
        }

    def rest_pull(self, repo: SimRepo, issue: Issue) -> dict[str, Any]:
        """A pull request as REST answers it: its branches' repositories carry no custom
        properties (webhooks do)."""
        shaped = self.pull(repo, issue)
        for side in ("head", "base"):
            shaped[side]["repo"].pop("custom_properties", None)
        return shaped

    def auto_merge(self, pr: Pull) -> dict[str, Any] | None:
        if pr.auto_merge is None:
            return None
        return {
            "enabled_by": self.user(pr.auto_merge.enabled_by),
            "merge_method": pr.auto_merge.merge_method,
            "commit_title": pr.auto_merge.commit_title or "",
            "commit_message": pr.auto_merge.commit_message or "",
        }

    def review(self, repo: SimRepo, number: int, review: Any) -> dict[str, Any]:
        a = self.repo_api(repo)
        return {
            "id": review.id,
            "node_id": node_id("PullRequestReview", review.id),
            "user": self.user(review.user),
            "body": review.body,
            "state": review.state,
            "html_url": f"{self.web}/{repo.full_name}/pull/{number}#pullrequestreview-{review.id}",
            "pull_request_url": f"{a}/pulls/{number}",
            "author_association": self.author_association(repo, review.user),
            "_links": {
                "html": {"href": f"{self.web}/{repo.full_name}/pull/{number}"},
                "pull_request": {"href": f"{a}/pulls/{number}"},
            },
            "submitted_at": iso(review.submitted_at),
            "commit_id": review.commit_id,
        }
