"""REST: the Git database API (blobs, trees, commits, refs) over the real bare repository."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sim.github.git_store import Ident, TreeEntry, is_sha
from sim.github.repo import SimRepo
from sim.github.repo_base import TreeError, kind_of_mode
from sim.github.routes import ApiError, Ctx, Reply, not_found, route, validation_failed
from sim.github.state import node_id

if TYPE_CHECKING:
    from sim.github.server import GitHubSim

_MODES = frozenset({"100644", "100755", "040000", "160000", "120000"})

# --- blobs ---------------------------------------------------------------------------------------


@route("POST", "/repos/{owner}/{repo}/git/blobs")
def create_blob(ctx: Ctx) -> Reply:
    repo = ctx.repo
    content = ctx.field("content")
    encoding = ctx.field("encoding", "utf-8")
    if not isinstance(content, str):
        raise validation_failed({"resource": "Blob", "code": "missing_field", "field": "content"})
    if encoding == "base64":
        try:
            data = base64.b64decode(content, validate=False)
        except (binascii.Error, ValueError):
            raise ApiError(422, "Invalid Base64 content") from None
    elif encoding in ("utf-8", "utf8"):
        data = content.encode()
    else:
        raise ApiError(422, f"encoding must be 'utf-8' or 'base64', got {encoding!r}")
    sha = repo.store.write_blob(data)
    ctx.sim.blobs_written[sha] += 1
    return Reply(201, {"url": f"{ctx.sim.url}/repos/{repo.full_name}/git/blobs/{sha}", "sha": sha})


@route("GET", "/repos/{owner}/{repo}/git/blobs/{file_sha}")
def get_blob(ctx: Ctx) -> Reply:
    repo = ctx.repo
    sha = ctx.params["file_sha"]
    found = repo.store.read_object(sha) if is_sha(sha) else None
    if found is None or found[0] != "blob":
        raise not_found()
    ctx.sim.blobs_read[sha] += 1
    encoded = base64.b64encode(found[1]).decode()
    return Reply(200, {
        "sha": sha,
        "node_id": node_id("Blob", int(sha[:12], 16)),
        "size": len(found[1]),
        "url": f"{ctx.sim.url}/repos/{repo.full_name}/git/blobs/{sha}",
        "content": "".join(encoded[i : i + 60] + "\n" for i in range(0, len(encoded), 60)),
        "encoding": "base64",
    })


# --- trees ---------------------------------------------------------------------------------------


def tree_shape(ctx: Ctx, repo: SimRepo, sha: str, recursive: bool) -> dict[str, Any]:
    api = f"{ctx.sim.url}/repos/{repo.full_name}"
    entries: list[dict[str, Any]] = []
    truncated = False
    if recursive:
        listing = [(e, path, size) for e, path, size in repo.store.ls_tree_recursive(sha)]
    else:
        listing = []
        for entry in repo.store.read_tree(sha) or []:
            found = repo.store.read_object(entry.sha) if entry.type == "blob" else None
            listing.append((entry, entry.name, len(found[1]) if found else None))
    # GitHub's limit on a recursive listing: 100,000 entries "with a maximum size of 7 MB";
    # past either it answers a part and says `truncated` (callers then read one subtree
    # at a time).
    budget = ctx.sim.recursive_tree_bytes
    for entry, path, size in listing:
        if recursive and (len(entries) >= ctx.sim.recursive_tree_limit or budget <= 0):
            truncated = True
            break
        shaped: dict[str, Any] = {"path": path, "mode": entry.mode, "type": entry.type,
                                  "sha": entry.sha}
        if entry.type == "blob":
            shaped["size"] = size or 0
            shaped["url"] = f"{api}/git/blobs/{entry.sha}"
        elif entry.type == "tree":
            shaped["url"] = f"{api}/git/trees/{entry.sha}"
        if recursive:
            # The entry's size as JSON: keys, quotes, mode, type, sha and size take about
            # 120 bytes; then the path and the url.
            budget -= 120 + len(path) + len(shaped.get("url", ""))
            if budget < 0:
                truncated = True
                break
        entries.append(shaped)
    return {"sha": sha, "url": f"{api}/git/trees/{sha}", "tree": entries, "truncated": truncated}


def _tree_entry(sim: GitHubSim, repo: SimRepo, item: Any) -> tuple[str, TreeEntry | None]:
    if not isinstance(item, dict):
        raise ApiError(422, "Invalid tree info")
    path = item.get("path")
    mode = item.get("mode")
    kind = item.get("type")
    if not isinstance(path, str) or not path:
        raise validation_failed({"resource": "Tree", "code": "missing_field", "field": "path"})
    if mode not in _MODES:
        raise ApiError(422, f"tree.mode contains an invalid value: {mode!r}")
    if kind not in ("blob", "tree", "commit") or kind != kind_of_mode(mode):
        raise ApiError(422, f"tree.type {kind!r} does not match tree.mode {mode!r}")
    has_sha, has_content = "sha" in item, "content" in item
    if has_sha == has_content:
        raise ApiError(422, "Must supply either tree.sha or tree.content. Request will be "
                            "rejected if both are present.")
    if has_content:
        content = item["content"]
        if not isinstance(content, str) or kind != "blob":
            raise ApiError(422, "tree.content is only valid for blobs and must be a string")
        written = repo.store.write_blob(content.encode())
        sim.blobs_written[written] += 1
        return path, TreeEntry(mode, kind, written, path)
    sha = item["sha"]
    if sha is None:
        return path, None  # "sha": null deletes the path from base_tree
    if not isinstance(sha, str) or not is_sha(sha):
        raise ApiError(422, f"tree.sha {sha!r} is not a valid object id")
    if kind != "commit" and repo.store.object_type(sha) != kind:
        raise ApiError(422, f"tree.sha {sha} is not a valid {kind}")
    return path, TreeEntry(mode, kind, sha, path)


@route("POST", "/repos/{owner}/{repo}/git/trees")
def create_tree(ctx: Ctx) -> Reply:
    repo = ctx.repo
    items = ctx.field("tree")
    if not isinstance(items, list):
        raise validation_failed({"resource": "Tree", "code": "missing_field", "field": "tree"})
    base_tree = ctx.field("base_tree")
    if base_tree is not None:
        if not isinstance(base_tree, str) or repo.store.object_type(base_tree) != "tree":
            raise ApiError(422, "base_tree is not a valid tree oid")
    changes: dict[str, TreeEntry | None] = {}
    for item in items:
        path, entry = _tree_entry(ctx.sim, repo, item)
        changes[path] = entry
    try:
        sha = repo.build_tree(base_tree, changes)
    except TreeError as error:
        raise ApiError(422, error.message) from None
    return Reply(201, tree_shape(ctx, repo, sha, recursive=False))


@route("GET", "/repos/{owner}/{repo}/git/trees/{tree_sha}")
def get_tree(ctx: Ctx) -> Reply:
    repo = ctx.repo
    ref = ctx.params["tree_sha"]
    sha: str | None = ref if repo.store.object_type(ref) == "tree" else None
    if sha is None:
        commit = repo.resolve(ref)
        info = repo.store.read_commit(commit) if commit else None
        sha = info.tree if info else None
    if sha is None:
        raise not_found()
    # "Setting this parameter to any value returns the objects or subtrees ... 0, 1,
    # "true", and "false"" (GitHub's docs): only its absence means one level.
    recursive = ctx.arg("recursive") is not None
    return Reply(200, tree_shape(ctx, repo, sha, recursive))


# --- commits -------------------------------------------------------------------------------------


def _ident(value: Any, fallback: Ident, role: str) -> Ident:
    if value is None:
        return fallback
    if not isinstance(value, dict) or not value.get("name") or not value.get("email"):
        raise validation_failed({"resource": "Commit", "code": "missing_field",
                                 "field": f"{role}.name/email"})
    when = fallback.timestamp
    if value.get("date"):
        try:
            when = int(datetime.fromisoformat(str(value["date"]).replace("Z", "+00:00"))
                       .timestamp())
        except ValueError:
            raise ApiError(422, f"{role}.date is not a valid ISO 8601 date") from None
    return Ident(str(value["name"]), str(value["email"]), when)


@route("POST", "/repos/{owner}/{repo}/git/commits")
def create_commit(ctx: Ctx) -> Reply:
    repo = ctx.repo
    message, tree = ctx.field("message"), ctx.field("tree")
    parents = ctx.field("parents", [])
    if not isinstance(message, str) or not isinstance(tree, str):
        raise validation_failed({"resource": "Commit", "code": "missing_field", "field": "tree"})
    if repo.store.object_type(tree) != "tree":
        raise ApiError(422, "Tree SHA does not exist")
    if not isinstance(parents, list) or any(
        not isinstance(p, str) or repo.store.object_type(p) != "commit" for p in parents
    ):
        raise ApiError(422, "Parent SHA does not exist or is not a commit object")
    me = repo.ident(ctx.login)
    author = _ident(ctx.field("author"), me, "author")
    committer = _ident(ctx.field("committer"), author if ctx.field("author") else me,
                       "committer")
    sha = repo.store.write_commit(tree, parents, message, author, committer)
    info = repo.store.read_commit(sha)
    assert info is not None
    return Reply(201, ctx.sim.shapes.git_commit(repo, info))


@route("GET", "/repos/{owner}/{repo}/git/commits/{commit_sha}")
def get_git_commit(ctx: Ctx) -> Reply:
    repo = ctx.repo
    sha = ctx.params["commit_sha"]
    info = repo.store.read_commit(sha) if is_sha(sha) else None
    if info is None:
        raise not_found()
    return Reply(200, ctx.sim.shapes.git_commit(repo, info))


# --- refs ----------------------------------------------------------------------------------------


def _full_ref(ref: str) -> str:
    return ref if ref.startswith("refs/") else f"refs/{ref}"


@route("GET", "/repos/{owner}/{repo}/git/ref/{ref}")
def get_ref(ctx: Ctx) -> Reply:
    repo = ctx.repo
    name = _full_ref(ctx.params["ref"])
    sha = repo.store.refs().get(name)
    if sha is None:
        raise not_found()
    return Reply(200, ctx.sim.shapes.ref(repo, name, sha))


@route("GET", "/repos/{owner}/{repo}/git/matching-refs/{ref}")
def matching_refs(ctx: Ctx) -> Reply:
    repo = ctx.repo
    prefix = _full_ref(ctx.params["ref"]) if ctx.params["ref"] else "refs/"
    refs = sorted((n, s) for n, s in repo.store.refs().items() if n.startswith(prefix))
    return Reply(200, [ctx.sim.shapes.ref(repo, n, s) for n, s in refs])


@route("POST", "/repos/{owner}/{repo}/git/refs")
def create_ref(ctx: Ctx) -> Reply:
    repo = ctx.repo
    name, sha = ctx.field("ref"), ctx.field("sha")
    if not isinstance(name, str) or not name.startswith("refs/") or name.count("/") < 2:
        raise ApiError(422, "Reference name is not valid. It must start with 'refs' and have at "
                            "least two slashes.")
    if not isinstance(sha, str) or repo.store.object_type(sha) is None:
        raise ApiError(422, "Object does not exist")
    if name in repo.store.refs():
        # GitHub's answer has no "errors" array here (gidgethub: InvalidField, errors=None).
        raise ApiError(422, "Reference already exists")
    repo.move_ref(name, sha, ctx.login)
    return Reply(201, ctx.sim.shapes.ref(repo, name, sha))


def _protected_update(repo: SimRepo, name: str, sha: str) -> None:
    branch = name.removeprefix("refs/heads/")
    if name == branch or branch not in repo.protections:
        return
    protection = repo.protections[branch]
    pending = [c for c in repo.required_checks(branch) if repo.context_state(sha, c) != "success"]
    if protection.required_reviews or pending:
        raise ApiError(422, f"Protected branch update failed for {name}.")


@route("PATCH", "/repos/{owner}/{repo}/git/refs/{ref}")
def update_ref(ctx: Ctx) -> Reply:
    repo = ctx.repo
    name = _full_ref(ctx.params["ref"])
    sha, force = ctx.field("sha"), bool(ctx.field("force", False))
    current = repo.store.refs().get(name)
    if current is None:
        raise ApiError(422, "Reference does not exist")
    if not isinstance(sha, str) or repo.store.object_type(sha) is None:
        raise ApiError(422, "Object does not exist")
    if not force and sha != current and not repo.store.is_ancestor(current, sha):
        raise ApiError(422, "Update is not a fast forward")
    _protected_update(repo, name, sha)
    if sha != current:
        repo.move_ref(name, sha, ctx.login)
    return Reply(200, ctx.sim.shapes.ref(repo, name, sha))


@route("DELETE", "/repos/{owner}/{repo}/git/refs/{ref}")
def delete_ref(ctx: Ctx) -> Reply:
    repo = ctx.repo
    name = _full_ref(ctx.params["ref"])
    if name not in repo.store.refs():
        raise ApiError(422, "Reference does not exist")
    if name == f"refs/heads/{repo.default_branch}":
        raise ApiError(422, "Cannot delete the default branch")
    repo.move_ref(name, None, ctx.login)
    return Reply(204)
