"""Judge the head of the default branch against GitHub: app.detect.judge's two seams,
implemented over the REST API, the incident runner and the process's memory.

Every way CI reports ends here, and so does the reconciler's look at each repository.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Sequence
from dataclasses import replace
from typing import Any

from app.core.bisect import Bisection
from app.core.builds import RED_CONCLUSIONS, CheckResult, JudgedCommit
from app.core.config import RepoConfig
from app.core.incident import OPEN_STATES, Event, HeadRed, Incident, Owner
from app.core.revert_messages import revert_branch
from app.core.safety import commits_to_vet
from app.detect.bisect import advance_bisection, plan_bisection
from app.detect.facts import (
    RECENT_PULLS,
    SUSPECTS_READ,
    BranchInfo,
    Suspect,
    already_reverted,
    branch_info,
    codeowners_text,
    commit_results,
    read_suspects,
    recent_pulls_url,
    resolution_owners,
    reverts_today,
    walk_history,
)
from app.detect.flaky import record_flakes
from app.detect.judge import judge_head
from app.github.config_check import publish_config_check
from app.github.memo import MemoClient, memoized
from app.incident.runner import IncidentRunner, active_repos
from app.incident.store import IncidentStore
from app.revert.pr import revert_pr_url
from app.services import EventContext, Services, load_config


def already_judged(services: Services, repo: str, sha: str) -> bool:
    """`sha` is the head this process last judged red in `repo`, with an open incident
    covering it, and no incident there changed state since."""
    return bool(sha) and services.judged_heads.get(repo.lower()) == sha


def forget_judged(services: Services, repo: str) -> None:
    services.judged_heads.pop(repo.lower(), None)


def awaiting_rerun(ctx: EventContext) -> bool:
    """A `confirm: rerun` re-run is pending in this repository: its green result matters."""
    return any(repo == ctx.repo for repo, _sha in ctx.services.reruns)


async def report_config_errors(ctx: EventContext, ref: str, sha: str) -> None:
    """A bad config never stops the flow; on a red head it shows as a failing
    `buildsheriff/config` check run (once per commit), as on a push that touched it."""
    loader = ctx.services.config_loader
    reported = ctx.services.config_reported
    if loader is None or (ctx.repo, sha) in reported:
        return
    loaded = await loader.load(ctx.gh, ctx.repo, ref)  # cached: judging the head read it
    if not loaded.errors:
        return
    reported.add((ctx.repo, sha))
    await publish_config_check(
        ctx.gh, ctx.repo, sha, loaded, app_id=ctx.services.settings.app_id
    )


async def evaluate_head(ctx: EventContext, branch: str) -> None:
    """Judge the head of `branch` and move incidents accordingly.

    One evaluation reads each fact once (app.github.memo) and reads what it will need
    together: the branch, its rules and its first commits while the config loads; the
    head's and its parent's checks with the open incidents; the suspects with their code
    owners and the rails' questions (see the README's performance section)."""
    ctx = replace(ctx, gh=memoized(ctx.gh))
    early = [asyncio.ensure_future(branch_info(ctx.gh, ctx.repo, branch))]
    try:
        config = await load_config(ctx, branch)
        github = GitHubHead(ctx, config, IncidentRunner(ctx, config), ref=branch)
        try:
            await judge_head(github, github, branch, config, ctx.log)
        finally:
            await github.settle()
    finally:
        await _settle(early)


async def _settle(tasks: Sequence[asyncio.Future[Any]]) -> None:
    """Reads started ahead that nobody awaited: stop them, and drop their errors (whoever
    needed one got it)."""
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


class GitHubHead:
    """HeadReads and HeadWrites (app.detect.judge) for one repository and one look at it.

    Some reads start ahead of the flow's asking (`_ahead`), so that the questions the next
    step will ask travel together with this step's; the memo (app.github.memo) answers the
    flow's own ask from them."""

    def __init__(
        self, ctx: EventContext, config: RepoConfig, runner: IncidentRunner, *, ref: str = ""
    ) -> None:
        self.ctx = ctx
        self.config = config
        self.ref = ref  # where `config` was read: the default branch
        self.runner = runner
        self.app_login = f"{ctx.services.settings.app_slug}[bot]"
        self._listed: list[dict[str, Any]] = []  # the walked history, for already_reverted
        self._started: list[asyncio.Future[Any]] = []
        self._head: dict[str, Any] | None = None  # the head commit, as the branch read gave it
        self._suspects: tuple[str, ...] = ()

    def _ahead(self, read: Coroutine[Any, Any, Any]) -> None:
        self._started.append(asyncio.ensure_future(read))

    async def settle(self) -> None:
        await _settle(self._started)

    # ---- reads

    def now(self) -> float:
        return self.ctx.services.clock.now()

    async def branch(self, name: str) -> BranchInfo:
        gh, repo = self.ctx.gh, self.ctx.repo
        info = await branch_info(gh, repo, name)
        self._head = info.commit
        shas = [info.head]
        if not self.known_active() and info.commit is not None:
            # No incident known here: a red head will walk its history; its parent's checks
            # (the walk's first batch) are read now. With one, the head alone is the news.
            shas += [str(p["sha"]) for p in info.commit.get("parents") or ()][:1]
        # What a red head asks next, asked now: its checks, and the open incidents.
        for sha in shas:
            self._ahead(commit_results(gh, repo, sha))
        self._ahead(self.runner.store.open_incidents())
        return info

    async def checks(self, sha: str) -> list[CheckResult]:
        return await commit_results(self.ctx.gh, self.ctx.repo, sha)

    async def history(self, branch: str, required: tuple[str, ...]) -> list[JudgedCommit]:
        head = self._head if self._head is not None and branch == self.ref else None
        judged, self._listed = await walk_history(
            self.ctx.gh, self.ctx.repo, branch, self.config, required, head
        )
        return judged

    async def open_incidents(self) -> list[Incident]:
        return await self.runner.store.open_incidents()

    async def suspects(self, shas: tuple[str, ...]) -> list[Suspect]:
        gh, repo = self.ctx.gh, self.ctx.repo
        self._suspects = shas
        # With the suspects, what a new incident asks next: the code owners, and the rails'
        # questions (reverted already? how many reverts today?).
        self._ahead(codeowners_text(gh, repo, self.ref))
        self._ahead(self.reverts_today())
        for sha in commits_to_vet(shas, min(len(shas), SUSPECTS_READ), self.config):
            self._ahead(self.already_reverted(sha))
        return await read_suspects(gh, repo, shas, self.app_login)

    async def owners(self, branch: str, suspects: Sequence[Suspect]) -> tuple[Owner, ...]:
        oncall = None
        pager = self.ctx.services.pager
        if pager is not None and self.config.oncall.schedule_id:
            person = await pager.who_is_on_call(self.config.oncall.schedule_id)
            oncall = person.name if person else None
        return await resolution_owners(self.ctx.gh, self.ctx.repo, branch, list(suspects), oncall)

    async def already_reverted(self, sha: str) -> bool:
        return await already_reverted(self.ctx.gh, self.ctx.repo, sha, self._listed)

    async def reverts_today(self) -> int:
        gh, repo = self.ctx.gh, self.ctx.repo
        pulls = await gh.getitem(recent_pulls_url(repo))  # what reverts_today reads
        if isinstance(gh, MemoClient) and isinstance(pulls, list) and len(pulls) < RECENT_PULLS:
            # That is every pull request of the repository: the revert's look for its
            # branch's PR is answered from it.
            owner = repo.split("/")[0]
            for sha in self._suspects:
                label = f"{owner}:{revert_branch(sha)}"
                found = [p for p in pulls if (p.get("head") or {}).get("label") == label]
                gh.seed_get(revert_pr_url(repo, revert_branch(sha)), found)
        return await reverts_today(gh, repo, self.now())

    async def bisection(self, branch: str, suspects: tuple[str, ...]) -> Bisection | None:
        return await plan_bisection(self.ctx, self.config, branch, suspects)

    def known_active(self) -> bool:
        return self.ctx.repo in active_repos(self.ctx.services)

    # ---- writes

    async def handle(self, incident: Incident | None, event: Event) -> Incident | None:
        after = await self.runner.handle(incident, event)
        if (
            isinstance(event, HeadRed)
            and after is not None
            and after.state in OPEN_STATES
            and after.head == event.sha
            and not (after.bisection is not None and after.bisection.running)
        ):
            # Red, and this incident covers it: the same question again needs no look.
            self.ctx.services.judged_heads[self.ctx.repo.lower()] = event.sha
        return after

    def remember(self, incident: Incident) -> None:
        self.runner.remember_slack(incident)

    async def report_config_errors(self, sha: str) -> None:
        await report_config_errors(self.ctx, self.ref, sha)

    async def rerun_first(self, head: str) -> bool:
        return await _rerun_first(self.ctx, head)

    async def green(self, head: str) -> None:
        ctx = self.ctx
        if (ctx.repo, head) in ctx.services.reruns:
            ctx.services.reruns.discard((ctx.repo, head))
            ctx.services.metrics.flakes.inc()
            ctx.log.info("flake: the re-run passed; no incident", extra={"sha": head})
        await record_flakes(ctx, self.config, head)

    async def advance_bisection(self, incident: Incident) -> None:
        await advance_bisection(self.ctx, self.runner, incident)

    async def resume(self, incident: Incident) -> Incident:
        return await self.runner.resume(incident)

    def quiet(self) -> None:
        active_repos(self.ctx.services).pop(self.ctx.repo, None)


