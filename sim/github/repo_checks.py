"""Check suites and runs, commit statuses, Actions workflow runs (with re-runs) and deployments."""

from __future__ import annotations

from typing import Any

from sim.github.ci import check_rerun_allowed
from sim.github.repo_base import GOOD_CONCLUSIONS, RepoBase
from sim.github.routes import ApiError, not_found
from sim.github.state import (
    CheckRun,
    CheckSuite,
    CommitStatus,
    Deployment,
    DeploymentStatus,
    WorkflowRun,
)

# The worst conclusion of a suite's runs wins.
_CONCLUSION_ORDER = ("action_required", "startup_failure", "failure", "timed_out", "cancelled",
                     "stale", "neutral", "skipped", "success")


def aggregate_conclusion(conclusions: list[str | None]) -> str | None:
    known = [c for c in conclusions if c is not None]
    if not known:
        return None
    return min(known, key=lambda c: _CONCLUSION_ORDER.index(c) if c in _CONCLUSION_ORDER else 0)


class ChecksMixin(RepoBase):
    # --- hooks other parts override ----------------------------------------------------------

    def checks_changed(self, sha: str) -> None:
        """A check or status on `sha` changed (pull requests: auto-merge may now proceed)."""

    def branch_of(self, sha: str) -> str | None:
        for ref, target in self.store.refs().items():
            if target == sha and ref.startswith("refs/heads/"):
                return ref.removeprefix("refs/heads/")
        return None

    # --- check suites and runs ---------------------------------------------------------------

    def suite_for(self, sha: str, app_slug: str, *, new: bool = False) -> CheckSuite:
        if not new:
            for suite in self.check_suite_records.values():
                if (suite.head_sha, suite.app_slug, suite.workflow_run_id) == (sha, app_slug, None):
                    return suite
        now = self.now()
        info = self.store.read_commit(sha)
        suite = CheckSuite(
            id=self.sim.next_id("check_suite"),
            head_sha=sha,
            head_branch=self.branch_of(sha),
            app_slug=app_slug,
            created_at=now,
            updated_at=now,
            before=info.parents[0] if info and info.parents else None,
            after=sha,
        )
        self.check_suite_records[suite.id] = suite
        return suite

    def create_check_run(self, sha: str, name: str, actor: str, *, app_slug: str,
                         status: str = "queued", conclusion: str | None = None,
                         suite: CheckSuite | None = None, output: dict[str, Any] | None = None,
                         details_url: str | None = None, external_id: str = "",
                         started_at: float | None = None) -> CheckRun:
        if conclusion is not None:
            status = "completed"
        if status == "completed" and conclusion is None:
            raise ApiError(422, "Validation Failed", errors=[{
                "resource": "CheckRun", "code": "missing_field", "field": "conclusion"}])
        now = self.now()
        suite = suite or self.suite_for(sha, app_slug)
        output = dict(output or {})
        annotations = _annotations(output)
        run = CheckRun(
            id=self.sim.next_id("check_run"),
            name=name,
            head_sha=sha,
            suite_id=suite.id,
            app_slug=app_slug,
            status=status,
            conclusion=conclusion,
            started_at=now if started_at is None else started_at,
            completed_at=now if status == "completed" else None,
            output=output,
            details_url=details_url,
            external_id=external_id,
            annotations=annotations,
        )
        self.check_run_records[run.id] = run
        suite.run_ids.append(run.id)
        self._refresh_suite(suite)
        self.emit("check_run", "created", actor, check_run=self.sim.shapes.check_run(self, run))
        if status == "completed":
            self._run_completed(run, actor)
        return run

    def update_check_run(self, run: CheckRun, actor: str, *, status: str | None = None,
                         conclusion: str | None = None, output: dict[str, Any] | None = None,
                         name: str | None = None, details_url: str | None = None) -> CheckRun:
        was_completed = run.status == "completed"
        if name:
            run.name = name
        if details_url is not None:
            run.details_url = details_url
        if output:
            output = dict(output)
            run.annotations.extend(_annotations(output))
            run.output.update(output)
        if conclusion is not None:
            run.conclusion = conclusion
            run.status = "completed"
        elif status is not None:
            run.status = status
            if status == "completed" and run.conclusion is None:
                raise ApiError(422, "Validation Failed", errors=[{
                    "resource": "CheckRun", "code": "missing_field", "field": "conclusion"}])
        if run.status == "completed" and not was_completed:
            run.completed_at = self.now()
            self._refresh_suite(self.check_suite_records[run.suite_id])
            self._run_completed(run, actor)
        else:
            self._refresh_suite(self.check_suite_records[run.suite_id])
        return run

    def _run_completed(self, run: CheckRun, actor: str) -> None:
        self.emit("check_run", "completed", actor, check_run=self.sim.shapes.check_run(self, run))
        suite = self.check_suite_records[run.suite_id]
        if suite.status == "completed" and suite.workflow_run_id is None:
            self.emit("check_suite", "completed", actor,
                      check_suite=self.sim.shapes.check_suite(self, suite))
        if suite.workflow_run_id is None:
            self.checks_changed(run.head_sha)

    def suite_latest_runs(self, suite: CheckSuite) -> list[CheckRun]:
        latest: dict[str, CheckRun] = {}
        for run_id in suite.run_ids:
            run = self.check_run_records[run_id]
            if run.name not in latest or latest[run.name].id < run.id:
                latest[run.name] = run
        return list(latest.values())

    def _refresh_suite(self, suite: CheckSuite) -> None:
        runs = self.suite_latest_runs(suite)
        suite.updated_at = self.now()
        if runs and all(r.status == "completed" for r in runs):
            suite.status = "completed"
            suite.conclusion = aggregate_conclusion([r.conclusion for r in runs])
        else:
            suite.status = "in_progress" if any(r.status != "queued" for r in runs) else "queued"
            suite.conclusion = None

    # --- statuses ----------------------------------------------------------------------------

    def create_status(self, sha: str, context: str, state: str, actor: str, *,
                      target_url: str | None = None,
                      description: str | None = None) -> CommitStatus:
        if state not in ("error", "failure", "pending", "success"):
            raise ApiError(422, "Validation Failed", errors=[{
                "resource": "Status", "code": "custom", "field": "state",
                "message": "state is not included in the list"}])
        now = self.now()
        status = CommitStatus(self.sim.next_id("status"), sha, context or "default", state,
                              target_url, description, actor, now, now)
        self.status_records.append(status)
        info = self.store.read_commit(sha)
        assert info is not None
        branches = [
            {
                "name": ref.removeprefix("refs/heads/"),
                "commit": {"sha": target,
                           "url": f"{self.sim.url}/repos/{self.full_name}/commits/{target}"},
                "protected": ref.removeprefix("refs/heads/") in self.protections,
            }
            for ref, target in self.store.refs().items()
            if ref.startswith("refs/heads/") and target == sha
        ][:10]
        shaped = self.sim.shapes.status(self, status)
        commit = self.sim.shapes.commit(self, info)
        # The status event's commit predates REST's `verified_at`.
        commit["commit"]["verification"].pop("verified_at", None)
        self.emit(
            "status", None, actor,
            id=status.id, sha=sha, name=self.full_name, target_url=target_url,
            avatar_url=self.sim.shapes.user_required(actor)["avatar_url"],
            context=status.context, description=description, state=state,
            commit=commit, branches=branches,
            created_at=shaped["created_at"], updated_at=shaped["updated_at"],
        )
        self.checks_changed(sha)
        return status

    def combined_status(self, sha: str) -> tuple[str, list[CommitStatus]]:
        statuses = self.latest_statuses(sha)
        states = {s.state for s in statuses}
        if states & {"error", "failure"}:
            state = "failure"
        elif not statuses or "pending" in states:
            state = "pending"
        else:
            state = "success"
        return state, statuses

    # --- Actions workflow runs ---------------------------------------------------------------

    def create_workflow_run(self, sha: str, name: str, conclusion: str | None, *,
                            jobs: tuple[str, ...] | list[str] = ("build",),
                            failed_jobs: tuple[str, ...] | list[str] | None = None,
                            event: str = "push", branch: str | None = None,
                            actor: str | None = None, queued: bool = False) -> WorkflowRun:
        """A workflow run on `sha` with its own check suite and one check run per job.

        `conclusion` None leaves it in progress (or queued, for the CI model to start)."""
        if self.store.object_type(sha) != "commit":
            raise ValueError(f"{sha} is not a commit of {self.full_name}")
        actor = actor or self.owner
        workflow_id = self.workflow_ids.setdefault(name, self.sim.next_id("workflow"))
        now = self.now()
        suite = self.suite_for(sha, "github-actions", new=True)
        if branch is not None:
            suite.head_branch = branch
        run = WorkflowRun(
            id=self.sim.next_id("workflow_run"),
            name=name,
            workflow_id=workflow_id,
            path=f".github/workflows/{_slug(name)}.yml",
            head_sha=sha,
            head_branch=suite.head_branch,
            event=event,
            suite_id=suite.id,
            run_number=1 + sum(1 for r in self.workflow_run_records.values() if r.name == name),
            actor=actor,
            created_at=now,
            updated_at=now,
            status=("queued" if queued else "in_progress") if conclusion is None else "completed",
            conclusion=conclusion,
            jobs=list(jobs),
            run_started_at=now,
        )
        suite.workflow_run_id = run.id
        self.workflow_run_records[run.id] = run
        failing = set(jobs if failed_jobs is None else failed_jobs)
        for job in jobs:
            job_conclusion = conclusion
            if conclusion is not None and conclusion not in GOOD_CONCLUSIONS and job not in failing:
                job_conclusion = "success"
            check = self.create_check_run(
                sha, job, actor, app_slug="github-actions", suite=suite,
                status=(("queued" if queued else "in_progress") if conclusion is None
                        else "completed"),
                conclusion=job_conclusion,
                details_url=f"{self.sim.html_url}/{self.full_name}/actions/runs/{run.id}/job/{job}",
            )
            run.job_runs[job] = check.id
        if conclusion is not None:
            self._workflow_completed(run, actor)
        return run

    def complete_workflow_run(self, run: WorkflowRun, conclusion: str, actor: str) -> None:
        for run_id in run.job_runs.values():
            check = self.check_run_records[run_id]
            if check.status != "completed":
                self.update_check_run(check, actor, conclusion=conclusion)
        self._workflow_completed(run, actor)

    def finish_workflow_attempt(self, run: WorkflowRun, actor: str) -> None:
        """Every job of the run's current attempt concluded: the run and its suite complete."""
        self._workflow_completed(run, actor)

    def _workflow_completed(self, run: WorkflowRun, actor: str) -> None:
        suite = self.check_suite_records[run.suite_id]
        self._refresh_suite(suite)
        run.status = "completed"
        run.conclusion = suite.conclusion
        run.updated_at = self.now()
        self.emit("check_suite", "completed", actor,
                  check_suite=self.sim.shapes.check_suite(self, suite))
        self.emit("workflow_run", "completed", actor,
                  workflow=self.sim.shapes.workflow(self, run),
                  workflow_run=self.sim.shapes.workflow_run(self, run))
        self.checks_changed(run.head_sha)

    def workflow_run_or_404(self, run_id: int) -> WorkflowRun:
        run = self.workflow_run_records.get(run_id)
        if run is None:
            raise not_found()
        return run

    def rerun_jobs(self, run: WorkflowRun, actor: str, *,
                   failed_only: bool = True) -> list[CheckRun]:
        """Start a new attempt (of the failed jobs); `finish_rerun` completes it later."""
        check_rerun_allowed(run, self.now())
        failed = [
            job for job, run_id in run.job_runs.items()
            if not failed_only
            or self.check_run_records[run_id].conclusion not in GOOD_CONCLUSIONS
        ]
        if not failed:
            raise ApiError(403, "This workflow run has no failed jobs to re-run")
        suite = self.check_suite_records[run.suite_id]
        run.run_attempt += 1
        run.status = "queued"
        run.conclusion = None
        run.updated_at = self.now()
        run.run_started_at = run.updated_at
        suite.status = "queued"
        suite.conclusion = None
        started: list[CheckRun] = []
        for job in failed:
            check = self.create_check_run(
                run.head_sha, job, actor, app_slug="github-actions", suite=suite, status="queued",
                details_url=f"{self.sim.html_url}/{self.full_name}/actions/runs/{run.id}/job/{job}",
            )
            run.job_runs[job] = check.id
            started.append(check)
        return started

    def finish_rerun(self, run: WorkflowRun, previous: str | None, actor: str) -> None:
        outcome = self.rerun_outcomes.get(run.name, previous or "failure")
        run.status = "in_progress"
        for run_id in list(run.job_runs.values()):
            check = self.check_run_records[run_id]
            if check.status != "completed":
                self.update_check_run(check, actor, conclusion=outcome)
        self._workflow_completed(run, actor)

    # --- deployments -------------------------------------------------------------------------

    def create_deployment(self, ref: str, actor: str, *, environment: str = "production",
                          task: str = "deploy", payload: Any = None,
                          description: str | None = None,
                          required_contexts: list[str] | None = None,
                          production_environment: bool | None = None,
                          transient_environment: bool = False) -> Deployment:
        sha = self.resolve(ref)
        if sha is None:
            raise ApiError(422, "Validation Failed", errors=[{
                "resource": "Deployment", "code": "custom", "field": "ref",
                "message": f"ref not found: {ref}"}])
        contexts = dict(self.contexts_on(sha))
        wanted = list(contexts) if required_contexts is None else required_contexts
        bad = [c for c in wanted if contexts.get(c) != "success"]
        if bad:
            raise ApiError(409, f"Conflict: Commit status checks failed for {ref}.", extra={
                "errors": [{"contexts": [{"context": c, "state": contexts.get(c, "missing")}
                                         for c in bad], "resource": "Deployment",
                            "field": "required_contexts", "code": "invalid"}]})
        now = self.now()
        dep = Deployment(
            id=self.sim.next_id("deployment"),
            sha=sha,
            ref=ref,
            task=task,
            environment=environment,
            payload=payload if payload is not None else {},
            description=description,
            creator=actor,
            created_at=now,
            updated_at=now,
            production_environment=(
                environment == "production" if production_environment is None
                else production_environment
            ),
            transient_environment=transient_environment,
        )
        self.deployment_records[dep.id] = dep
        self.emit("deployment", "created", actor,
                  deployment=self.sim.shapes.deployment(self, dep), workflow=None,
                  workflow_run=None)
        return dep

    def deployment_or_404(self, deployment_id: int) -> Deployment:
        dep = self.deployment_records.get(deployment_id)
        if dep is None:
            raise not_found()
        return dep

    def create_deployment_status(self, dep: Deployment, state: str, actor: str, *,
                                 description: str = "", environment: str | None = None,
                                 target_url: str = "", log_url: str = "",
                                 environment_url: str = "") -> DeploymentStatus:
        now = self.now()
        status = DeploymentStatus(
            id=self.sim.next_id("deployment_status"),
            state=state,
            creator=actor,
            description=description,
            environment=environment or dep.environment,
            target_url=target_url or log_url,
            log_url=log_url or target_url,
            environment_url=environment_url,
            created_at=now,
            updated_at=now,
        )
        dep.statuses.append(status)
        dep.updated_at = now
        self.emit("deployment_status", "created", actor,
                  deployment_status=self.sim.shapes.deployment_status(self, dep, status),
                  deployment=self.sim.shapes.deployment(self, dep))
        return status


def _slug(name: str) -> str:
    cleaned = "".join(ch if ch.isalnum() else "-" for ch in name.lower()).strip("-")
    return cleaned or "workflow"


def _annotations(output: dict[str, Any]) -> list[dict[str, Any]]:
    """A request's annotations, taken out of its output (GitHub appends them to the run's).

    Columns only on one line, as GitHub requires."""
    found = list(output.pop("annotations", None) or [])
    for note in found:
        columns = "start_column" in note or "end_column" in note
        if columns and note.get("start_line") != note.get("end_line"):
            raise ApiError(422, "Validation Failed", errors=[{
                "resource": "CheckRun", "code": "invalid", "field": "annotations",
                "message": "start_column and end_column need start_line == end_line"}])
    return [dict(n) for n in found]
