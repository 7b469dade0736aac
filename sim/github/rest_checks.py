"""REST: check runs and suites, commit statuses, Actions workflow runs, deployments."""

from __future__ import annotations

import asyncio
from typing import Any

from sim.github.repo import SimRepo
from sim.github.routes import ApiError, Ctx, Reply, not_found, route, validation_failed
from sim.github.shapes import iso
from sim.github.state import CheckRun, WorkflowRun, node_id

# --- check runs and suites -----------------------------------------------------------------------


def _int_param(ctx: Ctx, name: str) -> int:
    try:
        return int(ctx.params[name])
    except ValueError:
        raise not_found() from None


def _check_run(ctx: Ctx, repo: SimRepo, run: CheckRun) -> dict[str, Any]:
    """A check run as REST returns it: its suite is only `{"id"}` (webhooks carry the whole
    suite, with `head_branch`; REST callers must ask the suite for its branch)."""
    shaped = ctx.sim.shapes.check_run(repo, run)
    shaped["check_suite"] = {"id": run.suite_id}
    return shaped


def _app_slug(ctx: Ctx) -> str:
    if ctx.installation_id is None:
        raise ApiError(403, "You must authenticate via a GitHub App.")
    return ctx.sim.app_slug


@route("POST", "/repos/{owner}/{repo}/check-runs")
def create_check_run(ctx: Ctx) -> Reply:
    repo = ctx.repo
    slug = _app_slug(ctx)
    name, head_sha = ctx.field("name"), ctx.field("head_sha")
    if not name or not head_sha:
        raise validation_failed({"resource": "CheckRun", "code": "missing_field",
                                 "field": "name" if not name else "head_sha"})
    sha = repo.resolve(str(head_sha))
    if sha is None or sha != head_sha:
        raise ApiError(422, "No commit found for SHA: " + str(head_sha))
    run = repo.create_check_run(
        sha, str(name), ctx.login, app_slug=slug, status=ctx.field("status") or "queued",
        conclusion=ctx.field("conclusion"), output=ctx.field("output"),
        details_url=ctx.field("details_url"), external_id=ctx.field("external_id") or "",
    )
    return Reply(201, _check_run(ctx, repo, run))


@route("GET", "/repos/{owner}/{repo}/check-runs/{check_run_id}")
def get_check_run(ctx: Ctx) -> Reply:
    repo = ctx.repo
    run = repo.check_run_records.get(_int_param(ctx, "check_run_id"))
    if run is None:
        raise not_found()
    return Reply(200, _check_run(ctx, repo, run))


@route("PATCH", "/repos/{owner}/{repo}/check-runs/{check_run_id}")
def update_check_run(ctx: Ctx) -> Reply:
    repo = ctx.repo
    slug = _app_slug(ctx)
    run = repo.check_run_records.get(_int_param(ctx, "check_run_id"))
    if run is None:
        raise not_found()
    if run.app_slug != slug:
        raise ApiError(403, f"Invalid app_id `{ctx.sim.app_id}` - check run can only be "
                            "modified by the GitHub App that created it.")
    repo.update_check_run(run, ctx.login, status=ctx.field("status"),
                          conclusion=ctx.field("conclusion"), output=ctx.field("output"),
                          name=ctx.field("name"), details_url=ctx.field("details_url"))
    return Reply(200, _check_run(ctx, repo, run))


@route("GET", "/repos/{owner}/{repo}/check-runs/{check_run_id}/annotations")
def list_check_run_annotations(ctx: Ctx) -> Reply:
    repo = ctx.repo
    run = repo.check_run_records.get(_int_param(ctx, "check_run_id"))
    if run is None:
        raise not_found()
    notes = [ctx.sim.shapes.check_annotation(repo, run, n) for n in run.annotations]
    page, links = ctx.paginate(notes)
    return Reply(200, page, links)


