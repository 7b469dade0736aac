"""REST: the app and its installations, users, repositories, branches and their protection,
rulesets, contents, commits and compare."""

from __future__ import annotations

from typing import Any

from sim.github.repo import REPO_SETTINGS, SimRepo
from sim.github.repo_merging import MERGE_METHOD_SETTINGS
from sim.github.routes import ApiError, Ctx, Reply, not_found, route, validation_failed
from sim.github.shapes import iso
from sim.github.state import Protection

# --- the app (JWT) -----------------------------------------------------------------------------


@route("GET", "/app")
def get_app(ctx: Ctx) -> Reply:
    shaped = ctx.sim.shapes.app(ctx.sim.app_slug)
    shaped["installations_count"] = len(ctx.sim.installations)
    return Reply(200, shaped)


@route("GET", "/app/installations")
def list_installations(ctx: Ctx) -> Reply:
    items = [ctx.sim.shapes.installation(i) for i in sorted(ctx.sim.installations)]
    page, links = ctx.paginate(items)
    return Reply(200, page, links)


def _installation_id(ctx: Ctx) -> int:
    try:
        installation_id = int(ctx.params["installation_id"])
    except ValueError:
        raise not_found() from None
    if installation_id not in ctx.sim.installations:
        raise not_found()
    return installation_id


@route("GET", "/app/installations/{installation_id}")
def get_installation(ctx: Ctx) -> Reply:
    return Reply(200, ctx.sim.shapes.installation(_installation_id(ctx)))


@route("POST", "/app/installations/{installation_id}/access_tokens")
def create_installation_token(ctx: Ctx) -> Reply:
    installation_id = _installation_id(ctx)
    wanted = ctx.field("permissions")
    permissions = dict(ctx.sim.app_permissions)
    if isinstance(wanted, dict):
        for name, level in wanted.items():
            if name not in permissions or (permissions[name] == "read" and level == "write"):
                raise ApiError(422, "The permissions requested are not granted to this "
                                    "installation.")
        permissions = {str(k): str(v) for k, v in wanted.items()}
    token, record = ctx.sim.issue_installation_token(installation_id, permissions)
    assert record.expires_at is not None
    body: dict[str, Any] = {
        "token": token,
        "expires_at": iso(record.expires_at),
        "permissions": permissions,
        "repository_selection": "selected",
    }
    if ctx.field("repositories") or ctx.field("repository_ids"):
        inst = ctx.sim.installations[installation_id]
        body["repositories"] = [ctx.sim.shapes.repository(ctx.sim.repos[r]) for r in inst.repos]
    return Reply(201, body)


@route("GET", "/installation/repositories")
def installation_repositories(ctx: Ctx) -> Reply:
    if ctx.installation_id is None:
        raise ApiError(403, "You must authenticate with an installation access token in order to "
                            "list repositories for an installation.")
    inst = ctx.sim.installations[ctx.installation_id]
    repos = [ctx.sim.shapes.repository(ctx.sim.repos[r]) for r in inst.repos]
    page, links = ctx.paginate(repos)
    return Reply(200, {"total_count": len(repos), "repository_selection": "selected",
                       "repositories": page}, links)


# --- users -------------------------------------------------------------------------------------


@route("GET", "/users/{username}")
def get_user(ctx: Ctx) -> Reply:
    login = ctx.params["username"]
    user = ctx.sim.users.get(login)
    if user is None:
        raise not_found()
    return Reply(200, ctx.sim.shapes.profile(user.login))


@route("GET", "/user")
def get_authenticated_user(ctx: Ctx) -> Reply:
    if ctx.installation_id is not None:
        raise ApiError(403, "Resource not accessible by integration")
    return Reply(200, ctx.sim.shapes.profile(ctx.login, private=True))


# --- repositories, branches, protection, rules -------------------------------------------------

# What `PATCH /repos/{owner}/{repo}` may change here; other fields GitHub knows (name,
# description, visibility, ...) are not simulated and are refused loudly.
_EDITABLE = frozenset(REPO_SETTINGS)


@route("GET", "/repos/{owner}/{repo}")
def get_repo(ctx: Ctx) -> Reply:
    repo = ctx.repo
    shaped = ctx.sim.shapes.repository(repo)
    shaped.update({"network_count": 0, "subscribers_count": 0})
    if ctx.actor is not None:
        perm = repo.permission_of(ctx.actor)
        rank = ["none", "read", "triage", "write", "maintain", "admin"].index(perm)
        shaped["permissions"] = {"admin": rank >= 5, "maintain": rank >= 4, "push": rank >= 3,
                                 "triage": rank >= 2, "pull": rank >= 1}
    return Reply(200, shaped)


