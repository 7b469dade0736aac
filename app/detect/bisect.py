"""Bisection's shell: asks CI about suspects and reads its answers; app.core.bisect plans.

Two ways to ask about a commit. Re-run mode re-runs its cancelled or skipped Actions run
(`POST /actions/runs/{id}/rerun`); the re-run keeps the run's ref, so it shares the default
branch's concurrency group and rounds go one at a time. Probe mode pushes
`buildsheriff/probe/<sha>` and reads only the check suites of that push (head_branch is the
probe ref), never everything on the sha, then deletes the ref.

Every round is written into the incident's marker before CI is asked, so a process that
stops anywhere is continued by whoever looks next: a re-run whose attempt never started is
asked again, a probe ref that was never pushed is pushed, and an answered round is not.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from gidgethub import BadRequest

from app.core import bisect as plan
from app.core.bisect import Answer, Bisection, Mode, Probe
from app.core.builds import RED_CONCLUSIONS, CheckResult, Verdict, from_check_run, judge_commit
from app.core.config import RepoConfig
from app.core.culprit import culprit_from_commit
from app.core.incident import OPEN_STATES, BisectProgress, Incident
from app.core.safety import Refusal, RevertFacts, revert_refusal
from app.detect.facts import already_reverted, reverts_today
from app.github.client import GitHubClient
from app.incident.runner import IncidentRunner
from app.services import EventContext

# Runs that never judged the code: the only ones worth re-running.
UNJUDGED = frozenset({"cancelled", "skipped", "stale"})
RUN_PAGES = 3  # recent runs of the branch read to find the suspects' runs (100 a page)
MAX_STEPS = 4  # steps one call takes when CI answers at once (a refused re-run)


async def plan_bisection(
    ctx: EventContext, config: RepoConfig, branch: str, suspects: tuple[str, ...]
) -> Bisection | None:
    """A bisection for these suspects, or None when the config turns it off or CI cannot be
    asked (re-run mode without an Actions run to re-run)."""
    if config.bisect == "false" or len(suspects) < 2:
        return None
    mode = Mode(config.bisect)
    runs: tuple[tuple[str, int], ...] = ()
    if mode is Mode.RERUN:
        runs = await rerunnable_runs(ctx.gh, ctx.repo, branch, suspects)
    return plan.start(
        suspects,
        mode,
        runs=runs,
        parallel=config.bisect_parallel,
        max_rounds=config.bisect_max_rounds,
    )


async def rerunnable_runs(
    gh: GitHubClient, repo: str, branch: str, suspects: tuple[str, ...]
) -> tuple[tuple[str, int], ...]:
    """(sha, run id) of each suspect's cancelled or skipped run of the workflow that failed
    on the first red commit: asking it again is what re-run mode does."""
    wanted = set(suspects)
    by_sha: dict[str, list[dict[str, Any]]] = {}
    url = f"/repos/{repo}/actions/runs?branch={quote(branch, safe='')}&event=push&per_page=100"
    seen = 0
    async for run in gh.getiter(url, iterable_key="workflow_runs"):
        seen += 1
        if run["head_sha"] in wanted:
            by_sha.setdefault(run["head_sha"], []).append(run)
        if seen >= RUN_PAGES * 100 or wanted <= set(by_sha):
            break
    failed = {
        r["workflow_id"]
        for r in by_sha.get(suspects[-1], [])
        if r.get("status") == "completed" and r.get("conclusion") in RED_CONCLUSIONS
    }
    found: list[tuple[str, int]] = []
    for sha in suspects[:-1]:
        candidates = [
            r
            for r in by_sha.get(sha, [])
            if r["workflow_id"] in failed
            and r.get("status") == "completed"
            and r.get("conclusion") in UNJUDGED
        ]
        if candidates:
            found.append((sha, max(candidates, key=lambda r: int(r["id"]))["id"]))
    return tuple(found)


# ------------------------------------------------------------------ the loop


async def advance_bisection(
    ctx: EventContext, runner: IncidentRunner, incident: Incident
) -> Incident:
    """Read CI's answers, then ask the next question or finish. Idempotent: call it on any
    event about the repository; with nothing new it costs only the reads of the round."""
    for _ in range(MAX_STEPS):
        bisection = incident.bisection
        if bisection is None or not bisection.running or incident.state not in OPEN_STATES:
            return incident
        now = ctx.services.clock.now()
        current = bisection.current
        if current is not None and not current.answered:
            bisection = await _read_answers(ctx, runner.config, bisection)
        step = plan.next_step(bisection, now)
        if isinstance(step, plan.Wait):
            if bisection != incident.bisection:
                incident = await runner.handle(incident, BisectProgress(bisection)) or incident
            return incident
        if isinstance(step, plan.Done):
            return await _finish(ctx, runner, incident, bisection, step)
        probes = [await _prepare(ctx, bisection, sha) for sha in step.shas]
        bisection = plan.begin_round(bisection, probes, now)
        # Written down before CI is asked: a restart continues this round, never repeats it.
        incident = await runner.handle(incident, BisectProgress(bisection)) or incident
        asked = await _ask(ctx, bisection)
        ctx.log.info(
            "bisection round started",
            extra={"round": len(bisection.rounds), "asked": list(step.shas)},
        )
        if asked == bisection:
            return incident  # CI answers later, by webhook (or the reconciler looks)
        incident = await runner.handle(incident, BisectProgress(asked)) or incident
    return incident


async def _finish(
    ctx: EventContext,
    runner: IncidentRunner,
    incident: Incident,
    bisection: Bisection,
    done: plan.Done,
) -> Incident:
    bisection = plan.finish(bisection, done)
    refusal = None
    if done.outcome is plan.Outcome.FOUND and done.culprit:
        refusal = await culprit_refusal(ctx, runner.config, done.culprit, incident.opened_at)
    if bisection.mode is Mode.PROBE and bisection.current is not None:
        for probe in bisection.current.probes:
            if probe.answer is None:  # stopped without its answer: nobody reads it now
                await delete_probe_ref(ctx.gh, ctx.repo, probe.sha)
    ctx.log.info(
        "bisection finished",
        extra={
            "outcome": done.outcome.value,
            "culprit": done.culprit,
            "rounds": len(bisection.rounds),
        },
    )
    return await runner.handle(incident, BisectProgress(bisection, refusal)) or incident


async def culprit_refusal(
    ctx: EventContext, config: RepoConfig, sha: str, detected_at: float
) -> Refusal | None:
    """The rails for the one culprit a bisection found; its age counts at detection, not
    after the rounds of CI it took to find it."""
    commit = await ctx.gh.getitem(f"/repos/{ctx.repo}/commits/{sha}")
    culprit = culprit_from_commit(commit, f"{ctx.services.settings.app_slug}[bot]")
    today = await reverts_today(ctx.gh, ctx.repo, ctx.services.clock.now())
    reverted = await already_reverted(ctx.gh, ctx.repo, sha, [])
    facts = RevertFacts(
        suspects=(culprit.sha,),
        commits=(culprit,),
        reverted=frozenset({culprit.sha} if reverted else ()),
        reverts_today=today,
    )
    return revert_refusal(facts, config, detected_at)


# ------------------------------------------------------------------ asking


async def _prepare(ctx: EventContext, bisection: Bisection, sha: str) -> Probe:
    """The question before it is asked: for a re-run, the attempt it will follow."""
    if bisection.mode is Mode.PROBE:
        return Probe(sha)
    run_id = bisection.run_of(sha)
    assert run_id is not None  # the planner only asks about commits with a run
    run = await ctx.gh.getitem(f"/repos/{ctx.repo}/actions/runs/{run_id}")
    attempt = int(run.get("run_attempt") or 1)
    since = run.get("run_started_at")
    if run.get("status") != "completed":
        attempt, since = attempt - 1, None  # someone re-runs it already: that answers us too
    return Probe(sha, run_id=run_id, attempt=attempt, since=since, link=run.get("html_url"))


async def _ask(ctx: EventContext, bisection: Bisection) -> Bisection:
    current = bisection.current
    assert current is not None
    for probe in current.probes:
        if probe.answer is not None:
            continue
        if bisection.mode is Mode.PROBE:
            await create_probe_ref(ctx.gh, ctx.repo, probe.sha)
            continue
        answer = await _rerun(ctx, probe)
        if answer is not None:
            bisection = plan.record_answer(bisection, probe.sha, answer)
    return bisection


async def _rerun(ctx: EventContext, probe: Probe) -> Answer | None:
    """POST the re-run; None when it started (or runs already), else why CI cannot answer."""
    try:
        await ctx.gh.post(f"/repos/{ctx.repo}/actions/runs/{probe.run_id}/rerun", data=b"")
    except BadRequest as exc:
        if exc.status_code == 403 and "already running" in str(exc).lower():
            return None  # someone else re-runs it: that attempt answers us too
        if exc.status_code in (403, 404, 422):
            ctx.log.warning(
                "bisection: CI refused the re-run",
                extra={"sha": probe.sha, "run": probe.run_id, "status": exc.status_code},
            )
            return Answer.UNAVAILABLE
        raise
    return None


async def create_probe_ref(gh: GitHubClient, repo: str, sha: str) -> None:
    try:
        await gh.post(
            f"/repos/{repo}/git/refs",
            data={"ref": f"refs/heads/{plan.probe_branch(sha)}", "sha": sha},
        )
    except BadRequest as exc:
        if not (exc.status_code == 422 and "already exists" in str(exc).lower()):
            raise


async def delete_probe_ref(gh: GitHubClient, repo: str, sha: str) -> None:
    try:
        await gh.delete(f"/repos/{repo}/git/refs/heads/{quote(plan.probe_branch(sha))}")
    except BadRequest as exc:
        if exc.status_code not in (404, 422):  # already gone
            raise


# ------------------------------------------------------------------ answers


async def _read_answers(ctx: EventContext, config: RepoConfig, bisection: Bisection) -> Bisection:
    current = bisection.current
    assert current is not None
    for probe in current.probes:
        if probe.answer is not None:
            continue
        if bisection.mode is Mode.RERUN:
            found = await _rerun_answer(ctx, config, probe)
        else:
            found = await _probe_answer(ctx, config, probe)
        if found is not None:
            answer, link = found
            bisection = plan.record_answer(bisection, probe.sha, answer, link)
    return bisection


def _answer_of(results: list[CheckResult], config: RepoConfig) -> Answer:
    verdict = judge_commit(results, counts=config.counts).verdict
    if verdict is Verdict.RED:
        return Answer.RED
    if verdict is Verdict.GREEN:
        return Answer.GREEN
    return Answer.CANCELLED  # cancelled or skipped: nothing was said about the code


async def _rerun_answer(
    ctx: EventContext, config: RepoConfig, probe: Probe
) -> tuple[Answer, str | None] | None:
    run = await ctx.gh.getitem(f"/repos/{ctx.repo}/actions/runs/{probe.run_id}")
    if run.get("status") != "completed":
        return None
    started_again = probe.since is not None and run.get("run_started_at") != probe.since
    if int(run.get("run_attempt") or 1) <= probe.attempt and not started_again:
        # Our re-run was written down but never started (the process stopped in between).
        # (A new attempt shows by its number or, should GitHub not count it, by its start.)
        refused = await _rerun(ctx, probe)
        return (refused, run.get("html_url")) if refused is not None else None
    jobs = await ctx.gh.getitem(f"/repos/{ctx.repo}/actions/runs/{probe.run_id}/jobs?per_page=100")
    results = [from_check_run(job) for job in jobs.get("jobs") or []]  # a job is a check run
    return _answer_of(results, config), run.get("html_url")


async def _probe_answer(
    ctx: EventContext, config: RepoConfig, probe: Probe
) -> tuple[Answer, str | None] | None:
    """The answer of the probe ref's own check suites, once they all completed."""
    branch = plan.probe_branch(probe.sha)
    listed = await ctx.gh.getitem(
        f"/repos/{ctx.repo}/commits/{probe.sha}/check-suites?per_page=100"
    )
    suites = [
        s for s in listed.get("check_suites") or [] if s.get("head_branch") == branch and _fills(s)
    ]
    if not suites:
        await _ensure_probe_ref(ctx, probe.sha)
        return None
    if any(s.get("status") != "completed" for s in suites):
        return None
    results: list[CheckResult] = []
    for suite in suites:
        async for run in ctx.gh.getiter(
            f"/repos/{ctx.repo}/check-suites/{suite['id']}/check-runs?per_page=100",
            iterable_key="check_runs",
        ):
            results.append(from_check_run(run))
    answer = _answer_of(results, config)
    red = next((r.url for r in results if r.is_red and r.url), None)
    await delete_probe_ref(ctx.gh, ctx.repo, probe.sha)
    return answer, red or next((r.url for r in results if r.url), None)