@route("GET", "/repos/{owner}/{repo}/commits/{ref}/check-runs")
def list_check_runs_for_ref(ctx: Ctx) -> Reply:
    repo = ctx.repo
    sha = repo.require_commit(ctx.params["ref"])
    runs = [r for r in repo.check_run_records.values() if r.head_sha == sha]
    if ctx.arg("filter", "latest") != "all":
        latest_ids = {r.id for r in repo.latest_runs(sha)}
        runs = [r for r in runs if r.id in latest_ids]
    name = ctx.arg("check_name")
    if name:
        runs = [r for r in runs if r.name == name]
    status = ctx.arg("status")
    if status:
        runs = [r for r in runs if r.status == status]
    app_id = ctx.arg("app_id")
    if app_id:
        runs = [r for r in runs if str(ctx.sim.app_identity(r.app_slug)[0]) == app_id]
    runs.sort(key=lambda r: r.id, reverse=True)
    page, links = ctx.paginate(runs)
    return Reply(200, {"total_count": len(runs),
                       "check_runs": [_check_run(ctx, repo, r) for r in page]}, links)


@route("GET", "/repos/{owner}/{repo}/commits/{ref}/check-suites")
def list_check_suites_for_ref(ctx: Ctx) -> Reply:
    repo = ctx.repo
    sha = repo.require_commit(ctx.params["ref"])
    suites = [s for s in repo.check_suite_records.values() if s.head_sha == sha]
    name = ctx.arg("check_name")
    if name:
        suites = [s for s in suites
                  if any(repo.check_run_records[i].name == name for i in s.run_ids)]
    page, links = ctx.paginate(suites)
    return Reply(200, {"total_count": len(suites),
                       "check_suites": [ctx.sim.shapes.rest_check_suite(repo, s)
                                        for s in page]}, links)


@route("GET", "/repos/{owner}/{repo}/check-suites/{check_suite_id}")
def get_check_suite(ctx: Ctx) -> Reply:
    repo = ctx.repo
    suite = repo.check_suite_records.get(_int_param(ctx, "check_suite_id"))
    if suite is None:
        raise not_found()
    return Reply(200, ctx.sim.shapes.rest_check_suite(repo, suite))


@route("GET", "/repos/{owner}/{repo}/check-suites/{check_suite_id}/check-runs")
def list_check_runs_in_suite(ctx: Ctx) -> Reply:
    repo = ctx.repo
    suite = repo.check_suite_records.get(_int_param(ctx, "check_suite_id"))
    if suite is None:
        raise not_found()
    runs = [repo.check_run_records[i] for i in suite.run_ids]
    if ctx.arg("filter", "latest") != "all":
        runs = repo.suite_latest_runs(suite)
    page, links = ctx.paginate(sorted(runs, key=lambda r: r.id, reverse=True))
    return Reply(200, {"total_count": len(runs),
                       "check_runs": [_check_run(ctx, repo, r) for r in page]}, links)


# --- statuses ------------------------------------------------------------------------------------


@route("POST", "/repos/{owner}/{repo}/statuses/{sha}")
def create_status(ctx: Ctx) -> Reply:
    repo = ctx.repo
    sha = ctx.params["sha"]
    if repo.store.object_type(sha) != "commit":
        raise ApiError(422, f"No commit found for SHA: {sha}")
    status = repo.create_status(sha, str(ctx.field("context") or "default"),
                                str(ctx.field("state")), ctx.login,
                                target_url=ctx.field("target_url"),
                                description=ctx.field("description"))
    return Reply(201, ctx.sim.shapes.status(repo, status))


@route("GET", "/repos/{owner}/{repo}/commits/{ref}/statuses")
def list_statuses(ctx: Ctx) -> Reply:
    repo = ctx.repo
    sha = repo.require_commit(ctx.params["ref"])
    statuses = sorted((s for s in repo.status_records if s.sha == sha), key=lambda s: -s.id)
    page, links = ctx.paginate(statuses)
    return Reply(200, [ctx.sim.shapes.status(repo, s) for s in page], links)


