"""GitHub's JSON shapes of people, apps, repositories and git objects (see gh_shapes)."""

from __future__ import annotations

import base64
import time
import zlib
from typing import TYPE_CHECKING, Any

from sim.github.git_store import CommitInfo, FileChange, Ident
from sim.github.state import Issue, node_id

if TYPE_CHECKING:
    from sim.github.repo_base import RepoBase as SimRepo
    from sim.github.server import GitHubSim

# App permissions GitHub's installation schema does not list (it lists them on the token).
_UNDESCRIBED_INSTALLATION_PERMISSIONS = frozenset({"merge_queues"})

def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def ident_date(ident: Ident) -> str:
    return iso(ident.timestamp) or ""


class BaseShapes:
    """People, apps, repositories and git objects."""

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

    def profile(self, login: str, *, private: bool = False) -> dict[str, Any]:
        """A user's public profile (GET /users/{u}); `private` adds what only they see (/user)."""
        u = self.sim.user(login)
        shaped = {
            **self.user_required(login),
            "user_view_type": "private" if private else "public",
            "name": u.name, "company": None, "blog": "", "location": None,
            "email": u.email if private else None, "hireable": None, "bio": None,
            "public_repos": 0, "public_gists": 0, "followers": 0, "following": 0,
            "created_at": "2020-01-01T00:00:00Z", "updated_at": "2020-01-01T00:00:00Z",
        }
        if private:
            shaped.update({"private_gists": 0, "total_private_repos": 0, "owned_private_repos": 0,
                           "disk_usage": 0, "collaborators": 0,
                           "two_factor_authentication": True})
        return shaped

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
            # GitHub's description of an installation (GET /app/installations, /installation)
            # predates the "Merge queues" permission; the token's answer (app-permissions)
            # lists it. Answered as described.
            "permissions": {k: v for k, v in self.sim.app_permissions.items()
                            if k not in _UNDESCRIBED_INSTALLATION_PERMISSIONS},
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
            "allow_squash_merge": repo.allow_squash_merge,
            "allow_merge_commit": repo.allow_merge_commit,
            "allow_rebase_merge": repo.allow_rebase_merge,
            "allow_auto_merge": repo.allow_auto_merge,
            "delete_branch_on_merge": repo.delete_branch_on_merge,
            "allow_update_branch": repo.allow_update_branch,
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
            "verified_at": None,
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

    def merge_group_commit(self, info: CommitInfo) -> dict[str, Any]:
        """`merge_group.head_commit`: the group's commit, names and emails only."""
        return self.simple_commit(info)

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
            "node_id": node_id("Ref", zlib.crc32(f"{repo.id}:{name}".encode())),
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