def branch_shape(ctx: Ctx, repo: SimRepo, name: str) -> dict[str, Any]:
    sha = repo.branch_sha(name)
    if sha is None:
        raise ApiError(404, "Branch not found")
    info = repo.store.read_commit(sha)
    assert info is not None
    protection = repo.protections.get(name)
    checks = repo.required_checks(name) if protection else []
    api = f"{ctx.sim.url}/repos/{repo.full_name}/branches/{name}"
    return {
        "name": name,
        "commit": ctx.sim.shapes.commit(repo, info),
        "_links": {"self": api, "html": f"{ctx.sim.html_url}/{repo.full_name}/tree/{name}"},
        "protected": protection is not None,
        "protection": {
            "enabled": protection is not None,
            "required_status_checks": {
                "enforcement_level": "non_admins" if checks else "off",
                "contexts": checks,
                "checks": [{"context": c, "app_id": None} for c in checks],
            },
        },
        "protection_url": f"{api}/protection",
    }


@route("PATCH", "/repos/{owner}/{repo}")
def update_repo(ctx: Ctx) -> Reply:
    repo = ctx.repo
    changes = dict(ctx.body or {})
    unsimulated = sorted(set(changes) - _EDITABLE)
    if unsimulated:
        ctx.sim.violations.append(f"not simulated: PATCH {ctx.path} {unsimulated}")
        raise ApiError(501, f"not simulated: PATCH /repos/{{owner}}/{{repo}} {unsimulated}")
    merged = {name: bool(changes.get(name, getattr(repo, name)))
              for name in MERGE_METHOD_SETTINGS.values()}
    if not any(merged.values()):
        raise validation_failed({"resource": "Repository", "code": "invalid",
                                 "field": "merge_commit_allowed",
                                 "message": "Sorry, you need to allow at least one merge "
                                            "strategy. (no_merge_method)"})
    repo.configure(**changes)
    repo.updated_at = ctx.sim.now()
    return get_repo(ctx)


@route("GET", "/repos/{owner}/{repo}/branches")
def list_branches(ctx: Ctx) -> Reply:
    repo = ctx.repo
    names = sorted(r.removeprefix("refs/heads/") for r in repo.store.refs()
                   if r.startswith("refs/heads/"))
    if ctx.arg("protected") == "true":
        names = [n for n in names if n in repo.protections]
    items = [
        {"name": n, "commit": {"sha": repo.branch_sha(n),
                               "url": f"{ctx.sim.url}/repos/{repo.full_name}/commits/"
                                      f"{repo.branch_sha(n)}"},
         "protected": n in repo.protections}
        for n in names
    ]
    page, links = ctx.paginate(items)
    return Reply(200, page, links)


@route("GET", "/repos/{owner}/{repo}/branches/{branch}")
def get_branch(ctx: Ctx) -> Reply:
    return Reply(200, branch_shape(ctx, ctx.repo, ctx.params["branch"]))


def _protection_of(ctx: Ctx, repo: SimRepo) -> tuple[str, Protection]:
    branch = ctx.params["branch"]
    if repo.branch_sha(branch) is None:
        raise ApiError(404, "Branch not found")
    protection = repo.protections.get(branch)
    if protection is None:
        raise ApiError(404, "Branch not protected")
    return branch, protection


def _checks_shape(ctx: Ctx, repo: SimRepo, branch: str, protection: Protection) -> dict[str, Any]:
    url = (f"{ctx.sim.url}/repos/{repo.full_name}/branches/{branch}"
           "/protection/required_status_checks")
    return {
        "url": url,
        "strict": protection.strict,
        "contexts": list(protection.required_checks),
        "contexts_url": f"{url}/contexts",
        "checks": [{"context": c, "app_id": None} for c in protection.required_checks],
    }