@route("GET", "/repos/{owner}/{repo}/commits/{ref}/status")
def combined_status(ctx: Ctx) -> Reply:
    repo = ctx.repo
    sha = repo.require_commit(ctx.params["ref"])
    state, statuses = repo.combined_status(sha)
    api = f"{ctx.sim.url}/repos/{repo.full_name}"
    page, links = ctx.paginate(statuses, default_per_page=100)
    return Reply(200, {
        "state": state,
        # The combined view lists statuses without their creator, in a minimal repository.
        "statuses": [{k: v for k, v in ctx.sim.shapes.status(repo, s).items() if k != "creator"}
                     for s in page],
        "sha": sha,
        "total_count": len(statuses),
        "repository": ctx.sim.shapes.repository_lite(repo),
        "commit_url": f"{api}/commits/{sha}",
        "url": f"{api}/commits/{sha}/status",
    }, links)


# --- Actions -------------------------------------------------------------------------------------


@route("GET", "/repos/{owner}/{repo}/actions/runs")
def list_workflow_runs(ctx: Ctx) -> Reply:
    repo = ctx.repo
    runs = sorted(repo.workflow_run_records.values(), key=lambda r: r.id, reverse=True)
    head_sha = ctx.arg("head_sha")
    if head_sha:
        runs = [r for r in runs if r.head_sha == head_sha]
    branch = ctx.arg("branch")
    if branch:
        runs = [r for r in runs if r.head_branch == branch]
    event = ctx.arg("event")
    if event:
        runs = [r for r in runs if r.event == event]
    status = ctx.arg("status")
    if status:
        runs = [r for r in runs if status in (r.status, r.conclusion)]
    page, links = ctx.paginate(runs)
    return Reply(200, {"total_count": len(runs),
                       "workflow_runs": [ctx.sim.shapes.workflow_run(repo, r) for r in page]},
                 links)


def _workflow_run(ctx: Ctx, repo: SimRepo) -> WorkflowRun:
    return repo.workflow_run_or_404(_int_param(ctx, "run_id"))


@route("GET", "/repos/{owner}/{repo}/actions/runs/{run_id}")
def get_workflow_run(ctx: Ctx) -> Reply:
    repo = ctx.repo
    return Reply(200, ctx.sim.shapes.workflow_run(repo, _workflow_run(ctx, repo)))


@route("GET", "/repos/{owner}/{repo}/actions/runs/{run_id}/jobs")
def list_jobs(ctx: Ctx) -> Reply:
    repo = ctx.repo
    run = _workflow_run(ctx, repo)
    jobs = []
    for job, check_id in run.job_runs.items():
        check = repo.check_run_records[check_id]
        jobs.append({
            "id": check.id, "run_id": run.id, "run_attempt": run.run_attempt,
            "head_sha": run.head_sha, "name": job, "status": check.status,
            "conclusion": check.conclusion, "started_at": iso(check.started_at),
            "completed_at": iso(check.completed_at), "workflow_name": run.name,
            "head_branch": run.head_branch,
            "html_url": f"{ctx.sim.html_url}/{repo.full_name}/actions/runs/{run.id}/job/{check.id}",
            "check_run_url": f"{ctx.sim.url}/repos/{repo.full_name}/check-runs/{check.id}",
            "url": f"{ctx.sim.url}/repos/{repo.full_name}/actions/jobs/{check.id}",
            "steps": [], "labels": ["ubuntu-latest"],
            "node_id": node_id("WorkflowJob", check.id),
            "run_url": f"{ctx.sim.url}/repos/{repo.full_name}/actions/runs/{run.id}",
            "created_at": iso(check.started_at), "runner_id": 1, "runner_name": "GitHub Actions 1",
            "runner_group_id": 1, "runner_group_name": "GitHub Actions",
        })
    page, links = ctx.paginate(jobs)
    return Reply(200, {"total_count": len(jobs), "jobs": page}, links)