def _fills(suite: dict[str, Any]) -> bool:
    """GitHub makes an empty suite for every app with checks permission on a push; only
    Actions fills its suites later. An empty suite of another app will say nothing."""
    slug = (suite.get("app") or {}).get("slug")
    return bool(suite.get("latest_check_runs_count")) or slug == "github-actions"


async def _ensure_probe_ref(ctx: EventContext, sha: str) -> None:
    """No suite yet: the ref may never have been pushed (a stop right after the round was
    written down). Pushing it again is harmless: an existing ref answers 422."""
    try:
        await ctx.gh.getitem(
            f"/repos/{ctx.repo}/git/ref/heads/{quote(plan.probe_branch(sha), safe='/')}"
        )
    except BadRequest as exc:
        if exc.status_code != 404:
            raise
        await create_probe_ref(ctx.gh, ctx.repo, sha)


# ------------------------------------------------------------------ cleaning up


async def clean_probe_refs(ctx: EventContext, incidents: list[Incident]) -> int:
    """Delete probe refs no running bisection waits on (a crash can leave them behind)."""
    waiting = {
        p.sha
        for incident in incidents
        if incident.state in OPEN_STATES and incident.bisection and incident.bisection.running
        for round_ in incident.bisection.rounds[-1:]
        for p in round_.probes
        if p.answer is None
    }
    refs = await ctx.gh.getitem(
        f"/repos/{ctx.repo}/git/matching-refs/heads/{quote(plan.PROBE_PREFIX, safe='/')}"
    )
    deleted = 0
    for ref in refs or []:
        sha = str(ref["ref"]).removeprefix(f"refs/heads/{plan.PROBE_PREFIX}")
        if sha in waiting:
            continue
        await delete_probe_ref(ctx.gh, ctx.repo, sha)
        deleted += 1
    if deleted:
        ctx.log.info("left-over probe refs deleted", extra={"count": deleted})
    return deleted
