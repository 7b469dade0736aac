"""GraphQL: the few operations the app needs, executed by graphql-core on GitHub's own schema.

Supported root fields: queries `repository`, `node`, `nodes`, `viewer`, `rateLimit`; mutations
`enablePullRequestAutoMerge`, `disablePullRequestAutoMerge`, `mergePullRequest`,
`enqueuePullRequest`, `dequeuePullRequest` (the merge queue: sim.github.repo_queue). Objects are
plain dicts keyed by GraphQL field names; anything else is answered with an error and recorded
as "not simulated".
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import graphql

from sim.github.git_store import is_sha
from sim.github.permissions import mutation_refused
from sim.github.repo import SimRepo
from sim.github.repo_merging import GraphQLProblem
from sim.github.routes import ApiError
from sim.github.shapes import iso
from sim.github.state import Issue, QueueEntry, decode_node_id
from sim.github.state import node_id as node_id_of
from sim.validators.graphql_schema import graphql_schema

if TYPE_CHECKING:
    from sim.github.server import GitHubSim

# GitHub cuts `Blob.text` at 512,000 bytes and says `isTruncated` (not documented; seen).
BLOB_TEXT_LIMIT = 512_000
QUERY_FIELDS = frozenset({"repository", "node", "nodes", "viewer", "rateLimit", "__typename"})
MUTATION_FIELDS = frozenset({"enablePullRequestAutoMerge", "disablePullRequestAutoMerge",
                             "mergePullRequest", "enqueuePullRequest", "dequeuePullRequest",
                             "__typename"})


class _Session:
    """One GraphQL request: who asks, and resolvers that build GraphQL objects lazily."""

    def __init__(self, sim: GitHubSim, actor: str, installation_id: int | None) -> None:
        self.sim = sim
        self.actor = actor
        self.installation_id = installation_id

    # --- visibility --------------------------------------------------------------------------

    def visible(self, repo: SimRepo) -> bool:
        if self.installation_id is not None:
            inst = self.sim.installations.get(self.installation_id)
            return inst is not None and repo.full_name.lower() in inst.repos
        return not repo.private or repo.permission_of(self.actor) != "none"

    def find_pull(self, node: str) -> tuple[SimRepo, Issue] | None:
        decoded = decode_node_id(node)
        if decoded is None or decoded[0] != "PullRequest":
            return None
        for repo in self.sim.repos.values():
            for issue in repo.pull_records():
                if issue.pull is not None and issue.pull.id == decoded[1] and self.visible(repo):
                    return repo, issue
        return None

    def pull_or_fail(self, node: Any) -> tuple[SimRepo, Issue]:
        found = self.find_pull(str(node))
        if found is None:
            raise GraphQLProblem(f"Could not resolve to a node with the global id of '{node}'",
                                 "NOT_FOUND")
        return found

    # --- objects -----------------------------------------------------------------------------

    def actor_obj(self, login: str | None) -> dict[str, Any] | None:
        if login is None:
            return None
        user = self.sim.user(login)
        return {
            "__typename": "Bot" if user.type == "Bot" else "User",
            "login": user.login,
            "id": user.node_id,
            "databaseId": user.id,
            "name": user.name,
            "url": f"{self.sim.html_url}/{user.login}",
            "avatarUrl": f"https://avatars.githubusercontent.com/u/{user.id}?v=4",
        }

    def repo_obj(self, repo: SimRepo) -> dict[str, Any]:
        def pull_request(_: Any, number: int) -> dict[str, Any]:
            issue = repo.issue_record(number)
            if issue is None or issue.pull is None:
                raise GraphQLProblem(
                    f"Could not resolve to a PullRequest with the number of {number}.",
                    "NOT_FOUND")
            return self.pull_obj(repo, issue)

        def issue_field(_: Any, number: int) -> dict[str, Any]:
            issue = repo.issue_record(number)
            if issue is None or issue.pull is not None:
                raise GraphQLProblem(
                    f"Could not resolve to an Issue with the number of {number}.", "NOT_FOUND")
            return self.issue_obj(repo, issue)

        def pull_requests(_: Any, **args: Any) -> dict[str, Any]:
            states = set(args.get("states") or [])
            items = [
                self.pull_obj(repo, i) for i in repo.pull_records()
                if not states or _pull_state(i) in states
            ]
            head = args.get("headRefName")
            if head:
                items = [p for p in items if p["headRefName"] == head]
            return _connection(items, args)

        default_sha = repo.branch_sha(repo.default_branch)
        return {
            "__typename": "Repository",
            "id": repo.node_id,
            "databaseId": repo.id,
            "name": repo.name,
            "nameWithOwner": repo.full_name,
            "owner": self.actor_obj(repo.owner),
            "url": f"{self.sim.html_url}/{repo.full_name}",
            "isPrivate": repo.private,
            "autoMergeAllowed": repo.allow_auto_merge,
            "mergeCommitAllowed": repo.allow_merge_commit,
            "squashMergeAllowed": repo.allow_squash_merge,
            "rebaseMergeAllowed": repo.allow_rebase_merge,
            "defaultBranchRef": {
                "__typename": "Ref",
                "name": repo.default_branch,
                "prefix": "refs/heads/",
                "target": {"__typename": "Commit", "oid": default_sha},
            },
            "pullRequest": pull_request,
            "pullRequests": pull_requests,
            "issue": issue_field,
            "mergeQueue": lambda _, branch=None: self.queue_obj(
                repo, branch or repo.default_branch),
            "object": lambda _, oid=None, expression=None: self.git_obj(
                repo, oid if oid is not None else expression
            ),
        }


    def queue_obj(self, repo: SimRepo, branch: str) -> dict[str, Any] | None:
        """`Repository.mergeQueue(branch:)`: null when the branch requires no merge queue."""
        found = repo.queue_rule(branch)
        if found is None:
            return None
        rule = found[1]
        return {
            "__typename": "MergeQueue",
            "id": node_id_of("MergeQueue", found[0].id),
            "url": f"{self.sim.html_url}/{repo.full_name}/queue/{branch}",
            "resourcePath": f"/{repo.full_name}/queue/{branch}",
            "nextEntryEstimatedTimeToMerge": None,
            "configuration": {
                "checkResponseTimeout": rule.check_response_timeout_minutes,
                "maximumEntriesToBuild": rule.max_entries_to_build,
                "maximumEntriesToMerge": rule.max_entries_to_merge,
                "minimumEntriesToMerge": rule.min_entries_to_merge,
                "minimumEntriesToMergeWaitTime": rule.min_entries_to_merge_wait_minutes,
                "mergeMethod": rule.merge_method,
                "mergingStrategy": rule.grouping_strategy,
            },
            "entries": lambda _, **args: _connection(
                [self.entry_obj(repo, e) for e in repo.queue(branch)], args),
            "repository": lambda _: self.repo_obj(repo),
        }

    def entry_obj(self, repo: SimRepo, entry: QueueEntry) -> dict[str, Any]:
        issue = repo.issue_record(entry.number)
        assert issue is not None
        base = entry.base_sha
        return {
            "__typename": "MergeQueueEntry",
            "id": entry.node_id,
            "position": repo.queue_position(entry),
            "state": repo.queue_entry_state(entry),
            "jump": entry.jump,
            "solo": False,
            "enqueuedAt": iso(entry.enqueued_at),
            "enqueuer": self.actor_obj(entry.enqueuer),
            "estimatedTimeToMerge": None,
            "headCommit": self.commit_obj(repo, entry.head_sha),
            "baseCommit": self.commit_obj(repo, base) if base else None,
            "pullRequest": lambda _: self.pull_obj(repo, issue),
            "mergeQueue": lambda _: self.queue_obj(repo, entry.base_ref),
        }

    def git_obj(self, repo: SimRepo, ref: str | None) -> dict[str, Any] | None:
        """`Repository.object`: a blob (with its text), a tree (with its entries) or a
        commit; null if absent. An expression is a git revision: a commit-ish, or
        `<rev>:<path>` for what the path holds in that commit's tree (`<rev>:` the root)."""
        if not ref:
            return None
        if not is_sha(ref) and ":" in ref:
            rev, _, path = ref.partition(":")
            if rev == "HEAD":  # a repository's HEAD is its default branch
                rev = repo.default_branch
            commit = repo.resolve(rev) if rev else None
            info = repo.store.read_commit(commit) if commit else None
            if info is None:
                return None
            if not path.strip("/"):
                return self.git_obj(repo, info.tree)
            entry = repo.store.entry_at(info.tree, path)
            return self.git_obj(repo, entry.sha) if entry is not None else None
        kind = repo.store.object_type(ref) if is_sha(ref) else None
        if kind is None:
            sha = repo.resolve(ref)
            return self.commit_obj(repo, sha) if sha else None
        if kind == "commit":
            return self.commit_obj(repo, ref)
        if kind == "tree":
            return self.tree_obj(repo, ref)
        if kind != "blob":
            return None
        found = repo.store.read_object(ref)
        assert found is not None
        data = found[1]
        self.sim.blobs_read[ref] += 1
        binary = b"\0" in data[:8000]  # git's own test for binary contents
        text: str | None = None
        if not binary:
            try:
                text = data[:BLOB_TEXT_LIMIT].decode()
            except UnicodeDecodeError as cut:
                # A cut inside a character drops it; other undecodable bytes: no text.
                if len(data) > BLOB_TEXT_LIMIT and cut.start >= BLOB_TEXT_LIMIT - 3:
                    text = data[: cut.start].decode()
        return {
            "__typename": "Blob",
            "oid": ref,
            "abbreviatedOid": ref[:7],
            "byteSize": len(data),
            "isBinary": binary,
            "isTruncated": text is not None and len(data) > BLOB_TEXT_LIMIT,
            "text": text,
        }

    def pull_obj(self, repo: SimRepo, issue: Issue) -> dict[str, Any]:
        pr = issue.pull
        assert pr is not None
        mergeable, state = repo.mergeability(issue)
        auto = pr.auto_merge
        entry = repo.queue_entry_of(issue)
        return {
            "__typename": "PullRequest",
            "id": pr.node_id,
            "databaseId": pr.id,
            "number": issue.number,
            "title": issue.title,
            "body": issue.body or "",
            "state": _pull_state(issue),
            "closed": issue.state == "closed",
            "merged": pr.merged,
            "mergedAt": iso(pr.merged_at),
            "createdAt": iso(issue.created_at),
            "updatedAt": iso(issue.updated_at),
            "url": f"{self.sim.html_url}/{repo.full_name}/pull/{issue.number}",
            "isDraft": pr.draft,
            "headRefName": pr.head_ref,
            "headRefOid": repo.pull_head_sha(issue),
            "baseRefName": pr.base_ref,
            "baseRefOid": repo.pull_base_sha(issue),
            "mergeable": {True: "MERGEABLE", False: "CONFLICTING"}.get(mergeable, "UNKNOWN")
            if mergeable is not None else "UNKNOWN",
            "mergeStateStatus": state.upper(),
            "author": self.actor_obj(issue.user),
            "mergeCommit": {"__typename": "Commit", "oid": pr.merge_commit_sha}
            if pr.merge_commit_sha else None,
            "autoMergeRequest": {
                "__typename": "AutoMergeRequest",
                "enabledAt": iso(auto.enabled_at),
                "enabledBy": self.actor_obj(auto.enabled_by),
                "mergeMethod": auto.merge_method.upper(),
                "commitHeadline": auto.commit_title,
                "commitBody": auto.commit_message,
                "authorEmail": None,
            } if auto else None,
            "labels": lambda _, **args: _connection(
                [{"__typename": "Label", "name": n, "id": repo.label_record(n).node_id,
                  "color": repo.label_record(n).color} for n in issue.labels], args),
            "repository": lambda _: self.repo_obj(repo),
            "isMergeQueueEnabled": repo.queue_rule(pr.base_ref) is not None,
            "isInMergeQueue": entry is not None,
            "mergeQueueEntry": self.entry_obj(repo, entry) if entry is not None else None,
            "commits": lambda _, **args: _connection(
                [{"__typename": "PullRequestCommit", "commit": self.commit_obj(repo, sha)}
                 for sha in repo.pull_commit_shas(issue)], args),
            "timelineItems": lambda _, **args: _connection(
                [self.timeline_item(kind, actor, at) for kind, actor, at in pr.timeline
                 if _item_type(kind) in (args.get("itemTypes") or [_item_type(kind)])], args),
        }

    def timeline_item(self, kind: str, actor: str, at: float) -> dict[str, Any]:
        """One event of a pull request's timeline (only auto-merge events are kept)."""
        return {"__typename": kind, "id": f"{kind}_{int(at)}", "createdAt": iso(at),
                "actor": self.actor_obj(actor)}

    def commit_obj(self, repo: SimRepo, sha: str) -> dict[str, Any]:
        info = repo.store.read_commit(sha)
        parents = list(info.parents) if info is not None else []
        return {
            "__typename": "Commit",
            "oid": sha,
            "message": info.message if info is not None else "",
            "messageHeadline": info.message.partition("\n")[0] if info is not None else "",
            "tree": lambda _: self.tree_obj(repo, info.tree) if info is not None else None,
            "parents": lambda _, **args: _connection(
                [{"__typename": "Commit", "oid": p} for p in parents], args),
        }

    def tree_obj(self, repo: SimRepo, sha: str) -> dict[str, Any]:
        def entries(_: Any) -> list[dict[str, Any]]:
            return [
                {"__typename": "TreeEntry", "name": e.name, "oid": e.sha, "type": e.type,
                 "mode": int(e.mode, 8), "object": lambda _, e=e: self.git_obj(repo, e.sha)}
                for e in repo.store.read_tree(sha) or []
            ]

        return {"__typename": "Tree", "oid": sha, "abbreviatedOid": sha[:7], "entries": entries}

    def issue_obj(self, repo: SimRepo, issue: Issue) -> dict[str, Any]:
        return {
            "__typename": "Issue",
            "id": issue.node_id,
            "databaseId": issue.id,
            "number": issue.number,
            "title": issue.title,
            "body": issue.body or "",
            "state": issue.state.upper(),
            "closed": issue.state == "closed",
            "createdAt": iso(issue.created_at),
            "url": f"{self.sim.html_url}/{repo.full_name}/issues/{issue.number}",
            "author": self.actor_obj(issue.user),
            "labels": lambda _, **args: _connection(
                [{"__typename": "Label", "name": n} for n in issue.labels], args),
            "repository": lambda _: self.repo_obj(repo),
        }

    def node_obj(self, node: str) -> dict[str, Any] | None:
        decoded = decode_node_id(node)
        if decoded is None:
            return None
        kind, number = decoded
        for repo in self.sim.repos.values():
            if not self.visible(repo):
                continue
            if kind == "Repository" and repo.id == number:
                return self.repo_obj(repo)
            if kind == "MergeQueueEntry":
                entry = repo.find_queue_entry(number)
                if entry is not None:
                    return self.entry_obj(repo, entry)
                continue
            for issue in repo.issue_records():
                if kind == "PullRequest" and issue.pull and issue.pull.id == number:
                    return self.pull_obj(repo, issue)
                if kind == "Issue" and issue.pull is None and issue.id == number:
                    return self.issue_obj(repo, issue)
        return None

    # --- roots -------------------------------------------------------------------------------

    def query_root(self) -> dict[str, Any]:
        def repository(_: Any, owner: str, name: str, **__: Any) -> dict[str, Any]:
            repo = self.sim.repos.get(f"{owner}/{name}".lower())
            if repo is None or not self.visible(repo):
                raise GraphQLProblem(
                    f"Could not resolve to a Repository with the name '{owner}/{name}'.",
                    "NOT_FOUND")
            return self.repo_obj(repo)

        def node(_: Any, id: str) -> dict[str, Any] | None:
            found = self.node_obj(id)
            if found is None:
                raise GraphQLProblem(
                    f"Could not resolve to a node with the global id of '{id}'", "NOT_FOUND")
            return found

        now = self.sim.now()
        return {
            "repository": repository,
            "node": node,
            "nodes": lambda _, ids: [self.node_obj(i) for i in ids],
            "viewer": lambda _: self.actor_obj(self.actor),
            "rateLimit": lambda _, **__: {"limit": 5000, "cost": 1, "remaining": 4999,
                                          "used": 1, "resetAt": iso(now + 3600),
                                          "nodeCount": 1},
        }

    def mutation_root(self) -> dict[str, Any]:
        def enable(_: Any, input: dict[str, Any]) -> dict[str, Any]:
            repo, issue = self.pull_or_fail(input.get("pullRequestId"))
            method = str(input.get("mergeMethod") or "MERGE")
            repo.enable_auto_merge(issue, self.actor, method.lower(),
                                   input.get("commitHeadline"), input.get("commitBody"))
            return {"clientMutationId": input.get("clientMutationId"),
                    "actor": self.actor_obj(self.actor), "pullRequest": self.pull_obj(repo, issue)}

        def disable(_: Any, input: dict[str, Any]) -> dict[str, Any]:
            repo, issue = self.pull_or_fail(input.get("pullRequestId"))
            repo.disable_auto_merge(issue, self.actor)
            return {"clientMutationId": input.get("clientMutationId"),
                    "actor": self.actor_obj(self.actor), "pullRequest": self.pull_obj(repo, issue)}

        def merge(_: Any, input: dict[str, Any]) -> dict[str, Any]:
            repo, issue = self.pull_or_fail(input.get("pullRequestId"))
            try:
                repo.merge_pull(issue, self.actor,
                                method=str(input.get("mergeMethod") or "MERGE").lower(),
                                sha=input.get("expectedHeadOid"),
                                commit_title=input.get("commitHeadline"),
                                commit_message=input.get("commitBody"))
            except ApiError as error:
                raise GraphQLProblem(error.message) from None
            return {"clientMutationId": input.get("clientMutationId"),
                    "actor": self.actor_obj(self.actor), "pullRequest": self.pull_obj(repo, issue)}

        def enqueue(_: Any, input: dict[str, Any]) -> dict[str, Any]:
            repo, issue = self.pull_or_fail(input.get("pullRequestId"))
            entry = repo.enqueue_pull(issue, self.actor, jump=bool(input.get("jump")),
                                      expected_head_sha=input.get("expectedHeadOid"))
            return {"clientMutationId": input.get("clientMutationId"),
                    "mergeQueueEntry": self.entry_obj(repo, entry)}

        def dequeue(_: Any, input: dict[str, Any]) -> dict[str, Any]:
            # The merge-queue entry's id; a pull request's id resolves to no entry.
            node = str(input.get("id"))
            decoded = decode_node_id(node)
            for repo in self.sim.repos.values():
                entry = (repo.find_queue_entry(decoded[1])
                         if decoded and decoded[0] == "MergeQueueEntry" and self.visible(repo)
                         else None)
                if entry is not None:
                    shaped = self.entry_obj(repo, entry)
                    repo.dequeue_entry(entry, self.actor)
                    return {"clientMutationId": input.get("clientMutationId"),
                            "mergeQueueEntry": shaped}
            raise GraphQLProblem(f"Could not resolve to a node with the global id of '{node}'",
                                 "NOT_FOUND")

        return {
            "enablePullRequestAutoMerge": enable,
            "disablePullRequestAutoMerge": disable,
            "mergePullRequest": merge,
            "enqueuePullRequest": enqueue,
            "dequeuePullRequest": dequeue,
        }


