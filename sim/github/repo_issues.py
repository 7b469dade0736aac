"""Issues, labels, comments, assignees, reactions and commit comments of a simulated repository.

Pull requests are issues too: their label and state changes send `pull_request` events, as
GitHub does, and their comments are issue comments.
"""

from __future__ import annotations

from typing import Any

from sim.github.repo_base import RepoBase
from sim.github.routes import ApiError, not_found
from sim.github.state import Comment, CommitComment, Issue, Reaction


class IssuesMixin(RepoBase):
    def issue_or_404(self, number: int) -> Issue:
        issue = self.issue_map.get(number)
        if issue is None:
            raise not_found()
        return issue

    def _issue_event(self, issue: Issue) -> str:
        return "pull_request" if issue.pull is not None else "issues"

    def _issue_objects(self, issue: Issue) -> dict[str, Any]:
        shapes = self.sim.shapes
        if issue.pull is not None:
            return {"number": issue.number, "pull_request": shapes.pull(self, issue)}
        return {"issue": shapes.issue(self, issue, rest=False)}

    def emit_issue(self, issue: Issue, action: str, actor: str, **extra: Any) -> None:
        self.emit(self._issue_event(issue), action, actor, **self._issue_objects(issue), **extra)

    # --- issues ------------------------------------------------------------------------------

    def create_issue(self, title: str, body: str | None, actor: str, *,
                     labels: list[str] | None = None,
                     assignees: list[str] | None = None) -> Issue:
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
        self.issue_map[issue.number] = issue
        issue.labels = [self.label_record(n).name for n in _unique(labels or [])]
        issue.assignees = [a for a in _unique(assignees or []) if self.is_collaborator(a)]
        self.emit_issue(issue, "opened", actor)
        for name in issue.labels:
            self._emit_label(issue, "labeled", name, actor)
        for login in issue.assignees:
            self._emit_assignee(issue, "assigned", login, actor)
        return issue

    def edit_issue(self, number: int, actor: str, changes: dict[str, Any]) -> Issue:
        issue = self.issue_or_404(number)
        edited: dict[str, Any] = {}
        for key in ("title", "body"):
            if key in changes and changes[key] != getattr(issue, key):
                if key == "title" and not changes[key]:
                    raise ApiError(422, "Validation Failed", errors=[
                        {"resource": "Issue", "code": "missing_field", "field": "title"}])
                edited[key] = {"from": getattr(issue, key)}
                setattr(issue, key, changes[key])
        if "state_reason" in changes and issue.state == "closed" and "state" not in changes:
            issue.state_reason = changes["state_reason"]
        if edited:
            issue.updated_at = self.now()
            self.emit_issue(issue, "edited", actor, changes=edited)
        if "state" in changes and changes["state"] != issue.state:
            if changes["state"] == "closed":
                self.close(issue, actor, reason=changes.get("state_reason") or "completed")
            else:
                self.reopen(issue, actor)
        if "labels" in changes and changes["labels"] is not None:
            self.set_issue_labels(issue, [_label_name(x) for x in changes["labels"]], actor)
        if "assignees" in changes and changes["assignees"] is not None:
            self.set_assignees(issue, list(changes["assignees"]), actor)
        elif "assignee" in changes:
            self.set_assignees(issue, [changes["assignee"]] if changes["assignee"] else [], actor)
        return issue

    def close(self, issue: Issue, actor: str, *, reason: str = "completed") -> None:
        if issue.state == "closed":
            return
        now = self.now()
        issue.state = "closed"
        issue.state_reason = None if issue.pull else reason
        issue.closed_at = now
        issue.closed_by = actor
        issue.updated_at = now
        if issue.pull is not None:
            issue.pull.base_sha = self.branch_sha(issue.pull.base_ref) or issue.pull.base_sha
        self.emit_issue(issue, "closed", actor)

    def reopen(self, issue: Issue, actor: str) -> None:
        if issue.state == "open":
            return
        if issue.pull is not None and issue.pull.merged:
            raise ApiError(422, "Validation Failed", errors=[{
                "resource": "PullRequest", "code": "custom",
                "message": "state cannot be changed. The pull request cannot be reopened."}])
        issue.state = "open"
        issue.state_reason = None if issue.pull else "reopened"
        issue.closed_at = None
        issue.closed_by = None
        issue.updated_at = self.now()
        self.emit_issue(issue, "reopened", actor)

    # --- labels ------------------------------------------------------------------------------

    def _emit_label(self, issue: Issue, action: str, name: str, actor: str) -> None:
        label = self.sim.shapes.label(self, self.label_record(name))
        self.emit_issue(issue, action, actor, label=label)

    def add_issue_labels(self, issue: Issue, names: list[str], actor: str) -> None:
        for name in _unique(names):
            label = self.label_record(name)  # adding an unknown label creates it, like GitHub
            if label.name in issue.labels:
                continue
            issue.labels.append(label.name)
            issue.updated_at = self.now()
            self._emit_label(issue, "labeled", label.name, actor)

    def remove_issue_label(self, issue: Issue, name: str, actor: str) -> None:
        label = self.find_label(name)
        if label is None or label.name not in issue.labels:
            raise ApiError(404, "Label does not exist")
        issue.labels.remove(label.name)
        issue.updated_at = self.now()
        self._emit_label(issue, "unlabeled", label.name, actor)

    def set_issue_labels(self, issue: Issue, names: list[str], actor: str) -> None:
        wanted = [self.label_record(n).name for n in _unique(names)]
        for name in list(issue.labels):
            if name not in wanted:
                self.remove_issue_label(issue, name, actor)
        self.add_issue_labels(issue, wanted, actor)

    def create_label(self, name: str, color: str = "ededed",
                     description: str | None = None) -> dict[str, Any]:
        if self.find_label(name) is not None:
            raise ApiError(422, "Validation Failed", errors=[
                {"resource": "Label", "code": "already_exists", "field": "name"}])
        label = self.label_record(name)
        label.color = color.lstrip("#") or "ededed"
        label.description = description
        return self.sim.shapes.label(self, label)

    # --- assignees ---------------------------------------------------------------------------

    def _emit_assignee(self, issue: Issue, action: str, login: str, actor: str) -> None:
        self.emit_issue(issue, action, actor, assignee=self.sim.shapes.user(login))

    def add_assignees(self, issue: Issue, logins: list[str], actor: str) -> None:
        for login in _unique(logins):
            # GitHub silently ignores people who cannot be assigned.
            if login in issue.assignees or not self.is_collaborator(login):
                continue
            issue.assignees.append(login)
            issue.updated_at = self.now()
            self._emit_assignee(issue, "assigned", login, actor)

    def remove_assignees(self, issue: Issue, logins: list[str], actor: str) -> None:
        for login in _unique(logins):
            if login in issue.assignees:
                issue.assignees.remove(login)
                issue.updated_at = self.now()
                self._emit_assignee(issue, "unassigned", login, actor)

    def set_assignees(self, issue: Issue, logins: list[str], actor: str) -> None:
        self.remove_assignees(issue, [a for a in issue.assignees if a not in logins], actor)
        self.add_assignees(issue, logins, actor)

    # --- comments ----------------------------------------------------------------------------

    def add_comment(self, number: int, body: str, actor: str) -> Comment:
        issue = self.issue_or_404(number)
        now = self.now()
        comment = Comment(self.sim.next_id("comment"), number, actor, body, now, now)
        issue.comments.append(comment)
        issue.updated_at = now
        self.emit("issue_comment", "created", actor,
                  issue=self.sim.shapes.issue(self, issue, rest=False),
                  comment=self.sim.shapes.comment(self, comment))
        return comment

    def find_comment(self, comment_id: int) -> tuple[Issue, Comment]:
        for issue in self.issue_map.values():
            for comment in issue.comments:
                if comment.id == comment_id:
                    return issue, comment
        raise not_found()

    def edit_comment(self, comment_id: int, body: str, actor: str) -> Comment:
        issue, comment = self.find_comment(comment_id)
        if body != comment.body:
            old = comment.body
            comment.body = body
            comment.updated_at = self.now()
            self.emit("issue_comment", "edited", actor,
                      changes={"body": {"from": old}},
                      issue=self.sim.shapes.issue(self, issue, rest=False),
                      comment=self.sim.shapes.comment(self, comment))
        return comment

    def add_commit_comment(self, sha: str, body: str, actor: str, *, path: str | None = None,
                           position: int | None = None, line: int | None = None
                           ) -> CommitComment:
        now = self.now()
        comment = CommitComment(self.sim.next_id("commit_comment"), sha, actor, body, path,
                                position, line, now, now)
        self.commit_comment_records.append(comment)
        self.emit("commit_comment", "created", actor,
                  comment=self.sim.shapes.commit_comment(self, comment, rest=False))
        return comment

    # --- reactions ---------------------------------------------------------------------------

    def react(self, subject: str, content: str, actor: str) -> tuple[Reaction, bool]:
        """Add a reaction; (existing, False) when this user already reacted so."""
        for reaction in self.reaction_records:
            if (reaction.subject, reaction.user, reaction.content) == (subject, actor, content):
                return reaction, False
        reaction = Reaction(self.sim.next_id("reaction"), subject, content, actor, self.now())
        self.reaction_records.append(reaction)
        return reaction, True


def _unique(items: list[str]) -> list[str]:
    seen: list[str] = []
    for item in items:
        if item not in seen:
            seen.append(item)
    return seen


def _label_name(value: Any) -> str:
    if isinstance(value, dict):
        return str(value.get("name", ""))
    return str(value)
