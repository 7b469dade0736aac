"""GitHub's JSON shapes of check suites and runs, statuses, Actions runs and deployments."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sim.github.shapes_base import BaseShapes, iso
from sim.github.state import (
    CheckRun,
    CheckSuite,
    CommitStatus,
    Deployment,
    DeploymentStatus,
    WorkflowRun,
    node_id,
)

if TYPE_CHECKING:
    from sim.github.repo_base import RepoBase as SimRepo


class CheckShapes(BaseShapes):
    # --- checks, statuses, actions -----------------------------------------------------------

    def check_suite(self, repo: SimRepo, suite: CheckSuite) -> dict[str, Any]:
        a = self.repo_api(repo)
        info = repo.store.read_commit(suite.head_sha)
        return {
            "id": suite.id,
            "node_id": suite.node_id,
            "head_branch": suite.head_branch,
            "head_sha": suite.head_sha,
            "status": suite.status,
            "conclusion": suite.conclusion,
            "url": f"{a}/check-suites/{suite.id}",
            "before": suite.before,
            "after": suite.after or suite.head_sha,
            "pull_requests": [
                self.check_pull(repo, i) for i in repo.open_pulls_for(suite.head_sha)],
            "app": self.app(suite.app_slug),
            "created_at": iso(suite.created_at),
            "updated_at": iso(suite.updated_at),
            "latest_check_runs_count": len(suite.run_ids),
            "check_runs_url": f"{a}/check-suites/{suite.id}/check-runs",
            "head_commit": self.simple_commit(info) if info else None,
            "rerequestable": True,
            "runs_rerequestable": True,
        }

    def rest_check_suite(self, repo: SimRepo, suite: CheckSuite) -> dict[str, Any]:
        """A check suite as REST answers it: with its (minimal) repository."""
        return {**self.check_suite(repo, suite), "repository": self.repository_lite(repo)}

    def check_suite_brief(self, repo: SimRepo, suite: CheckSuite) -> dict[str, Any]:
        """The check suite nested in a check run."""
        full = self.check_suite(repo, suite)
        keep = ("id", "node_id", "head_branch", "head_sha", "status", "conclusion", "url",
                "before", "after", "pull_requests", "app", "created_at", "updated_at")
        return {k: full[k] for k in keep}

    def check_annotation(self, repo: SimRepo, run: CheckRun,
                         note: dict[str, Any]) -> dict[str, Any]:
        keys = ("start_column", "end_column", "title", "raw_details")
        return {
            "path": note["path"],
            "blob_href": f"{self.web}/{repo.full_name}/blob/{run.head_sha}/{note['path']}",
            "start_line": note["start_line"],
            "end_line": note["end_line"],
            "annotation_level": note["annotation_level"],
            "message": note["message"],
            **{k: note.get(k) for k in keys},
        }

    def check_run(self, repo: SimRepo, run: CheckRun) -> dict[str, Any]:
        a = self.repo_api(repo)
        suite = repo.check_suite_records[run.suite_id]
        url = f"{a}/check-runs/{run.id}"
        output = {
            "title": run.output.get("title"),
            "summary": run.output.get("summary"),
            "text": run.output.get("text"),
            "annotations_count": len(run.annotations),
            "annotations_url": f"{url}/annotations",
        }
        return {
            "id": run.id,
            "node_id": run.node_id,
            "head_sha": run.head_sha,
            "external_id": run.external_id,
            "url": url,
            "html_url": f"{self.web}/{repo.full_name}/runs/{run.id}",
            "details_url": run.details_url or f"{self.web}/{repo.full_name}/runs/{run.id}",
            "status": run.status,
            "conclusion": run.conclusion,
            "started_at": iso(run.started_at),
            "completed_at": iso(run.completed_at),
            "output": output,
            "name": run.name,
            "check_suite": self.check_suite_brief(repo, suite),
            "app": self.app(run.app_slug),
            "pull_requests": [self.check_pull(repo, i) for i in repo.open_pulls_for(run.head_sha)],
        }

    def status(self, repo: SimRepo, status: CommitStatus) -> dict[str, Any]:
        return {
            "url": f"{self.repo_api(repo)}/statuses/{status.sha}",
            "avatar_url": None,
            "id": status.id,
            "node_id": status.node_id,
            "state": status.state,
            "description": status.description,
            "target_url": status.target_url,
            "context": status.context,
            "created_at": iso(status.created_at),
            "updated_at": iso(status.updated_at),
            "creator": self.user(status.creator),
        }

    def workflow(self, repo: SimRepo, run: WorkflowRun) -> dict[str, Any]:
        a = self.repo_api(repo)
        return {
            "badge_url": f"{self.web}/{repo.full_name}/workflows/{run.name}/badge.svg",
            "created_at": iso(repo.created_at),
            "html_url": f"{self.web}/{repo.full_name}/blob/{repo.default_branch}/{run.path}",
            "id": run.workflow_id,
            "name": run.name,
            "node_id": node_id("Workflow", run.workflow_id),
            "path": run.path,
            "state": "active",
            "updated_at": iso(repo.created_at),
            "url": f"{a}/actions/workflows/{run.workflow_id}",
        }

    def workflow_run(self, repo: SimRepo, run: WorkflowRun) -> dict[str, Any]:
        a = self.repo_api(repo)
        url = f"{a}/actions/runs/{run.id}"
        info = repo.store.read_commit(run.head_sha)
        suite = repo.check_suite_records[run.suite_id]
        return {
            "id": run.id,
            "name": run.name,
            "node_id": run.node_id,
            "head_branch": run.head_branch,
            "head_sha": run.head_sha,
            "path": run.path,
            "display_title": info.message.split("\n", 1)[0] if info else run.name,
            "run_number": run.run_number,
            "event": run.event,
            "status": run.status,
            "conclusion": run.conclusion,
            "workflow_id": run.workflow_id,
            "check_suite_id": suite.id,
            "check_suite_node_id": suite.node_id,
            "url": url,
            "html_url": f"{self.web}/{repo.full_name}/actions/runs/{run.id}",
            "pull_requests": [self.check_pull(repo, i) for i in repo.open_pulls_for(run.head_sha)],
            "created_at": iso(run.created_at),
            "updated_at": iso(run.updated_at),
            "actor": self.user(run.actor),
            "triggering_actor": self.user(run.actor),
            "run_attempt": run.run_attempt,
            "run_started_at": iso(run.run_started_at or run.created_at),
            "jobs_url": f"{url}/jobs",
            "logs_url": f"{url}/logs",
            "check_suite_url": f"{a}/check-suites/{suite.id}",
            "artifacts_url": f"{url}/artifacts",
            "cancel_url": f"{url}/cancel",
            "rerun_url": f"{url}/rerun",
            "previous_attempt_url": (
                f"{url}/attempts/{run.run_attempt - 1}" if run.run_attempt > 1 else None
            ),
            "workflow_url": f"{a}/actions/workflows/{run.workflow_id}",
            "head_commit": self.simple_commit(info) if info else None,
            "repository": self.repository_lite(repo),
            "head_repository": self.repository_lite(repo),
        }

    # --- deployments -------------------------------------------------------------------------

    def deployment(self, repo: SimRepo, dep: Deployment) -> dict[str, Any]:
        a = self.repo_api(repo)
        return {
            "url": f"{a}/deployments/{dep.id}",
            "id": dep.id,
            "node_id": dep.node_id,
            "sha": dep.sha,
            "ref": dep.ref,
            "task": dep.task,
            "payload": dep.payload,
            "original_environment": dep.environment,
            "environment": dep.environment,
            "description": dep.description,
            "creator": self.user(dep.creator),
            "created_at": iso(dep.created_at),
            "updated_at": iso(dep.updated_at),
            "statuses_url": f"{a}/deployments/{dep.id}/statuses",
            "repository_url": a,
            "transient_environment": dep.transient_environment,
            "production_environment": dep.production_environment,
        }

    def deployment_status(self, repo: SimRepo, dep: Deployment,
                          status: DeploymentStatus) -> dict[str, Any]:
        a = self.repo_api(repo)
        return {
            "url": f"{a}/deployments/{dep.id}/statuses/{status.id}",
            "id": status.id,
            "node_id": status.node_id,
            "state": status.state,
            "creator": self.user(status.creator),
            "description": status.description,
            "environment": status.environment,
            "target_url": status.target_url,
            "created_at": iso(status.created_at),
            "updated_at": iso(status.updated_at),
            "deployment_url": f"{a}/deployments/{dep.id}",
            "repository_url": a,
            "environment_url": status.environment_url,
            # GitHub leaves log_url out rather than sending an empty one.
            **({"log_url": status.log_url} if status.log_url else {}),
        }
