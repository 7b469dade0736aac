"""GitHub's JSON shapes for the simulator's records.

One shape per object, used both by the REST answers and by the webhook payloads (the webhook
schemas are strict, so every shape here stays inside what they allow).
"""

from __future__ import annotations

import base64
import time
from typing import TYPE_CHECKING, Any

from app.sim.gh_state import (
    PERMISSION_RANK,
    CheckRun,
    CheckSuite,
    Comment,
    CommitComment,
    CommitStatus,
    Deployment,
    DeploymentStatus,
    Issue,
    Label,
    Pull,
    WorkflowRun,
    node_id,
)
from app.sim.git_store import CommitInfo, FileChange, Ident

if TYPE_CHECKING:
    from app.sim.gh_repo_base import RepoBase as SimRepo
    from app.sim.github import GitHubSim

REACTION_CONTENTS = ("+1", "-1", "laugh", "confused", "heart", "hooray", "eyes", "rocket")


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def ident_date(ident: Ident) -> str:
    return iso(ident.timestamp) or ""


class Shapes:
    def __init__(self, sim: GitHubSim) -> None:
        self.sim = sim

    @property
    def api(self) -> str:
        return self.sim.url

    @property
    def web(self) -> str:
        return self.sim.html_url

    # --- people and apps ---------------------------------------------------------------------

    def user(self, login: str | None) -> dict[str, Any] | None:
        if login is None:
            return None
        u = self.sim.user(login)
        api = f"{self.api}/users/{u.login}"
        html = (
            f"{self.web}/apps/{u.login.removesuffix('[bot]')}"
            if u.type == "Bot"
            else f"{self.web}/{u.login}"
        )
        return {
            "login": u.login,
            "id": u.id,
            "node_id": u.node_id,
            "avatar_url": f"https://avatars.githubusercontent.com/u/{u.id}?v=4",
            "gravatar_id": "",
            "url": api,
            "html_url": html,
            "followers_url": f"{api}/followers",
            "following_url": f"{api}/following{{/other_user}}",
            "gists_url": f"{api}/gists{{/gist_id}}",
            "starred_url": f"{api}/starred{{/owner}}{{/repo}}",
            "subscriptions_url": f"{api}/subscriptions",
            "organizations_url": f"{api}/orgs",
            "repos_url": f"{api}/repos",
            "events_url": f"{api}/events{{/privacy}}",
            "received_events_url": f"{api}/received_events",
            "type": u.type,
            "site_admin": False,
        }

    def user_required(self, login: str) -> dict[str, Any]:
        shaped = self.user(login)
        assert shaped is not None
        return shaped

    def organization(self, login: str) -> dict[str, Any]:
        u = self.sim.user(login)
        api = f"{self.api}/orgs/{login}"
        return {
            "login": login,
            "id": u.id,
            "node_id": u.node_id,
            "url": api,
            "repos_url": f"{api}/repos",
            "events_url": f"{api}/events",
            "hooks_url": f"{api}/hooks",
            "issues_url": f"{api}/issues",
            "members_url": f"{api}/members{{/member}}",
            "public_members_url": f"{api}/public_members{{/member}}",
            "avatar_url": f"https://avatars.githubusercontent.com/u/{u.id}?v=4",
            "description": None,
        }

    def app(self, slug: str) -> dict[str, Any]:
        app_id, name = self.sim.app_identity(slug)
        owner = "github" if slug == "github-actions" else self.sim.app_owner
        return {
            "id": app_id,
            "slug": slug,
            "node_id": node_id("App", app_id),
            "owner": self.user(owner),
            "name": name,
            "description": "",
            "external_url": f"{self.web}/apps/{slug}",
            "html_url": f"{self.web}/apps/{slug}",
            "created_at": "2024-01-01T00:00:00Z",
            "updated_at": "2024-01-01T00:00:00Z",
            "permissions": dict(self.sim.app_permissions),
            "events": [],
        }

    def installation_lite(self, installation_id: int) -> dict[str, Any]:
        return {"id": installation_id, "node_id": node_id("Installation", installation_id)}

    def installation(self, installation_id: int) -> dict[str, Any]:
        inst = self.sim.installations[installation_id]
        account = self.sim.user(inst.account)
        return {
            "id": installation_id,
            "account": self.user(inst.account),
            "repository_selection": "selected",
            "access_tokens_url": f"{self.api}/app/installations/{installation_id}/access_tokens",
            "repositories_url": f"{self.api}/installation/repositories",
            "html_url": f"{self.web}/settings/installations/{installation_id}",
            "app_id": self.sim.app_id,
            "app_slug": self.sim.app_slug,
            "target_id": account.id,
            "target_type": "Organization" if account.type == "Organization" else "User",
            "permissions": dict(self.sim.app_permissions),
            "events": list(self.sim.app_events),
            "created_at": iso(inst.created_at),
            "updated_at": iso(inst.created_at),
            "single_file_name": None,
            "suspended_at": None,
            "suspended_by": None,
        }

    # --- repositories ------------------------------------------------------------------------

    def repo_api(self, repo: SimRepo) -> str:
        return f"{self.api}/repos/{repo.full_name}"

    def repository(self, repo: SimRepo) -> dict[str, Any]:
        a = self.repo_api(repo)
        h = f"{self.web}/{repo.full_name}"
        open_issues = sum(1 for i in repo.issue_records() if i.state == "open")
        return {
            "id": repo.id,
            "node_id": repo.node_id,
            "name": repo.name,
            "full_name": repo.full_name,
            "private": repo.private,
            "owner": self.user(repo.owner),
            "html_url": h,
            "description": None,
            "fork": False,
            "url": a,
            "forks_url": f"{a}/forks",
            "keys_url": f"{a}/keys{{/key_id}}",
            "collaborators_url": f"{a}/collaborators{{/collaborator}}",
            "teams_url": f"{a}/teams",
            "hooks_url": f"{a}/hooks",
            "issue_events_url": f"{a}/issues/events{{/number}}",
            "events_url": f"{a}/events",
            "assignees_url": f"{a}/assignees{{/user}}",
            "branches_url": f"{a}/branches{{/branch}}",
            "tags_url": f"{a}/tags",
            "blobs_url": f"{a}/git/blobs{{/sha}}",
            "git_tags_url": f"{a}/git/tags{{/sha}}",
            "git_refs_url": f"{a}/git/refs{{/sha}}",
            "trees_url": f"{a}/git/trees{{/sha}}",
            "statuses_url": f"{a}/statuses/{{sha}}",
            "languages_url": f"{a}/languages",
            "stargazers_url": f"{a}/stargazers",
            "contributors_url": f"{a}/contributors",
            "subscribers_url": f"{a}/subscribers",
            "subscription_url": f"{a}/subscription",
            "commits_url": f"{a}/commits{{/sha}}",
            "git_commits_url": f"{a}/git/commits{{/sha}}",
            "comments_url": f"{a}/comments{{/number}}",
            "issue_comment_url": f"{a}/issues/comments{{/number}}",
            "contents_url": f"{a}/contents/{{+path}}",
            "compare_url": f"{a}/compare/{{base}}...{{head}}",
            "merges_url": f"{a}/merges",
            "archive_url": f"{a}/{{archive_format}}{{/ref}}",
            "downloads_url": f"{a}/downloads",
            "issues_url": f"{a}/issues{{/number}}",
            "pulls_url": f"{a}/pulls{{/number}}",
            "milestones_url": f"{a}/milestones{{/number}}",
            "notifications_url": f"{a}/notifications{{?since,all,participating}}",
            "labels_url": f"{a}/labels{{/name}}",
            "releases_url": f"{a}/releases{{/id}}",
            "deployments_url": f"{a}/deployments",
            "created_at": iso(repo.created_at),
            "updated_at": iso(repo.updated_at),
            "pushed_at": iso(repo.pushed_at),
            "git_url": f"git://github.com/{repo.full_name}.git",
            "ssh_url": f"git@github.com:{repo.full_name}.git",
            "clone_url": f"{h}.git",
            "svn_url": h,
            "homepage": None,
            "size": 1,
            "stargazers_count": 0,
            "watchers_count": 0,
            "language": None,
            "has_issues": True,
            "has_projects": True,
            "has_downloads": True,
            "has_wiki": True,
            "has_pages": False,
            "has_discussions": False,
            "forks_count": 0,
            "mirror_url": None,
            "archived": False,
            "disabled": False,
            "open_issues_count": open_issues,
            "license": None,
            "allow_forking": True,
            "is_template": False,
            "web_commit_signoff_required": False,
            "topics": [],
            "visibility": "private" if repo.private else "public",
            "forks": 0,
            "open_issues": open_issues,
            "watchers": 0,
            "default_branch": repo.default_branch,
            "allow_squash_merge": True,
            "allow_merge_commit": True,
            "allow_rebase_merge": True,
            "allow_auto_merge": repo.allow_auto_merge,
            "delete_branch_on_merge": False,
            "allow_update_branch": False,
            "custom_properties": {},
        }

    _LITE_KEYS = (
        "archive_url", "assignees_url", "blobs_url", "branches_url", "collaborators_url",
        "comments_url", "commits_url", "compare_url", "contents_url", "contributors_url",
        "deployments_url", "description", "downloads_url", "events_url", "fork", "forks_url",
        "full_name", "git_commits_url", "git_refs_url", "git_tags_url", "hooks_url", "html_url",
        "id", "issue_comment_url", "issue_events_url", "issues_url", "keys_url", "labels_url",
        "languages_url", "merges_url", "milestones_url", "name", "node_id", "notifications_url",
        "owner", "private", "pulls_url", "releases_url", "stargazers_url", "statuses_url",
        "subscribers_url", "subscription_url", "tags_url", "teams_url", "trees_url", "url",
    )

    def repository_lite(self, repo: SimRepo) -> dict[str, Any]:
        """The minimal repository GitHub nests in workflow runs."""
        full = self.repository(repo)
        return {k: full[k] for k in self._LITE_KEYS}

    def repo_ref(self, repo: SimRepo) -> dict[str, Any]:
        return {"id": repo.id, "url": self.repo_api(repo), "name": repo.name}

    # --- git objects -------------------------------------------------------------------------

    def git_commit(self, repo: SimRepo, info: CommitInfo) -> dict[str, Any]:
        a = self.repo_api(repo)
        return {
            "sha": info.sha,
            "node_id": node_id("Commit", int(info.sha[:12], 16)),
            "url": f"{a}/git/commits/{info.sha}",
            "html_url": f"{self.web}/{repo.full_name}/commit/{info.sha}",
            "author": self.git_person(info.author),
            "committer": self.git_person(info.committer),
            "tree": {"sha": info.tree, "url": f"{a}/git/trees/{info.tree}"},
            "message": info.message,
            "parents": [
                {
                    "sha": p,
                    "url": f"{a}/git/commits/{p}",
                    "html_url": f"{self.web}/{repo.full_name}/commit/{p}",
                }
                for p in info.parents
            ],
            "verification": self.verification(),
        }

    @staticmethod
    def git_person(ident: Ident) -> dict[str, Any]:
        return {"name": ident.name, "email": ident.email, "date": ident_date(ident)}

    @staticmethod
    def verification() -> dict[str, Any]:
        return {
            "verified": False,
            "reason": "unsigned",
            "signature": None,
            "payload": None,
        }

    def commit(self, repo: SimRepo, info: CommitInfo,
               files: list[FileChange] | None = None) -> dict[str, Any]:
        """The REST commit (GET /repos/{o}/{r}/commits/{ref}); `files` only on single commits."""
        a = self.repo_api(repo)
        author = self.sim.user_by_email(info.author.email)
        committer = self.sim.user_by_email(info.committer.email)
        shaped: dict[str, Any] = {
            "sha": info.sha,
            "node_id": node_id("Commit", int(info.sha[:12], 16)),
            "commit": {
                "author": self.git_person(info.author),
                "committer": self.git_person(info.committer),
                "message": info.message.rstrip("\n"),
                "tree": {"sha": info.tree, "url": f"{a}/git/trees/{info.tree}"},
                "url": f"{a}/git/commits/{info.sha}",
                "comment_count": sum(
                    1 for c in repo.commit_comment_records if c.commit_id == info.sha),
                "verification": self.verification(),
            },
            "url": f"{a}/commits/{info.sha}",
            "html_url": f"{self.web}/{repo.full_name}/commit/{info.sha}",
            "comments_url": f"{a}/commits/{info.sha}/comments",
            "author": self.user(author.login) if author else None,
            "committer": self.user(committer.login) if committer else None,
            "parents": [
                {
                    "sha": p,
                    "url": f"{a}/commits/{p}",
                    "html_url": f"{self.web}/{repo.full_name}/commit/{p}",
                }
                for p in info.parents
            ],
        }
        if files is not None:
            shaped["stats"] = {
                "total": sum(f.additions + f.deletions for f in files),
                "additions": sum(f.additions for f in files),
                "deletions": sum(f.deletions for f in files),
            }
            shaped["files"] = [self.file_change(repo, info.sha, f) for f in files]
        return shaped

    def file_change(self, repo: SimRepo, ref: str, change: FileChange) -> dict[str, Any]:
        a = self.repo_api(repo)
        shaped: dict[str, Any] = {
            "sha": change.sha or change.old_sha,
            "filename": change.filename,
            "status": change.status,
            "additions": change.additions,
            "deletions": change.deletions,
            "changes": change.additions + change.deletions,
            "blob_url": f"{self.web}/{repo.full_name}/blob/{ref}/{change.filename}",
            "raw_url": f"{self.web}/{repo.full_name}/raw/{ref}/{change.filename}",
            "contents_url": f"{a}/contents/{change.filename}?ref={ref}",
        }
        if change.previous_filename:
            shaped["previous_filename"] = change.previous_filename
        return shaped

    def push_commit(self, repo: SimRepo, info: CommitInfo, distinct: bool = True) -> dict[str, Any]:
        """A commit as listed in push/check_suite payloads (id, tree_id, added/removed/modified)."""
        parent = info.parents[0] if info.parents else None
        changes = repo.store.diff(parent, info.sha)
        author = self.sim.user_by_email(info.author.email)
        committer = self.sim.user_by_email(info.committer.email)

        def person(ident: Ident, login: str | None) -> dict[str, Any]:
            shaped: dict[str, Any] = {"name": ident.name, "email": ident.email}
            if login:
                shaped["username"] = login
            return shaped

        return {
            "id": info.sha,
            "tree_id": info.tree,
            "distinct": distinct,
            "message": info.message.rstrip("\n"),
            "timestamp": ident_date(info.committer),
            "url": f"{self.web}/{repo.full_name}/commit/{info.sha}",
            "author": person(info.author, author.login if author else None),
            "committer": person(info.committer, committer.login if committer else None),
            "added": [c.filename for c in changes if c.status == "added"],
            "removed": [c.filename for c in changes if c.status == "removed"],
            "modified": [c.filename for c in changes if c.status not in ("added", "removed")],
        }

    def simple_commit(self, info: CommitInfo) -> dict[str, Any]:
        return {
            "id": info.sha,
            "tree_id": info.tree,
            "message": info.message.rstrip("\n"),
            "timestamp": ident_date(info.committer),
            "author": {"name": info.author.name, "email": info.author.email},
            "committer": {"name": info.committer.name, "email": info.committer.email},
        }

    def ref(self, repo: SimRepo, name: str, sha: str) -> dict[str, Any]:
        a = self.repo_api(repo)
        kind = repo.store.object_type(sha) or "commit"
        return {
            "ref": name,
            "node_id": node_id("Ref", abs(hash((repo.id, name))) % 10**9),
            "url": f"{a}/git/{name}",
            "object": {"sha": sha, "type": kind, "url": f"{a}/git/{kind}s/{sha}"},
        }

    def content_file(self, repo: SimRepo, path: str, sha: str, data: bytes,
                     ref: str) -> dict[str, Any]:
        encoded = base64.b64encode(data).decode()
        # GitHub wraps the base64 text at 60 characters, with a trailing newline.
        wrapped = "".join(encoded[i : i + 60] + "\n" for i in range(0, len(encoded), 60))
        links = self.content_links(repo, path, sha, ref, "blob")
        return {
            "type": "file",
            "encoding": "base64",
            "size": len(data),
            "name": path.rsplit("/", 1)[-1],
            "path": path,
            "content": wrapped,
            "sha": sha,
            "url": links["self"],
            "git_url": links["git"],
            "html_url": links["html"],
            "download_url": f"https://raw.githubusercontent.com/{repo.full_name}/{ref}/{path}",
            "_links": links,
        }

    def content_links(self, repo: SimRepo, path: str, sha: str, ref: str,
                      kind: str) -> dict[str, str]:
        a = self.repo_api(repo)
        view = "tree" if kind == "tree" else "blob"
        return {
            "self": f"{a}/contents/{path}?ref={ref}",
            "git": f"{a}/git/{kind}s/{sha}",
            "html": f"{self.web}/{repo.full_name}/{view}/{ref}/{path}",
        }

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

    def auto_merge(self, pr: Pull) -> dict[str, Any] | None:
        if pr.auto_merge is None:
            return None
        return {
            "enabled_by": self.user(pr.auto_merge.enabled_by),
            "merge_method": pr.auto_merge.merge_method,
            "commit_title": pr.auto_merge.commit_title or "",
            "commit_message": pr.auto_merge.commit_message or "",
        }

    def check_pull(self, repo: SimRepo, issue: Issue) -> dict[str, Any]:
        pr = issue.pull
        assert pr is not None
        return {
            "url": f"{self.repo_api(repo)}/pulls/{issue.number}",
            "id": pr.id,
            "number": issue.number,
            "head": {"ref": pr.head_ref, "sha": repo.pull_head_sha(issue),
                     "repo": self.repo_ref(repo)},
            "base": {"ref": pr.base_ref, "sha": repo.pull_base_sha(issue),
                     "repo": self.repo_ref(repo)},
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

    # --- checks, statuses, actions -----------------------------------------------------------

    def check_suite(self, repo: SimRepo, suite: CheckSuite) -> dict[str, Any]:
        a = self.repo_api(repo)
        info = repo.store.read_commit(suite.head_sha)
        return {
            "id": suite.id,
            "node_id": suite.node_id,
            "head_branch": suite.head_branch,
            "head_sha": suite.head_sha,
            "status": suite.status,
            "conclusion": suite.conclusion,
            "url": f"{a}/check-suites/{suite.id}",
            "before": suite.before,
            "after": suite.after or suite.head_sha,
            "pull_requests": [
                self.check_pull(repo, i) for i in repo.open_pulls_for(suite.head_sha)],
            "app": self.app(suite.app_slug),
            "created_at": iso(suite.created_at),
            "updated_at": iso(suite.updated_at),
            "latest_check_runs_count": len(suite.run_ids),
            "check_runs_url": f"{a}/check-suites/{suite.id}/check-runs",
            "head_commit": self.simple_commit(info) if info else None,
            "rerequestable": True,
            "runs_rerequestable": True,
        }

    def check_suite_brief(self, repo: SimRepo, suite: CheckSuite) -> dict[str, Any]:
        """The check suite nested in a check run."""
        full = self.check_suite(repo, suite)
        keep = ("id", "node_id", "head_branch", "head_sha", "status", "conclusion", "url",
                "before", "after", "pull_requests", "app", "created_at", "updated_at")
        return {k: full[k] for k in keep}

    def check_run(self, repo: SimRepo, run: CheckRun) -> dict[str, Any]:
        a = self.repo_api(repo)
        suite = repo.check_suite_records[run.suite_id]
        url = f"{a}/check-runs/{run.id}"
        output = {
            "title": run.output.get("title"),
            "summary": run.output.get("summary"),
            "text": run.output.get("text"),
            "annotations_count": 0,
            "annotations_url": f"{url}/annotations",
        }
        return {
            "id": run.id,
            "node_id": run.node_id,
            "head_sha": run.head_sha,
            "external_id": run.external_id,
            "url": url,
            "html_url": f"{self.web}/{repo.full_name}/runs/{run.id}",
            "details_url": run.details_url or f"{self.web}/{repo.full_name}/runs/{run.id}",
            "status": run.status,
            "conclusion": run.conclusion,
            "started_at": iso(run.started_at),
            "completed_at": iso(run.completed_at),
            "output": output,
            "name": run.name,
            "check_suite": self.check_suite_brief(repo, suite),
            "app": self.app(run.app_slug),
            "pull_requests": [self.check_pull(repo, i) for i in repo.open_pulls_for(run.head_sha)],
        }

    def status(self, repo: SimRepo, status: CommitStatus) -> dict[str, Any]:
        return {
            "url": f"{self.repo_api(repo)}/statuses/{status.sha}",
            "avatar_url": None,
            "id": status.id,
            "node_id": status.node_id,
            "state": status.state,
            "description": status.description,
            "target_url": status.target_url,
            "context": status.context,
            "created_at": iso(status.created_at),
            "updated_at": iso(status.updated_at),
            "creator": self.user(status.creator),
        }

    def workflow(self, repo: SimRepo, run: WorkflowRun) -> dict[str, Any]:
        a = self.repo_api(repo)
        return {
            "badge_url": f"{self.web}/{repo.full_name}/workflows/{run.name}/badge.svg",
            "created_at": iso(repo.created_at),
            "html_url": f"{self.web}/{repo.full_name}/blob/{repo.default_branch}/{run.path}",
            "id": run.workflow_id,
            "name": run.name,
            "node_id": node_id("Workflow", run.workflow_id),
            "path": run.path,
            "state": "active",
            "updated_at": iso(repo.created_at),
            "url": f"{a}/actions/workflows/{run.workflow_id}",
        }

    def workflow_run(self, repo: SimRepo, run: WorkflowRun) -> dict[str, Any]:
        a = self.repo_api(repo)
        url = f"{a}/actions/runs/{run.id}"
        info = repo.store.read_commit(run.head_sha)
        suite = repo.check_suite_records[run.suite_id]
        return {
            "id": run.id,
            "name": run.name,
            "node_id": run.node_id,
            "head_branch": run.head_branch,
            "head_sha": run.head_sha,
            "path": run.path,
            "display_title": info.message.split("\n", 1)[0] if info else run.name,
            "run_number": run.run_number,
            "event": run.event,
            "status": run.status,
            "conclusion": run.conclusion,
            "workflow_id": run.workflow_id,
            "check_suite_id": suite.id,
            "check_suite_node_id": suite.node_id,
            "url": url,
            "html_url": f"{self.web}/{repo.full_name}/actions/runs/{run.id}",
            "pull_requests": [self.check_pull(repo, i) for i in repo.open_pulls_for(run.head_sha)],
            "created_at": iso(run.created_at),
            "updated_at": iso(run.updated_at),
            "actor": self.user(run.actor),
            "triggering_actor": self.user(run.actor),
            "run_attempt": run.run_attempt,
            "run_started_at": iso(run.updated_at if run.run_attempt > 1 else run.created_at),
            "jobs_url": f"{url}/jobs",
            "logs_url": f"{url}/logs",
            "check_suite_url": f"{a}/check-suites/{suite.id}",
            "artifacts_url": f"{url}/artifacts",
            "cancel_url": f"{url}/cancel",
            "rerun_url": f"{url}/rerun",
            "previous_attempt_url": (
                f"{url}/attempts/{run.run_attempt - 1}" if run.run_attempt > 1 else None
            ),
            "workflow_url": f"{a}/actions/workflows/{run.workflow_id}",
            "head_commit": self.simple_commit(info) if info else None,
            "repository": self.repository_lite(repo),
            "head_repository": self.repository_lite(repo),
        }

    # --- deployments -------------------------------------------------------------------------

    def deployment(self, repo: SimRepo, dep: Deployment) -> dict[str, Any]:
        a = self.repo_api(repo)
        return {
            "url": f"{a}/deployments/{dep.id}",
            "id": dep.id,
            "node_id": dep.node_id,
            "sha": dep.sha,
            "ref": dep.ref,
            "task": dep.task,
            "payload": dep.payload,
            "original_environment": dep.environment,
            "environment": dep.environment,
            "description": dep.description,
            "creator": self.user(dep.creator),
            "created_at": iso(dep.created_at),
            "updated_at": iso(dep.updated_at),
            "statuses_url": f"{a}/deployments/{dep.id}/statuses",
            "repository_url": a,
            "transient_environment": dep.transient_environment,
            "production_environment": dep.production_environment,
        }

    def deployment_status(self, repo: SimRepo, dep: Deployment,
                          status: DeploymentStatus) -> dict[str, Any]:
        a = self.repo_api(repo)
        return {
            "url": f"{a}/deployments/{dep.id}/statuses/{status.id}",
            "id": status.id,
            "node_id": status.node_id,
            "state": status.state,
            "creator": self.user(status.creator),
            "description": status.description,
            "environment": status.environment,
            "target_url": status.target_url,
            "created_at": iso(status.created_at),
            "updated_at": iso(status.updated_at),
            "deployment_url": f"{a}/deployments/{dep.id}",
            "repository_url": a,
            "environment_url": status.environment_url,
            # GitHub leaves log_url out rather than sending an empty one.
            **({"log_url": status.log_url} if status.log_url else {}),
        }