def protection_shape(ctx: Ctx, repo: SimRepo, branch: str,
                     protection: Protection) -> dict[str, Any]:
    url = f"{ctx.sim.url}/repos/{repo.full_name}/branches/{branch}/protection"
    shaped: dict[str, Any] = {
        "url": url,
        "required_signatures": {"url": f"{url}/required_signatures", "enabled": False},
        "enforce_admins": {"url": f"{url}/enforce_admins", "enabled": protection.enforce_admins},
        "required_linear_history": {"enabled": False},
        "allow_force_pushes": {"enabled": False},
        "allow_deletions": {"enabled": False},
        "block_creations": {"enabled": False},
        "required_conversation_resolution": {"enabled": False},
        "lock_branch": {"enabled": False},
        "allow_fork_syncing": {"enabled": False},
    }
    if protection.required_checks or protection.strict:
        shaped["required_status_checks"] = _checks_shape(ctx, repo, branch, protection)
    if protection.required_reviews:
        shaped["required_pull_request_reviews"] = {
            "url": f"{url}/required_pull_request_reviews",
            "dismiss_stale_reviews": protection.dismiss_stale_reviews,
            "require_code_owner_reviews": False,
            "require_last_push_approval": False,
            "required_approving_review_count": protection.required_reviews,
        }
    return shaped


@route("GET", "/repos/{owner}/{repo}/branches/{branch}/protection")
def get_protection(ctx: Ctx) -> Reply:
    repo = ctx.repo
    branch, protection = _protection_of(ctx, repo)
    return Reply(200, protection_shape(ctx, repo, branch, protection))


@route("GET", "/repos/{owner}/{repo}/branches/{branch}/protection/required_status_checks")
def get_required_checks(ctx: Ctx) -> Reply:
    repo = ctx.repo
    branch, protection = _protection_of(ctx, repo)
    if not protection.required_checks and not protection.strict:
        raise ApiError(404, "Required status checks not enabled")
    return Reply(200, _checks_shape(ctx, repo, branch, protection))


@route("PUT", "/repos/{owner}/{repo}/branches/{branch}/protection")
def put_protection(ctx: Ctx) -> Reply:
    repo = ctx.repo
    branch = ctx.params["branch"]
    if repo.branch_sha(branch) is None:
        raise ApiError(404, "Branch not found")
    checks = ctx.field("required_status_checks") or {}
    contexts = list(checks.get("contexts") or [])
    contexts += [c["context"] for c in checks.get("checks") or [] if c["context"] not in contexts]
    reviews = ctx.field("required_pull_request_reviews") or {}
    protection = Protection(
        required_checks=contexts,
        required_reviews=int(reviews.get("required_approving_review_count", 1)) if reviews else 0,
        strict=bool(checks.get("strict", False)),
        enforce_admins=bool(ctx.field("enforce_admins")),
        dismiss_stale_reviews=bool(reviews.get("dismiss_stale_reviews", False)),
    )
    repo.protections[branch] = protection
    return Reply(200, protection_shape(ctx, repo, branch, protection))


@route("DELETE", "/repos/{owner}/{repo}/branches/{branch}/protection")
def delete_protection(ctx: Ctx) -> Reply:
    repo = ctx.repo
    _protection_of(ctx, repo)
    repo.unprotect(ctx.params["branch"])
    return Reply(204)


@route("GET", "/repos/{owner}/{repo}/rules/branches/{branch}")
def get_branch_rules(ctx: Ctx) -> Reply:
    repo = ctx.repo
    rules = [
        {
            "type": "required_status_checks",
            "ruleset_source_type": "Repository",
            "ruleset_source": repo.full_name,
            "ruleset_id": ruleset.id,
            "parameters": {
                "strict_required_status_checks_policy": False,
                "required_status_checks": [{"context": c} for c in ruleset.required_checks],
            },
        }
        for ruleset in repo.rulesets_for(ctx.params["branch"])
    ]
    for ruleset in repo.rulesets_for(ctx.params["branch"]):
        rule = ruleset.merge_queue
        if rule is not None:
            rules.append({
                "type": "merge_queue",
                "ruleset_source_type": "Repository",
                "ruleset_source": repo.full_name,
                "ruleset_id": ruleset.id,
                "parameters": {
                    "check_response_timeout_minutes": rule.check_response_timeout_minutes,
                    "grouping_strategy": rule.grouping_strategy,
                    "max_entries_to_build": rule.max_entries_to_build,
                    "max_entries_to_merge": rule.max_entries_to_merge,
                    "merge_method": rule.merge_method,
                    "min_entries_to_merge": rule.min_entries_to_merge,
                    "min_entries_to_merge_wait_minutes": rule.min_entries_to_merge_wait_minutes,
                },
            })
    page, links = ctx.paginate(rules)
    return Reply(200, page, links)


# --- collaborators -----------------------------------------------------------------------------

