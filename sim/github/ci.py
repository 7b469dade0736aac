"""A deterministic GitHub Actions CI for one simulated repository.

The test says what each commit's build concludes ("red from commit X on", "red while file F
exists", or a script per commit such as red then green for a flaky check). The CI starts a
workflow run for every push its workflows listen to (pushes made with GITHUB_TOKEN start
none), gives each run its own check suite, honours concurrency groups as GitHub documents
them (at most one running and one pending run per group, case-insensitive; a newer run
cancels the pending one, and with `cancel-in-progress` the running one too) and answers
re-runs: a re-run keeps its run's ref, so it joins (and competes in) that ref's group.

Time is explicit: a run never finishes on its own. `finish_running()` completes every run in
progress (in start order), which lets the next pending run of each group start. A test drives
CI the way minutes pass in production: whatever the app did in between happened "at once".
Webhooks are the ones GitHub sends: workflow_run requested / in_progress / completed,
check_run created / completed, check_suite completed.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sim.github.routes import ApiError
from sim.github.state import WorkflowRun

if TYPE_CHECKING:
    from sim.github.repo_checks import ChecksMixin

RERUN_MAX_AGE = 30 * 86400.0  # GitHub refuses to re-run a run created over a month ago
NO_CI_ACTORS = frozenset({"github-actions[bot]"})  # GITHUB_TOKEN pushes start no workflow


@dataclass(frozen=True)
class Workflow:
    """One workflow file: `on: push` to `branches`, with a workflow-level concurrency group.

    `branches` uses GitHub's filter globs (`*` stops at `/`, `**` does not); None means the
    default branch only. `concurrency` is the group with `{workflow}` and `{ref}`
    (refs/heads/<branch>) filled in, like `${{ github.workflow }}-${{ github.ref }}`;
    None means no group.
    """

    name: str = "CI"
    jobs: tuple[str, ...] = ("build",)
    branches: tuple[str, ...] | None = None
    concurrency: str | None = "{workflow}-{ref}"
    cancel_in_progress: bool = True
    merge_group: bool = False  # `on: merge_group`: also builds the merge queue's groups

    def listens_to(self, branch: str, default_branch: str) -> bool:
        patterns = self.branches if self.branches is not None else (default_branch,)
        return any(_branch_glob(p).fullmatch(branch) for p in patterns)

    def group_for(self, branch: str) -> str | None:
        if self.concurrency is None:
            return None
        return self.concurrency.format(workflow=self.name, ref=f"refs/heads/{branch}").lower()


def _branch_glob(pattern: str) -> re.Pattern[str]:
    parts = re.split(r"(\*\*|\*)", pattern)
    regex = "".join(
        ".*" if part == "**" else "[^/]*" if part == "*" else re.escape(part) for part in parts
    )
    return re.compile(regex)


# A rule looks at a commit and says which jobs fail, or None when it has nothing to say.
Rule = Callable[[str, tuple[str, ...]], dict[str, str] | None]


class ActionsCI:
    def __init__(self, repo: ChecksMixin, workflows: tuple[Workflow, ...]) -> None:
        self.repo = repo
        self.workflows = list(workflows)
        self._rules: list[Rule] = []
        self._scripts: dict[str, list[str]] = {}
        self._groups: dict[int, str | None] = {}  # run id -> its current attempt's group
        self._cancel_in_progress: dict[int, bool] = {}
        self._queue: list[int] = []  # runs in progress or pending, in the order they started
        # (run id, attempt, head sha, head branch, conclusion) for every attempt that ended
        self.finished: list[tuple[int, int, str, str | None, str]] = []

    # --- what the test decides ----------------------------------------------------------------

    def red_from(self, sha: str, *, jobs: tuple[str, ...] | None = None) -> None:
        """Every commit that contains `sha` (it and its descendants) fails `jobs` (all)."""
        store = self.repo.store

        def rule(commit: str, all_jobs: tuple[str, ...]) -> dict[str, str] | None:
            if commit == sha or store.is_ancestor(sha, commit):
                return {job: "failure" for job in (jobs or all_jobs)}
            return None

        self._rules.append(rule)

    def red_while(self, path: str, *, jobs: tuple[str, ...] | None = None) -> None:
        """Every commit whose tree holds `path` fails: a revert that removes it is green."""
        store = self.repo.store

        def rule(commit: str, all_jobs: tuple[str, ...]) -> dict[str, str] | None:
            info = store.read_commit(commit)
            if info is not None and store.entry_at(info.tree, path) is not None:
                return {job: "failure" for job in (jobs or all_jobs)}
            return None

        self._rules.append(rule)

    def script(self, sha: str, *conclusions: str) -> None:
        """The conclusions of the next runs (or re-runs) of `sha`, in order; the last one
        repeats. `script(sha, "failure", "success")` is a flaky build."""
        if not conclusions:
            raise ValueError("script needs at least one conclusion")
        self._scripts[sha] = list(conclusions)

    def results_for(self, sha: str, jobs: tuple[str, ...]) -> dict[str, str]:
        """job -> conclusion for the next run of `sha` (consumes one scripted result)."""
        script = self._scripts.get(sha)
        if script:
            conclusion = script.pop(0) if len(script) > 1 else script[0]
            return {job: conclusion for job in jobs}
        results = {job: "success" for job in jobs}
        for rule in self._rules:
            said = rule(sha, jobs)
            if said:
                results.update({job: c for job, c in said.items() if job in results})
        return results

    # --- reading it ----------------------------------------------------------------------------

    def running(self) -> list[WorkflowRun]:
        records = self.repo.workflow_run_records
        return [records[i] for i in self._queue if records[i].status == "in_progress"]

    def pending(self) -> list[WorkflowRun]:
        records = self.repo.workflow_run_records
        return [records[i] for i in self._queue if records[i].status == "pending"]

    def runs_of(self, sha: str, branch: str | None = None) -> list[WorkflowRun]:
        return [
            r for r in self.repo.workflow_run_records.values()
            if r.head_sha == sha and (branch is None or r.head_branch == branch)
        ]

    # --- time passing --------------------------------------------------------------------------

    def finish_running(self, where: Callable[[WorkflowRun], bool] | None = None
                       ) -> list[WorkflowRun]:
        """Every run in progress (or those `where` picks) concludes; then each group's
        pending run starts."""
        done = [r for r in self.running() if where is None or where(r)]
        for run in done:
            self._conclude(run, self.results_for(run.head_sha, tuple(run.jobs)), run.actor)
        return done

    # --- what the repository calls -------------------------------------------------------------

    def on_push(self, branch: str, sha: str, actor: str) -> None:
        if actor in NO_CI_ACTORS:
            return
        for workflow in self.workflows:
            if workflow.listens_to(branch, self.repo.default_branch):
                self._start(workflow, sha, branch, actor)

    def on_merge_group(self, branch: str, sha: str, actor: str) -> None:
        """A merge group was created on `branch` (gh-readonly-queue/...): workflows that
        listen to `merge_group` build it."""
        for workflow in self.workflows:
            if workflow.merge_group:
                self._start(workflow, sha, branch, actor, event="merge_group")

    def rerun(self, run: WorkflowRun, actor: str, *, failed_only: bool) -> None:
        """POST .../rerun(-failed-jobs): a new attempt of a completed run, on the run's ref."""
        self.repo.rerun_jobs(run, actor, failed_only=failed_only)  # validates; new check runs
        workflow = next((w for w in self.workflows if w.name == run.name), None)
        group = workflow.group_for(run.head_branch or "") if workflow else None
        self._groups[run.id] = group
        self._cancel_in_progress[run.id] = workflow.cancel_in_progress if workflow else False
        self._emit_run(run, "requested", actor)
        self._enqueue(run, actor)

    # --- the model -----------------------------------------------------------------------------

    def _start(self, workflow: Workflow, sha: str, branch: str, actor: str, *,
               event: str = "push") -> None:
        repo = self.repo
        run = repo.create_workflow_run(sha, workflow.name, None, jobs=workflow.jobs,
                                       event=event, branch=branch, actor=actor, queued=True)
        self._groups[run.id] = workflow.group_for(branch)
        self._cancel_in_progress[run.id] = workflow.cancel_in_progress
        self._emit_run(run, "requested", actor)
        self._enqueue(run, actor)

    def _enqueue(self, run: WorkflowRun, actor: str) -> None:
        group = self._groups.get(run.id)
        records = self.repo.workflow_run_records
        same = [records[i] for i in self._queue if group is not None
                and self._groups.get(i) == group and i != run.id]
        for other in same:
            if other.status == "pending" or (
                other.status == "in_progress" and self._cancel_in_progress.get(run.id)
            ):
                self._cancel(other, actor)
        self._queue.append(run.id)
        if any(r.status == "in_progress" for r in same):
            run.status = "pending"
            run.updated_at = self.repo.now()
            return
        self._begin(run, actor)

    def _begin(self, run: WorkflowRun, actor: str) -> None:
        repo = self.repo
        now = repo.now()
        run.status = "in_progress"
        run.run_started_at = now
        run.updated_at = now
        for check_id in run.job_runs.values():
            check = repo.check_run_records[check_id]
            if check.status == "queued":
                repo.update_check_run(check, actor, status="in_progress")
        self._emit_run(run, "in_progress", actor)

    def _conclude(self, run: WorkflowRun, results: dict[str, str], actor: str) -> None:
        repo = self.repo
        for job, check_id in run.job_runs.items():
            check = repo.check_run_records[check_id]
            if check.status != "completed":
                repo.update_check_run(check, actor, conclusion=results.get(job, "success"))
        run.status = "in_progress"  # _workflow_completed closes it with the suite's conclusion
        repo.finish_workflow_attempt(run, actor)
        self.finished.append((run.id, run.run_attempt, run.head_sha, run.head_branch,
                              run.conclusion or ""))
        self._leave_queue(run, actor)

    def _cancel(self, run: WorkflowRun, actor: str) -> None:
        self._conclude(run, {job: "cancelled" for job in run.job_runs}, actor)

    def _leave_queue(self, run: WorkflowRun, actor: str) -> None:
        if run.id in self._queue:
            self._queue.remove(run.id)
        group = self._groups.get(run.id)
        if group is None:
            return
        records = self.repo.workflow_run_records
        waiting = [records[i] for i in self._queue
                   if self._groups.get(i) == group and records[i].status == "pending"]
        if waiting and not any(records[i].status == "in_progress" for i in self._queue
                               if self._groups.get(i) == group):
            self._begin(waiting[0], actor)

    def _emit_run(self, run: WorkflowRun, action: str, actor: str) -> None:
        shapes = self.repo.sim.shapes
        self.repo.emit("workflow_run", action, actor,
                       workflow=shapes.workflow(self.repo, run),
                       workflow_run=shapes.workflow_run(self.repo, run))


def check_rerun_allowed(run: WorkflowRun, now: float) -> None:
    """GitHub's refusals for a re-run, before anything changes."""
    if run.status != "completed":
        raise ApiError(403, "This workflow is already running")
    if now - run.created_at > RERUN_MAX_AGE:
        raise ApiError(403, "Unable to retry this workflow run because it was created over a "
                            "month ago")
