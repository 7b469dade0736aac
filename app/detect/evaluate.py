"""Judge the head of the default branch and move incidents accordingly.

Reads the facts (app.detect.facts), asks the core for the verdict and the rails, and
hands the result to the incident runner. Every way CI reports ends here, and so does
the reconciler's look at each repository.
"""

from __future__ import annotations

from typing import Any

from app.core.builds import RED_CONCLUSIONS, Analysis, Verdict, analyse_history, judge_commit
from app.core.config import RepoConfig
from app.core.culprit import culprit_from_commit
from app.core.incident import OPEN_STATES, HeadGreen, HeadRed, pick_incident
from app.core.safety import RevertFacts, commits_to_vet, revert_refusal
from app.detect.bisect import advance_bisection, plan_bisection
from app.detect.facts import (
    already_reverted,
    branch_info,
    commit_results,
    resolution_owners,
    reverts_today,
    summary_of,
    suspect_details,
    walk_history,
)
from app.detect.flaky import record_flakes
from app.incident.runner import IncidentRunner, active_repos
from app.incident.store import IncidentStore
from app.services import EventContext, load_config


def awaiting_rerun(ctx: EventContext) -> bool:
    """A `confirm: rerun` re-run is pending in this repository: its green result matters."""
    return any(repo == ctx.repo for repo, _sha in ctx.services.reruns)


async def report_config_errors(ctx: EventContext, sha: str) -> None:
    """A bad config never stops the flow; it shows as a failing `buildsheriff/config` status."""
    errors = ctx.services.config_errors.get(ctx.repo)
    reported = ctx.services.config_reported
    if not errors or (ctx.repo, sha) in reported:
        return
    reported.add((ctx.repo, sha))
    text = "; ".join(errors)
    await ctx.gh.post(
        f"/repos/{ctx.repo}/statuses/{sha}",
        data={
            "state": "failure",
            "context": "buildsheriff/config",
            "description": text[:140],
        },
    )


async def evaluate_head(ctx: EventContext, branch: str) -> None:
    """Judge the head of `branch` and move incidents accordingly."""
    config = await load_config(ctx, branch)
    info = await branch_info(ctx.gh, ctx.repo, branch)
    results = await commit_results(ctx.gh, ctx.repo, info.head)
    judgement = judge_commit(results, counts=config.counts, required=info.required)
    ctx.log.info(
        "default branch head judged",
        extra={"sha": info.head, "verdict": judgement.verdict.value, "branch": branch},
    )
    store = IncidentStore(ctx.gh, ctx.repo, config)
    runner = IncidentRunner(ctx, config, store)
    if judgement.verdict is Verdict.GREEN:
        await _on_green(ctx, runner, info.head)
        return
    if judgement.verdict is not Verdict.RED:
        return
    await report_config_errors(ctx, info.head)
    open_incidents = await store.open_incidents()
    for incident in open_incidents:
        runner.remember_slack(incident)
    active = [i for i in open_incidents if i.state in OPEN_STATES]
    if active:
        current = max(active, key=lambda i: i.opened_at)
        news = HeadRed(info.head, branch, judgement.failing, _trivial(info.head))
        current = await runner.handle(current, news) or current
        await advance_bisection(ctx, runner, current)
        return
    history, listed = await walk_history(ctx.gh, ctx.repo, branch, config, info.required)
    analysis = analyse_history(history)
    if analysis.red_streak < config.consecutive:
        ctx.log.info(
            "red, but not yet confirmed",
            extra={"red_streak": analysis.red_streak, "needed": config.consecutive},
        )
        return
    if config.confirm == "rerun" and await _rerun_first(ctx, info.head):
        return
    await _open_incident(
        ctx, runner, open_incidents, branch, info.head, judgement.failing, analysis, listed, config
    )


def _trivial(head: str) -> Analysis:
    """An active incident needs no history walk: the head alone is the news."""
    return Analysis(head, head, None, (), 1, False)


async def _on_green(ctx: EventContext, runner: IncidentRunner, head: str) -> None:
    reruns = ctx.services.reruns
    if (ctx.repo, head) in reruns:
        reruns.discard((ctx.repo, head))
        ctx.services.metrics.count("flakes")
        ctx.log.info("flake: the re-run passed; no incident", extra={"sha": head})
    await record_flakes(ctx, runner.config, head)
    if ctx.repo not in active_repos(ctx.services):
        return
    for incident in await runner.store.open_incidents():
        runner.remember_slack(incident)
        if incident.state in OPEN_STATES:
            await runner.handle(incident, HeadGreen(head))  # every active one is mitigated
    active_repos(ctx.services).pop(ctx.repo, None)


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


async def _revert_facts(
    ctx: EventContext,
    analysis: Analysis,
    details: list[tuple[dict[str, Any], list[dict[str, Any]]]],
    listed: list[dict[str, Any]],
    config: RepoConfig,
    app_login: str,
) -> RevertFacts:
    """What the rails (app.core.safety) need to know about a new incident's suspects."""
    commits = tuple(culprit_from_commit(commit, app_login) for commit, _pulls in details)
    vet = commits_to_vet(analysis.suspects, len(commits), config)
    reverted = frozenset(
        [sha for sha in vet if await already_reverted(ctx.gh, ctx.repo, sha, listed)]
    )
    return RevertFacts(
        suspects=analysis.suspects,
        commits=commits,
        reverted=reverted,
        reverts_today=await reverts_today(ctx.gh, ctx.repo, ctx.services.clock.now()),
    )


async def _open_incident(
    ctx: EventContext,
    runner: IncidentRunner,
    open_incidents: list[Any],
    branch: str,
    head: str,
    failing: Any,
    analysis: Any,
    listed: list[dict[str, Any]],
    config: RepoConfig,
) -> None:
    app_login = f"{ctx.services.settings.app_slug}[bot]"
    details = await suspect_details(ctx.gh, ctx.repo, analysis.suspects)
    first_red_commit = next((c for c, _ in details if c["sha"] == analysis.first_red), None)
    head_is_app_revert = bool(
        first_red_commit and culprit_from_commit(first_red_commit, app_login).is_app_commit
    )
    incident = pick_incident(
        open_incidents, head_is_app_revert=head_is_app_revert, first_red=analysis.first_red
    )
    oncall = None
    pager = ctx.services.pager
    if pager is not None and config.oncall.schedule_id:
        person = await pager.who_is_on_call(config.oncall.schedule_id)
        oncall = person.name if person else None
    owners = await resolution_owners(ctx.gh, ctx.repo, branch, details, oncall)
    refusal = bisection = None
    if incident is None:
        # Several suspects: CI is asked which one broke it; `revert_range` and the
        # several-suspects rail apply only when it cannot be (or is turned off).
        bisection = await plan_bisection(ctx, config, branch, analysis.suspects)
    if incident is None and bisection is None:
        facts = await _revert_facts(ctx, analysis, details, listed, config, app_login)
        refusal = revert_refusal(facts, config, ctx.services.clock.now())
    event = HeadRed(
        sha=head,
        branch=branch,
        failing=failing,
        analysis=analysis,
        refusal=refusal,
        head_is_app_revert=head_is_app_revert,
        commits=tuple(summary_of(c, pulls) for c, pulls in details),
        owners=owners,
        bisection=bisection,
    )
    opened = await runner.handle(incident, event)
    if opened is not None:
        await advance_bisection(ctx, runner, opened)


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