_PERMISSION_FIELD = {"admin": "admin", "maintain": "write", "write": "write", "triage": "read",
                     "read": "read", "none": "none"}


@route("GET", "/repos/{owner}/{repo}/collaborators/{username}/permission")
def collaborator_permission(ctx: Ctx) -> Reply:
    repo = ctx.repo
    login = ctx.params["username"]
    if login not in ctx.sim.users:
        raise ApiError(404, f"{login} is not a user")
    perm = repo.permission_of(login)
    rank = ["none", "read", "triage", "write", "maintain", "admin"].index(perm)
    user = ctx.sim.shapes.user_required(login)
    user["permissions"] = {"admin": rank >= 5, "maintain": rank >= 4, "push": rank >= 3,
                           "triage": rank >= 2, "pull": rank >= 1}
    user["role_name"] = perm
    return Reply(200, {"permission": _PERMISSION_FIELD[perm], "role_name": perm, "user": user})


@route("GET", "/repos/{owner}/{repo}/collaborators/{username}")
def check_collaborator(ctx: Ctx) -> Reply:
    if ctx.repo.is_collaborator(ctx.params["username"]):
        return Reply(204)
    raise not_found()


@route("GET", "/repos/{owner}/{repo}/collaborators")
def list_collaborators(ctx: Ctx) -> Reply:
    repo = ctx.repo
    logins = [repo.owner] + [x for x in repo.permissions if x != repo.owner]
    items = []
    for login in logins:
        if not repo.is_collaborator(login):
            continue
        shaped = ctx.sim.shapes.user_required(login)
        shaped["role_name"] = repo.permission_of(login)
        items.append(shaped)
    page, links = ctx.paginate(items)
    return Reply(200, page, links)


# --- contents ----------------------------------------------------------------------------------


@route("GET", "/repos/{owner}/{repo}/contents/{path}")
def get_contents(ctx: Ctx) -> Reply:
    repo = ctx.repo
    ref = ctx.arg("ref") or repo.default_branch
    sha = repo.resolve(ref)
    if sha is None:
        raise ApiError(404, f"No commit found for the ref {ref}")
    info = repo.store.read_commit(sha)
    assert info is not None
    path = ctx.params["path"].strip("/")
    entry = repo.store.entry_at(info.tree, path) if path else None
    shapes = ctx.sim.shapes
    if path and entry is None:
        raise not_found()
    if entry is None or entry.type == "tree":
        tree = info.tree if entry is None else entry.sha
        listing = []
        for child in repo.store.read_tree(tree) or []:
            child_path = f"{path}/{child.name}" if path else child.name
            kind = {"tree": "dir", "commit": "submodule"}.get(child.type, "file")
            if child.mode == "120000":
                kind = "symlink"
            found = repo.store.read_object(child.sha) if child.type == "blob" else None
            git_kind = "tree" if child.type == "tree" else "blob"
            links = shapes.content_links(repo, child_path, child.sha, ref, git_kind)
            listing.append({
                "type": kind, "size": len(found[1]) if found else 0, "name": child.name,
                "path": child_path, "sha": child.sha, "url": links["self"],
                "git_url": links["git"], "html_url": links["html"],
                "download_url": (
                    f"https://raw.githubusercontent.com/{repo.full_name}/{ref}/{child_path}"
                    if child.type == "blob" else None
                ),
                "_links": links,
            })
        return Reply(200, listing)
    if entry.type == "commit":
        links = shapes.content_links(repo, path, entry.sha, ref, "commit")
        return Reply(200, {"type": "submodule", "submodule_git_url": "", "size": 0,
                           "name": entry.name, "path": path, "sha": entry.sha,
                           "url": links["self"], "git_url": None, "html_url": None,
                           "download_url": None, "_links": links})
    found = repo.store.read_object(entry.sha)
    assert found is not None
    if entry.mode == "120000":
        links = shapes.content_links(repo, path, entry.sha, ref, "blob")
        return Reply(200, {"type": "symlink", "target": found[1].decode(errors="replace"),
                           "size": len(found[1]), "name": entry.name, "path": path,
                           "sha": entry.sha, "url": links["self"], "git_url": links["git"],
                           "html_url": links["html"], "download_url": None, "_links": links})
    return Reply(200, shapes.content_file(repo, path, entry.sha, found[1], ref))


# --- commits and compare -----------------------------------------------------------------------


