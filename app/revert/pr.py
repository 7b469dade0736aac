"""Open (or continue) the revert pull request, and ask GitHub to merge it once CI is green.

Idempotency without local state: the branch `buildsheriff/revert-<culprit sha>` is a
function of the culprit, so creating its ref is the lock. Whoever gets 422 "Reference
already exists" continues the PR it finds by head (or opens it, if the winner has
not yet; GitHub's own 422 "A pull request already exists" settles that race too).
Nothing here ever opens a second PR for the same culprit.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import quote

from gidgethub import BadRequest

from app.core.config import RepoConfig
from app.core.culprit import CulpritFacts
from app.core.landing import merge_method_for
from app.core.revert_messages import (
    Merger,
    culprit_notice,
    notice_marker,
    parse_revert_marker,
    revert_branch,
    revert_pr_body,
    revert_title,
)
from app.core.revert_moves import Followed
from app.github.client import GitHubClient
from app.github.comments import comment_on_issue, comment_on_issue_once
from app.revert.commit import (
    RevertCommit,
    RevertConflict,
    RevertEmpty,
    build_revert_commit,
    read_culprit,
    read_head_sha,
)
from app.revert.land import Outcome, enable_auto_merge, land

__all__ = ["enable_auto_merge"]  # app.handlers takes it from here

log = logging.getLogger(__name__)

# What decides how a new revert PR lands, read once and concurrently with the other reads
# before the PR is opened: the repository's merge settings and whether its base requires a
# merge queue (then Build Sheriff enqueues it on green, at the front; auto-merge would queue
# it at the back).
MERGE_SETUP = """
query($owner: String!, $name: String!, $base: String!) {
  repository(owner: $owner, name: $name) {
    autoMergeAllowed mergeCommitAllowed squashMergeAllowed rebaseMergeAllowed
    mergeQueue(branch: $base) { id }
  }
}
"""
@dataclass(frozen=True)
class RevertPR:
    number: int
    url: str
    node_id: str
    branch: str
    head_sha: str
    created: bool  # False: another trigger (or an earlier run) opened it
    reviewer: str | None  # whose review was requested
    mentioned: str | None  # who was @mentioned in the body instead
    merger: Merger  # who merges it on green; NOBODY when it is not open (left alone)
    state: str = "open"  # "open" | "closed" | "merged"


def revert_pr_url(repo: str, branch: str) -> str:
    """The pull requests whose head is `branch` of `repo`, open or not (newest first)."""
    owner = repo.split("/")[0]
    return f"/repos/{repo}/pulls?head={quote(owner + ':' + branch, safe='')}&state=all"


async def find_revert_pr(gh: GitHubClient, repo: str, branch: str) -> dict[str, Any] | None:
    """The PR whose head is `branch`, open or not (newest first)."""
    pulls = await gh.getitem(revert_pr_url(repo, branch))
    return pulls[0] if pulls else None


async def culprit_pr_number(gh: GitHubClient, repo: str, sha: str, base_branch: str) -> int | None:
    """The merged PR that brought the culprit in, if any (for links and the notice)."""
    try:
        pulls = await gh.getitem(f"/repos/{repo}/commits/{sha}/pulls")
    except BadRequest:
        return None
    merged = [p for p in pulls if p.get("merged_at") and p["base"]["ref"] == base_branch]
    chosen = merged or [p for p in pulls if p.get("merged_at")]
    return int(chosen[0]["number"]) if chosen else None


def _pr_state(pr: dict[str, Any]) -> str:
    if pr.get("merged_at") or pr.get("merged"):
        return "merged"
    return str(pr.get("state") or "open")


@dataclass(frozen=True)
class MergeSetup:
    merger: Merger  # who is meant to merge a new revert PR
    method: str  # the merge method auto-merge is asked for


async def merge_setup(gh: GitHubClient, repo: str, base: str, config: RepoConfig) -> MergeSetup:
    """Queue if the base requires a merge queue; the app itself if auto-merge is switched
    off; else GitHub's auto-merge, with the first configured method the repository allows."""
    owner, name = repo.split("/", 1)
    data = (await gh.graphql(MERGE_SETUP, owner=owner, name=name, base=base))["repository"]
    allowed = [
        method
        for method, key in (
            ("merge", "mergeCommitAllowed"),
            ("squash", "squashMergeAllowed"),
            ("rebase", "rebaseMergeAllowed"),
        )
        if data.get(key)
    ]
    method = merge_method_for(config.merge_method, allowed) or config.merge_method[0]
    if data.get("mergeQueue"):
        return MergeSetup(Merger.QUEUE, method)
    if not data.get("autoMergeAllowed"):
        return MergeSetup(Merger.SHERIFF, method)
    return MergeSetup(Merger.AUTO, method)