def _rerun(ctx: Ctx, *, failed_only: bool) -> Reply:
    repo = ctx.repo
    run = _workflow_run(ctx, repo)
    if repo.ci is not None:  # the CI model runs it, under the run's concurrency group
        repo.ci.rerun(run, ctx.login, failed_only=failed_only)
        return Reply(201, {})
    previous = run.conclusion
    repo.rerun_jobs(run, ctx.login, failed_only=failed_only)

    async def finish() -> None:
        # The new attempt runs "later": after the caller got its 201.
        if ctx.sim.rerun_gate is not None:
            await ctx.sim.rerun_gate.wait()
        await asyncio.sleep(0)
        repo.finish_rerun(run, previous, ctx.login)

    ctx.sim.spawn(finish())
    return Reply(201, {})


@route("POST", "/repos/{owner}/{repo}/actions/runs/{run_id}/rerun-failed-jobs")
def rerun_failed_jobs(ctx: Ctx) -> Reply:
    return _rerun(ctx, failed_only=True)


@route("POST", "/repos/{owner}/{repo}/actions/runs/{run_id}/rerun")
def rerun_workflow(ctx: Ctx) -> Reply:
    return _rerun(ctx, failed_only=False)


# --- deployments ---------------------------------------------------------------------------------


@route("POST", "/repos/{owner}/{repo}/deployments")
def create_deployment(ctx: Ctx) -> Reply:
    repo = ctx.repo
    ref = ctx.field("ref")
    if not ref:
        raise validation_failed({"resource": "Deployment", "code": "missing_field",
                                 "field": "ref"})
    payload = ctx.field("payload")
    dep = repo.create_deployment(
        str(ref), ctx.login,
        environment=ctx.field("environment") or "production",
        task=ctx.field("task") or "deploy",
        payload=payload if payload is not None else {},
        description=ctx.field("description"),
        required_contexts=ctx.field("required_contexts"),
        production_environment=ctx.field("production_environment"),
        transient_environment=bool(ctx.field("transient_environment", False)),
    )
    return Reply(201, ctx.sim.shapes.deployment(repo, dep))


@route("GET", "/repos/{owner}/{repo}/deployments")
def list_deployments(ctx: Ctx) -> Reply:
    repo = ctx.repo
    deps = sorted(repo.deployment_records.values(), key=lambda d: d.id, reverse=True)
    for key in ("sha", "ref", "task", "environment"):
        wanted = ctx.arg(key)
        if wanted:
            deps = [d for d in deps if getattr(d, key) == wanted]
    page, links = ctx.paginate(deps)
    return Reply(200, [ctx.sim.shapes.deployment(repo, d) for d in page], links)


@route("GET", "/repos/{owner}/{repo}/deployments/{deployment_id}")
def get_deployment(ctx: Ctx) -> Reply:
    repo = ctx.repo
    dep = repo.deployment_or_404(_int_param(ctx, "deployment_id"))
    return Reply(200, ctx.sim.shapes.deployment(repo, dep))


@route("POST", "/repos/{owner}/{repo}/deployments/{deployment_id}/statuses")
def create_deployment_status(ctx: Ctx) -> Reply:
    repo = ctx.repo
    dep = repo.deployment_or_404(_int_param(ctx, "deployment_id"))
    status = repo.create_deployment_status(
        dep, str(ctx.field("state")), ctx.login,
        description=ctx.field("description") or "",
        environment=ctx.field("environment"),
        target_url=ctx.field("target_url") or "",
        log_url=ctx.field("log_url") or "",
        environment_url=ctx.field("environment_url") or "",
    )
    return Reply(201, ctx.sim.shapes.deployment_status(repo, dep, status))


@route("GET", "/repos/{owner}/{repo}/deployments/{deployment_id}/statuses")
def list_deployment_statuses(ctx: Ctx) -> Reply:
    repo = ctx.repo
    dep = repo.deployment_or_404(_int_param(ctx, "deployment_id"))
    statuses = sorted(dep.statuses, key=lambda s: s.id, reverse=True)
    page, links = ctx.paginate(statuses)
    return Reply(200, [ctx.sim.shapes.deployment_status(repo, dep, s) for s in page], links)