async def _rerun_first(ctx: EventContext, head: str) -> bool:
    """confirm: rerun — re-run failed Actions jobs once before declaring.

    True when a re-run started (the incident waits for its result)."""
    runs = await ctx.gh.getitem(f"/repos/{ctx.repo}/actions/runs?head_sha={head}")
    started = False
    for run in runs.get("workflow_runs", []):
        if run.get("conclusion") in RED_CONCLUSIONS and int(run.get("run_attempt", 1)) < 2:
            await ctx.gh.post(
                f"/repos/{ctx.repo}/actions/runs/{run['id']}/rerun-failed-jobs", data=b""
            )
            started = True
    if started:
        ctx.services.reruns.add((ctx.repo, head))
        ctx.log.info(
            "confirm: rerun — re-running failed jobs before declaring", extra={"sha": head}
        )
    return started


async def continue_bisection(ctx: EventContext, branch: str) -> None:
    """CI answered on a probe ref: the running bisection takes its next step."""
    config = await load_config(ctx, branch)
    store = IncidentStore(ctx.gh, ctx.repo, config)
    runner = IncidentRunner(ctx, config, store)
    for incident in await store.open_incidents():
        bisection = incident.bisection
        if incident.state in OPEN_STATES and bisection is not None and bisection.running:
            runner.remember_slack(incident)
            await advance_bisection(ctx, runner, incident)