@route("GET", "/repos/{owner}/{repo}/commits")
def list_commits(ctx: Ctx) -> Reply:
    repo = ctx.repo
    start = ctx.arg("sha") or repo.default_branch
    sha = repo.resolve(start)
    if sha is None:
        raise ApiError(404, f"No commit found for SHA: {start}")
    args = ["--topo-order", sha]
    path = ctx.arg("path")
    if path:
        args += ["--", path]
    shas = repo.store.rev_list(*args)
    author = ctx.arg("author")
    infos = [i for i in (repo.store.read_commit(s) for s in shas) if i is not None]
    if author:
        user = ctx.sim.users.get(author)
        infos = [i for i in infos if i.author.email == (user.email if user else author)]
    page, links = ctx.paginate(infos)
    return Reply(200, [ctx.sim.shapes.commit(repo, i) for i in page], links)


@route("GET", "/repos/{owner}/{repo}/commits/{ref}")
def get_commit(ctx: Ctx) -> Reply:
    repo = ctx.repo
    sha = repo.require_commit(ctx.params["ref"])
    info = repo.store.read_commit(sha)
    assert info is not None
    changes = repo.store.diff(info.parents[0] if info.parents else None, sha)
    per_page = max(1, min(ctx.int_arg("per_page", 300), 300))
    page = max(1, ctx.int_arg("page", 1))
    window = changes[(page - 1) * per_page : page * per_page]
    shaped = ctx.sim.shapes.commit(repo, info, window)
    headers: dict[str, str] = {}
    if len(changes) > page * per_page:
        base = ctx.url.split("?", 1)[0]
        headers["Link"] = f'<{base}?per_page={per_page}&page={page + 1}>; rel="next"'
    return Reply(200, shaped, headers)


def _split_basehead(basehead: str) -> tuple[str, str]:
    for separator in ("...", ".."):
        if separator in basehead:
            base, _, head = basehead.partition(separator)
            return base.rpartition(":")[2], head.rpartition(":")[2]
    raise not_found()


@route("GET", "/repos/{owner}/{repo}/compare/{basehead}")
def compare(ctx: Ctx) -> Reply:
    repo = ctx.repo
    base_name, head_name = _split_basehead(ctx.params["basehead"])
    base, head = repo.resolve(base_name), repo.resolve(head_name)
    if base is None or head is None:
        raise not_found()
    merge_base = repo.store.merge_base(base, head)
    if merge_base is None:
        raise ApiError(404, f"No common ancestor between {base_name} and {head_name}.")
    ahead = list(reversed(repo.store.rev_list("--topo-order", f"{merge_base}..{head}")))
    behind = repo.store.rev_list(f"{merge_base}..{base}")
    if base == head:
        status = "identical"
    elif not behind:
        status = "ahead"
    elif not ahead:
        status = "behind"
    else:
        status = "diverged"
    shapes = ctx.sim.shapes
    per_page = max(1, min(ctx.int_arg("per_page", 250), 250))
    page = max(1, ctx.int_arg("page", 1))
    window = ahead[(page - 1) * per_page : page * per_page]
    base_info = repo.store.read_commit(base)
    mb_info = repo.store.read_commit(merge_base)
    assert base_info is not None and mb_info is not None
    web = f"{ctx.sim.html_url}/{repo.full_name}"
    body: dict[str, Any] = {
        "url": f"{ctx.sim.url}/repos/{repo.full_name}/compare/{base_name}...{head_name}",
        "html_url": f"{web}/compare/{base_name}...{head_name}",
        "permalink_url": f"{web}/compare/{base[:7]}...{head[:7]}",
        "diff_url": f"{web}/compare/{base_name}...{head_name}.diff",
        "patch_url": f"{web}/compare/{base_name}...{head_name}.patch",
        "base_commit": shapes.commit(repo, base_info),
        "merge_base_commit": shapes.commit(repo, mb_info),
        "status": status,
        "ahead_by": len(ahead),
        "behind_by": len(behind),
        "total_commits": len(ahead),
        "commits": [
            shapes.commit(repo, i) for i in (repo.store.read_commit(s) for s in window) if i
        ],
    }
    if page == 1:
        # GitHub lists files on the first page only, at most 300 of them.
        body["files"] = [shapes.file_change(repo, head, c)
                         for c in repo.store.diff(merge_base, head)[:300]]
    headers: dict[str, str] = {}
    if len(ahead) > page * per_page:
        url = ctx.url.split("?", 1)[0]
        headers["Link"] = f'<{url}?per_page={per_page}&page={page + 1}>; rel="next"'
    return Reply(200, body, headers)