async def _request_review(
    gh: GitHubClient, repo: str, number: int, culprit: CulpritFacts, app_login: str
) -> tuple[str | None, str | None]:
    """(reviewer, to_mention): the author's review if GitHub takes it, else who to @mention."""
    login = culprit.author_login
    if not login or culprit.author_is_bot or login.lower() == app_login.lower():
        return None, None
    try:
        await gh.post(
            f"/repos/{repo}/pulls/{number}/requested_reviewers", data={"reviewers": [login]}
        )
        return login, None
    except BadRequest as exc:
        if exc.status_code != 422:  # 422: not a collaborator (or cannot review)
            raise
    return None, login


async def _notify_culprit(
    gh: GitHubClient,
    repo: str,
    culprit: CulpritFacts,
    culprit_pr: int | None,
    pr: dict[str, Any],
    incident_number: int | None,
    *,
    fresh: bool = False,
) -> None:
    """Tell the author where they work: the culprit's PR if it had one, else the commit.

    Looks for our marker first, so a continued run never says it twice; not for a PR this
    run just opened (`fresh`): no earlier run can have told of it."""
    marker = notice_marker(culprit.sha)
    text = culprit_notice(
        culprit,
        pr_number=pr["number"],
        pr_url=pr["html_url"],
        incident_number=incident_number,
    )
    if culprit_pr is not None:
        if fresh:
            await comment_on_issue(gh, repo, culprit_pr, text)
        else:
            await comment_on_issue_once(gh, repo, culprit_pr, text, marker=marker)
        return
    url = f"/repos/{repo}/commits/{culprit.sha}/comments"
    if fresh:
        await gh.post(url, data={"body": text})
        return
    async for comment in gh.getiter(url):
        if marker in (comment.get("body") or ""):
            return
    await gh.post(url, data={"body": text})


async def _open_pull(
    gh: GitHubClient, repo: str, branch: str, base_branch: str, title: str, body: str
) -> tuple[dict[str, Any], bool]:
    """POST /pulls; when GitHub says one already exists for this head, that one."""
    try:
        pr = await gh.post(
            f"/repos/{repo}/pulls",
            data={"title": title, "head": branch, "base": base_branch, "body": body},
        )
        return pr, True
    except BadRequest as exc:
        if exc.status_code != 422:
            raise
        existing = await find_revert_pr(gh, repo, branch)
        if existing is None:
            raise
        return existing, False


@dataclass(frozen=True)
class _Revert:
    """What every step after the PR exists needs to know."""

    repo: str
    culprit: CulpritFacts
    culprit_pr: int | None
    config: RepoConfig
    incident_number: int | None
    why_markdown: str
    app_login: str
    followed: tuple[Followed, ...] = ()  # files the revert followed to their new paths
    setup: MergeSetup = MergeSetup(Merger.AUTO, "squash")
    # Told the URL of a PR this run opened, with its label, review request and auto-merge.
    announce: Callable[[str], Awaitable[None]] | None = None
    recorded: bool = False  # the incident flow records the PR itself (see revert_marker)

    def body(self, *, mention: str | None = None, merge: Merger | None = None) -> str:
        return revert_pr_body(
            self.culprit,
            culprit_pr=self.culprit_pr,
            why_markdown=self.why_markdown,
            incident_number=self.incident_number,
            mention=mention,
            merge=merge or self.setup.merger,
            followed=self.followed,
            hold_label=self.config.labels.hold,
            recorded=self.recorded,
        )


