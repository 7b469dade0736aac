"""A merge queue as GitHub runs one, for a base branch whose ruleset has a `merge_queue` rule.

- `PUT /pulls/{n}/merge` (and `mergePullRequest`) into that base is refused with 405
  "Changes must be made through the merge queue" unless the actor may bypass the ruleset.
- `enqueuePullRequest` refuses a draft, a conflicting pull request, a head that moved, and a
  pull request whose required checks have not passed; `jump: true` is refused to an actor the
  ruleset's bypass list does not name. A jumped entry goes to the front, and the group being
  built for the entry it overtook is thrown away (`merge_group destroyed`, "invalidated").
- The entry at the front gets a merge group: git merges the base's tip and the pull request's
  head with the queue's merge method, on `refs/heads/gh-readonly-queue/<base>/pr-<n>-<base sha>`
  (a `push`, then `merge_group checks_requested`; GitHub Actions workflows that listen to
  `merge_group` run on it). One group is built at a time (`max_entries_to_build: 1`).
- When every required check of the base is green on the group's commit, the base is moved to it
  (a fast-forward: exactly the tested tree), the pull request is merged and closed, the queue ref
  deleted and `merge_group destroyed` ("merged") sent; then the next entry's group is built.
  A failed required check dequeues the entry (`pull_request dequeued`, `merge_group destroyed`
  "dequeued"); so does a push to its head; the base moving by any other way invalidates the group.
- `dequeuePullRequest` takes the merge-queue entry's id (not the pull request's).
- The rule's status check timeout (`check_response_timeout_minutes`, 60 by default): a group
  whose required checks have not all answered in time is dequeued ("CI_TIMEOUT").

Nothing here merges by itself inside the request that changed a check: GitHub acts a moment later.
"""

from __future__ import annotations

import asyncio

from sim.github.repo_merging import HEAD_MODIFIED, GraphQLProblem, MergingMixin
from sim.github.routes import ApiError
from sim.github.state import Issue, MergeQueueRule, QueueEntry, Ruleset

MERGE_QUEUE_BOT = "github-merge-queue[bot]"
QUEUE_REF_PREFIX = "gh-readonly-queue/"
THROUGH_THE_QUEUE = "Changes must be made through the merge queue"
# GitHub does not document this text; only actors the ruleset lets bypass may jump.
JUMP_REFUSED = ("Pull request You are not allowed to jump the merge queue: only actors that may "
                "bypass the merge queue rule can")