def _item_type(typename: str) -> str:
    """PullRequestTimelineItemsItemType of a timeline item: AutoMergeEnabledEvent ->
    AUTO_MERGE_ENABLED_EVENT."""
    return "".join("_" + c if c.isupper() and i else c for i, c in enumerate(typename)).upper()


def _pull_state(issue: Issue) -> str:
    if issue.pull is not None and issue.pull.merged:
        return "MERGED"
    return issue.state.upper()


def _connection(items: list[dict[str, Any]], args: dict[str, Any]) -> dict[str, Any]:
    first, last = args.get("first"), args.get("last")
    window = items[:first] if first is not None else items
    if last is not None:
        window = window[-last:] if last else []
    return {
        "totalCount": len(items),
        "nodes": window,
        "edges": [{"node": n, "cursor": str(i)} for i, n in enumerate(window)],
        "pageInfo": {"hasNextPage": len(window) < len(items), "hasPreviousPage": False,
                     "startCursor": "0" if window else None,
                     "endCursor": str(len(window) - 1) if window else None},
    }


def _root_fields(document: graphql.DocumentNode, operation_name: str | None
                 ) -> tuple[str, list[str]]:
    fragments = {d.name.value: d for d in document.definitions
                 if isinstance(d, graphql.FragmentDefinitionNode)}
    operations = [d for d in document.definitions
                  if isinstance(d, graphql.OperationDefinitionNode)]
    chosen = next((o for o in operations if operation_name and o.name
                   and o.name.value == operation_name), operations[0] if operations else None)
    if chosen is None:
        return "query", []
    names: list[str] = []

    def walk(selections: Any) -> None:
        for selection in selections:
            if isinstance(selection, graphql.FieldNode):
                names.append(selection.name.value)
            elif isinstance(selection, graphql.InlineFragmentNode):
                walk(selection.selection_set.selections)
            elif isinstance(selection, graphql.FragmentSpreadNode):
                fragment = fragments.get(selection.name.value)
                if fragment is not None:
                    walk(fragment.selection_set.selections)

    walk(chosen.selection_set.selections)
    return chosen.operation.value, names