async def _finish(gh: GitHubClient, job: _Revert, pr: dict[str, Any], *, created: bool) -> RevertPR:
    """Everything after the PR exists. A continued PR is only completed, never re-armed:
    a human who closed it or disabled its auto-merge has spoken."""
    repo, number = job.repo, int(pr["number"])
    state = _pr_state(pr)
    reviewer = mentioned = None
    merger = Merger.NOBODY
    if state == "open":
        label = gh.post(
            f"/repos/{repo}/issues/{number}/labels", data={"labels": [job.config.labels.revert]}
        )
        if created:
            # The label, the review request and auto-merge are independent: asked at once.
            merger = job.setup.merger

            async def arm() -> Merger:
                if merger is Merger.AUTO:
                    return await enable_auto_merge(gh, pr["node_id"], job.setup.method)
                return merger

            # The author hears where to look (once: a PR this run opened has no notice yet).
            notice = _notify_culprit(
                gh, repo, job.culprit, job.culprit_pr, pr, job.incident_number, fresh=True
            )
            review = _request_review(gh, repo, number, job.culprit, job.app_login)
            if job.announce is None:
                # An incident's revert: the notice after the critical path (auto-merge).
                try:
                    _, (reviewer, mentioned), merger = await asyncio.gather(
                        label, review, arm()
                    )
                except BaseException:
                    notice.close()  # never started: closed, not left to warn "never awaited"
                    raise
                await notice
            else:
                # A command: whoever asked and the author hear at once, with the rest.
                _, (reviewer, mentioned), merger, _, _ = await asyncio.gather(
                    label, review, arm(), notice, job.announce(pr["html_url"])
                )
            if mentioned or merger is not job.setup.merger:
                body = job.body(mention=mentioned, merge=merger)
                await gh.patch(f"/repos/{repo}/pulls/{number}", data={"body": body})
            if merger is not Merger.AUTO:
                # Checks that finished before the PR existed found nobody to land it and
                # will send no further event: look once now.
                landing = await land(gh, repo, number, job.config, merger)
                log.info("revert PR #%s opened: %s", number, landing.outcome)
        else:
            await label
            requested = [u["login"] for u in pr.get("requested_reviewers") or ()]
            reviewer = requested[0] if requested else None
            marker = parse_revert_marker(pr.get("body"))
            if pr.get("auto_merge"):
                merger = Merger.AUTO
            elif marker is not None and marker.merge in (Merger.SHERIFF, Merger.QUEUE):
                merger = marker.merge
            elif marker is not None:
                # Meant for auto-merge, which is off: never armed (we stopped between opening
                # and arming it: arm it now, and ask for the review we did not ask for), or
                # a person switched it off (hands off). Its timeline tells which.
                landing = await land(gh, repo, number, job.config, Merger.AUTO)
                if landing.outcome == Outcome.ARMED:
                    merger = Merger.AUTO
                    if not requested:
                        reviewer, mentioned = await _request_review(
                            gh, repo, number, job.culprit, job.app_login
                        )
                elif landing.outcome == Outcome.MERGED:
                    merger, state = Merger.SHERIFF, "merged"
                elif landing.facts is not None and not landing.facts.armed_before:
                    merger = Merger.SHERIFF  # GitHub could not wait: we merge it on green
            await _notify_culprit(gh, repo, job.culprit, job.culprit_pr, pr, job.incident_number)
    return RevertPR(
        number=number,
        url=pr["html_url"],
        node_id=pr["node_id"],
        branch=pr["head"]["ref"],
        head_sha=pr["head"]["sha"],
        created=created,
        reviewer=reviewer,
        mentioned=mentioned,
        merger=merger,
        state=state,
    )


async def open_revert_pr(
    gh: GitHubClient,
    repo: str,
    culprit_sha: str,
    *,
    base_branch: str,
    config: RepoConfig,
    incident_number: int | asyncio.Future[int] | None,
    why_markdown: str,
    app_login: str,
    incident_url: str | None = None,
    culprit: CulpritFacts | None = None,
    announce: Callable[[str], Awaitable[None]] | None = None,
    recorded: bool = False,
) -> RevertPR | RevertConflict | RevertEmpty:
    """The revert PR of `culprit_sha` against `base_branch`, opened once whoever asks.

    `incident_number` may be a future: the incident's issue being opened meanwhile. The
    revert then waits for it only where it writes it (the commit message, the PR body);
    if it fails (no issue of ours), the revert stops before any ref is created.
    `culprit`: the commit's facts when the caller read them already (`read_culprit`).
    `announce(url)` runs beside the label, review request and auto-merge of a PR this
    run opened (not for one it found)."""
    if culprit is None:
        culprit = await read_culprit(gh, repo, culprit_sha)
    branch = revert_branch(culprit.sha)

    async def number() -> int | None:
        if isinstance(incident_number, asyncio.Future):
            return await incident_number
        return incident_number

    async def url() -> str | None:
        if incident_url is not None:
            return incident_url
        known = await number()
        return None if known is None else f"{_html_base(culprit.html_url, repo)}/issues/{known}"

    # The branch head is read here too, so the revert's own reads start one round trip
    # sooner (one request spent for nothing when the PR already exists).
    existing, culprit_pr, setup, head_sha = await asyncio.gather(
        find_revert_pr(gh, repo, branch),
        culprit_pr_number(gh, repo, culprit.sha, base_branch),
        merge_setup(gh, repo, base_branch, config),
        read_head_sha(gh, repo, base_branch),
    )
    job = _Revert(
        repo=repo,
        culprit=culprit,
        culprit_pr=culprit_pr,
        config=config,
        incident_number=None,
        why_markdown=why_markdown,
        app_login=app_login,
        setup=setup,
        announce=announce,
        recorded=recorded,
    )
    if existing is not None:
        return await _finish(gh, replace(job, incident_number=await number()), existing,
                             created=False)  # fmt: skip

    built = await build_revert_commit(
        gh, repo, culprit.sha, branch=base_branch, incident_url=url, culprit=culprit,
        head_sha=head_sha,
    )
    if not isinstance(built, RevertCommit):
        return built
    job = replace(job, followed=built.followed, incident_number=await number())
    if not await _create_ref(gh, repo, branch, built.sha):
        # Someone got there first: continue their PR, or open it if they have not yet.
        existing = await find_revert_pr(gh, repo, branch)
        if existing is not None:
            return await _finish(gh, job, existing, created=False)
    pr, created = await _open_pull(
        gh, repo, branch, base_branch, revert_title(culprit.subject), job.body()
    )
    return await _finish(gh, job, pr, created=created)