class MergeQueueMixin(MergingMixin):
    # --- configuration -------------------------------------------------------------------------

    def queue_rule(self, branch: str) -> tuple[Ruleset, MergeQueueRule] | None:
        for ruleset in self.rulesets_for(branch):
            if ruleset.merge_queue is not None:
                return ruleset, ruleset.merge_queue
        return None

    def may_bypass_queue(self, actor: str, branch: str) -> bool:
        found = self.queue_rule(branch)
        if found is None:
            return True
        bypass = found[0].bypass
        return actor in bypass or ("admin" in bypass and self.permission_of(actor) == "admin")

    def queue(self, branch: str) -> list[QueueEntry]:
        return self.queue_entries.setdefault(branch, [])

    def queue_entry_of(self, issue: Issue) -> QueueEntry | None:
        pr = issue.pull
        if pr is None:
            return None
        return next((e for e in self.queue(pr.base_ref) if e.number == issue.number), None)

    def queue_position(self, entry: QueueEntry) -> int:
        return self.queue(entry.base_ref).index(entry) + 1

    def queue_entry_state(self, entry: QueueEntry) -> str:
        if entry.group_sha is None:
            return "QUEUED"
        states = [self.context_state(entry.group_sha, c)
                  for c in self.required_checks(entry.base_ref)]
        if any(s == "failure" for s in states):
            return "UNMERGEABLE"
        if all(s == "success" for s in states):
            return "MERGEABLE"
        return "AWAITING_CHECKS"

    # --- merging outside the queue is refused ---------------------------------------------------

    def merge_pull(self, issue: Issue, actor: str, *, method: str = "merge",
                   sha: str | None = None, commit_title: str | None = None,
                   commit_message: str | None = None) -> str:
        pr = issue.pull
        assert pr is not None
        if (issue.state == "open" and not pr.draft and self.queue_rule(pr.base_ref) is not None
                and not self.may_bypass_queue(actor, pr.base_ref)):
            raise ApiError(405, THROUGH_THE_QUEUE)
        return super().merge_pull(issue, actor, method=method, sha=sha,
                                  commit_title=commit_title, commit_message=commit_message)

    # --- entering and leaving -------------------------------------------------------------------

    def enqueue_pull(self, issue: Issue, actor: str, *, jump: bool = False,
                     expected_head_sha: str | None = None) -> QueueEntry:
        """`enqueuePullRequest`, refusing as GitHub refuses (GraphQLProblem)."""
        pr = issue.pull
        assert pr is not None
        if issue.state != "open":
            raise GraphQLProblem("Pull request Pull request is closed")
        if self.queue_rule(pr.base_ref) is None:
            raise GraphQLProblem(
                f"Pull request Merge queue is not enabled for the base branch {pr.base_ref}")
        if self.queue_entry_of(issue) is not None:
            raise GraphQLProblem("Pull request Pull request is already in the merge queue")
        if pr.draft:
            raise GraphQLProblem("Pull request Pull request is in draft status")
        head = self.pull_head_sha(issue)
        if expected_head_sha is not None and expected_head_sha != head:
            raise GraphQLProblem(HEAD_MODIFIED)
        mergeable, state = self.mergeability(issue)
        if mergeable is False:
            raise GraphQLProblem(f"Pull request Pull request is in {state} status")
        checks = self.checks_problem(issue)
        if checks is not None:
            raise GraphQLProblem(f"Pull request {checks[1]}")
        reviews = self.review_problem(issue)
        if reviews is not None:
            raise GraphQLProblem(f"Pull request {reviews}")
        if jump and not self.may_bypass_queue(actor, pr.base_ref):
            raise GraphQLProblem(JUMP_REFUSED)
        entry = QueueEntry(self.sim.next_id("merge_queue_entry"), issue.number, pr.base_ref,
                           actor, jump, self.now(), head)
        queue = self.queue(pr.base_ref)
        if jump:
            front = next((i for i, e in enumerate(queue) if not e.jump), len(queue))
            if front == 0 and queue and queue[0].group_sha is not None:
                self._destroy_group(queue[0], "invalidated", actor)
            queue.insert(front, entry)
        else:
            queue.append(entry)
        issue.updated_at = self.now()
        self.emit_issue(issue, "enqueued", actor)
        self._build_group(pr.base_ref)
        return entry

    def dequeue_entry(self, entry: QueueEntry, actor: str, reason: str = "MANUAL") -> None:
        """`dequeuePullRequest`, or GitHub taking the entry out itself (`reason`)."""
        queue = self.queue(entry.base_ref)
        if entry not in queue:
            return
        was_front = queue[0] is entry
        if entry.group_sha is not None:
            self._destroy_group(entry, "dequeued", actor)
        queue.remove(entry)
        issue = self.issue_record(entry.number)
        if issue is not None:
            issue.updated_at = self.now()
            self.emit_issue(issue, "dequeued", actor, reason=reason)
        if was_front:
            self._build_group(entry.base_ref)

    def find_queue_entry(self, entry_id: int) -> QueueEntry | None:
        for queue in self.queue_entries.values():
            for entry in queue:
                if entry.id == entry_id:
                    return entry
        return None

    # --- the merge group ------------------------------------------------------------------------

    def _build_group(self, base: str) -> None:
        """Give the front entry its merge group, dropping entries that can no longer merge."""
        queue = self.queue(base)
        found = self.queue_rule(base)
        while queue and queue[0].group_sha is None:
            entry = queue[0]
            issue = self.issue_record(entry.number)
            if issue is None or issue.pull is None or issue.state != "open":
                queue.pop(0)
                continue
            if found is None:
                self.dequeue_entry(entry, MERGE_QUEUE_BOT, "BRANCH_PROTECTIONS")
                continue
            head = self.pull_head_sha(issue)
            base_sha = self.branch_sha(base)
            assert base_sha is not None
            tree = self.merged_tree(base_sha, head)
            if tree is None:
                self.dequeue_entry(entry, MERGE_QUEUE_BOT, "MERGE_CONFLICT")
                continue
            sha = self._group_commit(issue, found[1].merge_method, base_sha, head, tree)
            entry.base_sha, entry.group_sha, entry.built_at = base_sha, sha, self.now()
            entry.group_ref = f"refs/heads/{QUEUE_REF_PREFIX}{base}/pr-{entry.number}-{base_sha}"
            self.move_ref(entry.group_ref, sha, MERGE_QUEUE_BOT)
            self.emit("merge_group", "checks_requested", MERGE_QUEUE_BOT,
                      merge_group=self._group_shape(entry))
            if self.ci is not None:
                self.ci.on_merge_group(entry.group_ref.removeprefix("refs/heads/"), sha,
                                       MERGE_QUEUE_BOT)
            self._queue_checks_soon(base)

    def _group_commit(self, issue: Issue, method: str, base: str, head: str, tree: str) -> str:
        pr = issue.pull
        assert pr is not None
        if method == "REBASE":
            return self._rebase(issue, base, head)
        if method == "SQUASH":
            message = f"{issue.title} (#{issue.number})\n"
            return self.store.write_commit(tree, [base], message, self.ident(issue.user),
                                           self.web_flow())
        message = (f"Merge pull request #{issue.number} from {self.owner}/{pr.head_ref}\n\n"
                   f"{issue.title}\n")
        return self.store.write_commit(tree, [base, head], message, self.ident(issue.user),
                                       self.web_flow())

    def _group_shape(self, entry: QueueEntry) -> dict[str, object]:
        assert entry.group_sha is not None and entry.group_ref is not None
        info = self.store.read_commit(entry.group_sha)
        assert info is not None
        return {
            "head_sha": entry.group_sha,
            "head_ref": entry.group_ref,
            "base_sha": entry.base_sha,
            "base_ref": f"refs/heads/{entry.base_ref}",
            "head_commit": self.sim.shapes.merge_group_commit(info),
        }

    def _destroy_group(self, entry: QueueEntry, reason: str, actor: str) -> None:
        shape = self._group_shape(entry)
        ref = entry.group_ref
        entry.group_sha = entry.group_ref = entry.base_sha = entry.built_at = None
        if ref is not None:
            self.move_ref(ref, None, MERGE_QUEUE_BOT)
        self.emit("merge_group", "destroyed", MERGE_QUEUE_BOT, merge_group=shape, reason=reason)

    def _queue_checks_soon(self, base: str) -> None:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            self.evaluate_queue(base)
            return
        self.sim.spawn(self._evaluate_soon(base))

    async def _evaluate_soon(self, base: str) -> None:
        await asyncio.sleep(0)
        self.evaluate_queue(base)

    def evaluate_queue(self, base: str) -> None:
        """The front group's required checks: all green merges it, one red dequeues it."""
        queue = self.queue(base)
        if not queue or queue[0].group_sha is None:
            return
        entry = queue[0]
        state = self.queue_entry_state(entry)
        if state == "UNMERGEABLE":
            self.dequeue_entry(entry, MERGE_QUEUE_BOT, "CI_FAILURE")
        elif state == "MERGEABLE":
            self._merge_group(entry)

    def expire_groups(self) -> None:
        """The rule's status check timeout: a front group whose required checks have not all
        answered within `check_response_timeout_minutes` is taken out of the queue, as
        "no response for status checks" (GitHub acts on its own clock; the simulator as soon
        as anyone asks it anything)."""
        for base, queue in list(self.queue_entries.items()):
            built_at = queue[0].built_at if queue else None
            if built_at is None:
                continue
            entry, found = queue[0], self.queue_rule(base)
            timeout = (found[1].check_response_timeout_minutes if found else 60) * 60
            if self.now() - built_at < timeout:
                continue
            if self.queue_entry_state(entry) == "AWAITING_CHECKS":
                self.dequeue_entry(entry, MERGE_QUEUE_BOT, "CI_TIMEOUT")

    def _merge_group(self, entry: QueueEntry) -> None:
        issue = self.issue_record(entry.number)
        assert issue is not None and issue.pull is not None
        assert entry.group_sha is not None and entry.base_sha is not None
        pr = issue.pull
        if self.branch_sha(entry.base_ref) != entry.base_sha:
            self._destroy_group(entry, "invalidated", MERGE_QUEUE_BOT)
            self._build_group(entry.base_ref)
            return
        group = entry.group_sha
        self.queue(entry.base_ref).remove(entry)
        self._queue_moves_base = True
        try:
            self.move_ref(f"refs/heads/{entry.base_ref}", group, MERGE_QUEUE_BOT)
        finally:
            self._queue_moves_base = False
        pr.merged = True
        pr.merged_at = self.now()
        pr.merged_by = entry.enqueuer
        pr.merge_commit_sha = group
        pr.base_sha = entry.base_sha
        self.close(issue, entry.enqueuer)
        shape = self._group_shape(entry)
        if entry.group_ref is not None:
            self.move_ref(entry.group_ref, None, MERGE_QUEUE_BOT)
        entry.group_sha = entry.group_ref = None
        self.emit("merge_group", "destroyed", MERGE_QUEUE_BOT, merge_group=shape,
                  reason="merged")
        self._build_group(entry.base_ref)

    # --- what else moves the queue --------------------------------------------------------------

    def checks_changed(self, sha: str) -> None:
        super().checks_changed(sha)
        for base, queue in self.queue_entries.items():
            if queue and queue[0].group_sha == sha:
                self._queue_checks_soon(base)

    def after_branch_moved(self, branch: str, before: str | None, after: str | None,
                           actor: str) -> None:
        super().after_branch_moved(branch, before, after, actor)
        if self._queue_moves_base:
            return
        # A push to a queued pull request's head takes it out of the queue.
        for queue in list(self.queue_entries.values()):
            for entry in list(queue):
                issue = self.issue_record(entry.number)
                if issue is not None and issue.pull is not None and (
                        issue.pull.head_ref == branch and after != entry.head_sha):
                    self.dequeue_entry(entry, MERGE_QUEUE_BOT, "MANUAL")
        # The base moved another way (an admin bypassing the rule): the group is stale.
        front = self.queue_entries.get(branch) or []
        if front and front[0].group_sha is not None and after != front[0].base_sha:
            self._destroy_group(front[0], "invalidated", MERGE_QUEUE_BOT)
            self._build_group(branch)
