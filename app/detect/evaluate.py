"""Judge the head of the default branch against GitHub: app.detect.judge's two seams,
implemented over the REST API, the incident runner and the process's memory.

Every way CI reports ends here, and so does the reconciler's look at each repository.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from app.core.bisect import Bisection
from app.core.builds import RED_CONCLUSIONS, CheckResult, JudgedCommit
from app.core.config import RepoConfig
from app.core.incident import OPEN_STATES, Event, Incident, Owner
from app.detect.bisect import advance_bisection, plan_bisection
from app.detect.facts import (
    BranchInfo,
    Suspect,
    already_reverted,
    branch_info,
    commit_results,
    read_suspects,
    resolution_owners,
    reverts_today,
    walk_history,
)
from app.detect.flaky import record_flakes
from app.detect.judge import judge_head
from app.github.config_check import publish_config_check
from app.incident.runner import IncidentRunner, active_repos
from app.incident.store import IncidentStore
from app.services import EventContext, load_config


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
    """Judge the head of `branch` and move incidents accordingly."""
    config = await load_config(ctx, branch)
    github = GitHubHead(ctx, config, IncidentRunner(ctx, config), ref=branch)
    await judge_head(github, github, branch, config, ctx.log)


class GitHubHead:
    """HeadReads and HeadWrites (app.detect.judge) for one repository and one look at it."""

    def __init__(
        self, ctx: EventContext, config: RepoConfig, runner: IncidentRunner, *, ref: str = ""
    ) -> None:
        self.ctx = ctx
        self.config = config
        self.ref = ref  # where `config` was read: the default branch
        self.runner = runner
        self.app_login = f"{ctx.services.settings.app_slug}[bot]"
        self._listed: list[dict[str, Any]] = []  # the walked history, for already_reverted

    # ---- reads

    def now(self) -> float:
        return self.ctx.services.clock.now()

    async def branch(self, name: str) -> BranchInfo:
        return await branch_info(self.ctx.gh, self.ctx.repo, name)

    async def checks(self, sha: str) -> list[CheckResult]:
        return await commit_results(self.ctx.gh, self.ctx.repo, sha)

    async def history(self, branch: str, required: tuple[str, ...]) -> list[JudgedCommit]:
        judged, self._listed = await walk_history(
            self.ctx.gh, self.ctx.repo, branch, self.config, required
        )
        return judged

    async def open_incidents(self) -> list[Incident]:
        return await self.runner.store.open_incidents()

    async def suspects(self, shas: tuple[str, ...]) -> list[Suspect]:
        return await read_suspects(self.ctx.gh, self.ctx.repo, shas, self.app_login)

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
        return await reverts_today(self.ctx.gh, self.ctx.repo, self.now())

    async def bisection(self, branch: str, suspects: tuple[str, ...]) -> Bisection | None:
        return await plan_bisection(self.ctx, self.config, branch, suspects)

    def known_active(self) -> bool:
        return self.ctx.repo in active_repos(self.ctx.services)

    # ---- writes

    async def handle(self, incident: Incident | None, event: Event) -> Incident | None:
        return await self.runner.handle(incident, event)

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
