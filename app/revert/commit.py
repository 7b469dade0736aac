"""Build a revert commit through the Git Data API: no clone, no checkout.

Reads the trees of the culprit C, its first parent P and the branch head H (only
where they differ), lets the
pure core (app.core.revert_plan) decide every path, downloads only the blobs that really
need a content merge (bounded in parallel), merges them with git's merge-ort
(app.revert.git_merge), then writes ONE tree (base_tree = H's tree), ONE commit
whose parent is H. The ref is left to the caller (app.revert.pr): creating it
is the lock that keeps two processes from opening two PRs.

When a path the culprit touched may have moved (app.core.revert_moves), the path-by-path
plan is not git's answer: the culprit's and the head's trees are then read where they
differ and git's merge-ort merges the real trees, following renames itself
(app.revert.tree_merge). A revert where nothing moved never takes that road.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import quote

from gidgethub import GitHubException

from app.core.culprit import CulpritFacts, culprit_from_commit
from app.core.revert_messages import conflict_text, revert_commit_message, short
from app.core.revert_moves import Followed, moved_suspects
from app.core.revert_plan import (
    ALREADY_UNDONE,
    EMPTY_TREE,
    Conflict,
    FlatTree,
    MergeJob,
    NothingToRevert,
    RevertConflicts,
    RevertTree,
    assemble,
    changed_paths,
    flatten,
    merge_flat,
    plan_revert,
)
from app.github.client import GitHubClient
from app.revert.git_merge import merge_contents, scratch_dir
from app.revert.tree_merge import merge_trees

DEFAULT_CONCURRENCY = 8
_T = TypeVar("_T")
# A directory whose subdirectories to read number at least WIDE, and at least a
# sixteenth of its entries, is read whole (`recursive=1`): one request instead of one
# per directory (and a round trip per level below it). A change of a few paths in a
# wide directory stays one level at a time, so its bytes stay flat in repository size.
WIDE = 4
# The incident's link for the commit message: known, or awaited when the commit is written.
IncidentUrl = str | None | Callable[[], Awaitable[str | None]]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RevertCommit:
    sha: str
    tree_sha: str
    parent_sha: str  # the branch head H the revert sits on
    culprit: CulpritFacts
    branch: str
    message: str
    paths: tuple[str, ...]  # the paths the revert writes
    merged_paths: tuple[str, ...]  # those that needed a content merge
    followed: tuple[Followed, ...] = ()  # files changed where they moved to since


@dataclass(frozen=True)
class RevertConflict:
    culprit: CulpritFacts
    branch: str
    head_sha: str
    conflicts: tuple[Conflict, ...]

    @property
    def culprit_sha(self) -> str:
        return self.culprit.sha

    @property
    def paths(self) -> tuple[str, ...]:
        return tuple(sorted({c.path for c in self.conflicts}))

    @property
    def unmerged_paths(self) -> tuple[str, ...]:
        """The files `git revert` would leave unmerged (what `git status` lists)."""
        return tuple(sorted({c.path for c in self.conflicts if c.unmerged}))

    def explain(self) -> str:
        """What to post: which files clash and the exact commands to revert by hand."""
        return conflict_text(
            self.culprit.sha,
            self.branch,
            is_merge=self.culprit.is_merge,
            conflicts=[(c.path, c.reason) for c in self.conflicts],
        )


@dataclass(frozen=True)
class RevertEmpty:
    culprit: CulpritFacts
    branch: str
    head_sha: str
    reason: str

    @property
    def culprit_sha(self) -> str:
        return self.culprit.sha


async def read_culprit(gh: GitHubClient, repo: str, sha: str) -> CulpritFacts:
    """Also resolves an abbreviated sha to the full one."""
    return culprit_from_commit(await gh.getitem(f"/repos/{repo}/commits/{quote(sha)}"))


async def read_head_sha(gh: GitHubClient, repo: str, branch: str) -> str:
    ref = await gh.getitem(f"/repos/{repo}/git/ref/heads/{quote(branch, safe='/')}")
    return str(ref["object"]["sha"])


async def _known(value: _T) -> _T:
    return value


class TreeReader:
    """Reads trees where they differ, one directory at a time or a whole subtree at once.

    One level at a time (as git's own tree diff walks) costs requests in proportion to
    the change and bytes in proportion to the directories it crosses: right for a small
    change in a big repository. A wide change (many sibling directories differ) would
    cost a request per directory per side; there one `GET /git/trees/{sha}?recursive=1`
    per side reads the whole subtree in one request, in bytes no more than a clone's
    listing. A truncated answer (past GitHub's 100,000 entries or 7 MB) is dropped and
    that subtree is read one level at a time, as GitHub's docs say. Sibling directories
    are read in parallel (bounded), and trees shared by P, C and H are read once.
    """

    @property
    def levels(self) -> Mapping[str, list[dict[str, Any]]]:
        """Every directory listing read so far, by tree sha."""
        return self._levels

    def __init__(self, gh: GitHubClient, repo: str, limit: asyncio.Semaphore) -> None:
        # Read a directory that only one side has in one recursive request.
        self.whole_subtrees = True
        self._gh = gh
        self._repo = repo
        self._limit = limit
        self._levels: dict[str, list[dict[str, Any]]] = {}
        self._inflight: dict[str, asyncio.Future[list[dict[str, Any]]]] = {}
        self._wholes: dict[str, asyncio.Future[None]] = {}

    async def level(self, tree_sha: str) -> list[dict[str, Any]]:
        """One directory's entries; concurrent askers of the same tree share one request."""
        if tree_sha in self._levels:
            return self._levels[tree_sha]
        pending = self._inflight.get(tree_sha)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[list[dict[str, Any]]] = asyncio.get_running_loop().create_future()
        self._inflight[tree_sha] = future
        try:
            async with self._limit:
                data = await self._gh.getitem(f"/repos/{self._repo}/git/trees/{tree_sha}")
            items = list(data.get("tree") or ())
            self._levels[tree_sha] = items
            future.set_result(items)
            return items
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved here, so an unshared failure is not logged twice
            raise
        finally:
            del self._inflight[tree_sha]

    def keep(self, tree_sha: str, items: list[dict[str, Any]]) -> None:
        """A listing read some other way (GraphQL), in the REST shape."""
        self._levels.setdefault(tree_sha, items)

    async def root_of(self, commit_sha: str) -> str:
        """A commit's root tree sha, reading its root listing in the same request
        (`GET /git/trees/{commit sha}`: GitHub takes any tree-ish)."""
        async with self._limit:
            data = await self._gh.getitem(f"/repos/{self._repo}/git/trees/{commit_sha}")
        sha = str(data["sha"])
        self._levels.setdefault(sha, list(data.get("tree") or ()))
        return sha

    async def _read_whole(self, tree_sha: str) -> None:
        """A whole subtree in one request (`recursive=1`), kept as the levels it holds.

        A truncated answer (too big for GitHub) is dropped: the walk then reads one
        level at a time, as GitHub's docs say to."""
        if tree_sha in self._wholes:
            return await asyncio.shield(self._wholes[tree_sha])
        task = asyncio.ensure_future(self._read_whole_once(tree_sha))
        self._wholes[tree_sha] = task
        await asyncio.shield(task)

    async def _read_whole_once(self, tree_sha: str) -> None:
        if self._known_whole(tree_sha):
            return
        async with self._limit:
            data = await self._gh.getitem(
                f"/repos/{self._repo}/git/trees/{tree_sha}?recursive=1"
            )
        if data.get("truncated"):
            return
        by_dir: dict[str, list[dict[str, Any]]] = {"": []}
        sha_of = {"": tree_sha}
        for item in data.get("tree") or ():
            parent, _, name = str(item["path"]).rpartition("/")
            by_dir.setdefault(parent, []).append({**item, "path": name})
            if item.get("type") == "tree":
                sha_of[item["path"]] = item["sha"]
                by_dir.setdefault(item["path"], [])
        for path, items in by_dir.items():
            self._levels.setdefault(sha_of[path], items)

    def _known_whole(self, tree_sha: str) -> bool:
        """Every level below `tree_sha` is already read."""
        pending = [tree_sha]
        while pending:
            items = self._levels.get(pending.pop())
            if items is None:
                return False
            pending += [i["sha"] for i in items if i.get("type") == "tree"]
        return True

    async def everything_under(self, tree_sha: str, prefix: str) -> FlatTree:
        if self.whole_subtrees and not self._known_whole(tree_sha):
            await self._read_whole(tree_sha)
        items = await self.level(tree_sha)
        parts = [flatten(items, prefix)]
        subtrees = [i for i in items if i.get("type") == "tree"]
        parts += await asyncio.gather(
            *(self.everything_under(i["sha"], f"{prefix}{i['path']}/") for i in subtrees)
        )
        return merge_flat(parts)

    async def diff(
        self, a_sha: str | None, b_sha: str | None, prefix: str = ""
    ) -> tuple[FlatTree, FlatTree]:
        """Both trees, expanded only under directories whose sha differs."""
        if a_sha == b_sha:
            return EMPTY_TREE, EMPTY_TREE
        if a_sha is None or b_sha is None:
            whole = await self.everything_under(a_sha or b_sha or "", prefix)
            return (whole, EMPTY_TREE) if a_sha else (EMPTY_TREE, whole)
        a_items, b_items = await asyncio.gather(self.level(a_sha), self.level(b_sha))
        a_by = {i["path"]: i for i in a_items}
        b_by = {i["path"]: i for i in b_items}
        a_parts = [flatten(a_items, prefix)]
        b_parts = [flatten(b_items, prefix)]
        jobs = []
        for name in sorted(set(a_by) | set(b_by)):
            a, b = a_by.get(name), b_by.get(name)
            if a and b and a["sha"] == b["sha"] and a["mode"] == b["mode"]:
                continue
            a_tree = a["sha"] if a and a.get("type") == "tree" else None
            b_tree = b["sha"] if b and b.get("type") == "tree" else None
            if a_tree or b_tree:
                jobs.append(self.diff(a_tree, b_tree, f"{prefix}{name}/"))
        if wide(len(jobs), max(len(a_by), len(b_by))):
            await asyncio.gather(self._read_whole(a_sha), self._read_whole(b_sha))
        for a_part, b_part in await asyncio.gather(*jobs):
            a_parts.append(a_part)
            b_parts.append(b_part)
        return merge_flat(a_parts), merge_flat(b_parts)

    async def along(self, tree_sha: str, paths: Sequence[str]) -> FlatTree:
        """Enough of a tree to answer the core's questions about `paths`: the directories
        on the way to each, and everything under a path that became a directory."""
        wanted_dirs = {"/".join(p.split("/")[:i]) for p in paths for i in range(len(p.split("/")))}
        wanted = set(paths)
        parts: list[FlatTree] = []

        async def walk(sha: str, prefix: str) -> None:
            items = await self.level(sha)
            parts.append(flatten(items, prefix))
            jobs = []
            unread = 0
            for item in items:
                full = prefix + item["path"]
                if item.get("type") != "tree":
                    continue
                if full in wanted or full in wanted_dirs:
                    unread += item["sha"] not in self._levels
                if full in wanted:
                    jobs.append(self._collect(item["sha"], full + "/", parts))
                elif full in wanted_dirs:
                    jobs.append(walk(item["sha"], full + "/"))
            if wide(unread, len(items)):
                await self._read_whole(sha)
            await asyncio.gather(*jobs)

        await walk(tree_sha, "")
        return merge_flat(parts)

    async def _collect(self, sha: str, prefix: str, parts: list[FlatTree]) -> None:
        parts.append(await self.everything_under(sha, prefix))


# A narrow read asks GraphQL for at most this many directories a side, three sides in
# one query; past it the change is wide and the tree walk is cheaper.
NARROW_DIRS = 60


def _ancestors(path: str) -> list[str]:
    parts = path.split("/")
    return ["/".join(parts[:i]) for i in range(1, len(parts))]


async def read_narrow(
    gh: GitHubClient, repo: str, reader: TreeReader, culprit: CulpritFacts, head_sha: str
) -> tuple[str, str, tuple[FlatTree, FlatTree, FlatTree]] | None:
    """(head tree, parent tree, (P, C, H)) read only in the directories that hold the
    culprit's files, the three sides in one GraphQL query (`object(expression:
    "<commit>:<dir>")`): no root listing unless a file sits at the root, so the bytes do
    not grow with the repository. None when the culprit's files are not known whole,
    there are too many directories, or what was read does not square with the list;
    the caller then walks the trees."""
    files = culprit.files
    if not files or len(culprit.parents) != 1:
        return None
    dirs = sorted({a for f in files for a in _ancestors(f)})
    if any("/" not in f for f in files):
        dirs.insert(0, "")  # the root's own listing
    if len(dirs) > NARROW_DIRS:
        return None
    sides = (("p", culprit.parents[0]), ("c", culprit.sha), ("h", head_sha))
    fields = []
    for side, rev in sides:
        fields.append(f'{side}: object(oid: "{rev}") {{ ... on Commit {{ tree {{ oid }} }} }}')
        fields += [
            f"{side}{i}: object(expression: {json.dumps(f'{rev}:{d}')}) {{ __typename"
            " ... on Tree { oid entries { name type mode oid } } }"
            for i, d in enumerate(dirs)
        ]
    owner, _, name = repo.partition("/")
    query = (
        "query($owner: String!, $name: String!) {"
        f" repository(owner: $owner, name: $name) {{ {' '.join(fields)} }} }}"
    )
    try:
        data = await gh.graphql(query, owner=owner, name=name)
        found = data["repository"]
        roots = {side: str(found[side]["tree"]["oid"]) for side, _ in sides}
    except (GitHubException, ValueError, LookupError, TypeError) as failed:
        log.info("narrow tree read failed (%s); walking the trees", failed)
        return None
    listings: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for side, _ in sides:
        listings[side] = {}
        for i, d in enumerate(dirs):
            obj = found.get(f"{side}{i}")
            if obj is not None and obj.get("__typename") == "Tree":
                items = [
                    {"path": e["name"], "mode": format(int(e["mode"]), "o").rjust(6, "0"),
                     "type": e["type"], "sha": e["oid"]}
                    for e in obj.get("entries") or ()
                ]
                reader.keep(str(obj["oid"]), items)
                listings[side][d] = items
            elif obj is not None and d and "/" not in d and "" not in dirs:
                return None  # a top-level file where a directory was: the root is not read
    if not _squares(listings["p"], listings["c"], set(files), set(dirs)):
        log.warning("culprit %s: its listed files miss a change; walking the trees", culprit.sha)
        return None
    trees = []
    for side, _ in sides:
        parts = [flatten(items, f"{d}/" if d else "") for d, items in listings[side].items()]
        flat = merge_flat(parts)
        trees.append(FlatTree(flat.entries, flat.dirs | {d for d in listings[side] if d}))
    p, c, h = trees
    if any(t in h.dirs or t in c.dirs or t in p.dirs for t in files):
        return None  # a file became a directory (or back): the walk reads what is under it
    return roots["h"], roots["p"], (p, c, h)


def _squares(
    p: Mapping[str, list[dict[str, Any]]],
    c: Mapping[str, list[dict[str, Any]]],
    files: set[str],
    dirs: set[str],
) -> bool:
    """Whether every entry that differs between P and C, in every directory read, is a
    listed file or a directory on the way to one."""
    for d in set(p) | set(c):
        prefix = f"{d}/" if d else ""
        before = {i["path"]: (i["sha"], i["mode"]) for i in p.get(d, ())}
        after = {i["path"]: (i["sha"], i["mode"]) for i in c.get(d, ())}
        for entry in set(before) | set(after):
            if before.get(entry) != after.get(entry):
                path = prefix + entry
                if path not in files and path not in dirs:
                    return False
    return True


def wide(subtrees: int, entries: int) -> bool:
    """Whether `subtrees` directories to read, in a listing of `entries`, are better
    read in one recursive request."""
    return subtrees >= WIDE and subtrees * 16 >= entries


async def read_three_trees(
    reader: TreeReader, parent_tree: str | None, culprit_tree: str, head_tree: str
) -> tuple[FlatTree, FlatTree, FlatTree]:
    """P and C expanded where they differ; H along the paths the culprit touched."""
    p, c = await reader.diff(parent_tree, culprit_tree)
    h = await reader.along(head_tree, changed_paths(p, c))
    return p, c, h


# Blobs asked for in one GraphQL query (aliases of `repository.object`); GitHub cuts a
# blob's text at 512,000 bytes, so a batch stays well under its response limits.
BLOB_BATCH = 100


def git_blob_sha(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


async def _download(
    gh: GitHubClient, repo: str, shas: Sequence[str], limit: asyncio.Semaphore
) -> dict[str, bytes]:
    """Blob contents by sha: a hundred text blobs a request through GraphQL, each checked
    against its sha; binary, cut or unreadable ones one by one through REST."""
    wanted = sorted(set(shas))
    batches = [wanted[i : i + BLOB_BATCH] for i in range(0, len(wanted), BLOB_BATCH)]
    found: dict[str, bytes] = {}
    if len(wanted) > 1:
        for got in await asyncio.gather(*(_graphql_blobs(gh, repo, b, limit) for b in batches)):
            found.update(got)

    async def one(sha: str) -> tuple[str, bytes]:
        async with limit:
            data = await gh.getitem(f"/repos/{repo}/git/blobs/{sha}")
        if data.get("encoding") == "base64":
            return sha, base64.b64decode(data.get("content") or "")
        return sha, str(data.get("content") or "").encode()

    found.update(await asyncio.gather(*(one(s) for s in wanted if s not in found)))
    return found


async def _graphql_blobs(
    gh: GitHubClient, repo: str, shas: Sequence[str], limit: asyncio.Semaphore
) -> dict[str, bytes]:
    """The text blobs among `shas` whose text is whole and hashes to its sha; {} when
    GraphQL says no (the caller then reads every blob through REST)."""
    owner, _, name = repo.partition("/")
    fields = " ".join(
        f'b{i}: object(oid: "{sha}") {{ ... on Blob {{ oid isBinary isTruncated text }} }}'
        for i, sha in enumerate(shas)
    )
    query = (
        "query($owner: String!, $name: String!) {"
        f" repository(owner: $owner, name: $name) {{ {fields} }} }}"
    )
    try:
        async with limit:
            data = await gh.graphql(query, owner=owner, name=name)
    except (GitHubException, ValueError, LookupError) as failed:
        log.info("blobs through GraphQL failed (%s); reading them through REST", failed)
        return {}
    repository = (data or {}).get("repository") or {}
    found: dict[str, bytes] = {}
    for i, sha in enumerate(shas):
        blob = repository.get(f"b{i}") or {}
        text = blob.get("text")
        if not isinstance(text, str) or blob.get("isTruncated") or blob.get("isBinary"):
            continue
        content = text.encode()
        if git_blob_sha(content) == sha:  # GitHub may re-encode text: only exact bytes count
            found[sha] = content
    return found


async def _upload(
    gh: GitHubClient, repo: str, contents: Mapping[str, bytes], limit: asyncio.Semaphore
) -> None:
    async def one(sha: str, data: bytes) -> None:
        async with limit:
            made = await gh.post(
                f"/repos/{repo}/git/blobs",
                data={"content": base64.b64encode(data).decode(), "encoding": "base64"},
            )
        if made.get("sha") != sha:
            raise RuntimeError(f"GitHub stored merged blob as {made.get('sha')}, expected {sha}")

    await asyncio.gather(*(one(s, d) for s, d in contents.items()))


def _inline(contents: Mapping[str, bytes]) -> tuple[dict[str, str], dict[str, bytes]]:
    """Merged contents split into those sent inside the create-tree request (`content`:
    UTF-8 text, which GitHub writes as that blob) and those uploaded as blobs first."""
    inline: dict[str, str] = {}
    upload: dict[str, bytes] = {}
    for sha, data in contents.items():
        try:
            inline[sha] = data.decode()
        except UnicodeDecodeError:
            upload[sha] = data
    return inline, upload


def _blobs_to_fetch(jobs: Sequence[MergeJob]) -> list[str]:
    return sorted({e.sha for j in jobs for e in (j.base, j.ours, j.theirs) if e is not None})


async def build_revert_commit(
    gh: GitHubClient,
    repo: str,
    culprit_sha: str,
    *,
    branch: str,
    incident_url: IncidentUrl = None,
    culprit: CulpritFacts | None = None,
    head_sha: str | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
) -> RevertCommit | RevertConflict | RevertEmpty:
    """The revert of `culprit_sha` on top of `branch`'s head, as a commit no ref points to.

    `culprit` and `head_sha` (the branch's head) save a request when the caller already
    read them.
    """
    limit = asyncio.Semaphore(max(1, concurrency))
    if culprit is None or head_sha is None:
        facts, head = await asyncio.gather(
            read_culprit(gh, repo, culprit_sha) if culprit is None else _known(culprit),
            read_head_sha(gh, repo, branch) if head_sha is None else _known(head_sha),
        )
        culprit, head_sha = facts, head
    reader = TreeReader(gh, repo, limit)
    narrow = await read_narrow(gh, repo, reader, culprit, head_sha)
    parent_tree: str | None
    if narrow is not None:
        head_tree, parent_tree, (p, c, h) = narrow
    else:
        # The root trees of the head and the parent come with their first listing (a
        # tree read by commit sha), read together with the culprit's; mainline 1: a
        # merge commit is reverted against its first parent, like `git revert -m 1`.
        first = [reader.root_of(head_sha), reader.level(culprit.tree_sha)]
        if culprit.parents:
            first.append(reader.root_of(culprit.parents[0]))
        read = await asyncio.gather(*first)
        head_tree = str(read[0])
        parent_tree = str(read[2]) if culprit.parents else None
        p, c, h = await read_three_trees(reader, parent_tree, culprit.tree_sha, head_tree)
    if moved_suspects(p, c, h):
        return await _revert_following_moves(
            gh, repo, culprit, branch, reader, (parent_tree, head_sha, head_tree), (p, c, h),
            limit, incident_url,
        )  # fmt: skip
    plan = plan_revert(p, c, h)
    # Merged even when a conflict by shape already sinks the revert: the list of files
    # to resolve by hand must be git's whole list.
    blobs = await _download(gh, repo, _blobs_to_fetch(plan.merges), limit)
    outcomes, new_blobs = await merge_contents(plan.merges, blobs)
    result = assemble(plan, outcomes, h)
    if isinstance(result, RevertConflicts):
        return RevertConflict(culprit, branch, head_sha, result.conflicts)
    if isinstance(result, NothingToRevert):
        return RevertEmpty(culprit, branch, head_sha, result.reason)
    return await _write_commit(
        gh, repo, culprit, branch, head_sha, head_tree, result, incident_url,
        merged_paths=tuple(j.path for j in plan.merges), new_blobs=new_blobs, limit=limit,
    )  # fmt: skip


async def _write_commit(
    gh: GitHubClient,
    repo: str,
    culprit: CulpritFacts,
    branch: str,
    head_sha: str,
    head_tree: str,
    result: RevertTree,
    incident_url: IncidentUrl,
    *,
    merged_paths: tuple[str, ...],
    followed: tuple[Followed, ...] = (),
    expected_tree: str | None = None,
    new_blobs: Mapping[str, bytes],
    limit: asyncio.Semaphore,
) -> RevertCommit:
    """ONE tree on top of the head's, ONE commit whose parent is the head. Merged text
    goes inside the tree request; other merged contents are uploaded as blobs first.

    A deferred `incident_url` (the incident's issue being opened meanwhile) is awaited with
    the tree: if it fails, no commit is made."""

    async def link() -> str | None:
        return await incident_url() if callable(incident_url) else incident_url

    inline, upload = _inline(new_blobs)
    await _upload(gh, repo, upload, limit)
    entries = result.as_github()
    for entry in entries:
        text = inline.get(entry.get("sha") or "")
        if text is not None and entry["type"] == "blob":
            del entry["sha"]
            entry["content"] = text
    tree, url = await asyncio.gather(
        gh.post(f"/repos/{repo}/git/trees", data={"base_tree": head_tree, "tree": entries}),
        link(),
    )
    if expected_tree is not None and tree["sha"] != expected_tree:
        log.warning(
            "revert tree %s differs from git's merged tree %s (culprit %s)",
            tree["sha"], expected_tree, culprit.sha,
        )  # fmt: skip
    message = revert_commit_message(
        culprit.subject,
        culprit.sha,
        mainline_parent=culprit.parents[0] if culprit.is_merge else None,
        incident_url=url,
    )
    commit = await gh.post(
        f"/repos/{repo}/git/commits",
        data={"message": message, "tree": tree["sha"], "parents": [head_sha]},
    )
    return RevertCommit(
        sha=commit["sha"],
        tree_sha=tree["sha"],
        parent_sha=head_sha,
        culprit=culprit,
        branch=branch,
        message=message,
        paths=result.paths,
        merged_paths=merged_paths,
        followed=followed,
    )


async def _revert_following_moves(
    gh: GitHubClient,
    repo: str,
    culprit: CulpritFacts,
    branch: str,
    reader: TreeReader,
    shas: tuple[str | None, str, str],
    trees: tuple[FlatTree, FlatTree, FlatTree],
    limit: asyncio.Semaphore,
    incident_url: IncidentUrl,
) -> RevertCommit | RevertConflict | RevertEmpty:
    """A path the culprit touched may have moved: merge-ort decides on the real trees.

    Reads the culprit's and the head's trees where they differ (every path added or
    deleted since, with its blob sha); git then asks for the contents it needs."""
    parent_tree, head_sha, head_tree = shas
    p, c, h = trees
    # The parent's root listing too: git's scratch repository learns which objects are
    # trees from the listings it holds (a narrow read did not read that one).
    await asyncio.gather(
        reader.diff(culprit.tree_sha, head_tree),
        reader.level(parent_tree) if parent_tree else asyncio.sleep(0),
    )
    touched = changed_paths(p, c)
    merged = await merge_trees(
        scratch=scratch_dir(0),
        levels=reader.levels,
        base=culprit.tree_sha,
        ours=head_tree,
        theirs=parent_tree,
        theirs_label=short(culprit.sha),
        blobs=lambda wanted: _download(gh, repo, wanted, limit),
        trees=reader.level,
        touched=touched,
        gone=[t for t in touched if t in c.entries and t not in h.entries],
    )
    log.info(
        "revert of %s followed moves: %d objects downloaded for git, %d conflicts",
        culprit.sha, merged.downloaded, len(merged.conflicts),
    )  # fmt: skip
    if merged.conflicts:
        return RevertConflict(culprit, branch, head_sha, merged.conflicts)
    if not merged.writes:
        return RevertEmpty(culprit, branch, head_sha, ALREADY_UNDONE)
    return await _write_commit(
        gh, repo, culprit, branch, head_sha, head_tree, RevertTree(merged.writes), incident_url,
        merged_paths=tuple(
            w.path for w in merged.writes if w.entry is not None and w.entry.sha in merged.new_blobs
        ),
        followed=merged.followed,
        expected_tree=merged.tree,
        new_blobs=merged.new_blobs,
        limit=limit,
    )  # fmt: skip
