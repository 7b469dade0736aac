"""Land a revert PR wherever a person could: merge it with a method the repository allows,
bring it up to date behind a strict base, enqueue it in a merge queue, respect a hold.

One evaluation reads the facts once (one GraphQL request: repository settings, the PR's
merge state, merge-queue entry, labels and merge commits; then its head's checks), takes the
one step app.core.landing decides, and reads again only when GitHub refused for a reason
that passes (the base moved during the merge, the PR fell behind). `PUT /merge` and
update-branch carry the head sha as a guard, so nothing unchecked is ever merged.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Any

from gidgethub import BadRequest, GraphQLException

from app.core.config import RepoConfig
from app.core.landing import (
    Hold,
    MergeSettings,
    Plan,
    PullFacts,
    Refusal,
    Step,
    merge_method_for,
    next_step,
    refusal,
)
from app.core.revert_gate import Verdict, verdict
from app.core.revert_messages import Merger
from app.github.checks import commit_checks
from app.github.client import GitHubClient

log = logging.getLogger(__name__)

MAX_READS = 4  # a refusal that passes is retried after a fresh read, this many reads at most

LANDING_FACTS = """
query($owner: String!, $name: String!, $number: Int!) {
  repository(owner: $owner, name: $name) {
    autoMergeAllowed mergeCommitAllowed squashMergeAllowed rebaseMergeAllowed
    pullRequest(number: $number) {
      id number state isDraft headRefOid baseRefName mergeStateStatus
      isMergeQueueEnabled
      mergeQueueEntry { id }
      autoMergeRequest { enabledAt }
      labels(first: 100) { nodes { name } }
      commits(last: 100) { nodes { commit { parents(first: 2) { totalCount } } } }
      timelineItems(itemTypes: [AUTO_MERGE_ENABLED_EVENT], first: 1) { nodes { __typename } }
    }
  }
}
"""
ENQUEUE = """
mutation($id: ID!, $jump: Boolean, $sha: GitObjectID) {
  enqueuePullRequest(input: {pullRequestId: $id, jump: $jump, expectedHeadOid: $sha}) {
    mergeQueueEntry { id position }
  }
}
"""
DEQUEUE = """
mutation($id: ID!) {
  dequeuePullRequest(input: {id: $id}) { mergeQueueEntry { id } }
}
"""
ENABLE_AUTO_MERGE = """
mutation($id: ID!, $method: PullRequestMergeMethod!) {
  enablePullRequestAutoMerge(input: {pullRequestId: $id, mergeMethod: $method}) {
    pullRequest { number autoMergeRequest { enabledAt } }
  }
}
"""
# GitHub's answers meaning "auto-merge cannot wait for anything here": the repository
# has it switched off, the base branch has no protection or rules to wait for, or the PR has
# nothing left to wait for. The check-driven merger (app.handlers.revert_merge) takes over.
FALLBACK_ERRORS = (
    "auto merge is not allowed",
    "protected branch rules not configured",
    "clean status",
    "unstable status",
)
DISABLE_AUTO_MERGE = """
mutation($id: ID!) {
  disablePullRequestAutoMerge(input: {pullRequestId: $id}) { pullRequest { number } }
}
"""


class Outcome:
    """What one evaluation did (or found): the handler says the ones people need to hear."""

    MERGED = "merged"
    ENQUEUED = "enqueued"
    UPDATED = "updated"
    WAITING = "waiting"
    HELD = "held"
    HANDS_OFF = "hands-off"
    ARMED = "armed"  # auto-merge enabled on a revert the app had opened but not armed
    GONE = "gone"
    MOVED = "moved"
    CI_FAILED = "ci-failed"
    BLOCKED = "blocked"  # a setting only an admin can change
    NOT_MERGEABLE = "not-mergeable"
    UPDATES_SPENT = "updates-spent"
    NO_METHOD = "no-method"


@dataclass(frozen=True)
class Landing:
    outcome: str  # an Outcome
    failed: tuple[str, ...] = ()  # CI_FAILED: the counted checks that failed
    message: str = ""  # BLOCKED / NOT_MERGEABLE: what GitHub said
    hold: Hold | None = None  # HELD: why
    jump_refused: bool = False  # ENQUEUED: at the back, because GitHub refused the jump
    facts: PullFacts | None = None
    settings: MergeSettings | None = None


def _settings(repo: dict[str, Any]) -> MergeSettings:
    allowed = tuple(
        method
        for method, field in (
            ("merge", "mergeCommitAllowed"),
            ("squash", "squashMergeAllowed"),
            ("rebase", "rebaseMergeAllowed"),
        )
        if repo.get(field)
    )
    return MergeSettings(allowed=allowed, auto_merge=bool(repo.get("autoMergeAllowed")))


def _facts(pr: dict[str, Any]) -> PullFacts:
    nodes = (pr.get("commits") or {}).get("nodes") or ()
    commits = [(node or {}).get("commit") or {} for node in nodes]
    merges = sum(1 for c in commits if (c.get("parents") or {}).get("totalCount", 1) > 1)
    entry = pr.get("mergeQueueEntry")
    return PullFacts(
        number=int(pr["number"]),
        node_id=str(pr["id"]),
        state=str(pr["state"]),
        draft=bool(pr.get("isDraft")),
        labels=tuple(n["name"] for n in ((pr.get("labels") or {}).get("nodes") or ()) if n),
        head_sha=str(pr["headRefOid"]),
        base_ref=str(pr["baseRefName"]),
        merge_state=str(pr.get("mergeStateStatus") or "UNKNOWN"),
        auto_merge=pr.get("autoMergeRequest") is not None,
        queue_enabled=bool(pr.get("isMergeQueueEnabled")),
        queue_entry=str(entry["id"]) if entry else None,
        updates=merges,
        armed_before=bool(((pr.get("timelineItems") or {}).get("nodes")) or ()),
    )


async def read_facts(gh: GitHubClient, repo: str, number: int) -> tuple[PullFacts, MergeSettings]:
    owner, name = repo.split("/", 1)
    data = await gh.graphql(LANDING_FACTS, owner=owner, name=name, number=number)
    repository = data["repository"]
    return _facts(repository["pullRequest"]), _settings(repository)


async def land(
    gh: GitHubClient,
    repo: str,
    number: int,
    config: RepoConfig,
    merger: Merger,
    *,
    head_sha: str | None = None,
    may_enqueue: bool = True,
) -> Landing:
    """Take the revert PR `number` one step further; `head_sha` (a check event's commit):
    do nothing when the PR has moved on from it. `may_enqueue` False (a push elsewhere, not
    the PR's own checks turning green) keeps a PR the queue sent back out of it."""
    for _ in range(MAX_READS):
        facts, settings = await read_facts(gh, repo, number)
        if head_sha is not None and facts.head_sha != head_sha:
            return Landing(Outcome.MOVED, facts=facts, settings=settings)
        checks = await _checks(gh, repo, facts, config)
        plan = next_step(
            facts,
            settings,
            checks,
            merger,
            preferred=config.merge_method,
            hold_label=config.labels.hold,
            max_updates=config.max_branch_updates,
            jump=config.merge_queue_jump,
        )
        if plan.step is Step.ARM:
            # Opened, then stopped before auto-merge was enabled: enable it now; where GitHub
            # says it cannot wait for anything, this evaluation merges it itself.
            method = merge_method_for(config.merge_method, settings.allowed) or "merge"
            if await enable_auto_merge(gh, facts.node_id, method) is Merger.AUTO:
                return Landing(Outcome.ARMED, facts=facts, settings=settings)
            merger = Merger.SHERIFF
            continue
        if plan.step is Step.ENQUEUE and not may_enqueue:
            return Landing(Outcome.WAITING, facts=facts, settings=settings)
        landing = await _take(gh, repo, facts, plan)
        if landing is not None:
            return replace(landing, facts=facts, settings=settings)
    return Landing(Outcome.WAITING)  # still racing: the next event (a push, a check) retries


async def _checks(
    gh: GitHubClient, repo: str, facts: PullFacts, config: RepoConfig
) -> Verdict:
    if facts.state != "OPEN":
        return Verdict("wait")
    return verdict(await commit_checks(gh, repo, facts.head_sha), config.counts)


async def _take(gh: GitHubClient, repo: str, facts: PullFacts, plan: Plan) -> Landing | None:
    """Do `plan`; None when GitHub's refusal passes and the facts must be read again."""
    step = plan.step
    if step is Step.GONE:
        return Landing(Outcome.GONE)
    if step is Step.HOLD:
        if plan.disarm:
            await disarm(gh, facts)
        return Landing(Outcome.HELD, hold=plan.hold)
    if step is Step.HANDS_OFF:
        return Landing(Outcome.HANDS_OFF)
    if step is Step.CI_FAILED:
        return Landing(Outcome.CI_FAILED, failed=plan.failed)
    if step is Step.WAIT:
        return Landing(Outcome.WAITING)
    if step is Step.UPDATES_SPENT:
        return Landing(Outcome.UPDATES_SPENT)
    if step is Step.NO_METHOD:
        return Landing(Outcome.NO_METHOD)
    if step is Step.UPDATE:
        return await _rest(
            gh,
            f"/repos/{repo}/pulls/{facts.number}/update-branch",
            {"expected_head_sha": facts.head_sha},
            Outcome.UPDATED,
        )
    if step is Step.MERGE:
        assert plan.method is not None
        return await _rest(
            gh,
            f"/repos/{repo}/pulls/{facts.number}/merge",
            {"sha": facts.head_sha, "merge_method": plan.method},
            Outcome.MERGED,
        )
    return await _enqueue(gh, facts, jump=plan.jump)


async def _rest(gh: GitHubClient, url: str, data: dict[str, Any], done: str) -> Landing | None:
    try:
        await gh.put(url, data=data)
        return Landing(done)
    except BadRequest as exc:
        return _refused(int(exc.status_code), str(exc))


def _refused(status: int, message: str) -> Landing | None:
    kind = refusal(status, message)
    log.info("GitHub refused to land the revert", extra={"status": status, "refusal": kind})
    if kind is Refusal.RETRY:
        return None
    if kind is Refusal.MOVED:
        return Landing(Outcome.MOVED)
    if kind is Refusal.WAIT:
        return Landing(Outcome.WAITING)
    if kind is Refusal.ADMIN:
        return Landing(Outcome.BLOCKED, message=message)
    return Landing(Outcome.NOT_MERGEABLE, message=message)


async def _enqueue(gh: GitHubClient, facts: PullFacts, *, jump: bool) -> Landing | None:
    """Enqueue, at the front when asked; if GitHub refuses only the jump (only those allowed
    to bypass the queue may jump it), at the back, and say so."""
    try:
        await gh.graphql(ENQUEUE, id=facts.node_id, jump=jump, sha=facts.head_sha)
        return Landing(Outcome.ENQUEUED)
    except GraphQLException as exc:
        first = str(exc)
    if not jump:
        return _refused(422, first)
    try:
        await gh.graphql(ENQUEUE, id=facts.node_id, jump=False, sha=facts.head_sha)
    except GraphQLException as exc:
        return _refused(422, str(exc))
    log.info("merge queue refused the jump; enqueued at the back", extra={"why": first})
    return Landing(Outcome.ENQUEUED, jump_refused=True)


async def enable_auto_merge(gh: GitHubClient, node_id: str, merge_method: str) -> Merger:
    """AUTO when GitHub's auto-merge took it; else SHERIFF: the check-driven merger
    (app.handlers.revert_merge) merges it, as the PR's body then says."""
    try:
        await gh.graphql(ENABLE_AUTO_MERGE, id=node_id, method=merge_method.upper())
    except GraphQLException as exc:
        text = str(exc).lower()
        if not any(marker in text for marker in FALLBACK_ERRORS):
            log.warning("enabling auto-merge failed: %s", exc)
        return Merger.SHERIFF
    return Merger.AUTO


async def disarm(gh: GitHubClient, facts: PullFacts) -> None:
    """Stop a held revert from landing: leave the merge queue, switch off auto-merge."""
    if facts.queue_entry is not None:
        await dequeue(gh, facts)
    if facts.auto_merge:
        try:
            await gh.graphql(DISABLE_AUTO_MERGE, id=facts.node_id)
        except GraphQLException as exc:
            log.warning("could not disable auto-merge on a held revert: %s", exc)


async def dequeue(gh: GitHubClient, facts: PullFacts) -> None:
    """`dequeuePullRequest` names the merge-queue entry; GitHub's schema text speaks of the
    pull request's id, so when the entry's id is refused, the pull request's is tried."""
    assert facts.queue_entry is not None
    for node in (facts.queue_entry, facts.node_id):
        try:
            await gh.graphql(DEQUEUE, id=node)
            return
        except GraphQLException as exc:
            log.info("dequeue refused: %s", exc)
    log.warning("could not take a held revert out of the merge queue")