async def _create_ref(gh: GitHubClient, repo: str, branch: str, sha: str) -> bool:
    """True when we created the branch; False when it already existed (the lock is taken)."""
    try:
        await gh.post(f"/repos/{repo}/git/refs", data={"ref": f"refs/heads/{branch}", "sha": sha})
        return True
    except BadRequest as exc:
        if exc.status_code == 422 and "already exists" in str(exc).lower():
            return False
        raise


def _html_base(commit_html_url: str, repo: str) -> str:
    """https://github.com/owner/name from a commit's html_url (works for GHES too)."""
    marker = f"/{repo}/"
    if marker in commit_html_url:
        return commit_html_url.split(marker)[0] + f"/{repo}"
    return f"https://github.com/{repo}"


def range_branch(newest_sha: str, count: int) -> str:
    """A range revert's branch: a function of its commits, so creating it is the lock too."""
    return f"{revert_branch(newest_sha)}-and-{count - 1}-before"


async def open_range_revert_pr(
    gh: GitHubClient,
    repo: str,
    suspects: Sequence[str],
    *,
    base_branch: str,
    config: RepoConfig,
    incident_number: int | None,
    why_markdown: str,
    app_login: str,
    incident_url: str | None = None,
    recorded: bool = False,
) -> RevertPR | RevertConflict | RevertEmpty:
    """One PR reverting every suspect (oldest first in `suspects`), newest first, as
    `git revert newest ... oldest` would: each revert is computed on top of the last.

    The branch starts at the base head and moves one revert at a time; if any revert
    conflicts, the branch is deleted and the conflict returned, so either the whole
    range is reverted or nothing is. The newest suspect stands for the range (review,
    notice, marker); the body lists them all.
    """
    newest = await read_culprit(gh, repo, suspects[-1])
    branch = range_branch(newest.sha, len(suspects))
    if incident_url is None and incident_number is not None:
        incident_url = f"{_html_base(newest.html_url, repo)}/issues/{incident_number}"
    listing = "\n".join(f"- {sha}" for sha in reversed(suspects))
    existing, culprit_pr, setup = await asyncio.gather(
        find_revert_pr(gh, repo, branch),
        culprit_pr_number(gh, repo, newest.sha, base_branch),
        merge_setup(gh, repo, base_branch, config),
    )
    job = _Revert(
        repo=repo,
        culprit=newest,
        culprit_pr=culprit_pr,
        config=config,
        incident_number=incident_number,
        why_markdown=f"{why_markdown}\n\nReverts these {len(suspects)} commits, newest first:\n"
        f"{listing}",
        app_login=app_login,
        setup=setup,
        recorded=recorded,
    )
    if existing is not None:
        return await _finish(gh, job, existing, created=False)
    head = await gh.getitem(f"/repos/{repo}/git/ref/heads/{quote(base_branch)}")
    if not await _create_ref(gh, repo, branch, head["object"]["sha"]):
        existing = await find_revert_pr(gh, repo, branch)
        if existing is None:  # another worker is still building it
            return RevertEmpty(newest, base_branch, head["object"]["sha"], "already being reverted")
        return await _finish(gh, job, existing, created=False)
    made = 0
    followed: list[Followed] = []
    for sha in reversed(suspects):
        built = await build_revert_commit(gh, repo, sha, branch=branch, incident_url=incident_url)
        if isinstance(built, RevertConflict):
            await gh.delete(f"/repos/{repo}/git/refs/heads/{quote(branch)}")
            return built
        if isinstance(built, RevertCommit):
            await gh.patch(f"/repos/{repo}/git/refs/heads/{quote(branch)}", data={"sha": built.sha})
            followed += [f for f in built.followed if f not in followed]
            made += 1
    if made == 0:
        await gh.delete(f"/repos/{repo}/git/refs/heads/{quote(branch)}")
        return RevertEmpty(newest, base_branch, head["object"]["sha"], "nothing left to revert")
    title = f"{revert_title(newest.subject)} and {len(suspects) - 1} commit(s) before it"
    job = replace(job, followed=tuple(followed))
    pr, created = await _open_pull(gh, repo, branch, base_branch, title, job.body())
    return await _finish(gh, job, pr, created=created)