def _error(message: str, kind: str, error: graphql.GraphQLError | None = None) -> dict[str, Any]:
    shaped: dict[str, Any] = {"type": kind}
    if error is not None:
        if error.path:
            shaped["path"] = list(error.path)
        if error.locations:
            shaped["locations"] = [{"line": loc.line, "column": loc.column}
                                   for loc in error.locations]
    shaped["message"] = message
    return shaped


def is_mutation(query: str, operation_name: str | None) -> bool:
    return _root_fields(graphql.parse(query), operation_name)[0] == "mutation"


def execute_graphql(sim: GitHubSim, actor: str, installation_id: int | None, query: str,
                    variables: dict[str, Any], operation_name: str | None,
                    permissions: dict[str, str] | None = None) -> dict[str, Any]:
    """GitHub's answer to a document that already passed validation.

    `permissions` are an installation token's: a mutation outside them is refused (FORBIDDEN)
    before anything runs, as REST refuses with 403."""
    document = graphql.parse(query)
    kind, fields = _root_fields(document, operation_name)
    allowed = MUTATION_FIELDS if kind == "mutation" else QUERY_FIELDS
    missing = [f for f in fields if f not in allowed]
    if kind == "subscription" or missing:
        what = ", ".join(missing) or kind
        sim.violations.append(f"graphql: not simulated: {kind} {what}")
        return {"data": None, "errors": [_error(f"not simulated: {kind} {what}", "INTERNAL")]}
    if kind == "mutation" and installation_id is not None:
        refused = [f for f in fields if mutation_refused(f, permissions or {})]
        if refused:
            sim.graphql_forbidden += refused
            return {"data": {f: None for f in refused}, "errors": [
                {"type": "FORBIDDEN", "path": [f],
                 "message": "Resource not accessible by integration"} for f in refused]}
    session = _Session(sim, actor, installation_id)
    root: dict[str, Callable[..., Any] | Any] = (
        session.mutation_root() if kind == "mutation" else session.query_root()
    )
    result = graphql.execute_sync(graphql_schema(), document, root_value=root,
                                  variable_values=variables, operation_name=operation_name)
    if not result.errors:
        return {"data": result.data}
    errors = []
    answered = kind == "query"
    for error in result.errors:
        original = error.original_error
        if isinstance(original, GraphQLProblem):
            errors.append(_error(original.message, original.kind, error))
        else:
            answered = False
            sim.violations.append(f"graphql: simulator could not answer: {error.message}")
            errors.append(_error(error.message, "INTERNAL", error))
    # A query answers what it could: the failed fields null (up to the nearest nullable
    # one), each error with its `path`, e.g. `{"data": {"repo": {...}, "org": null}}` and
    # NOT_FOUND at ["org"] for a repository the installation cannot see. Mutations that
    # fail are answered with no data here (GitHub sends the field null: the same nothing).
    return {"data": result.data if answered else None, "errors": errors}
